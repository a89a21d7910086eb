// Package bench sweeps the load on an inference server, step by step
// (concurrency 1, 2, 4, ... or request rates), measures each step with the
// load generator (tasks/load) while scraping the server's own /metrics,
// stops early once the SLOs break badly, and renders the results as one
// self-contained HTML report (SVG charts drawn here, no scripts, no
// network). Compare merges several sweeps into one report. ModeSearch
// finds the capacity instead: the highest request rate meeting every SLO,
// by bracketing and bisection (search.go) over probes that stop once
// their percentiles are decided (probe.go, stoprule.go).
//
// # Results file (schema "bench/v1")
//
//	{
//	  "schema": "bench/v1",
//	  "backend": "vllm", "model": "qwen", "url": "http://127.0.0.1:8000", "protocol": "openai-chat",
//	  "metrics_url": "http://127.0.0.1:8000/metrics",   // "" when not scraped
//	  "started": "2026-01-02T15:04:05Z",
//	  "settings": {"mode": "concurrency",               // concurrency | rate
//	               "steps": [1, 2, 4, 8],               // the planned loads
//	               "step_seconds": 30, "warmup_seconds": 5, "max_tokens": 128, "stream": true,
//	               "prompts": "default (5 prompts)", "shape": "",  // shape: rate mode's arrivals
//	               "max_in_flight": 0,                  // rate mode's cap on in-flight requests (0 none)
//	               "slo": {"availability": 0.999, "ttft_p95_seconds": 2, "itl_p95_seconds": 0.15},  // 0 = off
//	               "early_stop": {"availability_below": 0.99, "ttft_p95_over_slo_factor": 2}},
//	  "steps": [{"load": 1,
//	             "result": {...},                       // the load generator's results (schema loadgen/v1)
//	             "server": {"metrics_url": "...", "error": "", "seconds": 29.9,
//	                        "ttft_seconds": {"metric": "vllm:time_to_first_token_seconds", "count": 120,
//	                                         "mean": 0.05, "p50": 0.04, "p90": 0.07, "p95": 0.08, "p99": 0.09},
//	                        "itl_seconds": {...}, "e2e_seconds": {...},
//	                        "requests_per_second": 4.0,
//	                        "triton": {"model": "ensemble", "requests_per_second": 4, "failures_per_second": 0,
//	                                   "avg_queue_us": 12, "avg_compute_infer_us": 950000, "avg_request_us": 960000},
//	                        "gauges": {"running": {"metric": "vllm:num_requests_running", "peak": 1, "mean": 0.9,
//	                                               "samples": 30}, ...}},
//	             "partial": false}],                    // true: canceled (Ctrl+C) before its end
//	  "best_load_meeting_slos": 4,                      // null when no step met every SLO
//	  "stopped_by": "limit",                            // limit | slo | canceled | error | running | invalid
//	  "stopped_early_reason": "",                       // why the sweep ended before its last step
//	  "capacity": {"rate": 48.4, "low": 47.5, "high": 49.2,   // -mode=search only (search.go): the
//	               "probes": [{"rate": 1, "requests": 60, "seconds": 60,  //   middle of the final bracket
//	                           "ttft_p95_seconds": 0.05, "itl_p95_seconds": 0.01, "availability": 1,
//	                           "verdict": "pass", "why": "", "stopped": "p95s decided after 60 requests"}, ...]}
//	}
//
// A search (-mode=search) records "mode": "search", "steps": [start, max],
// "step_seconds" as the longest probe (-probemax), "tolerance",
// "probe_min_seconds" and, with -goodput, "slo": {"goodput_share": 0.95};
// each probe is also a step (a "partial" one when canceled), and
// "best_load_meeting_slos" is computed over them as for a sweep.
//
// With Options.Dir set, bench.json and report.html are rewritten after
// every finished step, atomically (a temporary file in the same directory,
// then a rename), so a sweep killed outright (SIGKILL, a lost machine)
// loses at most the step in progress. Such an intermediate file says
// "stopped_by": "running"; one that still says so after the sweep's
// process is gone was cut off there.
//
// In rate mode a step whose in-flight cap (-cap) held arrivals past the
// step's end ("not_sent" in its result) fails and ends the sweep: the
// latencies measured cover only the requests that got through, and a
// higher rate with the same cap cannot do better.
//
// Server figures cover the time from the end of the step's warm-up to the
// end of the step (in-flight requests included); histogram quantiles are
// interpolated within buckets as Prometheus's histogram_quantile does, so
// they are only as fine as the server's buckets.
package bench

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/ui"
)

// Schema is the results file's schema tag.
const Schema = "bench/v1"

