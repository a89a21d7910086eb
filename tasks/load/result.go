package load

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is a run's outcome; it is also the results file (JSON).
//
// Results file schema (all durations in seconds, all rates per second):
//
//	{
//	  "schema": "loadgen/v1",
//	  "backend": "vllm",                  // Options.Backend
//	  "model": "Qwen/Qwen3-4B",           // served model
//	  "protocol": "openai-chat",          // openai-chat | openai-completions | triton-generate | triton-trt
//	  "url": "http://localhost:8000",
//	  "started": "2026-01-02T15:04:05Z",  // RFC3339, when the run started
//	  "duration_seconds": 30.02,          // measured window: first measured request's intended send
//	                                      //   to the end of the last measured request (failed ones and
//	                                      //   those cut at the end of the drain included; Ctrl+C's not)
//	  "stopped_by": "duration",           // duration | requests | canceled (Ctrl+C), "+drain_timeout"
//	                                      //   when in-flight requests had to be cut at the end; a staged
//	                                      //   run that went through its stages stops by duration
//	  "config": {"concurrency": 5, "rate": 0, "shape": "closed-loop", "burstiness": 0, "stream": true,
//	             "max_tokens": 128, "duration_seconds": 30, "requests": 0, "warmup_seconds": 0,
//	             "warmup_requests": 0, "prompts": "default (5 prompts)", "seed": 1,
//	             "timeout_first_byte_seconds": 60, "timeout_first_token_seconds": 60,
//	             "timeout_stall_seconds": 30, "request_timeout_seconds": 0, "drain_timeout_seconds": 60,
//	             "max_event_bytes": 4194304, "in_flight_at_end": "fail"},
//	                                      // shape: closed-loop | poisson | gamma | constant;
//	                                      // a timeout of 0 is off; in_flight_at_end: fail | ignore;
//	                                      // "stages": "30s@10,60s@c4" of a staged run, whose
//	                                      // duration_seconds is then the stages' total
//	  "stages": [{"stage": "30s@10", "start_seconds": 0, "duration_seconds": 30, "requests": 300,
//	              "ok": 299, "requests_per_second": 9.97, "ttft_seconds": {"p50", "p95"},
//	              "itl_seconds": {"p50", "p95"}}, ...],  // a staged run only: each stage's measured
//	                                      //   requests by intended send time; req/s = ok / its duration
//	  "requests": {"ok": 120, "failed": 1, "canceled": 2, "in_flight_at_end": 0, "client_errors": 0,
//	               "warmup": 0, "not_sent": 0,
//	               "by_error": {"http_5xx": 1, "canceled": 2},  // kinds: http_4xx http_5xx http_other connect
//	                                      //   timeout stall oversized stream_error stream_truncated
//	                                      //   empty_output client in_flight_at_end canceled
//	               "availability": 0.9917},  // ok/(ok+failed+in_flight_at_end); in_flight_at_end left out
//	                                      //   with "in_flight_at_end": "ignore"; canceled and client
//	                                      //   errors excluded; omitted with no finished request
//	  "suspect": ["..."],                 // omitted unless the result is doubtful: why (client errors)
//	  "valid": true,                      // false: the run measured the generator (validity.go)
//	  "invalid": ["..."],                 // omitted when valid: one line per reason, with the fix
//	  "generator": {"cores": 2, "cpu_utilization": 0.12,  // its CPU time / wall time / cores
//	                "delay_seconds": {...}},  // per request: from when it could go to its send
//	  "error_samples": [{"kind": "http_5xx", "message": "500 Internal Server Error: ..."}],  // up to 10
//	  "output_tokens_source": "usage",    // usage | counted_chunks | estimated_words | mixed | none
//	  "tokens": {"output": 15360, "prompt": 1800, "prompt_source": "usage"},  // prompt_source: usage |
//	                                      //   estimated_words (prompt words) | mixed
//	  "ttft_seconds":               {"count", "p50", "p90", "p95", "p99", "p999", "mean", "max"},  // from actual send
//	  "ttft_from_intended_seconds": {...},  // from the intended send (used by the TTFT SLO)
//	  "itl_seconds":                {...},  // every gap between content chunks
//	  "tpot_seconds":               {...},  // (e2e - ttft) / (output tokens - 1), per request
//	  "e2e_seconds":                {...},  // from actual send
//	  "e2e_from_intended_seconds":  {...},
//	  "scheduling_lag_seconds":     {...},  // actual send - intended send, every measured request
//	  "throughput": {"requests_per_second": 4.0, "output_tokens_per_second": 512.0,
//	                 "total_tokens_per_second": 572.0, "goodput_requests_per_second": 3.9},
//	  "slo_latency_basis": "intended_send_time",
//	  "slo": [{"name": "availability", "objective": ">= 0.999", "target": 0.999, "value": 0.9917, "ok": false},
//	          {"name": "ttft_p95_seconds", "objective": "<= 2", "target": 2, "value": 0.41, "ok": true},
//	          {"name": "itl_p95_seconds", "objective": "<= 0.15", "target": 0.15, "value": 0.031, "ok": true}],
//	  "slo_ok": false
//	}
//
// Percentiles come from HDR histograms with microsecond resolution and 3
// significant digits. Only successful, non-warm-up requests feed the latency
// distributions; scheduling lag covers every measured request. Goodput counts
// successful requests whose TTFT (from the intended send) is within the TTFT
// SLO and whose TPOT is within the ITL SLO. An SLO without data has
// "value": null and "no_data": true; it fails when no request succeeded, and
// passes (not applicable) when requests succeeded without samples, e.g. ITL
// of non-streamed responses.
type Result struct {
	Schema          string        `json:"schema"`
	Backend         string        `json:"backend"`
	Model           string        `json:"model"`
	Protocol        Protocol      `json:"protocol"`
	URL             string        `json:"url"`
	Started         string        `json:"started"`
	DurationSeconds float64       `json:"duration_seconds"`
	StoppedBy       string        `json:"stopped_by"`
	Config          RunConfig     `json:"config"`
	Stages          []StageResult `json:"stages,omitempty"`
	Requests        RequestCounts `json:"requests"`
	Suspect         []string      `json:"suspect,omitempty"`
	// Valid is false when the run measured the load generator rather than
	// the server (Invalid says why): its figures are no server verdict.
	Valid   bool     `json:"valid"`
	Invalid []string `json:"invalid,omitempty"` // one line per reason
	// Generator is what the generator measured of itself, for the checks.
	Generator Generator `json:"generator"`
	// DatasetSkipped counts the workload's records its format's filter left
	// out (ShareGPT conversations vLLM's benchmark would skip, trace rows
	// without output), as far as the run read.
	DatasetSkipped int `json:"dataset_skipped,omitempty"`
	// Finite: the run had an end of its own (a bound, stages, a trace,
	// -once, -sessions), so a signal cut it short.
	Finite             bool          `json:"-"`
	ErrorSamples       []ErrorSample `json:"error_samples,omitempty"`
	OutputTokensSource string        `json:"output_tokens_source"`
	Tokens             TokenTotals   `json:"tokens"`
	TTFT               Quantiles     `json:"ttft_seconds"`
	TTFTFromIntended   Quantiles     `json:"ttft_from_intended_seconds"`
	ITL                Quantiles     `json:"itl_seconds"`
	TPOT               Quantiles     `json:"tpot_seconds"`
	E2E                Quantiles     `json:"e2e_seconds"`
	E2EFromIntended    Quantiles     `json:"e2e_from_intended_seconds"`
	SchedulingLag      Quantiles     `json:"scheduling_lag_seconds"`
	ByTurn             []TurnLatency `json:"by_turn,omitempty"` // -sessions: TTFT by turn index
	Throughput         Throughput    `json:"throughput"`
	SLOLatencyBasis    string        `json:"slo_latency_basis"`
	SLO                []SLOResult   `json:"slo"`
	SLOOK              bool          `json:"slo_ok"`
	// Workers: a merged result's inputs (Merge), one summary each.
	Workers []WorkerSummary `json:"workers,omitempty"`
	// Partial: a merged result that lacks workers (Missing names them).
	Partial bool     `json:"partial,omitempty"`
	Missing []string `json:"missing_workers,omitempty"`
	// Raw keeps the counts and the encoded histograms, so that results
	// files merge exactly (RawStats).
	Raw *RawStats `json:"raw,omitempty"`
}

