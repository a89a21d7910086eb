package bench

// The probe of -mode=search: one open-loop run of the load generator at a
// rate, watched through its Prometheus registry and stopped once the
// stopping rule (stoprule.go) has decided; and the search's run, which
// keeps each probe as a step of the results.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/workload"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// probeTick is how often a probe reads the generator's live figures.
const probeTick = 100 * time.Millisecond

// gatherTally reads the generator's counters and histograms from reg.
func gatherTally(reg *prometheus.Registry) tally {
	var t tally
	fams, err := reg.Gather()
	if err != nil {
		return t
	}
	hist := func(m *dto.Metric) liveHist {
		h := m.GetHistogram()
		out := liveHist{N: h.GetSampleCount()}
		for _, b := range h.GetBucket() {
			out.Bounds = append(out.Bounds, b.GetUpperBound())
			out.Cum = append(out.Cum, b.GetCumulativeCount())
		}
		return out
	}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "loadgen_ttft_seconds":
				t.TTFT = hist(m)
			case "loadgen_itl_seconds":
				t.ITL = hist(m)
			case "loadgen_requests_total":
				v := int64(m.GetCounter().GetValue())
				for _, l := range m.GetLabel() {
					switch {
					case l.GetName() != "outcome":
					case l.GetValue() == "ok":
						t.OK += v
					case l.GetValue() == "failed" || l.GetValue() == "in_flight_at_end":
						t.Failed += v
					}
				}
			}
		}
	}
	return t
}

// watchProbe applies the stopping rule to the live figures of a probe
// until it decides (then it cancels the probe) or done is closed. It
// returns the decision: stopped says why the probe ended early ("" when
// it did not), fail is a certain failure.
func watchProbe(reg *prometheus.Registry, rule stopRule, warmup time.Duration, cancel context.CancelFunc, done <-chan struct{}) (stopped, fail string) {
	start := time.Now()
	var base *tally
	tick := time.NewTicker(probeTick)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return "", ""
		case <-tick.C:
		}
		elapsed := time.Since(start) - warmup
		if elapsed < 0 {
			continue
		}
		now := gatherTally(reg)
		if base == nil {
			base = &now
			continue
		}
		t := now.sub(*base)
		if ok, why := rule.decide(t, elapsed); ok {
			cancel()
			if why != "" {
				return fmt.Sprintf("certain failure after %.1fs", elapsed.Seconds()), why
			}
			return fmt.Sprintf("p95s decided after %d requests", t.OK+t.Failed), ""
		}
	}
}

// probe measures the server at one rate: base with Rate set, Duration
// ProbeMax; the watcher may stop it earlier. step is the probe as a step
// of the results (nil when nothing was measured).
func (o *Options) probe(ctx context.Context, base load.Options, slo SLOSettings, rate float64) (ProbeResult, *Step, error) {
	lo := base
	lo.Rate, lo.Concurrency, lo.Duration, lo.Warmup, lo.Requests = rate, o.MaxInFlight, o.ProbeMax, o.Warmup, 0
	lo.Registry = prometheus.NewRegistry()
	switch {
	case o.traceRate > 0:
		// A trace keeps its shape: the rate is its speed.
		lo.Rate, lo.Shape, lo.Prompts.TraceSpeed = 0, "", rate/o.traceRate
	case lo.Shape == "":
		lo.Shape = load.ShapePoisson
	}
	rule := stopRule{SLO: slo, Tolerance: o.Tolerance, Planned: max(int64(rate*o.ProbeMax.Seconds()), 1), Min: o.ProbeMin}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	type decision struct{ stopped, fail string }
	decided := make(chan decision, 1)
	go func() {
		s, f := watchProbe(lo.Registry, rule, o.Warmup, cancel, done)
		decided <- decision{s, f}
	}()
	var watch *serverWatch
	if o.MetricsURL != "" {
		watch = startWatch(ctx, o.ScrapeClient, o.MetricsURL, o.MetricsModel, o.Warmup, o.SampleEvery)
	}
	lr, err := load.Run(pctx, lo)
	close(done)
	d := <-decided
	pr := ProbeResult{Rate: rate, Stopped: d.stopped}
	if lr == nil {
		return pr, nil, err
	}
	step := &Step{Load: rate, Result: lr}
	if watch != nil {
		step.Server = watch.stop(ctx)
	}
	rq := lr.Requests
	pr.Requests, pr.Seconds, pr.Availability = rq.OK+rq.Failed+rq.InFlightAtEnd, round3(lr.DurationSeconds), rq.Availability
	if lr.TTFTFromIntended.Count > 0 {
		pr.TTFTP95 = &lr.TTFTFromIntended.P95
	}
	if lr.ITL.Count > 0 {
		pr.ITLP95 = &lr.ITL.P95
	}
	if pr.Stopped == "" {
		pr.Stopped = "-probemax (" + o.ProbeMax.String() + ") reached"
		if !strings.HasPrefix(lr.StoppedBy, "duration") {
			pr.Stopped = "the run ended (" + lr.StoppedBy + ")" // a trace's end
		}
	}
	switch {
	case ctx.Err() != nil:
		step.Partial = true
		pr.Verdict, pr.Stopped = ProbePartial, "canceled"
		return pr, step, nil
	case err != nil && !errors.Is(err, load.ErrSLO):
		return pr, step, err
	}
	pr.Verdict, pr.Why = probeVerdict(*step, d.fail, slo, rate)
	return pr, step, nil
}

