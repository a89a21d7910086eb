// Package configcheck is `mage check:config`: it validates deploy/compose.yaml
// (with compose-go, for every profile, with the values of deploy/env.example),
// the Prometheus configuration and rules (with promtool where installed, and
// with Prometheus' PromQL parser always), and every dashboard query: parsed
// after Grafana's variables are substituted, and every metric it names found
// in the simulator's metrics page for the dashboard's backend and, where a
// real capture covers the metric, in that capture.
//
// It prints one line per check, PASS, FAIL or SKIP, and returns an error when
// a check failed.
package configcheck

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
)

type reporter struct {
	w      io.Writer
	failed int
	passed int
}

func (r *reporter) line(status, name, format string, args ...any) {
	fmt.Fprintf(r.w, "%s %s: %s\n", status, name, fmt.Sprintf(format, args...))
}

func (r *reporter) pass(name, format string, args ...any) {
	r.passed++
	r.line("PASS", name, format, args...)
}

func (r *reporter) fail(name, format string, args ...any) {
	r.failed++
	r.line("FAIL", name, format, args...)
}

func (r *reporter) skip(name, format string, args ...any) { r.line("SKIP", name, format, args...) }

// Options tune Run; the zero value is what `mage check:config` uses.
type Options struct {
	// Promtool is the promtool binary; "" looks it up in PATH.
	Promtool string
	// NoPromtool skips the promtool checks as if promtool were missing.
	NoPromtool bool
	// NoAmtool skips amtool check-config of the Alertmanager configurations.
	NoAmtool bool
	// CaptureDir holds the real /metrics captures; "" means
	// <root>/../shared/fixtures/metrics.
	CaptureDir string
	// Pages, when set, replaces running the simulator for the metrics pages.
	Pages *Pages
}

// Run checks the repository at root and writes one line per check to w.
func Run(ctx context.Context, root string, w io.Writer) error {
	return RunWith(ctx, root, w, Options{})
}

// RunWith is Run with options.
func RunWith(ctx context.Context, root string, w io.Writer, o Options) error {
	r := &reporter{w: w}
	abs, err := filepath.Abs(root)
	if err != nil {
		return fmt.Errorf("check:config: repository root %q: %w", root, err)
	}
	root = abs
	checkCompose(ctx, root, r)
	rules := checkPrometheus(ctx, root, o, r)
	if !o.NoAmtool {
		checkAlertmanager(ctx, root, FindAmtool(), r) // alertmanager.go
	}
	pages := o.Pages
	if pages == nil {
		pages, err = CollectPages(ctx)
		if err != nil {
			r.fail("simulator pages", "%v", err)
		} else {
			r.pass("simulator pages", "%s", describePages(pages))
		}
	}
	if pages != nil {
		checkRuleMetrics(rules, pages, r)
		checkDashboards(root, rules, pages, captureDir(root, o), r)
	}
	checkChart(ctx, root, o, pages, r) // chart.go
	fmt.Fprintf(w, "%d passed, %d failed\n", r.passed, r.failed)
	if r.failed > 0 {
		return fmt.Errorf("check:config: %d of %d checks failed (the FAIL lines above say what to fix)", r.failed, r.failed+r.passed)
	}
	return nil
}

