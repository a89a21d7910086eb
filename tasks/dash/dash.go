// Package dash generates the Grafana dashboards (dashboards/*.json) and the
// Prometheus SLO rules (deploy/prometheus/rules/slo.yml) from Go, with the
// Grafana Foundation SDK.
//
// Dashboards: one per backend (vLLM; Triton with the vLLM backend; Triton
// with TensorRT-LLM), each with GPU panels from dcgm-exporter; one for the
// SLOs (each SLI against its objective, error budget left, burn rates, alert
// state); one for the load generator (the client's TTFT, ITL and E2E beside
// the server's). Every dashboard has a datasource and a model variable, every
// panel a description and a unit, every rate a $__rate_interval, and the
// latency and availability panels draw thresholds at the SLO values.
//
// Each dashboard carries the tag "backend:<name>" (vllm, triton-vllm,
// triton-trt, slo, loadgen); tasks/configcheck uses it to know which metrics
// page a dashboard's queries must be found in.
package dash

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
)

// Dashboard is one generated dashboard.
type Dashboard struct {
	File    string // file name inside the dashboards folder
	Backend string // the backend tag: vllm, triton-vllm, triton-trt, slo, loadgen
	build   func() *dashboard.DashboardBuilder
}

// Dashboards lists the generated dashboards.
func Dashboards() []Dashboard {
	return []Dashboard{
		backendDashboard(backend.VLLM, vllmDashboard),
		backendDashboard(backend.Triton, tritonVLLMDashboard),
		backendDashboard(backend.TRT, tritonTRTDashboard),
		{File: "slo.json", Backend: "slo", build: sloDashboard},
		{File: "loadgen.json", Backend: "loadgen", build: loadgenDashboard},
	}
}

// backendTag is the tag (and file name) of backend n's dashboard: the
// backend table's Dashboard.
func backendTag(n backend.Name) string {
	b, _ := backend.Lookup(string(n))
	return b.Dashboard
}

// backendDashboard is backend n's dashboard, dashboards/TAG.json.
func backendDashboard(n backend.Name, build func() *dashboard.DashboardBuilder) Dashboard {
	return Dashboard{File: backendTag(n) + ".json", Backend: backendTag(n), build: build}
}

// JSON renders the dashboard as Grafana reads it (indented, newline at the end).
func (d Dashboard) JSON() ([]byte, error) {
	db, err := d.build().Build()
	if err != nil {
		return nil, fmt.Errorf("dashboard %s: %w", d.File, err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(db); err != nil {
		return nil, fmt.Errorf("dashboard %s: %w", d.File, err)
	}
	return buf.Bytes(), nil
}

// Generate writes every dashboard into dir (the repository's dashboards/),
// replacing the files of the same names. `mage dash` calls it, together with
// WriteRules for deploy/prometheus/rules (see GenerateAll).
func Generate(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, d := range Dashboards() {
		b, err := d.JSON()
		if err != nil {
			return err
		}
		if err := writeFileAtomic(filepath.Join(dir, d.File), b); err != nil {
			return fmt.Errorf("writing %s: %w", d.File, err)
		}
	}
	return nil
}

// GenerateAll regenerates everything this package owns under the repository
// root: root/dashboards/*.json, root/deploy/prometheus/rules/slo.yml and the
// Helm chart's copies of both (WriteChartFiles).
func GenerateAll(root string) error {
	if err := Generate(filepath.Join(root, "dashboards")); err != nil {
		return err
	}
	if err := WriteRules(filepath.Join(root, "deploy", "prometheus", "rules")); err != nil {
		return err
	}
	return WriteChartFiles(filepath.Join(root, filepath.FromSlash(ChartDir)))
}

// ---------------------------------------------------------------------------
// Building blocks.

const tagPrefix = "backend:"

func ptr[T any](v T) *T { return &v }

var ds = common.DataSourceRef{Type: ptr("prometheus"), Uid: ptr("${datasource}")}

func newDashboard(uid, title, tag, description string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags([]string{"llm-observability-pack", "generated", tagPrefix + tag}).
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Refresh("10s").
		Time("now-30m", "now").
		Timezone(common.TimeZoneBrowser).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").
			Label("Data source").
			Description("The Prometheus that scrapes the stack (provisioned with uid \"prometheus\").").
			Type("prometheus").
			Current(dashboard.VariableOption{
				Text:  dashboard.StringOrArrayOfString{String: ptr("Prometheus")},
				Value: dashboard.StringOrArrayOfString{String: ptr("prometheus")},
			}))
}

// queryVar is a label_values variable. all adds "All" and makes it the
// current value; otherwise current is selected. "All" is the regex .+, not
// .*: a selector label=~".+" keeps out series without the label (vLLM's
// model_name is not on the Triton vLLM backend's vllm:* series, and Triton's
// model is not on vLLM's), so each dashboard sees only its server.
func queryVar(name, label, desc, metric, labelName string, all bool, current string) *dashboard.QueryVariableBuilder {
	q := fmt.Sprintf("label_values(%s, %s)", metric, labelName)
	v := dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Description(desc).
		Datasource(ds).
		Query(dashboard.StringOrMap{String: ptr(q)}).
		Definition(q).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc)
	if all {
		v = v.IncludeAll(true).AllValue(".+").Multi(true).Current(dashboard.VariableOption{
			Text:  dashboard.StringOrArrayOfString{String: ptr("All")},
			Value: dashboard.StringOrArrayOfString{String: ptr("$__all")},
		})
	} else {
		v = v.Current(dashboard.VariableOption{
			Text:  dashboard.StringOrArrayOfString{String: ptr(current)},
			Value: dashboard.StringOrArrayOfString{String: ptr(current)},
		})
	}
	return v
}