// RunConfig is the load configuration recorded in the results.
type RunConfig struct {
	Concurrency     int     `json:"concurrency"`
	Rate            float64 `json:"rate"`
	Shape           string  `json:"shape"`
	Burstiness      float64 `json:"burstiness"`
	Stream          bool    `json:"stream"`
	MaxTokens       int     `json:"max_tokens"`
	DurationSeconds float64 `json:"duration_seconds"`
	Requests        int     `json:"requests"`
	WarmupSeconds   float64 `json:"warmup_seconds"`
	WarmupRequests  int     `json:"warmup_requests"`
	Prompts         string  `json:"prompts"`
	Seed            uint64  `json:"seed"`
	// Per-request limits (0 = off) and the in-flight-at-end policy.
	TimeoutFirstByteSeconds  float64 `json:"timeout_first_byte_seconds"`
	TimeoutFirstTokenSeconds float64 `json:"timeout_first_token_seconds"`
	TimeoutStallSeconds      float64 `json:"timeout_stall_seconds"`
	RequestTimeoutSeconds    float64 `json:"request_timeout_seconds"`
	DrainTimeoutSeconds      float64 `json:"drain_timeout_seconds"`
	MaxEventBytes            int     `json:"max_event_bytes"`
	InFlightAtEnd            string  `json:"in_flight_at_end"`
	Stages                   string  `json:"stages,omitempty"` // a staged run's stages (the -stages form)
}