// Sweep modes.
const (
	ModeConcurrency = "concurrency" // closed loop: N workers per step
	ModeRate        = "rate"        // open loop: N requests per second per step
	ModeSearch      = "search"      // open loop: the highest rate meeting every SLO (search.go)
)

// How a sweep ended.
const (
	StoppedLimit    = "limit"    // every planned step ran
	StoppedSLO      = "slo"      // the SLOs broke badly (StopRule)
	StoppedCanceled = "canceled" // ctx ended (Ctrl+C)
	StoppedError    = "error"    // the load generator failed
	StoppedRunning  = "running"  // an intermediate file, written after a step
	StoppedInvalid  = "invalid"  // a step measured the load generator, not the server
)

// SLOSettings are the objectives of the sweep in seconds; 0 means off.
type SLOSettings struct {
	Availability   float64 `json:"availability"`
	TTFTP95Seconds float64 `json:"ttft_p95_seconds"`
	ITLP95Seconds  float64 `json:"itl_p95_seconds"`
	// GoodputShare (search mode, -goodput): goodput at least this share
	// of the offered rate.
	GoodputShare float64 `json:"goodput_share,omitempty"`
}

// StopRule says when the SLOs are broken badly enough to end a sweep
// before its last step. A zero field takes the default; a negative one is off.
type StopRule struct {
	// AvailabilityBelow stops when a step's availability is below it (default 0.99).
	AvailabilityBelow float64 `json:"availability_below"`
	// TTFTFactor stops when a step's p95 TTFT exceeds this multiple of the
	// TTFT SLO (default 2).
	TTFTFactor float64 `json:"ttft_p95_over_slo_factor"`
}

// DefaultStopRule: availability below 99% or p95 TTFT over twice its SLO.
func DefaultStopRule() StopRule { return StopRule{AvailabilityBelow: 0.99, TTFTFactor: 2} }

// Settings are a sweep's settings as recorded in the results.
type Settings struct {
	Mode          string      `json:"mode"`
	Steps         []float64   `json:"steps"`
	StepSeconds   float64     `json:"step_seconds"`
	WarmupSeconds float64     `json:"warmup_seconds"`
	MaxTokens     int         `json:"max_tokens"`
	Stream        bool        `json:"stream"`
	Prompts       string      `json:"prompts"`
	Shape         string      `json:"shape,omitempty"`
	MaxInFlight   int         `json:"max_in_flight,omitempty"`
	SLO           SLOSettings `json:"slo"`
	EarlyStop     StopRule    `json:"early_stop"`
	// Search mode: the final bracket's relative width and each probe's
	// shortest time to a pass (its longest is StepSeconds).
	Tolerance       float64 `json:"tolerance,omitempty"`
	ProbeMinSeconds float64 `json:"probe_min_seconds,omitempty"`
}

// Step is one load level of a sweep.
type Step struct {
	Load    float64      `json:"load"`
	Result  *load.Result `json:"result"`
	Server  *Server      `json:"server,omitempty"`
	Partial bool         `json:"partial,omitempty"`
}

// Result is a sweep's outcome; it is also the results file.
type Result struct {
	Schema              string        `json:"schema"`
	Backend             string        `json:"backend"`
	Model               string        `json:"model"`
	URL                 string        `json:"url"`
	Protocol            load.Protocol `json:"protocol"`
	MetricsURL          string        `json:"metrics_url"`
	Started             string        `json:"started"`
	Settings            Settings      `json:"settings"`
	Steps               []Step        `json:"steps"`
	BestLoadMeetingSLOs *float64      `json:"best_load_meeting_slos"`
	StoppedBy           string        `json:"stopped_by"`
	StoppedEarlyReason  string        `json:"stopped_early_reason,omitempty"`
	// Capacity is the outcome of a search (-mode=search); its probes are
	// also the steps, in the order run.
	Capacity *Capacity `json:"capacity,omitempty"`
}

// effectiveSLO resolves load's convention (0 = default, < 0 = off) into
// seconds, 0 meaning off.
func effectiveSLO(s load.SLO) SLOSettings {
	d := load.DefaultSLO()
	pick := func(v, def float64) float64 {
		switch {
		case v < 0:
			return 0
		case v == 0:
			return def
		}
		return v
	}
	return SLOSettings{
		Availability:   pick(s.Availability, d.Availability),
		TTFTP95Seconds: pick(s.TTFTP95.Seconds(), d.TTFTP95.Seconds()),
		ITLP95Seconds:  pick(s.ITLP95.Seconds(), d.ITLP95.Seconds()),
	}
}