func describePages(p *Pages) string {
	var parts []string
	for _, pers := range sortedKeys(p.Sim) {
		parts = append(parts, fmt.Sprintf("%s %d series names", pers, len(p.Sim[pers])))
	}
	parts = append(parts, fmt.Sprintf("dcgm %d", len(p.DCGM)), fmt.Sprintf("loadgen %d", len(p.Loadgen)))
	return strings.Join(parts, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func captureDir(root string, o Options) string {
	if o.CaptureDir != "" {
		return o.CaptureDir
	}
	return filepath.Join(root, "..", "shared", "fixtures", "metrics")
}

// ---------------------------------------------------------------------------
// Prometheus.

// Rule is one rule of a rules file.
type Rule struct {
	File, Group    string
	Record, Alert  string
	Expr           string
	Labels         map[string]string
	Interval       string // the group's
	GroupLineIndex int
}

// Name is the rule's record or alert name with its slo label, for messages.
func (r Rule) Name() string {
	n := r.Record
	if n == "" {
		n = r.Alert
	}
	if s := r.Labels["slo"]; s != "" {
		n += `{slo="` + s + `"`
		if sev := r.Labels["severity"]; sev != "" {
			n += `,severity="` + sev + `"`
		}
		n += "}"
	}
	return n
}

type rulesYAML struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []struct {
			Record string            `yaml:"record"`
			Alert  string            `yaml:"alert"`
			Expr   string            `yaml:"expr"`
			Labels map[string]string `yaml:"labels"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// ReadRules reads the rules files (*.yml, *.yaml) of dir.
func ReadRules(dir string) ([]Rule, []string, error) {
	files, err := RuleFiles(dir)
	if err != nil {
		return nil, nil, err
	}
	var out []Rule
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		var y rulesYAML
		if err := yaml.Unmarshal(b, &y); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, g := range y.Groups {
			for i, rl := range g.Rules {
				out = append(out, Rule{File: f, Group: g.Name, Record: rl.Record, Alert: rl.Alert, Expr: rl.Expr,
					Labels: rl.Labels, Interval: g.Interval, GroupLineIndex: i})
			}
		}
	}
	return out, files, nil
}

// RuleFiles lists the rules files of dir, sorted.
func RuleFiles(dir string) ([]string, error) {
	var files []string
	for _, pat := range []string{"*.yml", "*.yaml"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return nil, err
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	return files, nil
}

// FindPromtool returns the promtool binary to use, or "" when there is none.
func FindPromtool(explicit string) string {
	if explicit != "" {
		return explicit
	}
	p, err := exec.LookPath("promtool")
	if err != nil {
		return ""
	}
	return p
}

func runTool(ctx context.Context, dir, bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return strings.TrimSpace(out.String()), err
}

func checkPrometheus(ctx context.Context, root string, o Options, r *reporter) []Rule {
	promDir := filepath.Join(root, "deploy", "prometheus")
	rules, files, err := ReadRules(filepath.Join(promDir, "rules"))
	switch {
	case err != nil:
		r.fail("prometheus rules: read", "%v", err)
	case len(files) == 0:
		r.fail("prometheus rules: read", "no *.yml in deploy/prometheus/rules; run `mage dash` to generate slo.yml")
	}
	for _, rl := range rules {
		name := "prometheus rule " + rl.Name()
		if _, err := ParsePromQL(rl.Expr); err != nil {
			r.fail(name, "%s group %s: the expression does not parse: %v", rel(root, rl.File), rl.Group, err)
			continue
		}
		r.pass(name, "parses (%s, group %s)", rel(root, rl.File), rl.Group)
	}

	promtool := FindPromtool(o.Promtool)
	if o.NoPromtool {
		promtool = ""
	}
	if promtool == "" {
		for _, c := range []string{"promtool check config", "promtool check rules", "promtool test rules"} {
			r.skip(c, "skipped: promtool not found (install Prometheus' promtool, e.g. apt-get install prometheus)")
		}
		return rules
	}
	cfg := filepath.Join(promDir, "prometheus.yml")
	if out, err := runTool(ctx, promDir, promtool, "check", "config", "--syntax-only", cfg); err != nil {
		r.fail("promtool check config", "deploy/prometheus/prometheus.yml: %v\n%s", err, out)
	} else {
		r.pass("promtool check config", "deploy/prometheus/prometheus.yml")
	}
	if len(files) > 0 {
		if out, err := runTool(ctx, promDir, promtool, append([]string{"check", "rules"}, files...)...); err != nil {
			r.fail("promtool check rules", "%v\n%s", err, out)
		} else {
			r.pass("promtool check rules", "%s", lastLine(out))
		}
	}
	tests, _ := filepath.Glob(filepath.Join(promDir, "tests", "*.yml"))
	sort.Strings(tests)
	if len(tests) == 0 {
		r.fail("promtool test rules", "no unit tests in deploy/prometheus/tests/*.yml")
		return rules
	}
	for _, t := range tests {
		if out, err := runTool(ctx, filepath.Dir(t), promtool, "test", "rules", filepath.Base(t)); err != nil {
			r.fail("promtool test rules "+rel(root, t), "%v\n%s", err, out)
		} else {
			r.pass("promtool test rules "+rel(root, t), "%s", lastLine(out))
		}
	}
	return rules
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[i+1:])
	}
	return s
}

func rel(root, p string) string {
	if r, err := filepath.Rel(root, p); err == nil {
		return r
	}
	return p
}

// recordNames are the series the rules produce (records and ALERTS).
func recordNames(rules []Rule) Page {
	p := Page{"ALERTS": true, "ALERTS_FOR_STATE": true}
	for _, rl := range rules {
		if rl.Record != "" {
			p[rl.Record] = true
		}
	}
	return p
}

// orBranches splits an expression at its top-level `or`s: the alternative
// sources of an SLI (vLLM's metrics or Triton's).
func orBranches(e parser.Expr) []parser.Expr {
	switch x := e.(type) {
	case *parser.ParenExpr:
		return orBranches(x.Expr)
	case *parser.BinaryExpr:
		if x.Op == parser.LOR {
			return append(orBranches(x.LHS), orBranches(x.RHS)...)
		}
	}
	return []parser.Expr{e}
}

// checkRuleMetrics: each source of a rule (each top-level `or` branch) reads
// metrics that all exist in the simulator's page of at least one personality
// (or are other rules' records), so no branch is dead code.
func checkRuleMetrics(rules []Rule, pages *Pages, r *reporter) {
	checkRuleMetricsAs("prometheus rule metrics ", rules, pages, r)
}

// checkRuleMetricsAs is checkRuleMetrics with its lines named prefix+rule.
func checkRuleMetricsAs(prefix string, rules []Rule, pages *Pages, r *reporter) {
	records := recordNames(rules)
	for _, rl := range rules {
		name := prefix + rl.Name()
		e, err := ParsePromQL(rl.Expr)
		if err != nil {
			continue // reported by checkPrometheus
		}
		var problems, found []string
		for i, br := range orBranches(e) {
			var ok []string
			var missing []string
			for _, pers := range sortedKeys(pages.Sim) {
				page := pages.Sim[pers]
				m := Missing(br, func(n string) bool { return page[n] || records[n] })
				if len(m) == 0 {
					ok = append(ok, pers)
				} else if missing == nil {
					missing = m
				}
			}
			if len(ok) == 0 {
				problems = append(problems, fmt.Sprintf("source %d reads %s, which no simulator page has", i+1, strings.Join(missing, ", ")))
				continue
			}
			found = append(found, strings.Join(ok, "+"))
		}
		if len(problems) > 0 {
			r.fail(name, "%s; fix the metric name in tasks/dash (slo.go) and run `mage dash`", strings.Join(problems, "; "))
			continue
		}
		r.pass(name, "every source's metrics found (%s)", strings.Join(found, " | "))
	}
}

// ---------------------------------------------------------------------------
// Dashboards.

func dashboardPage(tag string, pages *Pages, records Page) (Page, string, error) {
	union := func(ps ...Page) Page {
		out := Page{}
		for _, p := range ps {
			for k := range p {
				out[k] = true
			}
		}
		return out
	}
	if b, ok := byDashboard(tag); ok {
		p, ok := pages.Sim[string(b.Personality)]
		if !ok {
			return nil, "", fmt.Errorf("no simulator page for %s", b.Personality)
		}
		return union(p, pages.DCGM), "simulator " + string(b.Personality) + " and dcgm", nil
	}
	tags := append(backendDashboards(), "slo", "loadgen")
	switch tag {
	case "slo":
		return records, "recording rules and ALERTS", nil
	case "loadgen":
		all := []Page{pages.Loadgen}
		for _, k := range sortedKeys(pages.Sim) {
			all = append(all, pages.Sim[k])
		}
		return union(all...), "load generator and simulator", nil
	case "":
		return nil, "", fmt.Errorf("the dashboard has no backend:<name> tag (%s); generate it with `mage dash`", strings.Join(tags, ", "))
	default:
		return nil, "", fmt.Errorf("unknown backend tag backend:%s (want %s or %s)", tag,
			strings.Join(tags[:len(tags)-1], ", "), tags[len(tags)-1])
	}
}

// byDashboard returns the backend whose dashboard is tagged backend:tag
// (its simulator personality has the metrics page to check it against).
func byDashboard(tag string) (backend.Backend, bool) {
	for _, b := range backend.Table {
		if b.Dashboard != "" && b.Dashboard == tag {
			return b, true
		}
	}
	return backend.Backend{}, false
}

// backendDashboards lists the backends' dashboards, in table order.
func backendDashboards() []string {
	var d []string
	for _, b := range backend.Table {
		if b.Dashboard != "" {
			d = append(d, b.Dashboard)
		}
	}
	return d
}

type loadedCapture struct {
	Capture
	err error
}

func loadCaptures(dir string) []loadedCapture {
	var out []loadedCapture
	for _, kc := range knownCaptures {
		c := kc.cap
		c.Name = kc.file
		f, err := os.Open(filepath.Join(dir, kc.file))
		if err != nil {
			out = append(out, loadedCapture{Capture: c, err: err})
			continue
		}
		c.Page, err = ParseExposition(f)
		f.Close()
		out = append(out, loadedCapture{Capture: c, err: err})
	}
	return out
}

func checkDashboards(root string, rules []Rule, pages *Pages, capDir string, r *reporter) {
	dir := filepath.Join(root, "dashboards")
	dashboards, err := ReadDashboards(dir)
	if err != nil {
		r.fail("dashboards", "%v", err)
		return
	}
	if len(dashboards) == 0 {
		r.fail("dashboards", "no dashboards in %s; run `mage dash`", dir)
		return
	}
	captures := loadCaptures(capDir)
	for _, c := range captures {
		if c.err != nil {
			r.skip("capture "+c.Name, "skipped: %v", c.err)
		}
	}
	records := recordNames(rules)
	for _, d := range dashboards {
		page, pageName, err := dashboardPage(d.Backend, pages, records)
		if err != nil {
			r.fail("dashboard "+d.File, "%v", err)
			continue
		}
		if len(d.Queries) == 0 {
			r.fail("dashboard "+d.File, "has no queries")
			continue
		}
		for _, q := range d.Queries {
			checkQuery(d, q, page, pageName, captures, r)
		}
	}
}

func checkQuery(d *Dashboard, q Query, page Page, pageName string, captures []loadedCapture, r *reporter) {
	name := fmt.Sprintf("dashboard %s %s", d.File, q.Where)
	expr, err := Substitute(q.Expr, d.Vars, Builtins)
	if err != nil {
		r.fail(name, "%v in %q", err, q.Expr)
		return
	}
	e, err := ParsePromQL(expr)
	if err != nil {
		r.fail(name, "does not parse: %v; query after substitution: %s", err, expr)
		return
	}
	names := MetricNames(e)
	if len(names) == 0 && !strings.HasPrefix(q.Where, "variable") {
		r.fail(name, "selects no metric: %s", expr)
		return
	}
	if m := Missing(e, func(n string) bool { return page[n] }); len(m) > 0 {
		r.fail(name, "%s not in the %s pages; the dashboard reads a metric the server does not export (fix tasks/dash and run `mage dash`)",
			strings.Join(m, ", "), pageName)
		return
	}
	detail := fmt.Sprintf("parses; %d metric(s) found in the %s pages", len(names), pageName)
	for _, c := range captures {
		if c.err != nil || !contains(c.Dashboards, d.Backend) {
			continue
		}
		var covered, newer []string
		for _, n := range names {
			if c.Covers(n) {
				covered = append(covered, n)
				if _, ok := c.Newer[n]; ok && !c.Page[n] {
					newer = append(newer, n)
				}
			}
		}
		if len(covered) == 0 {
			continue
		}
		m := Missing(e, func(n string) bool {
			if !c.Covers(n) || c.Page[n] {
				return true
			}
			_, ok := c.Newer[n]
			return ok
		})
		if len(m) > 0 {
			r.fail(name, "%s not in the real capture %s, which covers it: a name the server does not export (fix tasks/dash)",
				strings.Join(m, ", "), c.Name)
			return
		}
		detail += fmt.Sprintf("; in capture %s", c.Name)
		if len(newer) > 0 {
			var why []string
			for _, n := range newer {
				why = append(why, n+" "+c.Newer[n])
			}
			detail += " (newer than the capture: " + strings.Join(why, "; ") + ")"
		}
	}
	r.pass(name, "%s", detail)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