// RequestCounts counts measured requests.
type RequestCounts struct {
	OK       int64 `json:"ok"`
	Failed   int64 `json:"failed"`
	Canceled int64 `json:"canceled"`
	// InFlightAtEnd counts requests still running when a bounded run's
	// drain period ended (cut then); not successful for availability
	// unless config.in_flight_at_end is "ignore".
	InFlightAtEnd int64 `json:"in_flight_at_end"`
	// ClientErrors counts requests that failed in the generator itself
	// (kind "client"); not the server's, left out of availability.
	ClientErrors int64 `json:"client_errors"`
	Warmup       int64 `json:"warmup"`
	// NotSent counts open-loop arrivals due before the end of a timed run
	// that the in-flight cap (Concurrency) held back until it ended.
	NotSent      int64            `json:"not_sent"`
	ByError      map[string]int64 `json:"by_error"`
	Availability *float64         `json:"availability,omitempty"`
}

// TokenTotals are token sums over successful measured requests.
type TokenTotals struct {
	Output       int64  `json:"output"`
	Prompt       int64  `json:"prompt"`
	PromptSource string `json:"prompt_source"`
}

// Throughput figures over duration_seconds.
type Throughput struct {
	RequestsPerSecond     float64 `json:"requests_per_second"`
	OutputTokensPerSecond float64 `json:"output_tokens_per_second"`
	TotalTokensPerSecond  float64 `json:"total_tokens_per_second"`
	GoodputRequestsPerSec float64 `json:"goodput_requests_per_second"`
}

// SLOResult is the verdict of one objective.
type SLOResult struct {
	Name      string   `json:"name"`
	Objective string   `json:"objective"`
	Target    float64  `json:"target"`
	Value     *float64 `json:"value"`
	NoData    bool     `json:"no_data,omitempty"`
	OK        bool     `json:"ok"`
}

func (g *gen) result(started time.Time, reason string) *Result {
	var s stats
	s = newStats()
	g.snapshot(&s)
	o := &g.o
	shape := o.ShapeName()
	r := &Result{
		Schema:    "loadgen/v1",
		Backend:   o.Backend,
		Model:     o.Model,
		Protocol:  o.Protocol,
		URL:       o.URL,
		Started:   started.UTC().Format(time.RFC3339),
		StoppedBy: reason,
		Config: RunConfig{Concurrency: o.Concurrency, Rate: o.Rate, Shape: shape, Burstiness: o.Burstiness,
			Stream: o.Stream, MaxTokens: o.MaxTokens, DurationSeconds: o.Duration.Seconds(), Requests: o.Requests,
			WarmupSeconds: o.Warmup.Seconds(), WarmupRequests: o.WarmupRequests, Prompts: o.Prompts.Describe(),
			Seed: o.Seed, TimeoutFirstByteSeconds: o.TimeoutFirstByte.Seconds(),
			TimeoutFirstTokenSeconds: o.TimeoutFirstToken.Seconds(), TimeoutStallSeconds: o.TimeoutStall.Seconds(),
			RequestTimeoutSeconds: o.RequestTimeout.Seconds(), DrainTimeoutSeconds: o.DrainTimeout.Seconds(),
			MaxEventBytes: o.MaxEventBytes, InFlightAtEnd: InFlightAtEndFail},
		Requests:        RequestCounts{NotSent: g.notSent.Load()},
		SLOLatencyBasis: "intended_send_time",
	}
	if o.Rate > 0 && o.Shape == ShapeGamma && o.Burstiness == 0 {
		r.Config.Burstiness = 1
	}
	if o.SLO.IgnoreInFlightAtEnd {
		r.Config.InFlightAtEnd = InFlightAtEndIgnore
	}
	g.errMu.Lock()
	r.ErrorSamples = append([]ErrorSample(nil), g.samples...)
	g.errMu.Unlock()
	r.fill(&s, o.SLO)
	g.stagesResult(r)
	r.checkSelf(&s, g.cpu)
	if raw, err := s.raw(); err == nil {
		r.Raw = raw
	}
	return r
}

