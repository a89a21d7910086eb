package sim

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// FinishReason values, as vLLM names them.
const (
	FinishStop   = "stop"
	FinishLength = "length"
	FinishAbort  = "abort"
	FinishError  = "error"
)

// ErrQueueFull is returned by submit when the waiting queue is at its bound.
var ErrQueueFull = errors.New("the waiting queue is full")

// requestSpec is what a personality asks of the engine.
type requestSpec struct {
	prompt    promptInfo
	maxTokens int // effective maximum output tokens (>= 1)
	minTokens int
	ignoreEOS bool
	seed      uint64 // request seed; used when hasSeed
	hasSeed   bool
	n         int // the n parameter, for metrics
	// noFaults disables mid-stream failures and stalls (used by tests).
	noFaults bool
	// sendTimed: the stream's writer observes TTFT and ITL when it sends
	// the tokens (constant mode's sinks), so the engine does not.
	sendTimed bool
	// model is the personality's model (Triton per-model metrics).
	model string
	// stream: the client streams (Triton counts one postprocessing
	// execution per response).
	stream bool
}

// request is one sequence in the engine. Fields under "scheduler" belong to
// the scheduler goroutine (and recorders it calls); the consumer uses next().
type request struct {
	spec     requestSpec
	seq      uint64
	textSeed uint64
	target   int // sampled EOS position
	failAt   int // fail after this many tokens (0: never)
	stallAt  int // pause after this many tokens (0: never)
	arrival  time.Time

	// scheduler
	generated     int
	numBlocks     int
	scheduled     bool
	scheduledAt   time.Time
	firstTokenAt  time.Time
	lastTokenAt   time.Time
	finishedAt    time.Time
	stallUntil    time.Time
	stalled       bool
	finished      bool
	running       bool
	preemptions   int
	cachedTokens  int
	finishReason  string
	due           time.Time // constant mode
	blocksCounted int       // constant mode

	// consumer side
	mu       sync.Mutex
	produced int
	done     bool
	reason   string
	notify   chan struct{}
	sink     streamSink  // set once by the handler (constant mode); then notify is not used
	queued   atomic.Bool // on a writer's queue (sink.go)
	aborted  atomic.Bool
}

// progress is a consumer's view of a request.
type progress struct {
	produced int
	done     bool
	reason   string
}

// next blocks until more than have tokens are produced or the request is done.
func (r *request) next(ctx context.Context, have int) (progress, error) {
	for {
		r.mu.Lock()
		p := progress{r.produced, r.done, r.reason}
		r.mu.Unlock()
		if p.produced > have || p.done {
			return p, nil
		}
		select {
		case <-r.notify:
		case <-ctx.Done():
			return p, ctx.Err()
		}
	}
}

// publish makes the scheduler's progress of r visible to its client and
// wakes it; it returns true, waking nobody, when r has a sink (the caller,
// engine.publish, queues it for its writer).
func (r *request) publish(done bool, reason string) bool {
	r.mu.Lock()
	r.produced = r.generated
	if done {
		r.done = true
		r.reason = reason
	}
	sink := r.sink
	r.mu.Unlock()
	if sink != nil {
		return true
	}
	select {
	case r.notify <- struct{}{}:
	default:
	}
	return false
}

// Timings of a finished request, for recorders.
func (r *request) queueTime() time.Duration { return r.scheduledAt.Sub(r.arrival) }
func (r *request) e2e() time.Duration       { return r.finishedAt.Sub(r.arrival) }
func (r *request) ttft() time.Duration      { return r.firstTokenAt.Sub(r.arrival) }
func (r *request) prefillTime() time.Duration {
	if r.firstTokenAt.IsZero() {
		return 0
	}
	return r.firstTokenAt.Sub(r.scheduledAt)
}
func (r *request) decodeTime() time.Duration {
	if r.firstTokenAt.IsZero() {
		return 0
	}
	return r.finishedAt.Sub(r.firstTokenAt)
}
func (r *request) inferenceTime() time.Duration {
	if !r.scheduled {
		return 0
	}
	return r.finishedAt.Sub(r.scheduledAt)
}

