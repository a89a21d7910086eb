package bench

// The charts of a report: latency and throughput against the load, the
// latency ladder and server-versus-client bars of each run, the server's
// gauges, and the SLO lines drawn across them.

import (
	"fmt"
	"sort"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/ui"
)

// ChartKinds are the data-chart values of a report: the first group once
// per report, the second once per run (ids end in -rN), the last only for
// runs with server gauges.
var (
	ReportChartKinds = []string{"ttft-vs-load", "itl-vs-load", "e2e-vs-load", "output-tokens-vs-load", "requests-vs-load", "ttft-vs-throughput", "itl-vs-throughput"}
	RunChartKinds    = []string{"ttft-distribution", "itl-distribution", "server-vs-client-ttft", "server-vs-client-itl"}
	GaugeChartKind   = "server-gauges"
)

// percentile styles: p50 dotted, p95 solid, p99 dashed.
var pctDash = map[string]string{"p50": "2 4", "p95": "", "p99": "7 4"}

func loadLabel(mode string) string {
	if openLoop(mode) {
		return "offered load (requests per second)"
	}
	return "load (concurrent workers)"
}

func secondsAxis(v float64) string { return ui.Seconds(v) }

type pctPick struct {
	name string
	get  func(load.Quantiles) float64
}

var p50p95p99 = []pctPick{
	{"p50", func(q load.Quantiles) float64 { return q.P50 }},
	{"p95", func(q load.Quantiles) float64 { return q.P95 }},
	{"p99", func(q load.Quantiles) float64 { return q.P99 }},
}

// completeSteps are the steps drawn in charts (partial steps are not).
func completeSteps(r *Result) []Step {
	var out []Step
	for _, s := range r.Steps {
		if !s.Partial && s.Result != nil {
			out = append(out, s)
		}
	}
	return out
}

type report struct {
	runs  []Named
	multi bool
	mode  string
	loads []float64
	logX  bool
}

func newReport(runs []Named) *report {
	rs, _ := results(runs)
	rp := &report{runs: runs, multi: len(runs) > 1, mode: runs[0].Result.Settings.Mode, loads: unionLoads(rs)}
	if len(rp.loads) > 1 && rp.loads[0] > 0 && rp.loads[len(rp.loads)-1]/rp.loads[0] >= 4 {
		rp.logX = true
	}
	return rp
}

// seriesColor: per run in a comparison, per percentile in a single run.
func (rp *report) seriesColor(run, pct int) string {
	if rp.multi {
		return color(run)
	}
	return color(pct)
}

func (rp *report) seriesName(run int, what string) string {
	if rp.multi {
		return rp.runs[run].Name + " " + what
	}
	return what
}

// latencyVsLoad: p50/p95/p99 of a distribution against the load.
func (rp *report) latencyVsLoad(kind, title string, pick func(*load.Result) load.Quantiles, th []Threshold) LineChart {
	c := LineChart{ID: "chart-" + kind, Kind: kind, Title: title, XLabel: loadLabel(rp.mode), YLabel: "seconds",
		LogX: rp.logX, XTicks: rp.loads, XFormat: fmtLoad, YFormat: secondsAxis, Thresholds: th, Markers: rp.knees()}
	for i, run := range rp.runs {
		for j, p := range p50p95p99 {
			s := Series{Name: rp.seriesName(i, p.name), Color: rp.seriesColor(i, j), Dash: pctDash[p.name]}
			for _, st := range completeSteps(run.Result) {
				q := pick(st.Result)
				if q.Count == 0 {
					continue
				}
				s.Points = append(s.Points, Point{X: st.Load, Y: p.get(q),
					Tip: fmt.Sprintf("%s at %s %s: %s (%d samples)", s.Name, rp.mode, fmtLoad(st.Load), ui.Seconds(p.get(q)), q.Count)})
			}
			c.Series = append(c.Series, s)
		}
	}
	return c
}