// fill sets what r's figures are computed from s: the request counts
// (keeping r.Requests.NotSent), token totals, the distributions, the
// measured window and the throughput over it, the suspect note and the SLO
// verdicts. Run's result and Merge's both come from here.
func (r *Result) fill(s *stats, slo SLO) {
	r.Requests = RequestCounts{OK: s.ok, Failed: s.failed, Canceled: s.canceled, InFlightAtEnd: s.inFlightAtEnd,
		ClientErrors: s.client, Warmup: s.warmup, NotSent: r.Requests.NotSent, ByError: map[string]int64{}}
	r.OutputTokensSource = s.outputSource()
	r.TTFT, r.TTFTFromIntended = quantiles(s.ttft), quantiles(s.ttftSched)
	r.ITL, r.TPOT = quantiles(s.itl), quantiles(s.tpot)
	r.E2E, r.E2EFromIntended = quantiles(s.e2e), quantiles(s.e2eSched)
	r.SchedulingLag = quantiles(s.lag)
	for i, k := range allKinds {
		if s.byKind[i] > 0 {
			r.Requests.ByError[string(k)] = s.byKind[i]
		}
	}
	if a := s.availability(slo.IgnoreInFlightAtEnd); !math.IsNaN(a) {
		r.Requests.Availability = &a
	}
	r.Suspect = nil
	if s.client > 0 {
		all := s.ok + s.failed + s.canceled + s.inFlightAtEnd + s.client
		r.Suspect = append(r.Suspect, fmt.Sprintf("%d of %d requests (%.1f%%) failed in the load generator itself (kind client: file descriptors or local ports ran out); the server got less load than asked, so its figures are not those of this load: fix the client (see the error samples) and run again",
			s.client, all, 100*float64(s.client)/float64(all)))
	}
	r.Tokens = TokenTotals{Output: s.outTokens, Prompt: s.promptTokens}
	switch {
	case s.ok == 0:
		r.Tokens.PromptSource = SourceNone
	case s.promptFromUsage == s.ok:
		r.Tokens.PromptSource = SourceUsage
	case s.promptFromUsage == 0:
		r.Tokens.PromptSource = SourceWords
	default:
		r.Tokens.PromptSource = SourceMixed
	}
	r.DurationSeconds, r.Throughput = 0, Throughput{}
	if !s.first.IsZero() && s.last.After(s.first) {
		r.DurationSeconds = s.last.Sub(s.first).Seconds()
	}
	if d := r.DurationSeconds; d > 0 {
		r.Throughput = Throughput{
			RequestsPerSecond:     float64(s.ok) / d,
			OutputTokensPerSecond: float64(s.outTokens) / d,
			TotalTokensPerSecond:  float64(s.outTokens+s.promptTokens) / d,
			GoodputRequestsPerSec: float64(s.good) / d,
		}
	}
	r.SLO = evalSLO(slo, s)
	r.SLOOK = true
	for _, v := range r.SLO {
		r.SLOOK = r.SLOOK && v.OK
	}
}

// evalSLO checks the objectives against stats.
func evalSLO(slo SLO, s *stats) []SLOResult {
	var out []SLOResult
	if slo.Availability > 0 {
		v := SLOResult{Name: "availability", Objective: fmt.Sprintf(">= %g", slo.Availability), Target: slo.Availability}
		if a := s.availability(slo.IgnoreInFlightAtEnd); math.IsNaN(a) {
			v.NoData = true
		} else {
			v.Value, v.OK = &a, a >= slo.Availability
		}
		out = append(out, v)
	}
	lat := func(name string, target time.Duration, n int64, p95us int64) {
		t := target.Seconds()
		v := SLOResult{Name: name, Objective: fmt.Sprintf("<= %g", t), Target: t}
		if n == 0 {
			// No successful request fails the objective; successful requests
			// without samples (ITL of non-streamed or one-chunk responses)
			// leave it not applicable, which passes.
			v.NoData, v.OK = true, s.ok > 0
		} else {
			x := float64(p95us) / 1e6
			v.Value, v.OK = &x, x <= t
		}
		out = append(out, v)
	}
	if slo.TTFTP95 > 0 {
		lat("ttft_p95_seconds", slo.TTFTP95, s.ttftSched.TotalCount(), s.ttftSched.ValueAtQuantile(95))
	}
	if slo.ITLP95 > 0 {
		lat("itl_p95_seconds", slo.ITLP95, s.itl.TotalCount(), s.itl.ValueAtQuantile(95))
	}
	return out
}

