package configcheck

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/needs"
)

// check:config renders the chart and checks it: on the repository every
// chart line passes.
func TestChartChecks(t *testing.T) {
	var out bytes.Buffer
	if err := RunWith(context.Background(), repoRoot, &out, Options{Pages: testPages(t), NoPromtool: true}); err != nil {
		t.Fatalf("%v\n%s", err, failLines(out.String()))
	}
	s := out.String()
	for _, want := range []string{
		"PASS chart: render: 17 objects (5 ConfigMap, 3 Deployment, 5 PodMonitor, 1 PrometheusRule, 3 Service)",
		"PASS chart: labels:",
		"PASS chart: PrometheusRule llm-observability-pack-slo: the groups of deploy/prometheus/rules/slo.yml",
		`PASS chart rule slo:sli_error:ratio_rate5m{slo="itl"}: parses`,
		`PASS chart rule metrics slo:sli_error:ratio_rate5m{slo="availability"}: every source's metrics found`,
		"PASS chart: ConfigMap llm-observability-pack-dashboard-vllm: data vllm.json = dashboards/vllm.json byte for byte",
		`PASS dashboard chart/vllm.json "Inter-token latency"/A`,
		`PASS dashboard chart/slo.json`,
		"SKIP promtool check rules (chart PrometheusRule)",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestChartChecksFindBrokenChart(t *testing.T) {
	chartFiles := "deploy/helm/llm-observability-pack/files/"
	for _, c := range []struct {
		name, file, old, new string
		expect               []string
	}{
		{"invented metric in a dashboard copy", chartFiles + "dashboards/vllm.json", "vllm:generation_tokens_total", "vllm:request_failure_total",
			[]string{"data vllm.json differs from dashboards/vllm.json", "dashboard chart/vllm.json"}},
		{"rule copy out of date", chartFiles + "slo-rules.yaml", "nv_inference_request_success", "nv_inference_request_succes",
			[]string{"its groups differ from deploy/prometheus/rules/slo.yml", `chart rule metrics slo:sli_error:ratio_rate5m{slo="availability"}`}},
		{"rule copy does not parse", chartFiles + "slo-rules.yaml", "sum by (job, backend, model)", "sum by (job, backend, model",
			[]string{"does not parse"}},
		{"dashboard missing from the chart", chartFiles + "dashboards/loadgen.json", "", "",
			[]string{"dashboards/loadgen.json has no ConfigMap in the chart"}},
		{"template error", "deploy/helm/llm-observability-pack/templates/podmonitors.yaml", "{{- end }}\n{{- end }}", "{{- end }}",
			[]string{"FAIL chart: render"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			copyTree(t, root)
			p := filepath.Join(root, c.file)
			if c.old == "" {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			} else {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Contains(b, []byte(c.old)) {
					t.Fatalf("%s does not contain %q", c.file, c.old)
				}
				os.WriteFile(p, bytes.Replace(b, []byte(c.old), []byte(c.new), 1), 0o644)
			}
			var out bytes.Buffer
			err := RunWith(context.Background(), root, &out, Options{Pages: testPages(t), NoPromtool: true})
			if err == nil {
				t.Fatalf("check:config passed a broken chart (%s)", c.file)
			}
			fails := failLines(out.String())
			for _, e := range c.expect {
				if !strings.Contains(fails, e) {
					t.Errorf("FAIL lines lack %q:\n%s", e, fails)
				}
			}
		})
	}
}

// promtool check rules accepts the chart's PrometheusRule spec, and refuses
// one with a broken expression.
func TestChartPromtool(t *testing.T) {
	if FindPromtool("") == "" {
		needs.Skip(t, "promtool not found on PATH: it checks the chart's PrometheusRule", "prometheus")
	}
	var out bytes.Buffer
	r := &reporter{w: &out}
	root, _ := filepath.Abs(repoRoot)
	checkChart(context.Background(), root, Options{Pages: testPages(t)}, nil, r)
	if r.failed > 0 || !strings.Contains(out.String(), "PASS promtool check rules (chart PrometheusRule)") {
		t.Fatalf("%d failed:\n%s", r.failed, out.String())
	}
	broken := t.TempDir()
	copyTree(t, broken)
	p := filepath.Join(broken, "deploy/helm/llm-observability-pack/files/slo-rules.yaml")
	b, _ := os.ReadFile(p)
	os.WriteFile(p, bytes.Replace(b, []byte("record: slo:objective:ratio"), []byte("record: 'slo objective'"), 1), 0o644)
	out.Reset()
	r = &reporter{w: &out}
	checkChart(context.Background(), broken, Options{}, nil, r)
	if !strings.Contains(failLines(out.String()), "FAIL promtool check rules (chart PrometheusRule)") {
		t.Fatalf("promtool passed a bad record name:\n%s", out.String())
	}
}
