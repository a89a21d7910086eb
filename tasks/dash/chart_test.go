package dash

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The chart's copies of the rules and dashboards must be what the code
// generates (and so equal to deploy/prometheus/rules/slo.yml and
// dashboards/*.json, which TestCommittedFilesUpToDate checks).
func TestChartFilesUpToDate(t *testing.T) {
	if *update {
		if err := WriteChartFiles(filepath.Join(repoRoot, ChartDir)); err != nil {
			t.Fatal(err)
		}
	}
	chart := filepath.Join(repoRoot, ChartDir)
	want, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(chart, ChartRulesFile))
	if err != nil {
		t.Fatalf("%v; run `mage dash` to generate it", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s/%s differs from what tasks/dash generates; run `mage dash` and commit the result", ChartDir, ChartRulesFile)
	}
	names := map[string]bool{}
	for _, d := range Dashboards() {
		names[d.File] = true
		want, err := d.JSON()
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(chart, ChartDashboardsDir, d.File))
		if err != nil {
			t.Errorf("%v; run `mage dash` to generate it", err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s/%s/%s differs from what tasks/dash generates; run `mage dash` and commit the result", ChartDir, ChartDashboardsDir, d.File)
		}
	}
	entries, err := os.ReadDir(filepath.Join(chart, ChartDashboardsDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !names[e.Name()] {
			t.Errorf("%s/%s/%s is not a generated dashboard: the chart would ship it; run `mage dash`", ChartDir, ChartDashboardsDir, e.Name())
		}
	}
}

func TestWriteChartFilesRemovesStale(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, ChartDashboardsDir, "old.json")
	if err := os.MkdirAll(filepath.Dir(stale), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteChartFiles(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("old.json left in the chart's dashboards: %v", err)
	}
	for _, d := range Dashboards() {
		if _, err := os.Stat(filepath.Join(dir, ChartDashboardsDir, d.File)); err != nil {
			t.Error(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, ChartRulesFile))
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := Rules(); !bytes.Equal(b, want) {
		t.Error("files/slo-rules.yaml differs from Rules()")
	}
}