// SLOError returns an error naming every broken SLO, or nil when all are met.
func (r *Result) SLOError() error {
	var broken []string
	for _, v := range r.SLO {
		if v.OK {
			continue
		}
		if v.Value == nil {
			broken = append(broken, fmt.Sprintf("%s: no data (no successful request), objective %s", v.Name, v.Objective))
		} else {
			broken = append(broken, fmt.Sprintf("%s = %s, objective %s", v.Name, fmtNum(*v.Value), v.Objective))
		}
	}
	if len(broken) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrSLO, strings.Join(broken, "; "))
}

func fmtNum(v float64) string { return fmt.Sprintf("%.4g", v) }

// Report does with a run's result what the command lines do: it prints the
// summary table to o.Status when it is set (and where Run wrote the
// records, o.Records), then writes the results file o.Out when it is set
// and says so on o.Status. Call it after Run with the same Options,
// whatever Run's error, when the result is not nil.
func Report(o Options, res *Result) error {
	if o.Status != nil {
		res.PrintSummary(o.Status)
		if o.Records != "" {
			fmt.Fprintf(o.Status, "records written to %s\n", o.Records)
		}
	}
	if o.Out == "" {
		return nil
	}
	if err := WriteResult(o.Out, res); err != nil {
		return err
	}
	if o.Status != nil {
		fmt.Fprintf(o.Status, "results written to %s\n", o.Out)
	}
	return nil
}

// WriteResult writes r as indented JSON to path (creating its directory),
// atomically: a temporary file renamed into place.
func WriteResult(path string, r *Result) error {
	if r == nil {
		return errors.New("load: WriteResult: nil result")
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("load: results file %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, ".loadgen-*.json")
	if err != nil {
		return fmt.Errorf("load: results file %s: %w", path, err)
	}
	_, werr := f.Write(b)
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(f.Name(), 0o644)
	}
	if werr == nil {
		werr = os.Rename(f.Name(), path)
	}
	if werr != nil {
		os.Remove(f.Name())
		return fmt.Errorf("load: results file %s: %w", path, werr)
	}
	return nil
}

// ReadResult reads a results file written by WriteResult.
func ReadResult(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("load: results file %s: %w", path, err)
	}
	return &r, nil
}

func ms(sec float64) string {
	switch {
	case sec == 0:
		return "-"
	case sec < 0.01:
		return fmt.Sprintf("%.2fms", sec*1e3)
	case sec < 10:
		return fmt.Sprintf("%.1fms", sec*1e3)
	}
	return fmt.Sprintf("%.2fs", sec)
}

