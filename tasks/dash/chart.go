package dash

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ChartDir is the Helm chart's folder, relative to the repository root.
const ChartDir = "deploy/helm/llm-observability-pack"

// Paths of the generated copies inside the chart: the chart's templates read
// them with .Files (a chart can hold no file from outside its folder).
const (
	ChartRulesFile     = "files/slo-rules.yaml"
	ChartDashboardsDir = "files/dashboards"
)

// WriteChartFiles writes into the chart folder chartDir the copies its
// templates embed: files/slo-rules.yaml (the bytes of Rules(), i.e. of
// deploy/prometheus/rules/slo.yml) and files/dashboards/NAME.json (the bytes
// of each dashboard's JSON, i.e. of dashboards/NAME.json). A *.json there that
// is no longer a dashboard is removed, so the chart ships no stale one.
func WriteChartFiles(chartDir string) error {
	rules, err := Rules()
	if err != nil {
		return err
	}
	dashDir := filepath.Join(chartDir, filepath.FromSlash(ChartDashboardsDir))
	if err := os.MkdirAll(dashDir, 0o755); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(chartDir, filepath.FromSlash(ChartRulesFile)), rules); err != nil {
		return fmt.Errorf("writing the chart's rules: %w", err)
	}
	keep := map[string]bool{}
	for _, d := range Dashboards() {
		b, err := d.JSON()
		if err != nil {
			return err
		}
		keep[d.File] = true
		if err := writeFileAtomic(filepath.Join(dashDir, d.File), b); err != nil {
			return fmt.Errorf("writing the chart's %s: %w", d.File, err)
		}
	}
	entries, err := os.ReadDir(dashDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") && !keep[e.Name()] {
			if err := os.Remove(filepath.Join(dashDir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}
