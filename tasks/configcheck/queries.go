package configcheck

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Query is one PromQL expression of a dashboard: a panel target or the
// metric selector of a label_values() variable.
type Query struct {
	Dashboard string // file name
	Backend   string // the dashboard's backend:<name> tag
	Where     string // panel title and refId, or "variable <name>"
	Expr      string // as written, with Grafana variables
}

// Dashboard is what the checks need of a dashboard file.
type Dashboard struct {
	File    string
	Backend string
	Vars    map[string]string // variable name -> the value queries are checked with
	Queries []Query
}

type grafanaDashboard struct {
	Title      string         `json:"title"`
	Tags       []string       `json:"tags"`
	Panels     []grafanaPanel `json:"panels"`
	Templating struct {
		List []grafanaVar `json:"list"`
	} `json:"templating"`
}

type grafanaPanel struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // collapsed rows
}

type grafanaVar struct {
	Type     string          `json:"type"`
	Name     string          `json:"name"`
	Query    json.RawMessage `json:"query"`
	AllValue string          `json:"allValue"`
	Current  struct {
		Value json.RawMessage `json:"value"`
	} `json:"current"`
}

var labelValuesRe = regexp.MustCompile(`^\s*label_values\(\s*(.+?)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$`)

// ParseDashboard reads a Grafana dashboard JSON and returns its queries and
// the value each template variable is checked with (its current value, or
// its "All" regex, or ".*").
func ParseDashboard(name string, b []byte) (*Dashboard, error) {
	var g grafanaDashboard
	if err := json.Unmarshal(b, &g); err != nil {
		return nil, fmt.Errorf("%s: not a Grafana dashboard JSON: %w", name, err)
	}
	d := &Dashboard{File: name, Vars: map[string]string{}}
	for _, t := range g.Tags {
		if v, ok := strings.CutPrefix(t, "backend:"); ok {
			d.Backend = v
		}
	}
	for _, v := range g.Templating.List {
		switch v.Type {
		case "datasource":
			d.Vars[v.Name] = "prometheus"
			continue
		case "query":
		default:
			d.Vars[v.Name] = ".*"
			continue
		}
		d.Vars[v.Name] = varValue(v)
		var q string
		if err := json.Unmarshal(v.Query, &q); err != nil {
			var obj struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &obj); err != nil {
				return nil, fmt.Errorf("%s: variable %q: query is neither a string nor {\"query\": ...}", name, v.Name)
			}
			q = obj.Query
		}
		m := labelValuesRe.FindStringSubmatch(q)
		if m == nil {
			return nil, fmt.Errorf("%s: variable %q: query %q is not label_values(<selector>, <label>)", name, v.Name, q)
		}
		d.Queries = append(d.Queries, Query{Dashboard: name, Where: "variable " + v.Name, Expr: m[1]})
	}
	var walk func(ps []grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				if strings.TrimSpace(t.Expr) == "" {
					continue
				}
				d.Queries = append(d.Queries, Query{Dashboard: name, Where: fmt.Sprintf("%q/%s", p.Title, t.RefID), Expr: t.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(g.Panels)
	for i := range d.Queries {
		d.Queries[i].Backend = d.Backend
	}
	return d, nil
}

func varValue(v grafanaVar) string {
	var cur string
	if err := json.Unmarshal(v.Current.Value, &cur); err != nil {
		var list []string
		if json.Unmarshal(v.Current.Value, &list) == nil && len(list) == 1 {
			cur = list[0]
		}
	}
	switch {
	case cur == "$__all" || cur == "":
		if v.AllValue != "" {
			return v.AllValue
		}
		return ".*"
	default:
		return cur
	}
}

// ReadDashboards parses every *.json file in dir, sorted by name.
func ReadDashboards(dir string) ([]*Dashboard, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []*Dashboard
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(dir + "/" + e.Name())
		if err != nil {
			return nil, err
		}
		d, err := ParseDashboard(e.Name(), b)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out, nil
}

// Builtins are the values Grafana's global variables are replaced with
// before parsing.
var Builtins = map[string]string{
	"__rate_interval": "1m",
	"__interval":      "15s",
	"__range":         "1h",
}

// Substitute replaces Grafana variables ($name, ${name}, ${name:format},
// [[name]]) with values from vars, then builtins. $ followed by a digit
// ($1 in label_replace) is left alone. An unknown variable is an error.
func Substitute(expr string, vars, builtins map[string]string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(expr); {
		c := expr[i]
		if c == '[' && strings.HasPrefix(expr[i:], "[[") {
			end := strings.Index(expr[i+2:], "]]")
			if end >= 0 {
				name := expr[i+2 : i+2+end]
				if isIdent(name) {
					v, ok := lookupVar(name, vars, builtins)
					if !ok {
						return "", fmt.Errorf("unknown Grafana variable [[%s]]", name)
					}
					b.WriteString(v)
					i += 2 + end + 2
					continue
				}
			}
		}
		if c != '$' || i+1 >= len(expr) {
			b.WriteByte(c)
			i++
			continue
		}
		rest := expr[i+1:]
		var name string
		var n int
		if rest[0] == '{' {
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated ${ at offset %d", i)
			}
			name, _, _ = strings.Cut(rest[1:end], ":")
			n = end + 1
		} else {
			j := 0
			for j < len(rest) && (rest[j] == '_' || isAlnum(rest[j])) {
				j++
			}
			name, n = rest[:j], j
		}
		if name == "" || (name[0] >= '0' && name[0] <= '9') {
			b.WriteByte(c)
			i++
			continue
		}
		v, ok := lookupVar(name, vars, builtins)
		if !ok {
			return "", fmt.Errorf("unknown Grafana variable $%s (the dashboard defines %s)", name, varNames(vars))
		}
		b.WriteString(v)
		i += 1 + n
	}
	return b.String(), nil
}

func lookupVar(name string, vars, builtins map[string]string) (string, bool) {
	if v, ok := vars[name]; ok {
		return v, true
	}
	v, ok := builtins[name]
	return v, ok
}

func varNames(vars map[string]string) string {
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, "$"+k)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "no variables"
	}
	return strings.Join(names, ", ")
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] == '_' || isAlnum(s[i])) {
			return false
		}
	}
	return true
}

