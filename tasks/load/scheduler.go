package load

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Why a run stopped (Result.StoppedBy); a bounded run whose drain period
// ended with requests in flight appends stopDrainTimeout.
const (
	stopDuration     = "duration"
	stopRequests     = "requests"
	stopCanceled     = "canceled"
	stopDatasetEnd   = "dataset_end" // a trace, a dataset played once, or every session, played to its end
	stopDrainTimeout = "+drain_timeout"
)

// gen is one run's state.
type gen struct {
	o        Options
	client   *http.Client
	endpoint string
	feed     feed         // nil for sessions
	sessions *sessionFeed // -sessions (sessions.go)
	turns    turnStats    // -sessions: TTFT by turn
	header   http.Header
	met      *metrics
	shards   []*shard
	start    time.Time
	hardCtx  context.Context
	cpu      cpuMeter // the process's CPU use since the start

	mu           sync.Mutex
	stopped      bool
	stopReason   string
	stopCh       chan struct{}
	issued       int64
	measured     int64
	warmEnd      time.Time
	deadline     time.Time
	deadlineT    *time.Timer
	measureStart time.Time
	// feedErr is the workload's read error that ended the run, if any.
	feedErr error

	causes causes
	// cutAtEnd is set when the drain period of a bounded run ended with
	// requests in flight: the hard cancel that follows cuts them as
	// in_flight_at_end, not canceled.
	cutAtEnd atomic.Bool

	inFlight atomic.Int64
	// notSent counts open-loop arrivals intended before the deadline that
	// were never sent: the in-flight cap held them until the run ended.
	notSent atomic.Int64
	errMu   sync.Mutex
	samples []ErrorSample

	// runID prefixes the request ids (X-Request-Id); records, when set,
	// writes the per-request records (Options.Records).
	runID   string
	records *recordWriter
	// stageStats are the figures of each stage of a staged run.
	stageStats []*stageStats

	oaPool, trPool, gapPool sync.Pool

	// h1 is the run's own HTTP/1.1 client (h1.go), nil when
	// Options.HTTPClient replaces it: then client sends the requests.
	h1       *h1Client
	feedPool sync.Pool // *sseFeed
}

func (g *gen) now() time.Time {
	if g.o.clock != nil {
		return g.o.clock()
	}
	return time.Now()
}

func (g *gen) stop(reason string) {
	g.mu.Lock()
	g.stopLocked(reason)
	g.mu.Unlock()
}

func (g *gen) stopLocked(reason string) {
	if g.stopped {
		return
	}
	g.stopped = true
	g.stopReason = reason
	close(g.stopCh)
}

// take admits one request with the given intended send time: pre, or
// else the feed's next. The end of the feed stops the run.
func (g *gen) take(intended time.Time, pre *item) (idx int64, warm bool, it item, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return 0, false, it, false
	}
	if g.hardCtx.Err() != nil {
		g.stopLocked(stopCanceled)
		return 0, false, it, false
	}
	if !g.deadline.IsZero() && !intended.Before(g.deadline) {
		g.stopLocked(stopDuration)
		return 0, false, it, false
	}
	if pre != nil {
		it = *pre
	} else {
		var err error
		if it, err = g.feed.next(g.issued); err != nil {
			g.feedEndLocked(err)
			return 0, false, it, false
		}
	}
	idx = g.issued
	g.issued++
	warm = idx < int64(g.o.WarmupRequests) || intended.Before(g.warmEnd)
	if !warm {
		if g.measured == 0 {
			g.measureStart = intended
			if g.o.Duration > 0 {
				g.deadline = intended.Add(g.o.Duration)
				g.deadlineT = time.AfterFunc(time.Until(g.deadline), func() { g.stop(stopDuration) })
			}
		}
		g.measured++
		if g.o.Requests > 0 && g.measured >= int64(g.o.Requests) {
			g.stopLocked(stopRequests)
		}
	}
	return idx, warm, it, true
}

// feedEnd stops the run at the end of its workload (err io.EOF) or on
// its read error.
func (g *gen) feedEnd(err error) {
	g.mu.Lock()
	g.feedEndLocked(err)
	g.mu.Unlock()
}

