package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const chartDir = "../../../deploy/helm/llm-observability-pack"

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestRenderDir(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "notes.txt")
	os.WriteFile(other, []byte("mine"), 0o644)
	stale := filepath.Join(dir, "99-configmap-old.yaml")
	os.WriteFile(stale, []byte("kind: ConfigMap"), 0o644)
	code, out, errs := runCmd(t, "render", "-chart="+chartDir, "-out="+dir, "-sim")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "17 objects") {
		t.Errorf("stdout %q", out)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("a file of an earlier render was left")
	}
	if _, err := os.Stat(other); err != nil {
		t.Error("a file that is not a render's was removed")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(files) != 17 {
		t.Fatalf("%d files", len(files))
	}
	// Each file is one object, and the files in name order are the apply order.
	var kinds []string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		var m map[string]any
		if err := yaml.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		md := m["metadata"].(map[string]any)
		if md["namespace"] != "llm-observability" {
			t.Errorf("%s: namespace %v", f, md["namespace"])
		}
		kinds = append(kinds, m["kind"].(string))
	}
	if kinds[0] != "ConfigMap" || kinds[len(kinds)-1] != "PrometheusRule" {
		t.Errorf("kinds in file order: %q", kinds)
	}
}

func TestRenderStream(t *testing.T) {
	code, out, errs := runCmd(t, "render", "-chart="+chartDir, "-release=obs", "-namespace=mon")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if n := strings.Count(out, "---\n"); n != 9 {
		t.Errorf("%d documents", n)
	}
	if !strings.Contains(out, "name: obs-slo\n") || !strings.Contains(out, "namespace: mon\n") {
		t.Error("release or namespace not in the stream")
	}
}

func TestUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage: run render|apply|delete"},
		{[]string{"install"}, 2, `unknown subcommand "install"`},
		{[]string{"render", "-bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"render", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"render", "-release=UPPER"}, 2, `release name "UPPER"`},
		{[]string{"render", "-out="}, 2, "-out is empty"},
		{[]string{"render", "-dashboard-label=x"}, 2, `dashboard label "x": expected KEY=VALUE`},
		{[]string{"render", "-chart=/nonexistent"}, 1, "loading the chart"},
	} {
		code, _, errs := runCmd(t, c.args...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", c.args, code, errs, c.code, c.want)
		}
	}
}