// ParsePromQL parses an expression (variables already substituted).
func ParsePromQL(expr string) (parser.Expr, error) {
	return parser.NewParser(parser.Options{}).ParseExpr(expr)
}

// selectorName is the metric name a vector selector names ("" when it
// selects by other labels only).
func selectorName(vs *parser.VectorSelector) string {
	if vs.Name != "" {
		return vs.Name
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			return m.Value
		}
	}
	return ""
}

// MetricNames lists the metric names an expression selects, sorted, unique.
func MetricNames(e parser.Node) []string {
	set := map[string]bool{}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			if name := selectorName(vs); name != "" {
				set[name] = true
			}
		}
		return nil
	})
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func hasSelector(e parser.Node) bool { return len(MetricNames(e)) > 0 }

// Missing lists the metric names of e that have() rejects, where an `or`
// counts as satisfied when one side that selects metrics has all of them
// (queries join names that changed across versions with `or`). A side
// without any selector (vector(0)) does not satisfy an `or` by itself.
func Missing(e parser.Node, have func(string) bool) []string {
	set := map[string]bool{}
	var visit func(n parser.Node) []string
	visit = func(n parser.Node) []string {
		switch x := n.(type) {
		case *parser.VectorSelector:
			if name := selectorName(x); name != "" && !have(name) {
				return []string{name}
			}
			return nil
		case *parser.BinaryExpr:
			l, r := visit(x.LHS), visit(x.RHS)
			if x.Op == parser.LOR {
				lOK := hasSelector(x.LHS) && len(l) == 0
				rOK := hasSelector(x.RHS) && len(r) == 0
				if lOK || rOK || (!hasSelector(x.LHS) && !hasSelector(x.RHS)) {
					return nil
				}
			}
			return append(l, r...)
		default:
			var out []string
			for _, c := range parser.Children(n) {
				out = append(out, visit(c)...)
			}
			return out
		}
	}
	for _, m := range visit(e) {
		set[m] = true
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