// knees mark each search's capacity on the latency-against-rate curves.
func (rp *report) knees() []Marker {
	var ms []Marker
	for _, run := range rp.runs {
		c := run.Result.Capacity
		if c == nil || c.Rate <= 0 {
			continue
		}
		l := "capacity " + fmtLoad(c.Rate) + " req/s"
		if c.AtLeast {
			l = "capacity >= " + fmtLoad(c.Rate) + " req/s"
		}
		if rp.multi {
			l = run.Name + " " + l
		}
		ms = append(ms, Marker{X: c.Rate, Label: l})
	}
	return ms
}

func (rp *report) throughputVsLoad(kind, title, ylabel string, picks []struct {
	name string
	get  func(*load.Result) float64
}) LineChart {
	c := LineChart{ID: "chart-" + kind, Kind: kind, Title: title, XLabel: loadLabel(rp.mode), YLabel: ylabel,
		LogX: rp.logX, XTicks: rp.loads, XFormat: fmtLoad}
	for i, run := range rp.runs {
		for j, p := range picks {
			s := Series{Name: rp.seriesName(i, p.name), Color: rp.seriesColor(i, j)}
			if j > 0 {
				s.Dash = "7 4"
			}
			for _, st := range completeSteps(run.Result) {
				s.Points = append(s.Points, Point{X: st.Load, Y: p.get(st.Result)})
			}
			c.Series = append(c.Series, s)
		}
	}
	return c
}

// latencyVsThroughput: the curve users choose a backend by.
func (rp *report) latencyVsThroughput(kind, title string, pick func(*load.Result) load.Quantiles, th []Threshold) LineChart {
	c := LineChart{ID: "chart-" + kind, Kind: kind, Title: title, XLabel: "output tokens per second (achieved)", YLabel: "seconds",
		XFormat: func(v float64) string { return fmt.Sprintf("%.4g", v) }, YFormat: secondsAxis, Thresholds: th, InOrder: true}
	for i, run := range rp.runs {
		name := "p95"
		if rp.multi {
			name = run.Name + " p95"
		}
		s := Series{Name: name, Color: color(i)}
		for _, st := range completeSteps(run.Result) {
			q := pick(st.Result)
			if q.Count == 0 {
				continue
			}
			tp := st.Result.Throughput.OutputTokensPerSecond
			s.Points = append(s.Points, Point{X: tp, Y: q.P95, Label: fmtLoad(st.Load),
				Tip: fmt.Sprintf("%s %s: p95 %s at %.1f tok/s", rp.mode, fmtLoad(st.Load), ui.Seconds(q.P95), tp)})
		}
		c.Series = append(c.Series, s)
	}
	return c
}

var ladder = []pctPick{
	{"p50", func(q load.Quantiles) float64 { return q.P50 }},
	{"p90", func(q load.Quantiles) float64 { return q.P90 }},
	{"p95", func(q load.Quantiles) float64 { return q.P95 }},
	{"p99", func(q load.Quantiles) float64 { return q.P99 }},
	{"p99.9", func(q load.Quantiles) float64 { return q.P999 }},
	{"max", func(q load.Quantiles) float64 { return q.Max }},
}

// distribution: the percentile ladder of each step.
func (rp *report) distribution(run int, kind, title string, pick func(*load.Result) load.Quantiles, th []Threshold) LineChart {
	r := rp.runs[run]
	c := LineChart{ID: fmt.Sprintf("chart-%s-r%d", kind, run), Kind: kind, Title: title, XLabel: "percentile", YLabel: "seconds",
		YFormat: secondsAxis, Thresholds: th}
	for _, p := range ladder {
		c.CategoryNames = append(c.CategoryNames, p.name)
	}
	for j, st := range completeSteps(r.Result) {
		q := pick(st.Result)
		s := Series{Name: fmt.Sprintf("%s %s", rp.mode, fmtLoad(st.Load)), Color: color(j)}
		if q.Count == 0 {
			c.Series = append(c.Series, s)
			continue
		}
		for k, p := range ladder {
			s.Points = append(s.Points, Point{X: float64(k), Y: p.get(q),
				Tip: fmt.Sprintf("%s %s: %s %s (%d samples)", rp.mode, fmtLoad(st.Load), p.name, ui.Seconds(p.get(q)), q.Count)})
		}
		c.Series = append(c.Series, s)
	}
	return c
}