// Run runs the sweep (Options.Resolve first). It returns the result so
// far together with any error, so that a caller can write what was
// measured.
func Run(ctx context.Context, o Options) (*Result, error) {
	o, err := o.Resolve()
	if err != nil {
		return nil, err
	}
	base := o.Load
	promptsDesc := base.Prompts.Describe()
	res := &Result{
		Schema: Schema, Backend: base.Backend, Model: base.Model, URL: base.URL, Protocol: base.Protocol,
		MetricsURL: o.MetricsURL, Started: time.Now().UTC().Format(time.RFC3339),
		Settings: Settings{
			Mode: o.Mode, Steps: o.Steps, StepSeconds: o.StepDuration.Seconds(), WarmupSeconds: o.Warmup.Seconds(),
			MaxTokens: base.MaxTokens, Stream: base.Stream, Prompts: promptsDesc,
			SLO: effectiveSLO(base.SLO), EarlyStop: o.Stop,
		},
		StoppedBy: StoppedLimit,
	}
	if res.Protocol == "" {
		res.Protocol = load.ProtocolOpenAIChat
	}
	if o.Mode == ModeSearch {
		res.Settings.SLO.GoodputShare, res.Settings.Tolerance, res.Settings.ProbeMinSeconds = o.GoodputShare, o.Tolerance, o.ProbeMin.Seconds()
	}
	if openLoop(o.Mode) {
		res.Settings.Shape = base.Shape
		if res.Settings.Shape == "" {
			res.Settings.Shape = load.ShapePoisson
		}
		res.Settings.MaxInFlight = o.MaxInFlight
	}
	tw := newStepTable(o.Out, o.Mode, o.MetricsURL != "")
	if o.Mode == ModeSearch {
		if o.traceRate, err = traceRate(ctx, base.Prompts); err != nil {
			return nil, err
		}
		if o.traceRate > 0 {
			if base.Shape != "" {
				return nil, fmt.Errorf("-shape=%s: a trace keeps its own arrival times (the search scales its speed): leave out -shape", base.Shape)
			}
			res.Settings.Shape = load.ShapeTrace
		}
	}
	// Resolve the prompts once (a dataset URL is fetched once, not per
	// step); a trace searched keeps its times, read by each probe.
	if o.traceRate == 0 {
		prompts, err := load.LoadPrompts(ctx, base.Prompts)
		if err != nil {
			if ctx.Err() == nil {
				return nil, err
			}
			res.StoppedBy, res.StoppedEarlyReason = StoppedCanceled, "canceled before step 1, while reading the prompts"
			res.finish()
			tw.end(res)
			return res, nil
		}
		base.Prompts = load.PromptSource{Prompts: prompts}
	}
	if o.Mode == ModeSearch {
		base.Out, base.Status, base.MetricsAddr, base.MetricsListener = "", nil, "", nil
		err := o.runSearch(ctx, res, base)
		res.finish()
		tw.end(res)
		return res, err
	}
	for i, l := range o.Steps {
		if ctx.Err() != nil {
			res.StoppedBy, res.StoppedEarlyReason = StoppedCanceled, fmt.Sprintf("canceled before step %d (%s %v)", i+1, o.Mode, l)
			break
		}
		lo := base
		lo.Duration, lo.Warmup, lo.Requests, lo.Out = o.StepDuration, o.Warmup, 0, ""
		lo.Status, lo.MetricsAddr, lo.MetricsListener, lo.Registry = nil, "", nil, nil
		if o.Mode == ModeConcurrency {
			lo.Concurrency, lo.Rate = int(l), 0
		} else {
			lo.Rate, lo.Concurrency = l, o.MaxInFlight
			if lo.Shape == "" {
				lo.Shape = load.ShapePoisson
			}
		}
		var watch *serverWatch
		if o.MetricsURL != "" {
			watch = startWatch(ctx, o.ScrapeClient, o.MetricsURL, o.MetricsModel, o.Warmup, o.SampleEvery)
		}
		lr, err := load.Run(ctx, lo)
		step := Step{Load: l, Result: lr}
		if watch != nil {
			step.Server = watch.stop(ctx)
		}
		if err != nil && !errors.Is(err, load.ErrSLO) && ctx.Err() != nil {
			// Canceled before the step could start (e.g. while the model
			// was discovered): no error of the server's.
			if lr != nil {
				res.addStep(step, true)
			}
			res.StoppedBy, res.StoppedEarlyReason = StoppedCanceled, fmt.Sprintf("canceled during step %d (%s %v)", i+1, o.Mode, l)
			break
		}
		if err != nil && !errors.Is(err, load.ErrSLO) {
			if lr != nil {
				res.addStep(step, ctx.Err() != nil)
			}
			res.StoppedBy, res.StoppedEarlyReason = StoppedError, fmt.Sprintf("step %d (%s %v): %v", i+1, o.Mode, l, err)
			res.finish()
			tw.end(res)
			return res, fmt.Errorf("step %d (%s %v): %w", i+1, o.Mode, l, err)
		}
		if lr == nil {
			break
		}
		if res.Model == "" {
			res.Model = lr.Model
		}
		partial := ctx.Err() != nil
		res.addStep(step, partial)
		if !partial && o.Dir != "" {
			if err := res.checkpoint(o.Dir, i+1, len(o.Steps)); err != nil {
				res.StoppedBy, res.StoppedEarlyReason = StoppedError, fmt.Sprintf("after step %d (%s %v): %v", i+1, o.Mode, l, err)
				res.finish()
				tw.end(res)
				return res, err
			}
			if o.saved != nil {
				o.saved(len(res.Steps))
			}
		}
		tw.row(i+1, res.Steps[len(res.Steps)-1])
		if partial {
			res.StoppedBy, res.StoppedEarlyReason = StoppedCanceled, fmt.Sprintf("canceled during step %d (%s %v); that step is partial", i+1, o.Mode, l)
			break
		}
		if invalid(lr) {
			why := fmt.Sprintf("step %d (%s %v) invalid (%s)", i+1, o.Mode, l, strings.Join(lr.Invalid, "; "))
			res.StoppedBy, res.StoppedEarlyReason = StoppedInvalid, fmt.Sprintf("%s: %v", why, ErrGeneratorLimited)
			res.finish()
			tw.end(res)
			return res, fmt.Errorf("%s: %w", why, ErrGeneratorLimited)
		}
		if why := o.Stop.broken(res.Settings.SLO, lr); why != "" {
			if i < len(o.Steps)-1 {
				res.StoppedBy = StoppedSLO
				res.StoppedEarlyReason = fmt.Sprintf("step %d (%s %v): %s; %d planned step(s) not run", i+1, o.Mode, l, why, len(o.Steps)-1-i)
			}
			break
		}
	}
	res.finish()
	tw.end(res)
	return res, nil
}

