package load

import (
	"fmt"
	"sync"
	"time"
)

// The shapes (RunConfig.Shape) of a trace replay and of sessions.
const (
	ShapeTrace    = "trace"
	ShapeSessions = "sessions"
)

// workloadLoad describes the load of a trace replay or of sessions for
// the summary.
func workloadLoad(c *RunConfig) string {
	switch {
	case c.Shape == ShapeSessions:
		return fmt.Sprintf("sessions, %d workers", c.Concurrency)
	case c.Concurrency > 0:
		return fmt.Sprintf("trace replay, cap %d in flight", c.Concurrency)
	}
	return "trace replay"
}

// traceLoop replays a trace open loop at its own timing: each request is
// due at the run's start + its trace time / TraceSpeed, and is sent then
// in its own goroutine (at most inFlightCap in flight when it is > 0: the
// Concurrency given; a request the cap holds keeps its intended time).
// -requests and -duration cut the trace; its end ends the run.
func (g *gen) traceLoop(wg *sync.WaitGroup, inFlightCap int) {
	speed := g.o.Prompts.TraceSpeed
	if speed <= 0 {
		speed = DefaultTraceSpeed
	}
	var sem chan struct{}
	if inFlightCap > 0 {
		sem = make(chan struct{}, inFlightCap)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i := 0; ; i++ {
		pre, err := g.feed.next(-1)
		if err != nil {
			g.feedEnd(err)
			return
		}
		due := g.start.Add(time.Duration(float64(pre.at) / speed))
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-g.stopCh:
				return
			}
		}
		idx, warm, it, ok := g.take(due, &pre)
		if !ok {
			return
		}
		if sem != nil {
			select {
			case sem <- struct{}{}:
				it.ready = g.capReady(due)
			case <-g.hardCtx.Done():
				return
			}
		}
		sh := g.shards[i%len(g.shards)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.do(idx, &it, due, warm, sh, -1)
			if sem != nil {
				<-sem
			}
		}()
	}
}