// stepReport is what one scheduler step (or constant-mode wake) did.
type stepReport struct {
	end           time.Time
	promptTokens  int // prompt tokens of requests that got their first token
	genTokens     int
	iterTokens    int // vLLM iteration_tokens_total observation; 0: none
	preemptions   int
	prefixQueries int
	prefixHits    int
	ttfts         []float64
	itls          []float64
	firstTokens   []*request // requests that got their first token
	finished      []*request // finished with stop, length or error
	aborted       []*request
	running       int
	waiting       int
	usedBlocks    int
	ctxRequests   int // requests prefilled this step
	genRequests   int // requests decoded this step
	ctxTokens     int // prompt tokens computed this step
	iteration     bool
}

func (s *stepReport) reset() {
	*s = stepReport{ttfts: s.ttfts[:0], itls: s.itls[:0], firstTokens: s.firstTokens[:0], finished: s.finished[:0], aborted: s.aborted[:0]}
}

// recorder receives every step report, on the scheduler goroutine.
type recorder interface{ record(rep *stepReport) }

// engine is the shared model of an inference engine.
type engine struct {
	cfg      Config
	constant bool

	inMu     sync.Mutex
	incoming []*request
	wake     chan struct{}
	seq      atomic.Uint64
	queued   atomic.Int64 // submitted and not running (incl. preempted)
	abortReq atomic.Int64

	// snapshot for gauges
	snapRunning atomic.Int64
	snapWaiting atomic.Int64
	snapUsed    atomic.Int64
	busy        busyMeter

	// scheduler state
	waiting    []*request // FIFO; preempted requests go to the front (batch mode)
	running    []*request
	freeBlocks int
	usedBlocks int
	pc         *prefixCache
	decoding   []*request
	admitted   []*request
	rep        stepReport
	recorders  []recorder
	cheap      constHeap
	lastWake   time.Time
	shards     []*sinkShard // constant mode: stream writers
	outbox     []*request   // published this wake, for the writers
	outboxEnds []*request   // of which the ends (sinkShard)
	shardBufs  [][]*request // per shard: outbox's, then outboxEnds'

	now func() time.Time
}

func newEngine(cfg Config) *engine {
	e := &engine{
		cfg:        cfg,
		constant:   cfg.ConstantMode(),
		wake:       make(chan struct{}, 1),
		freeBlocks: cfg.NumGPUBlocks,
		now:        time.Now,
	}
	if cfg.EnablePrefixCaching {
		e.pc = newPrefixCache(cfg.NumGPUBlocks)
	}
	if e.constant {
		e.shards = newSinkShards()
	}
	return e
}

func (e *engine) blocksFor(tokens int) int { return (tokens + e.cfg.BlockSize - 1) / e.cfg.BlockSize }

// submit queues a request arriving now.
func (e *engine) submit(spec requestSpec) (*request, error) { return e.submitAt(spec, e.now()) }

func (e *engine) submitAt(spec requestSpec, arrival time.Time) (*request, error) {
	if e.cfg.MaxWaiting > 0 {
		if e.queued.Add(1) > int64(e.cfg.MaxWaiting) {
			e.queued.Add(-1)
			return nil, ErrQueueFull
		}
	} else {
		e.queued.Add(1)
	}
	seq := e.seq.Add(1)
	r := &request{spec: spec, seq: seq, arrival: arrival, notify: make(chan struct{}, 1)}
	base := splitmix64(e.cfg.Seed ^ splitmix64(seq))
	if spec.hasSeed {
		base = splitmix64(spec.seed ^ 0x51ed)
		for _, b := range spec.prompt.blocks {
			base = splitmix64(base ^ b)
		}
		base = splitmix64(base ^ uint64(spec.prompt.tokens))
	}
	r.textSeed = base
	r.target = sampleOutputLen(splitmix64(base^0x1e57), e.cfg.OutputTokensMean, e.cfg.OutputTokensSigma)
	fault := splitmix64(e.cfg.Seed ^ splitmix64(seq^0xfa017))
	if !spec.noFaults {
		limit := spec.maxTokens
		if !spec.ignoreEOS {
			limit = min(limit, max(r.target, spec.minTokens))
		}
		if e.cfg.MidstreamFailRate > 0 && unitFloat(splitmix64(fault^1)) < e.cfg.MidstreamFailRate && limit > 1 {
			r.failAt = 1 + int(splitmix64(fault^2)%uint64(limit-1))
		}
		if e.cfg.StallRate > 0 && e.cfg.Stall > 0 && unitFloat(splitmix64(fault^3)) < e.cfg.StallRate && limit > 1 {
			r.stallAt = 1 + int(splitmix64(fault^4)%uint64(limit-1))
		}
	}
	e.inMu.Lock()
	e.incoming = append(e.incoming, r)
	e.inMu.Unlock()
	e.signal()
	return r, nil
}