// serverVsClient: client and server p95 side by side per step.
func (rp *report) serverVsClient(run int, kind, title string, client func(*load.Result) load.Quantiles, server func(*Server) *Distribution, th []Threshold) BarChart {
	r := rp.runs[run]
	c := BarChart{ID: fmt.Sprintf("chart-%s-r%d", kind, run), Kind: kind, Title: title, XLabel: loadLabel(rp.mode), YLabel: "seconds (p95)",
		YFormat: secondsAxis, Thresholds: th}
	cl := BarSeries{Name: "client p95 (load generator)", Color: color(0)}
	sv := BarSeries{Name: "server p95 (its /metrics)", Color: color(1)}
	for _, st := range completeSteps(r.Result) {
		c.Categories = append(c.Categories, fmtLoad(st.Load))
		var cv, svv *float64
		if q := client(st.Result); q.Count > 0 {
			v := q.P95
			cv = &v
		}
		if st.Server != nil && st.Server.Error == "" {
			if d := server(st.Server); d != nil {
				svv = d.P95
			}
		}
		cl.Values, sv.Values = append(cl.Values, cv), append(sv.Values, svv)
	}
	c.Series = []BarSeries{cl, sv}
	return c
}

var gaugeNames = map[string]string{
	"running": "running requests", "waiting": "waiting requests", "kv_cache_usage": "KV cache usage (0-1)",
	"triton_pending": "Triton pending requests", "trt_active": "TRT-LLM active requests", "trt_waiting": "TRT-LLM waiting requests",
}

// gauges: the peaks of the server's gauges against the load, or false.
func (rp *report) gauges(run int) (LineChart, bool) {
	r := rp.runs[run]
	keys := map[string]bool{}
	for _, st := range completeSteps(r.Result) {
		if st.Server != nil {
			for k := range st.Server.Gauges {
				keys[k] = true
			}
		}
	}
	if len(keys) == 0 {
		return LineChart{}, false
	}
	var ks []string
	for k := range keys {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	c := LineChart{ID: fmt.Sprintf("chart-%s-r%d", GaugeChartKind, run), Kind: GaugeChartKind, Title: "Server gauges during each step (peak)",
		XLabel: loadLabel(rp.mode), YLabel: "peak value", LogX: rp.logX, XTicks: rp.loads, XFormat: fmtLoad}
	for j, k := range ks {
		name := gaugeNames[k]
		if name == "" {
			name = k
		}
		s := Series{Name: name, Color: color(j)}
		for _, st := range completeSteps(r.Result) {
			if st.Server == nil {
				continue
			}
			if g, ok := st.Server.Gauges[k]; ok {
				s.Points = append(s.Points, Point{X: st.Load, Y: g.Peak,
					Tip: fmt.Sprintf("%s at %s %s: peak %.4g, mean %.4g (%d samples of %s)", name, rp.mode, fmtLoad(st.Load), g.Peak, g.Mean, g.Samples, g.Metric)})
			}
		}
		c.Series = append(c.Series, s)
	}
	return c, true
}

func sloLine(v float64, what string) []Threshold {
	if v <= 0 {
		return nil
	}
	return []Threshold{{Y: v, Label: fmt.Sprintf("SLO: %s p95 <= %s", what, ui.Seconds(v))}}
}

// the SLO lines: from the first run (a comparison lists each run's SLOs
// in its settings; differing SLOs each get a line).
func (rp *report) sloLines(get func(SLOSettings) float64, what string) []Threshold {
	var th []Threshold
	seen := map[float64]bool{}
	for _, r := range rp.runs {
		v := get(r.Result.Settings.SLO)
		if v > 0 && !seen[v] {
			seen[v] = true
			l := sloLine(v, what)
			if rp.multi && len(rp.runs) > 1 && len(seen) > 1 {
				l[0].Label += " (" + r.Name + ")"
			}
			th = append(th, l...)
		}
	}
	return th
}
