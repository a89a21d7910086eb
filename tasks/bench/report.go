package bench

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/ui"
)

// Template data.
type kv struct{ Key, Value string }

type tableRow struct {
	Class string
	Cells []string
}

type runView struct {
	Index      int
	Name       string
	Conclusion string
	Header     []string
	Rows       []tableRow
	Charts     []template.HTML
	Errors     []string
}

type reportView struct {
	Title      string
	Subtitle   string
	RunNames   []string
	Settings   [][]string // rows: key, then one value per run
	Charts     []template.HTML
	Runs       []runView
	Conclusion []string
}

func optSeconds(v *float64) string {
	if v == nil {
		return "-"
	}
	return ui.Seconds(*v)
}

func optNum(v *float64, f string) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf(f, *v)
}

func settingsRows(runs []Named) [][]string {
	row := func(key string, f func(r *Result) string) []string {
		out := []string{key}
		for _, r := range runs {
			out = append(out, f(r.Result))
		}
		return out
	}
	off := func(v float64, f func(float64) string) string {
		if v <= 0 {
			return "off"
		}
		return f(v)
	}
	return [][]string{
		row("backend", func(r *Result) string { return r.Backend }),
		row("model", func(r *Result) string { return r.Model }),
		row("URL", func(r *Result) string { return r.URL }),
		row("protocol", func(r *Result) string { return string(r.Protocol) }),
		row("server metrics", func(r *Result) string {
			if r.MetricsURL == "" {
				return "not scraped"
			}
			return r.MetricsURL
		}),
		row("started", func(r *Result) string { return r.Started }),
		row("mode", func(r *Result) string {
			if openLoop(r.Settings.Mode) {
				s := r.Settings.Mode + " (open loop, " + r.Settings.Shape + " arrivals"
				if r.Settings.MaxInFlight > 0 {
					s += fmt.Sprintf(", at most %d in flight", r.Settings.MaxInFlight)
				}
				return s + ")"
			}
			return "concurrency (closed loop)"
		}),
		row("planned steps", func(r *Result) string {
			if r.Settings.Mode == ModeSearch && len(r.Settings.Steps) == 2 {
				return fmt.Sprintf("search from %s to %s req/s, to %g%%, probes of %gs to %gs", fmtLoad(r.Settings.Steps[0]),
					fmtLoad(r.Settings.Steps[1]), r.Settings.Tolerance*100, r.Settings.ProbeMinSeconds, r.Settings.StepSeconds)
			}
			var s []string
			for _, l := range r.Settings.Steps {
				s = append(s, fmtLoad(l))
			}
			return strings.Join(s, ", ")
		}),
		row("step length / warm-up", func(r *Result) string {
			return fmt.Sprintf("%gs / %gs", r.Settings.StepSeconds, r.Settings.WarmupSeconds)
		}),
		row("max tokens / streaming", func(r *Result) string {
			return fmt.Sprintf("%d / %v", r.Settings.MaxTokens, r.Settings.Stream)
		}),
		row("prompts", func(r *Result) string { return r.Settings.Prompts }),
		row("SLO: availability", func(r *Result) string {
			return off(r.Settings.SLO.Availability, func(v float64) string { return fmt.Sprintf(">= %.4g%%", v*100) })
		}),
		row("SLO: p95 TTFT", func(r *Result) string {
			return off(r.Settings.SLO.TTFTP95Seconds, func(v float64) string { return "<= " + ui.Seconds(v) })
		}),
		row("SLO: p95 ITL", func(r *Result) string {
			return off(r.Settings.SLO.ITLP95Seconds, func(v float64) string { return "<= " + ui.Seconds(v) })
		}),
		row("early stop", func(r *Result) string {
			e := r.Settings.EarlyStop
			var parts []string
			if e.AvailabilityBelow > 0 {
				parts = append(parts, fmt.Sprintf("availability < %.4g%%", e.AvailabilityBelow*100))
			}
			if e.TTFTFactor > 0 {
				parts = append(parts, fmt.Sprintf("p95 TTFT > %g x SLO", e.TTFTFactor))
			}
			if len(parts) == 0 {
				return "off"
			}
			return strings.Join(parts, " or ")
		}),
		row("best load meeting every SLO", func(r *Result) string {
			if r.BestLoadMeetingSLOs == nil {
				return "none"
			}
			return fmtLoad(*r.BestLoadMeetingSLOs)
		}),
		row("ended", func(r *Result) string {
			if r.StoppedEarlyReason != "" {
				return r.StoppedBy + ": " + r.StoppedEarlyReason
			}
			return r.StoppedBy
		}),
	}
}

