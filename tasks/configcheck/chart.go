package configcheck

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/k8s/chart"
)

// checkChart renders the Helm chart (deploy/helm/llm-observability-pack, with
// the simulator on, as `mage k8s:render -sim` does) and checks what a cluster
// would get: every object in the release's namespace with the pack's labels;
// the PrometheusRule's groups equal to deploy/prometheus/rules/slo.yml and
// every expression parsing and reading only metrics the servers export; each
// dashboard ConfigMap equal to dashboards/NAME.json byte for byte, carrying
// the sidecar label, and every query of it checked as the compose stack's
// dashboards are. pages nil (the simulator pages could not be collected)
// skips the metric checks only.
func checkChart(ctx context.Context, root string, o Options, pages *Pages, r *reporter) {
	dir := filepath.Join(root, filepath.FromSlash(chart.Dir))
	if _, err := os.Stat(filepath.Join(dir, "Chart.yaml")); err != nil {
		r.fail("chart", "%s/Chart.yaml: %v", chart.Dir, err)
		return
	}
	objs, err := chart.Render(chart.Options{ChartDir: dir, Sim: true})
	if err != nil {
		r.fail("chart: render", "%v", err)
		return
	}
	r.pass("chart: render", "%d objects (%s)", len(objs), kindCounts(objs))
	checkChartLabels(objs, r)

	var rules []Rule
	var prs, cms []*unstructured.Unstructured
	for _, u := range objs {
		switch u.GetKind() {
		case "PrometheusRule":
			prs = append(prs, u)
		case "ConfigMap":
			cms = append(cms, u)
		}
	}
	if len(prs) != 1 {
		r.fail("chart: PrometheusRule", "%d PrometheusRules rendered, want 1", len(prs))
	} else {
		rules = checkChartRules(root, prs[0], r)
		checkChartPromtool(ctx, prs[0], o, r)
	}
	if pages != nil && rules != nil {
		checkRuleMetricsAs("chart rule metrics ", rules, pages, r)
	}
	checkChartDashboards(root, cms, rules, pages, captureDir(root, o), r)
}

// checkChartPromtool runs promtool check rules on the PrometheusRule's spec
// (the rules file the Prometheus Operator hands Prometheus).
func checkChartPromtool(ctx context.Context, pr *unstructured.Unstructured, o Options, r *reporter) {
	name := "promtool check rules (chart PrometheusRule)"
	promtool := FindPromtool(o.Promtool)
	if o.NoPromtool || promtool == "" {
		r.skip(name, "skipped: promtool not found (install Prometheus' promtool, e.g. apt-get install prometheus)")
		return
	}
	spec, _, _ := unstructured.NestedMap(pr.Object, "spec")
	b, err := yaml.Marshal(spec)
	if err != nil {
		r.fail(name, "%v", err)
		return
	}
	dir, err := os.MkdirTemp("", "lop-chart-rules-")
	if err != nil {
		r.fail(name, "%v", err)
		return
	}
	defer os.RemoveAll(dir)
	f := filepath.Join(dir, pr.GetName()+".yml")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		r.fail(name, "%v", err)
		return
	}
	if out, err := runTool(ctx, dir, promtool, "check", "rules", f); err != nil {
		r.fail(name, "%v\n%s", err, out)
		return
	}
	r.pass(name, "%s", pr.GetName())
}

func kindCounts(objs []*unstructured.Unstructured) string {
	n := map[string]int{}
	for _, u := range objs {
		n[u.GetKind()]++
	}
	var parts []string
	for _, k := range sortedKeys(n) {
		parts = append(parts, fmt.Sprintf("%d %s", n[k], k))
	}
	return strings.Join(parts, ", ")
}

func checkChartLabels(objs []*unstructured.Unstructured, r *reporter) {
	var bad []string
	for _, u := range objs {
		l := u.GetLabels()
		if u.GetNamespace() != chart.DefaultNamespace || l[chart.LabelPartOf] != chart.PartOf ||
			l[chart.LabelInstance] != chart.DefaultRelease || l[chart.LabelManagedBy] != chart.ManagedBy {
			bad = append(bad, u.GetKind()+"/"+u.GetName())
		}
	}
	if len(bad) > 0 {
		r.fail("chart: labels", "%s lack the release's namespace or the labels %s, %s, %s (templates/_helpers.tpl lop.labels)",
			strings.Join(bad, ", "), chart.LabelPartOf, chart.LabelInstance, chart.LabelManagedBy)
		return
	}
	r.pass("chart: labels", "every object in namespace %s with %s, %s and %s", chart.DefaultNamespace, chart.LabelPartOf, chart.LabelInstance, chart.LabelManagedBy)
}