func (e *engine) signal() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// abort marks r aborted (client went away); the scheduler frees it.
func (e *engine) abort(r *request) {
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	if done || r.aborted.Swap(true) {
		return
	}
	e.abortReq.Add(1)
	e.signal()
}

func (e *engine) drainIncoming() []*request {
	e.inMu.Lock()
	in := e.incoming
	e.incoming = nil
	e.inMu.Unlock()
	return in
}

// finishCheck returns the finish reason of r after its latest token, or "".
func (e *engine) finishCheck(r *request) string {
	switch {
	case r.failAt > 0 && r.generated >= r.failAt:
		return FinishError
	case r.generated >= r.spec.maxTokens:
		return FinishLength
	case !r.spec.ignoreEOS && r.generated >= r.target && r.generated >= r.spec.minTokens:
		return FinishStop
	}
	return ""
}

// finish ends r at t for reason (FinishAbort, or what finishCheck said),
// records it in the step's report and tells its client. The caller has
// taken it out of the scheduler's queues and freed its blocks.
func (e *engine) finish(r *request, reason string, t time.Time) {
	r.running = false
	r.finished = true
	r.finishReason = reason
	r.finishedAt = t
	if reason == FinishAbort {
		e.rep.aborted = append(e.rep.aborted, r)
	} else {
		e.rep.finished = append(e.rep.finished, r)
	}
	e.publish(r, true, reason)
}

func (e *engine) fillGauges() {
	e.rep.running = int(e.snapRunning.Load())
	e.rep.waiting = int(e.snapWaiting.Load())
	e.rep.usedBlocks = int(e.snapUsed.Load())
}

func (e *engine) publishSnapshot() {
	if e.constant {
		e.snapRunning.Store(int64(len(e.cheap)))
	} else {
		e.snapRunning.Store(int64(len(e.running)))
	}
	e.snapWaiting.Store(int64(len(e.waiting)))
	e.snapUsed.Store(int64(e.usedBlocks))
}

// kvUsage is the fraction of KV blocks in use (0-1).
func (e *engine) kvUsage() float64 {
	u := float64(e.snapUsed.Load()) / float64(e.cfg.NumGPUBlocks)
	return min(u, 1)
}

// waitingNow counts requests not yet running, including submitted ones the
// scheduler has not seen.
func (e *engine) waitingNow() int64 { return e.queued.Load() }

// sleep waits until ctx ends, the engine is signalled, or until (when not
// zero); timer is reused between calls and left stopped and drained.
func (e *engine) sleep(ctx context.Context, timer *time.Timer, until time.Time) {
	var tc <-chan time.Time
	if !until.IsZero() {
		timer.Reset(max(until.Sub(e.now()), 0))
		tc = timer.C
	}
	select {
	case <-ctx.Done():
	case <-e.wake:
	case <-tc:
	}
	if tc != nil && !timer.Stop() {
		select {
		case <-timer.C:
		default:
		}
	}
}

func (e *engine) run(ctx context.Context) {
	if e.constant {
		e.runConstant(ctx)
	} else {
		e.runBatch(ctx)
	}
}

// busyMeter accumulates engine busy time in one-second buckets, for the GPU
// utilization the metrics report.
type busyMeter struct {
	mu   sync.Mutex
	secs [16]int64 // unix second of each bucket
	busy [16]time.Duration
}

func (b *busyMeter) add(t time.Time, d time.Duration) {
	s := t.Unix()
	i := s & 15
	b.mu.Lock()
	if b.secs[i] != s {
		b.secs[i] = s
		b.busy[i] = 0
	}
	b.busy[i] += d
	b.mu.Unlock()
}

// util is the busy fraction over the last n full seconds before t (0-1).
func (b *busyMeter) util(t time.Time, n int) float64 {
	s := t.Unix()
	var sum time.Duration
	b.mu.Lock()
	for k := int64(1); k <= int64(n); k++ {
		i := (s - k) & 15
		if b.secs[i] == s-k {
			sum += b.busy[i]
		}
	}
	b.mu.Unlock()
	return min(sum.Seconds()/float64(n), 1)
}