// probeVerdict judges a finished probe: invalid when the run measured the
// generator (whatever else it says: no server verdict), else failed when
// the stopping rule saw a certain failure (fail) or the results break an
// objective, else passed.
func probeVerdict(s Step, fail string, slo SLOSettings, rate float64) (verdict, why string) {
	lr := s.Result
	switch {
	case invalid(lr):
		return ProbeInvalid, strings.Join(lr.Invalid, "; ")
	case fail != "":
		return ProbeFail, fail
	case lr.SLOOK && lr.Requests.NotSent == 0 && goodputOK(slo, lr, rate):
		return ProbePass, ""
	}
	return ProbeFail, failures(s, slo, rate)
}

// goodputOK checks the goodput objective: the requests that met the
// latency objectives per second, as a share of the offered rate.
func goodputOK(slo SLOSettings, lr *load.Result, rate float64) bool {
	return slo.GoodputShare <= 0 || lr.Throughput.GoodputRequestsPerSec >= slo.GoodputShare*rate
}

// failures lists what a failed probe broke (Verdict's list, and goodput).
func failures(s Step, slo SLOSettings, rate float64) string {
	var broken []string
	if v := Verdict(s); v != "ok" {
		broken = append(broken, v[len("FAIL: "):])
	}
	if !goodputOK(slo, s.Result, rate) {
		broken = append(broken, fmt.Sprintf("goodput %.4g req/s (>= %g x %s req/s)", s.Result.Throughput.GoodputRequestsPerSec, slo.GoodputShare, fmtLoad(rate)))
	}
	return strings.Join(broken, ", ")
}

// traceRate is the mean request rate of a trace dataset at its own
// speed, or 0 when src is not a trace.
func traceRate(ctx context.Context, src load.PromptSource) (float64, error) {
	if src.Dataset == "" {
		return 0, nil
	}
	rd, format, err := workload.Open(ctx, workload.Source{Path: src.Dataset, Checksum: src.Checksum, Format: src.Format})
	if err != nil || !format.Timed() {
		if rd != nil {
			rd.Close()
		}
		return 0, err
	}
	defer rd.Close()
	var n int
	var first, last time.Duration
	for {
		r, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
		if n == 0 {
			first = r.At
		}
		last, n = r.At, n+1
	}
	if n < 2 || last <= first {
		return 0, fmt.Errorf("-dataset=%s: a %s trace needs two or more requests at different times for -mode=search to scale its rate", src.Dataset, format)
	}
	return float64(n-1) / (last - first).Seconds(), nil
}

// runSearch is Run for ModeSearch: each probe is printed and kept as a
// step, and the files are written after each.
func (o *Options) runSearch(ctx context.Context, res *Result, base load.Options) error {
	plan := SearchPlan{Start: o.Steps[0], Max: o.Steps[len(o.Steps)-1], Tolerance: o.Tolerance}
	var step *Step
	plan.OnProbe = func(c *Capacity) error {
		if step != nil {
			res.addStep(*step, step.Partial)
		}
		res.Capacity = c
		n := len(c.Probes)
		if o.Out != nil {
			fmt.Fprintln(o.Out, probeLine(n, c.Probes[n-1]))
		}
		if o.Dir == "" || (step != nil && step.Partial) {
			return nil
		}
		if err := res.checkpoint(o.Dir, n, 0); err != nil {
			return err
		}
		if o.saved != nil {
			o.saved(len(res.Steps))
		}
		return nil
	}
	probe := func(ctx context.Context, rate float64) (ProbeResult, error) {
		var pr ProbeResult
		var err error
		pr, step, err = o.probe(ctx, base, res.Settings.SLO, rate)
		if res.Model == "" && step != nil {
			res.Model = step.Result.Model
		}
		return pr, err
	}
	c, err := Search(ctx, plan, probe)
	if c != nil {
		res.Capacity = c
	}
	switch {
	case ctx.Err() != nil:
		res.StoppedBy, res.StoppedEarlyReason = StoppedCanceled, fmt.Sprintf("canceled during probe %d", len(res.Capacity.Probes)+1)
		if c != nil && len(c.Probes) > 0 && c.Probes[len(c.Probes)-1].Verdict == ProbePartial {
			res.StoppedEarlyReason = fmt.Sprintf("canceled during probe %d; that probe is partial", len(c.Probes))
		}
		return nil
	case errors.Is(err, ErrGeneratorLimited):
		res.StoppedBy, res.StoppedEarlyReason = StoppedInvalid, err.Error()
		return err
	case err != nil:
		res.StoppedBy, res.StoppedEarlyReason = StoppedError, err.Error()
		return err
	}
	return nil
}