func row(title string) *dashboard.RowBuilder { return dashboard.NewRowBuilder(title) }

// q is one query of a panel.
type q struct{ expr, legend string }

// targets builds the queries; instant ones (stat panels) are evaluated once,
// at the end of the time range.
func targets(qs []q, instant bool) []cog.Builder[variants.Dataquery] {
	out := make([]cog.Builder[variants.Dataquery], len(qs))
	for i, x := range qs {
		b := prometheus.NewDataqueryBuilder().
			Datasource(ds).
			Expr(x.expr).
			LegendFormat(x.legend).
			RefId(string(rune('A' + i)))
		if instant {
			b = b.Instant()
		} else {
			b = b.Range()
		}
		out[i] = b
	}
	return out
}

// Thresholds.

func step(v *float64, color string) dashboard.Threshold {
	return dashboard.Threshold{Value: v, Color: color}
}

// upperLimit: green below v, red from v (latencies).
func upperLimit(v float64) *dashboard.ThresholdsConfigBuilder {
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).
		Steps([]dashboard.Threshold{step(nil, "green"), step(ptr(v), "red")})
}

// lowerLimit: red below v, green from v (availability, SLIs).
func lowerLimit(v float64) *dashboard.ThresholdsConfigBuilder {
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).
		Steps([]dashboard.Threshold{step(nil, "red"), step(ptr(v), "green")})
}

// steps: the base color then (value, color) pairs.
func steps(base string, vc ...any) *dashboard.ThresholdsConfigBuilder {
	s := []dashboard.Threshold{step(nil, base)}
	for i := 0; i+1 < len(vc); i += 2 {
		s = append(s, step(ptr(vc[i].(float64)), vc[i+1].(string)))
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(s)
}

// noThresholds keeps Grafana from drawing its default red step at 80.
func noThresholds() *dashboard.ThresholdsConfigBuilder {
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).
		Steps([]dashboard.Threshold{step(nil, "green")})
}

// ts is a time series panel spec.
type ts struct {
	title, desc, unit string
	queries           []q
	thresholds        *dashboard.ThresholdsConfigBuilder // nil: none drawn
	min, max          *float64
	w, h              int
	stack             bool
}

func (p ts) build() *timeseries.PanelBuilder {
	if p.w == 0 {
		p.w = 12
	}
	if p.h == 0 {
		p.h = 8
	}
	b := timeseries.NewPanelBuilder().
		Title(p.title).
		Description(p.desc).
		Datasource(ds).
		Unit(p.unit).
		Span(uint32(p.w)).Height(uint32(p.h)).
		Targets(targets(p.queries, false)).
		LineWidth(1).FillOpacity(10).
		ShowPoints(common.VisibilityModeNever).
		SpanNulls(common.BoolOrFloat64{Bool: ptr(false)}).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeList).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true)).
		Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeMulti).Sort(common.SortOrderDescending))
	if p.thresholds != nil {
		b = b.Thresholds(p.thresholds).
			ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed))
	} else {
		b = b.Thresholds(noThresholds())
	}
	if p.min != nil {
		b = b.Min(*p.min)
	}
	if p.max != nil {
		b = b.Max(*p.max)
	}
	if p.stack {
		b = b.Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).FillOpacity(40)
	}
	return b
}