// PrintSummary writes the final summary table and SLO verdicts.
func (r *Result) PrintSummary(w io.Writer) {
	fmt.Fprintf(w, "\n==== load test: %s %s (%s) ====\n", r.Backend, r.Model, r.Protocol)
	load := fmt.Sprintf("closed loop, concurrency %d", r.Config.Concurrency)
	if r.Config.Rate > 0 {
		load = fmt.Sprintf("open loop, %g req/s %s", r.Config.Rate, r.Config.Shape)
		if r.Config.Shape == ShapeGamma {
			load += fmt.Sprintf(" (burstiness %g)", r.Config.Burstiness)
		}
		if r.Config.Concurrency > 0 {
			load += fmt.Sprintf(", cap %d in flight", r.Config.Concurrency)
		}
	}
	if r.Config.Stages != "" {
		load = "stages " + r.Config.Stages
	}
	if s := r.Config.Shape; s == ShapeTrace || s == ShapeSessions {
		load = workloadLoad(&r.Config)
	}
	fmt.Fprintf(w, "load:        %s; stopped by %s after %.1fs measured\n", load, r.StoppedBy, r.DurationSeconds)
	avail := "n/a"
	if r.Requests.Availability != nil {
		avail = fmt.Sprintf("%.2f%%", *r.Requests.Availability*100)
	}
	extra := ""
	if r.Requests.InFlightAtEnd > 0 {
		extra += fmt.Sprintf(", in flight at end %d", r.Requests.InFlightAtEnd)
	}
	if r.Requests.ClientErrors > 0 {
		extra += fmt.Sprintf(", client errors %d", r.Requests.ClientErrors)
	}
	fmt.Fprintf(w, "requests:    ok %d, failed %d, canceled %d%s, warm-up %d (availability %s)\n",
		r.Requests.OK, r.Requests.Failed, r.Requests.Canceled, extra, r.Requests.Warmup, avail)
	if n := r.Requests.InFlightAtEnd; n > 0 {
		how := "counted as not successful by the availability SLO (in-flight-at-end=ignore leaves them out)"
		if r.Config.InFlightAtEnd == InFlightAtEndIgnore {
			how = "left out of availability (in-flight-at-end=ignore)"
		}
		fmt.Fprintf(w, "in flight:   %d requests were still running when the drain period (%gs) ended and were cut: %s\n",
			n, r.Config.DrainTimeoutSeconds, how)
	}
	r.printWorkers(w)
	for _, why := range r.Suspect {
		fmt.Fprintf(w, "SUSPECT:     %s\n", why)
	}
	for _, why := range r.Invalid {
		fmt.Fprintf(w, "INVALID: %s\n", why)
	}
	if r.DatasetSkipped > 0 {
		fmt.Fprintf(w, "skipped:     %d dataset records left out by the format's filter (ShareGPT: as vLLM's benchmark; traces: rows without output)\n", r.DatasetSkipped)
	}
	if r.Requests.NotSent > 0 {
		who := "the server could not keep up"
		if len(r.Invalid) > 0 {
			who = "the server, or the generator itself (INVALID above), could not keep up"
		}
		fmt.Fprintf(w, "not sent:    %d arrivals were due but the in-flight cap (%d) held them until the end: %s with %.3g req/s; raise the cap or lower the rate\n",
			r.Requests.NotSent, r.Config.Concurrency, who, r.Config.Rate)
	}
	if len(r.Requests.ByError) > 0 {
		var parts []string
		for _, k := range allKinds {
			if n := r.Requests.ByError[string(k)]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", k, n))
			}
		}
		fmt.Fprintf(w, "errors:      %s\n", strings.Join(parts, ", "))
		for _, s := range r.ErrorSamples {
			msg := s.Message
			if len(msg) > 160 {
				msg = msg[:160] + "..."
			}
			fmt.Fprintf(w, "  %-17s %s\n", s.Kind, msg)
		}
	}
	fmt.Fprintf(w, "throughput:  %.2f req/s, %.1f output tok/s, %.1f total tok/s, goodput %.2f req/s\n",
		r.Throughput.RequestsPerSecond, r.Throughput.OutputTokensPerSecond, r.Throughput.TotalTokensPerSecond,
		r.Throughput.GoodputRequestsPerSec)
	r.printStages(w)
	fmt.Fprintf(w, "tokens:      output %d (%s), prompt %d (%s)\n\n", r.Tokens.Output, r.OutputTokensSource,
		r.Tokens.Prompt, r.Tokens.PromptSource)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tcount\tp50\tp90\tp95\tp99\tp99.9\tmean\tmax\t")
	row := func(name string, q Quantiles) {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, q.Count, ms(q.P50), ms(q.P90), ms(q.P95),
			ms(q.P99), ms(q.P999), ms(q.Mean), ms(q.Max))
	}
	row("TTFT", r.TTFT)
	row("TTFT from intended", r.TTFTFromIntended)
	row("ITL", r.ITL)
	row("TPOT", r.TPOT)
	row("E2E", r.E2E)
	row("E2E from intended", r.E2EFromIntended)
	row("scheduling lag", r.SchedulingLag)
	row("generator delay", r.Generator.Delay)
	for _, t := range r.ByTurn {
		row(fmt.Sprintf("TTFT turn %d", t.Turn), t.TTFT)
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, v := range r.SLO {
		verdict, val := "FAIL", "no data"
		if v.OK {
			verdict = "PASS"
			if v.NoData {
				verdict = "PASS (not applicable)"
			}
		}
		if v.Value != nil {
			val = fmtNum(*v.Value)
		}
		fmt.Fprintf(w, "SLO %-18s %-10s value %-10s %s\n", v.Name, v.Objective, val, verdict)
	}
}
