package load

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Stage is one part of a staged run (Options.Stages): Duration long, an
// open loop of Rate requests per second (the Shape arrivals, at most
// Options.Concurrency in flight when that is set) or a closed loop of
// Concurrency workers.
type Stage struct {
	Duration    time.Duration
	Rate        float64 // open loop: requests per second
	Concurrency int     // closed loop: workers
}

// String is the stage in the -stages form: 30s@10 or 30s@c40.
func (s Stage) String() string {
	if s.Concurrency > 0 {
		return fmt.Sprintf("%s@c%d", s.Duration, s.Concurrency)
	}
	return fmt.Sprintf("%s@%s", s.Duration, strconv.FormatFloat(s.Rate, 'g', -1, 64))
}

// Stages is a staged run: its stages, run in order from the start; the
// run ends after the last (Options.Requests still cuts it short).
type Stages []Stage

// String is the -stages form: the stages joined by commas.
func (ss Stages) String() string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = s.String()
	}
	return strings.Join(parts, ",")
}

// Total is the run's length: the sum of the stages' durations.
func (ss Stages) Total() time.Duration {
	var d time.Duration
	for _, s := range ss {
		d += s.Duration
	}
	return d
}

// open reports whether a stage is an open loop.
func (ss Stages) open() bool {
	for _, s := range ss {
		if s.Rate > 0 {
			return true
		}
	}
	return false
}

const stageForm = "duration@rate (e.g. 30s@10: an open loop of 10 req/s) or duration@cN (e.g. 30s@c40: a closed loop of 40 workers)"

// ParseStages parses the -stages form: comma-separated stages, each
// duration@rate or duration@cN, e.g. 30s@10,60s@20,30s@c40. An error
// names the stage and the form.
func ParseStages(s string) (Stages, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var ss Stages
	for i, part := range strings.Split(s, ",") {
		st, err := parseStage(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("stage %d %q: %v; expected %s", i+1, part, err, stageForm)
		}
		ss = append(ss, st)
	}
	return ss, nil
}

func parseStage(s string) (Stage, error) {
	dur, load, ok := strings.Cut(s, "@")
	if !ok {
		return Stage{}, errors.New("no @")
	}
	var st Stage
	var err error
	if st.Duration, err = time.ParseDuration(dur); err != nil || st.Duration <= 0 {
		return st, fmt.Errorf("duration %q: expected a positive duration such as 30s or 2m", dur)
	}
	if n, isC := strings.CutPrefix(load, "c"); isC {
		if st.Concurrency, err = strconv.Atoi(n); err != nil || st.Concurrency < 1 {
			return st, fmt.Errorf("workers %q: expected a whole number >= 1 after c", load)
		}
		return st, nil
	}
	if st.Rate, err = strconv.ParseFloat(load, 64); err != nil || !(st.Rate > 0) || st.Rate > 1e9 {
		return st, fmt.Errorf("rate %q: expected requests per second > 0", load)
	}
	return st, nil
}

// validateStages checks Options.Stages: each stage well formed, and
// neither Rate nor Duration beside them (the stages set the load and the
// length).
func (o *Options) validateStages() error {
	if len(o.Stages) == 0 {
		return nil
	}
	if o.Prompts.Sessions {
		return errors.New("load: sessions are played by workers that each take the next session: drop the stages")
	}
	if o.Rate > 0 || o.Duration > 0 {
		return errors.New("load: stages set the load and the run's length: leave the rate and the duration out (requests still cuts the run short)")
	}
	for i, s := range o.Stages {
		if s.Duration <= 0 || (s.Rate > 0) == (s.Concurrency > 0) || s.Rate < 0 || s.Concurrency < 0 {
			return fmt.Errorf("load: stage %d %q: expected %s", i+1, s, stageForm)
		}
	}
	if o.Stages.open() {
		if _, err := NewArrivals(o.ShapeName(), 1, o.Burstiness, o.Seed); err != nil {
			return err
		}
	}
	return nil
}

// connections is the size of the built-in client's connection pool: the
// most requests that may be in flight at once (1024 for an uncapped open
// loop).
func (o *Options) connections() int {
	conns, open := o.Concurrency, o.Rate > 0 || o.Stages.open()
	for _, s := range o.Stages {
		conns = max(conns, s.Concurrency)
	}
	if open && o.Concurrency == 0 {
		conns = max(conns, 1024)
	}
	return conns
}

// stagedArrivals are the arrivals of a staged run's open stages: within
// each, the gaps of its own arrival process; the gap that leaves one
// stage jumps to the next open stage's first arrival; after the last
// stage a gap of a year (the run's deadline comes first).
type stagedArrivals struct {
	stages Stages
	arr    []*Arrivals // nil for the closed stages
	starts []time.Duration
	i      int           // the current stage
	t      time.Duration // the last arrival, from the start
}

func newStagedArrivals(o *Options) *stagedArrivals {
	a := &stagedArrivals{stages: o.Stages}
	var at time.Duration
	for i, s := range o.Stages {
		a.starts = append(a.starts, at)
		at += s.Duration
		var arr *Arrivals
		if s.Rate > 0 {
			arr, _ = NewArrivals(o.ShapeName(), s.Rate, o.Burstiness, o.Seed+uint64(i)) // validateStages checked it
		}
		a.arr = append(a.arr, arr)
	}
	return a
}