// checkChartRules compares the PrometheusRule's spec with slo.yml and checks
// that each of its expressions parses; it returns its rules.
func checkChartRules(root string, pr *unstructured.Unstructured, r *reporter) []Rule {
	name := "chart: PrometheusRule " + pr.GetName()
	spec, _, _ := unstructured.NestedMap(pr.Object, "spec")
	b, err := yaml.Marshal(spec)
	if err != nil {
		r.fail(name, "%v", err)
		return nil
	}
	var got rulesYAML
	if err := yaml.Unmarshal(b, &got); err != nil {
		r.fail(name, "spec is not a rules file: %v", err)
		return nil
	}
	composeFile := filepath.Join(root, "deploy", "prometheus", "rules", "slo.yml")
	cb, err := os.ReadFile(composeFile)
	if err != nil {
		r.fail(name, "%v", err)
	} else {
		var want rulesYAML
		if err := yaml.Unmarshal(cb, &want); err != nil {
			r.fail(name, "%s: %v", rel(root, composeFile), err)
		} else if !reflect.DeepEqual(got, want) {
			r.fail(name, "its groups differ from deploy/prometheus/rules/slo.yml; run `mage dash` (it writes the chart's files/slo-rules.yaml)")
		} else {
			r.pass(name, "the groups of deploy/prometheus/rules/slo.yml (%d groups)", len(got.Groups))
		}
	}
	var rules []Rule
	file := "chart PrometheusRule " + pr.GetName()
	for _, g := range got.Groups {
		for i, rl := range g.Rules {
			rules = append(rules, Rule{File: file, Group: g.Name, Record: rl.Record, Alert: rl.Alert, Expr: rl.Expr,
				Labels: rl.Labels, Interval: g.Interval, GroupLineIndex: i})
		}
	}
	for _, rl := range rules {
		if _, err := ParsePromQL(rl.Expr); err != nil {
			r.fail("chart rule "+rl.Name(), "group %s: the expression does not parse: %v", rl.Group, err)
			continue
		}
		r.pass("chart rule "+rl.Name(), "parses (group %s)", rl.Group)
	}
	return rules
}

func checkChartDashboards(root string, cms []*unstructured.Unstructured, rules []Rule, pages *Pages, capDir string, r *reporter) {
	files, _ := filepath.Glob(filepath.Join(root, "dashboards", "*.json"))
	sort.Strings(files)
	seen := map[string]bool{}
	var captures []loadedCapture
	if pages != nil {
		captures = loadCaptures(capDir) // skips are reported by checkDashboards
	}
	for _, cm := range cms {
		name := "chart: ConfigMap " + cm.GetName()
		data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
		if len(data) != 1 {
			r.fail(name, "%d data keys, want one dashboard", len(data))
			continue
		}
		if cm.GetLabels()["grafana_dashboard"] != "1" {
			r.fail(name, "no grafana_dashboard=\"1\" label: Grafana's sidecar would not load it (values dashboards.label)")
			continue
		}
		for key, text := range data {
			seen[key] = true
			want, err := os.ReadFile(filepath.Join(root, "dashboards", key))
			switch {
			case err != nil:
				r.fail(name, "%s is not a dashboard of dashboards/ (%v); run `mage dash`", key, err)
				continue
			case !bytes.Equal(want, []byte(text)):
				// Its queries are checked all the same: they are what a cluster gets.
				r.fail(name, "data %s differs from dashboards/%s; run `mage dash` (it writes the chart's files/dashboards)", key, key)
			default:
				r.pass(name, "data %s = dashboards/%s byte for byte, label grafana_dashboard=1", key, key)
			}
			if pages == nil {
				continue
			}
			d, err := ParseDashboard("chart/"+key, []byte(text))
			if err != nil {
				r.fail(name, "%v", err)
				continue
			}
			page, pageName, err := dashboardPage(d.Backend, pages, recordNames(rules))
			if err != nil {
				r.fail("dashboard "+d.File, "%v", err)
				continue
			}
			for _, q := range d.Queries {
				checkQuery(d, q, page, pageName, captures, r)
			}
		}
	}
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			r.fail("chart: dashboards", "dashboards/%s has no ConfigMap in the chart; run `mage dash` (it writes the chart's files/dashboards)", filepath.Base(f))
		}
	}
}