func (r *Result) addStep(s Step, partial bool) {
	s.Partial = partial
	r.Steps = append(r.Steps, s)
}

// finish computes the highest load that met every SLO.
func (r *Result) finish() {
	r.BestLoadMeetingSLOs = BestLoad(r.Steps)
}

// BestLoad is the highest load up to which every complete step met every
// SLO (steps in load order; the first failing step ends the search, so a
// lucky step above a failing one does not count), or nil when the lowest
// step already failed. Partial (canceled) steps are skipped; a step with
// arrivals not sent (rate mode, held by the cap) fails, and so does an
// invalid one (no server verdict).
func BestLoad(steps []Step) *float64 {
	ordered := append([]Step(nil), steps...)
	sort.SliceStable(ordered, func(i, j int) bool { return ordered[i].Load < ordered[j].Load })
	var best *float64
	for _, s := range ordered {
		if s.Partial || s.Result == nil {
			continue
		}
		if !s.Result.SLOOK || s.Result.Requests.NotSent > 0 || invalid(s.Result) {
			break
		}
		l := s.Load
		best = &l
	}
	return best
}

// broken returns why a step breaks the SLOs badly enough to stop, or "".
func (r StopRule) broken(slo SLOSettings, lr *load.Result) string {
	if lr.Requests.NotSent > 0 {
		return notSent(lr)
	}
	if lr.Requests.OK == 0 {
		return fmt.Sprintf("no request succeeded (%d failed)", lr.Requests.Failed)
	}
	if a := lr.Requests.Availability; r.AvailabilityBelow > 0 && a != nil && *a < r.AvailabilityBelow {
		return fmt.Sprintf("availability %.2f%% < %.2f%%", *a*100, r.AvailabilityBelow*100)
	}
	if r.TTFTFactor > 0 && slo.TTFTP95Seconds > 0 {
		limit := r.TTFTFactor * slo.TTFTP95Seconds
		if p := lr.TTFTFromIntended.P95; lr.TTFTFromIntended.Count > 0 && p > limit {
			return fmt.Sprintf("p95 TTFT %s > %g x the SLO %s", ui.Seconds(p), r.TTFTFactor, ui.Seconds(slo.TTFTP95Seconds))
		}
	}
	return ""
}

// invalid reports whether a run measured the load generator rather than
// the server. A results file older than the check has no reasons and
// counts as valid.
func invalid(lr *load.Result) bool { return !lr.Valid && len(lr.Invalid) > 0 }

// notSent says how many of a rate step's arrivals the in-flight cap held.
func notSent(lr *load.Result) string {
	rq := lr.Requests
	due := rq.OK + rq.Failed + rq.Canceled + rq.NotSent
	return fmt.Sprintf("%d of %d arrivals not sent: the in-flight cap (%d) held them past the step's end", rq.NotSent, due, lr.Config.Concurrency)
}

// fmtLoad formats a load value.
func fmtLoad(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