func hasServer(r *Result) bool {
	for _, s := range r.Steps {
		if s.Server != nil {
			return true
		}
	}
	return false
}

func stepRows(r *Result) ([]string, []tableRow) {
	server := hasServer(r)
	h := []string{r.Settings.Mode, "SLOs", "req/s", "goodput req/s", "out tok/s", "availability", "ok / failed / canceled",
		"TTFT p50", "TTFT p95", "TTFT p99", "ITL p50", "ITL p95", "ITL p99", "E2E p50", "E2E p95", "E2E p99", "sched. lag p95"}
	if server {
		h = append(h, "server TTFT p95", "server ITL p95", "server E2E p95", "server req/s", "running peak", "waiting peak", "Triton queue avg", "Triton compute avg")
	}
	var rows []tableRow
	for _, s := range r.Steps {
		lr := s.Result
		cls := "ok"
		if v := Verdict(s); v != "ok" {
			cls = "fail"
			if s.Partial {
				cls = "partial"
			}
		}
		lat := func(q load.Quantiles, get func(load.Quantiles) float64) string {
			if q.Count == 0 {
				return "-"
			}
			return ui.Seconds(get(q))
		}
		p50 := func(q load.Quantiles) float64 { return q.P50 }
		p95 := func(q load.Quantiles) float64 { return q.P95 }
		p99 := func(q load.Quantiles) float64 { return q.P99 }
		avail := "-"
		if a := lr.Requests.Availability; a != nil {
			avail = fmt.Sprintf("%.2f%%", *a*100)
		}
		cells := []string{fmtLoad(s.Load), Verdict(s),
			fmt.Sprintf("%.2f", lr.Throughput.RequestsPerSecond), fmt.Sprintf("%.2f", lr.Throughput.GoodputRequestsPerSec),
			fmt.Sprintf("%.1f", lr.Throughput.OutputTokensPerSecond), avail,
			fmt.Sprintf("%d / %d / %d", lr.Requests.OK, lr.Requests.Failed, lr.Requests.Canceled),
			lat(lr.TTFTFromIntended, p50), lat(lr.TTFTFromIntended, p95), lat(lr.TTFTFromIntended, p99),
			lat(lr.ITL, p50), lat(lr.ITL, p95), lat(lr.ITL, p99),
			lat(lr.E2E, p50), lat(lr.E2E, p95), lat(lr.E2E, p99), lat(lr.SchedulingLag, p95)}
		if server {
			sv := s.Server
			if sv == nil || sv.Error != "" {
				cells = append(cells, "-", "-", "-", "-", "-", "-", "-", "-")
			} else {
				d95 := func(d *Distribution) string {
					if d == nil {
						return "-"
					}
					return optSeconds(d.P95)
				}
				g := func(k string) string {
					if v, ok := sv.Gauges[k]; ok {
						return fmt.Sprintf("%.4g", v.Peak)
					}
					return "-"
				}
				running, waiting := g("running"), g("waiting")
				if running == "-" {
					running = g("trt_active")
				}
				if waiting == "-" {
					waiting = g("trt_waiting")
				}
				if waiting == "-" {
					waiting = g("triton_pending")
				}
				tq, tc := "-", "-"
				if sv.Triton != nil {
					us := func(v *float64) string {
						if v == nil {
							return "-"
						}
						return ui.Seconds(*v / 1e6)
					}
					tq, tc = us(sv.Triton.AvgQueueUs), us(sv.Triton.AvgComputeInferUs)
				}
				cells = append(cells, d95(sv.TTFT), d95(sv.ITL), d95(sv.E2E), optNum(sv.RequestsPerSecond, "%.2f"), running, waiting, tq, tc)
			}
		}
		rows = append(rows, tableRow{Class: cls, Cells: cells})
	}
	return h, rows
}