func (g *gen) feedEndLocked(err error) {
	if !errors.Is(err, io.EOF) && g.feedErr == nil && !g.stopped {
		g.feedErr = err
	}
	g.stopLocked(stopDatasetEnd)
}

// intended as soon as the previous ends.
func (g *gen) worker(w int) {
	sh := g.shards[w%len(g.shards)]
	var prevEnd time.Time
	for {
		intended := g.now()
		idx, warm, it, ok := g.take(intended, nil)
		if !ok {
			return
		}
		it.ready = prevEnd // the turnaround from the previous response is the generator's
		prevEnd = g.do(idx, &it, intended, warm, sh, w)
	}
}

// openLoop sends requests at the arrival times of arr, each in its own
// goroutine, at most Concurrency in flight when Concurrency > 0. A request
// delayed by the cap keeps its intended time (no coordinated omission).
// Go timers wake up to ~1 ms late on an idle Linux machine (the netpoller
// sleeps in whole milliseconds), so at high rates the scheduling lag is
// typically 0.5 ms at p50 and ~1 ms at p99; it is measured and reported
// (scheduling_lag_seconds), and the intended-time latencies include it.
func (g *gen) openLoop(arr arrivals, wg *sync.WaitGroup) {
	var sem chan struct{}
	if g.o.Concurrency > 0 {
		sem = make(chan struct{}, g.o.Concurrency)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	// The warm-up ends at its wall-clock end: a warm-up arrival the cap
	// still holds then is dropped (it would not be measured), so that a
	// backlog of warm-up requests cannot push the measured window past
	// its own end.
	warmOver := make(chan struct{})
	if sem != nil && !g.warmEnd.IsZero() {
		defer time.AfterFunc(time.Until(g.warmEnd), func() { close(warmOver) }).Stop()
	}
	next := g.start
	for i := 0; ; i++ {
		next = next.Add(arr.Next())
		if next.Before(g.warmEnd) && !time.Now().Before(g.warmEnd) {
			continue // a warm-up arrival due while the loop was held: dropped
		}
		if d := time.Until(next); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-g.stopCh:
				return
			}
		}
		idx, warm, it, ok := g.take(next, nil)
		if !ok {
			g.countNotSent(arr, next)
			return
		}
		if sem != nil {
			// An admitted request is sent even when the run stops meanwhile
			// (the count bound admitted it); only a hard stop drops it.
			var held <-chan struct{}
			if next.Before(g.warmEnd) {
				held = warmOver
			}
			select {
			case sem <- struct{}{}:
				it.ready = g.capReady(next)
			case <-held:
				continue // the warm-up ended while the cap held it: dropped
			case <-g.hardCtx.Done():
				if !warm && g.cutAtEnd.Load() {
					g.notSent.Add(1) // admitted, due, and held by the cap to the end
				}
				return
			}
		}
		sh := g.shards[i%len(g.shards)]
		wg.Add(1)
		go func(intended time.Time) {
			defer wg.Done()
			g.do(idx, &it, intended, warm, sh, -1)
			if sem != nil {
				<-sem
			}
		}(next)
	}
}

// capReady is when a request the in-flight cap let through at this moment
// could first be sent: now, or its intended time when the cap did not
// hold it. The cap's wait is the server's; what follows is the generator's.
func (g *gen) capReady(intended time.Time) time.Time {
	if now := g.now(); now.After(intended) {
		return now
	}
	return intended
}

// countNotSent counts the arrivals from next up to the deadline of a timed
// run that ended while the in-flight cap held them back: they were due,
// so leaving them out would hide the overload (coordinated omission).
func (g *gen) countNotSent(arr arrivals, next time.Time) {
	g.mu.Lock()
	deadline, reason := g.deadline, g.stopReason
	g.mu.Unlock()
	if deadline.IsZero() || reason != stopDuration {
		return
	}
	for n := int64(0); next.Before(deadline); n++ {
		g.notSent.Add(1)
		next = next.Add(arr.Next())
		if n > 1e7 {
			return // a pathological rate; the count is already damning
		}
	}
}

// snapshot merges the shards into dst (which is reset first).
func (g *gen) snapshot(dst *stats) {
	dst.reset()
	for _, sh := range g.shards {
		sh.mu.Lock()
		dst.merge(&sh.stats)
		sh.mu.Unlock()
	}
}