func (a *stagedArrivals) Next() time.Duration {
	prev := a.t
	for ; a.i < len(a.stages); a.i++ {
		arr := a.arr[a.i]
		if arr == nil {
			continue
		}
		a.t = max(a.t, a.starts[a.i])
		if next := a.t + arr.Next(); next < a.starts[a.i]+a.stages[a.i].Duration {
			a.t = next
			return a.t - prev
		}
	}
	return 365 * 24 * time.Hour
}

// stageStats are one stage's figures: its measured requests (by intended
// send time), the successful ones, and their TTFT and ITL.
type stageStats struct {
	mu            sync.Mutex
	requests, ok  int64
	ttft, itl     *hdrhistogram.Histogram
	start, length time.Duration
}

// startStages starts a staged run: the deadline at the stages' end, one
// open loop for the open stages, and each closed stage's workers at its
// start.
func (g *gen) startStages(wg *sync.WaitGroup) {
	var at time.Duration
	for _, s := range g.o.Stages {
		g.stageStats = append(g.stageStats, &stageStats{ttft: newHist(), itl: newHist(), start: at, length: s.Duration})
		at += s.Duration
	}
	g.mu.Lock()
	g.deadline = g.start.Add(at)
	g.deadlineT = time.AfterFunc(time.Until(g.deadline), func() { g.stop(stopDuration) })
	g.mu.Unlock()
	if g.o.Stages.open() {
		arr := newStagedArrivals(&g.o)
		wg.Add(1)
		go func() { defer wg.Done(); g.openLoop(arr, wg) }()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		timer := time.NewTimer(time.Hour)
		defer timer.Stop()
		for i, s := range g.o.Stages {
			if s.Concurrency == 0 {
				continue
			}
			st := g.stageStats[i]
			if d := time.Until(g.start.Add(st.start)); d > 0 {
				timer.Reset(d)
				select {
				case <-timer.C:
				case <-g.stopCh:
					return
				}
			}
			end := g.start.Add(st.start + st.length)
			for w := range s.Concurrency {
				wg.Add(1)
				go func() { defer wg.Done(); g.stageWorker(w, end) }()
			}
		}
	}()
}

// stageWorker is worker w of a closed stage: it sends a request as soon
// as its previous one ends, until end.
func (g *gen) stageWorker(w int, end time.Time) {
	sh := g.shards[w%len(g.shards)]
	var prevEnd time.Time
	for {
		intended := g.now()
		if !intended.Before(end) {
			return
		}
		idx, warm, it, ok := g.take(intended, nil)
		if !ok {
			return
		}
		it.ready = prevEnd
		prevEnd = g.do(idx, &it, intended, warm, sh, w)
	}
}

// addToStage counts a measured request in the stage of its intended
// send time.
func (g *gen) addToStage(r *reqRecord) {
	at := r.intended.Sub(g.start)
	for _, st := range g.stageStats {
		if at < st.start || at >= st.start+st.length {
			continue
		}
		st.mu.Lock()
		st.requests++
		if r.kind == "" {
			st.ok++
			recordDur(st.ttft, r.ttft())
			for _, gap := range r.gaps {
				recordMicros(st.itl, gap)
			}
		}
		st.mu.Unlock()
		return
	}
}

// StageResult is one stage's figures in the results file ("stages").
type StageResult struct {
	Stage           string  `json:"stage"` // the -stages form: 30s@10 or 30s@c40
	StartSeconds    float64 `json:"start_seconds"`
	DurationSeconds float64 `json:"duration_seconds"`
	// Requests counts the measured requests whose intended send time
	// falls in the stage; OK the successful ones.
	Requests          int64          `json:"requests"`
	OK                int64          `json:"ok"`
	RequestsPerSecond float64        `json:"requests_per_second"` // ok / duration_seconds
	TTFT              StageQuantiles `json:"ttft_seconds"`        // from the actual send
	ITL               StageQuantiles `json:"itl_seconds"`
}

// StageQuantiles are a stage's latency percentiles, in seconds.
type StageQuantiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
}

func stageQuantiles(h *hdrhistogram.Histogram) StageQuantiles {
	q := quantiles(h)
	return StageQuantiles{P50: q.P50, P95: q.P95}
}

// stagesResult adds a staged run's stages to r: the form in the config,
// whose duration is their total, and the figures of each.
func (g *gen) stagesResult(r *Result) {
	if len(g.o.Stages) == 0 {
		return
	}
	r.Config.Stages = g.o.Stages.String()
	r.Config.DurationSeconds = g.o.Stages.Total().Seconds()
	for i, st := range g.stageStats {
		st.mu.Lock()
		sr := StageResult{Stage: g.o.Stages[i].String(), StartSeconds: st.start.Seconds(),
			DurationSeconds: st.length.Seconds(), Requests: st.requests, OK: st.ok,
			RequestsPerSecond: float64(st.ok) / st.length.Seconds(), TTFT: stageQuantiles(st.ttft),
			ITL: stageQuantiles(st.itl)}
		st.mu.Unlock()
		r.Stages = append(r.Stages, sr)
	}
}

// printStages writes a line per stage of the summary.
func (r *Result) printStages(w io.Writer) {
	for i, s := range r.Stages {
		fmt.Fprintf(w, "stage %d:     %s: %d requests, ok %d, %.2f req/s, TTFT p50 %s p95 %s, ITL p50 %s p95 %s\n",
			i+1, s.Stage, s.Requests, s.OK, s.RequestsPerSecond, ms(s.TTFT.P50), ms(s.TTFT.P95), ms(s.ITL.P50), ms(s.ITL.P95))
	}
}

// arrivals give the gaps between an open loop's arrivals: an Arrivals, or
// a staged run's stagedArrivals.
type arrivals interface{ Next() time.Duration }