// st is a stat panel spec: one value from an instant query at the end of
// the range (the queries use $__range for "over the time range").
type st struct {
	title, desc, unit string
	queries           []q
	thresholds        *dashboard.ThresholdsConfigBuilder
	w, h              int
	decimals          *float64
}

func (p st) build() *stat.PanelBuilder {
	if p.w == 0 {
		p.w = 6
	}
	if p.h == 0 {
		p.h = 4
	}
	th := p.thresholds
	if th == nil {
		th = noThresholds()
	}
	b := stat.NewPanelBuilder().
		Title(p.title).
		Description(p.desc).
		Datasource(ds).
		Unit(p.unit).
		Span(uint32(p.w)).Height(uint32(p.h)).
		Targets(targets(p.queries, true)).
		Thresholds(th).
		ColorMode(common.BigValueColorModeValue).
		GraphMode(common.BigValueGraphModeNone).
		Orientation(common.VizOrientationAuto).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Values(false))
	if p.decimals != nil {
		b = b.Decimals(*p.decimals)
	}
	return b
}

// Histogram helpers. The selector sel is inserted into the bucket selector
// ({le...} is not included); rng is the range ($__rate_interval or $__range).

// quantile is histogram_quantile over one or more metric names (alternatives
// across versions joined with `or`).
func quantile(qv float64, sel, rng string, names ...string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("rate(%s_bucket%s[%s])", n, sel, rng)
	}
	inner := strings.Join(parts, " or ")
	return fmt.Sprintf("histogram_quantile(%g, sum by (le) (%s))", qv, inner)
}

// mean is rate(sum)/rate(count) over one or more metric names.
func mean(sel, rng string, names ...string) string {
	sums := make([]string, len(names))
	counts := make([]string, len(names))
	for i, n := range names {
		sums[i] = fmt.Sprintf("rate(%s_sum%s[%s])", n, sel, rng)
		counts[i] = fmt.Sprintf("rate(%s_count%s[%s])", n, sel, rng)
	}
	return fmt.Sprintf("sum(%s) / sum(%s)", strings.Join(sums, " or "), strings.Join(counts, " or "))
}

// latencyQueries: p50, p95, p99 and the mean.
func latencyQueries(sel, rng string, names ...string) []q {
	return []q{
		{quantile(0.5, sel, rng, names...), "p50"},
		{quantile(0.95, sel, rng, names...), "p95"},
		{quantile(0.99, sel, rng, names...), "p99"},
		{mean(sel, rng, names...), "mean"},
	}
}

const (
	ri = "$__rate_interval"
	rr = "$__range"
)

var (
	zero = ptr(0.0)
	one  = ptr(1.0)
)

// Units (Grafana unit ids).
const (
	unitSeconds = "s"
	unitMillis  = "ms"
	unitMicros  = "µs"
	unitRatio   = "percentunit" // 0..1
	unitPercent = "percent"     // 0..100
	unitReqPS   = "reqps"
	unitOpsPS   = "ops"
	unitTokPS   = "suffix:tok/s"
	unitTokens  = "suffix:tokens"
	unitShort   = "short"
	unitBytes   = "bytes"
	unitMiB     = "mbytes"
	unitWatt    = "watt"
	unitCelsius = "celsius"
	unitHertz   = "hertz"
)

func addAll(b *dashboard.DashboardBuilder, items ...any) *dashboard.DashboardBuilder {
	for i, it := range items {
		id := uint32(i + 1) // unique panel ids, stable across runs
		switch x := it.(type) {
		case *dashboard.RowBuilder:
			b = b.WithRow(x.Id(id))
		case ts:
			b = b.WithPanel(x.build().Id(id))
		case st:
			b = b.WithPanel(x.build().Id(id))
		case *statetimeline.PanelBuilder:
			b = b.WithPanel(x.Id(id))
		default:
			panic(fmt.Sprintf("dash: unknown item %T", it))
		}
	}
	return b
}

// alertTimeline is a state timeline of firing and pending SLO alerts.
func alertTimeline(title, desc, expr string) *statetimeline.PanelBuilder {
	return statetimeline.NewPanelBuilder().
		Title(title).
		Description(desc).
		Datasource(ds).
		Unit(unitShort).
		Span(24).Height(6).
		Targets(targets([]q{{expr, "{{alertname}} {{severity}} {{model}} ({{alertstate}})"}}, false)).
		Thresholds(steps("green", 1.0, "red")).
		ShowValue(common.VisibilityModeNever).
		MergeValues(true)
}
