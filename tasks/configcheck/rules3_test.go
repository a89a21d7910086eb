package configcheck

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// The rules load with Prometheus 3's rule file parser (the compose image is
// Prometheus 3; promtool here is 2.42): groups, names, labels, expressions
// and annotation templates.
func TestRulesLoadWithPrometheus3Parser(t *testing.T) {
	files, err := RuleFiles(filepath.Join(repoRoot, "deploy", "prometheus", "rules"))
	if err != nil || len(files) == 0 {
		t.Fatalf("rules: %v, %d files", err, len(files))
	}
	for _, f := range files {
		groups, errs := rulefmt.ParseFile(f, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
		for _, err := range errs {
			t.Errorf("%s: %v", f, err)
		}
		if groups != nil && len(groups.Groups) == 0 {
			t.Errorf("%s: no groups", f)
		}
	}
}

func TestPrometheus3ParserRejectsBrokenRules(t *testing.T) {
	f := filepath.Join(t.TempDir(), "bad.yml")
	bad := "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n        annotations:\n          summary: '{{ $labels.job '\n"
	if err := os.WriteFile(f, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errs := rulefmt.ParseFile(f, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler)); len(errs) == 0 {
		t.Error("a broken annotation template was accepted")
	}
}