// Render writes the report of one or more sweeps as a self-contained HTML
// page: inline CSS and SVG, no script, nothing fetched.
func Render(w io.Writer, runs []Named) error {
	if len(runs) == 0 {
		return fmt.Errorf("bench: nothing to report")
	}
	if err := CheckComparable(runs); err != nil {
		return err
	}
	rp := newReport(runs)
	ttft := func(r *load.Result) load.Quantiles { return r.TTFTFromIntended }
	itl := func(r *load.Result) load.Quantiles { return r.ITL }
	e2e := func(r *load.Result) load.Quantiles { return r.E2E }
	ttftSLO := rp.sloLines(func(s SLOSettings) float64 { return s.TTFTP95Seconds }, "TTFT")
	itlSLO := rp.sloLines(func(s SLOSettings) float64 { return s.ITLP95Seconds }, "ITL")
	type pick = struct {
		name string
		get  func(*load.Result) float64
	}
	v := reportView{Settings: settingsRows(runs)}
	for _, r := range runs {
		v.RunNames = append(v.RunNames, r.Name)
	}
	r0 := runs[0].Result
	if rp.multi {
		v.Title = fmt.Sprintf("Benchmark comparison: %s", strings.Join(v.RunNames, " vs "))
		v.Subtitle = fmt.Sprintf("%d sweeps of %s", len(runs), rp.mode)
	} else {
		v.Title = fmt.Sprintf("Benchmark: %s (%s)", r0.Backend, r0.Model)
		v.Subtitle = fmt.Sprintf("%s sweep at %s, started %s", rp.mode, r0.URL, r0.Started)
	}
	for _, r := range runs {
		c := Conclusion(r.Result)
		if rp.multi {
			c = r.Name + ": " + c
		}
		v.Conclusion = append(v.Conclusion, c)
	}
	charts := []interface{ SVG() template.HTML }{
		rp.latencyVsLoad("ttft-vs-load", "Time to first token against load", ttft, ttftSLO),
		rp.latencyVsLoad("itl-vs-load", "Inter-token latency against load", itl, itlSLO),
		rp.latencyVsLoad("e2e-vs-load", "End-to-end latency against load", e2e, nil),
		rp.throughputVsLoad("output-tokens-vs-load", "Output tokens per second against load", "tokens per second",
			[]pick{{"output tok/s", func(r *load.Result) float64 { return r.Throughput.OutputTokensPerSecond }}}),
		rp.throughputVsLoad("requests-vs-load", "Requests per second against load", "requests per second",
			[]pick{{"req/s", func(r *load.Result) float64 { return r.Throughput.RequestsPerSecond }},
				{"goodput req/s (within SLOs)", func(r *load.Result) float64 { return r.Throughput.GoodputRequestsPerSec }}}),
		rp.latencyVsThroughput("ttft-vs-throughput", "p95 TTFT against throughput", ttft, ttftSLO),
		rp.latencyVsThroughput("itl-vs-throughput", "p95 ITL against throughput", itl, itlSLO),
	}
	for _, c := range charts {
		v.Charts = append(v.Charts, c.SVG())
	}
	for i, run := range runs {
		rv := runView{Index: i, Name: run.Name, Conclusion: Conclusion(run.Result)}
		rv.Header, rv.Rows = stepRows(run.Result)
		rv.Charts = []template.HTML{
			rp.distribution(i, "ttft-distribution", "TTFT distribution per step (percentiles)", ttft, ttftSLO).SVG(),
			rp.distribution(i, "itl-distribution", "ITL distribution per step (percentiles)", itl, itlSLO).SVG(),
			rp.serverVsClient(i, "server-vs-client-ttft", "TTFT p95: client against server", ttft, func(s *Server) *Distribution { return s.TTFT }, ttftSLO).SVG(),
			rp.serverVsClient(i, "server-vs-client-itl", "ITL p95: client against server", itl, func(s *Server) *Distribution { return s.ITL }, itlSLO).SVG(),
		}
		if g, ok := rp.gauges(i); ok {
			rv.Charts = append(rv.Charts, g.SVG())
		}
		for _, s := range run.Result.Steps {
			if s.Server != nil && s.Server.Error != "" {
				rv.Errors = append(rv.Errors, fmt.Sprintf("%s %s: server metrics: %s", rp.mode, fmtLoad(s.Load), s.Server.Error))
			}
			for _, e := range s.Result.ErrorSamples {
				rv.Errors = append(rv.Errors, fmt.Sprintf("%s %s: %s: %s", rp.mode, fmtLoad(s.Load), e.Kind, e.Message))
			}
		}
		if len(rv.Errors) > 20 {
			rv.Errors = append(rv.Errors[:20], fmt.Sprintf("... and %d more", len(rv.Errors)-20))
		}
		v.Runs = append(v.Runs, rv)
	}
	var buf bytes.Buffer
	if err := reportTmpl.Execute(&buf, v); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// RenderFile writes the report to path atomically.
func RenderFile(path string, runs []Named) error {
	var buf bytes.Buffer
	if err := Render(&buf, runs); err != nil {
		return err
	}
	return writeFileAtomic(path, buf.Bytes())
}

var reportTmpl = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;background:#fff;max-width:1340px}
h1{font-size:1.5em;margin:0 0 4px}h2{font-size:1.2em;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:1.05em;margin:20px 0 6px}
.sub{color:#666;margin:0 0 12px}
.verdict{background:#f4f7fb;border-left:4px solid #4e79a7;padding:8px 12px;margin:12px 0}
.charts{display:flex;flex-wrap:wrap;gap:16px}
.chart{border:1px solid #e3e3e3;border-radius:4px;background:#fff;max-width:100%;height:auto}
.chart .ct{font-size:14px;font-weight:600;text-anchor:middle;fill:#222}
.chart .al{font-size:11px;text-anchor:middle;fill:#555}
.chart .xt{font-size:10px;text-anchor:middle;fill:#444}
.chart .yt{font-size:10px;text-anchor:end;fill:#444}
.chart .lg{font-size:11px;fill:#333}
.chart .grid{stroke:#eee;stroke-width:1}
.chart .axis{stroke:#888;stroke-width:1}
.chart .slo{stroke:#c0392b;stroke-width:1.5;stroke-dasharray:6 4}
.chart .slot{font-size:10px;text-anchor:end;fill:#c0392b}
.chart .knee{stroke:#8e44ad;stroke-width:1.5;stroke-dasharray:2 3}
.chart .kneet{font-size:10px;fill:#8e44ad}
.chart .pl{font-size:9px;fill:#555}
.chart .nodata{font-size:13px;text-anchor:middle;fill:#999}
table{border-collapse:collapse;font-size:12px;margin:8px 0}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:right;white-space:nowrap}
th{background:#f5f5f5}
td:first-child,th:first-child{text-align:left}
table.steps td:nth-child(2){text-align:left}
tr.ok td:nth-child(2){color:#1e7b34}
tr.fail td:nth-child(2){color:#b3261e;font-weight:600}
tr.partial td{color:#888}
.settings td{text-align:left;white-space:normal}
.scroll{overflow-x:auto}
ul.errors{font-size:12px;color:#8a3b12}
footer{margin-top:32px;color:#888;font-size:11px}
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p class="sub">{{.Subtitle}}</p>
{{range .Conclusion}}<p class="verdict">{{.}}</p>
{{end}}
<h2>Settings</h2>
<div class="scroll"><table class="settings" id="settings">
<tr><th>setting</th>{{range .RunNames}}<th>{{.}}</th>{{end}}</tr>
{{range .Settings}}<tr>{{range $i, $c := .}}{{if eq $i 0}}<th>{{$c}}</th>{{else}}<td>{{$c}}</td>{{end}}{{end}}</tr>
{{end}}</table></div>
<h2>Latency and throughput against load</h2>
<p class="sub">TTFT is measured from each request's intended send time (the basis of the TTFT SLO); dashed red lines are the SLOs.
p50 dotted, p95 solid, p99 dashed. On the throughput charts each point is labelled with its load. Hover a point for its value.</p>
<div class="charts">
{{range .Charts}}{{.}}
{{end}}</div>
{{range .Runs}}
<h2 id="run-{{.Index}}">Steps{{if gt (len $.Runs) 1}}: {{.Name}}{{end}}</h2>
<p class="verdict">{{.Conclusion}}</p>
<div class="scroll"><table class="steps" id="steps-r{{.Index}}">
<tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr class="{{.Class}}">{{range .Cells}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table></div>
<h3>Distributions, and the server's metrics beside the client's{{if gt (len $.Runs) 1}}: {{.Name}}{{end}}</h3>
<div class="charts">
{{range .Charts}}{{.}}
{{end}}</div>
{{if .Errors}}<h3>Errors</h3><ul class="errors">{{range .Errors}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{end}}
<footer>Written by mage bench (llm-observability-pack). Self-contained: no scripts, nothing loaded from the network.</footer>
</body>
</html>
`))
