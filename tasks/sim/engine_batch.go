package sim

import (
	"context"
	"time"
)

// Batch mode: continuous batching with a paged KV cache, as vLLM's scheduler
// does it. One goroutine (runBatch) plans and completes steps.

// schedule plans one step starting at now. It returns the step's duration
// and whether there is work; with no work, wakeAt (if not zero) is when a
// stalled request resumes.
func (e *engine) schedule(now time.Time) (dur time.Duration, work bool, wakeAt time.Time) {
	e.rep.reset()
	for _, r := range e.drainIncoming() {
		e.waiting = append(e.waiting, r)
	}
	if e.abortReq.Swap(0) > 0 {
		e.reapAborted(now)
	}
	e.decoding = e.decoding[:0]
	e.admitted = e.admitted[:0]
	preempted := false
	for i := 0; i < len(e.running); i++ {
		r := e.running[i]
		if r.stallUntil.After(now) {
			continue
		}
		need := e.blocksFor(r.spec.prompt.tokens+r.generated) - r.numBlocks
		self := false
		for need > e.freeBlocks {
			victim := e.running[len(e.running)-1]
			e.preempt(victim)
			preempted = true
			if victim == r {
				self = true
				break
			}
		}
		if self {
			break
		}
		e.take(r, need)
		e.decoding = append(e.decoding, r)
	}
	prefillTokens := 0
	if !preempted {
		budget := e.cfg.MaxNumBatchedTokens - len(e.decoding)
		for len(e.waiting) > 0 && len(e.running) < e.cfg.MaxNumSeqs {
			r := e.waiting[0]
			computeLen := r.spec.prompt.tokens + r.generated
			need := e.blocksFor(computeLen)
			if need > e.freeBlocks {
				break
			}
			cached := 0
			if e.pc != nil {
				cached = e.pc.match(r.spec.prompt.blocks) * e.cfg.BlockSize
				if cached >= computeLen { // the last token is always computed
					cached = (computeLen - 1) / e.cfg.BlockSize * e.cfg.BlockSize
				}
			}
			cost := computeLen - cached
			if cost > budget && len(e.admitted) > 0 {
				break
			}
			budget -= cost
			e.waiting[0] = nil
			e.waiting = e.waiting[1:]
			e.queued.Add(-1)
			if e.pc != nil {
				e.rep.prefixQueries += computeLen
				e.rep.prefixHits += cached
			}
			r.cachedTokens = cached
			e.take(r, need)
			if !r.scheduled {
				r.scheduled = true
				r.scheduledAt = now
				if r.scheduledAt.Before(r.arrival) {
					r.scheduledAt = r.arrival
				}
			}
			r.running = true
			e.running = append(e.running, r)
			e.admitted = append(e.admitted, r)
			prefillTokens += cost
		}
	}
	if len(e.decoding) == 0 && len(e.admitted) == 0 {
		for _, r := range e.running {
			if r.stallUntil.After(now) && (wakeAt.IsZero() || r.stallUntil.Before(wakeAt)) {
				wakeAt = r.stallUntil
			}
		}
		e.publishSnapshot()
		if e.rep.preemptions > 0 || len(e.rep.aborted) > 0 || e.rep.prefixQueries > 0 {
			e.rep.end = now
			e.fillGauges()
			for _, rec := range e.recorders {
				rec.record(&e.rep)
			}
		}
		return 0, false, wakeAt
	}
	if len(e.admitted) > 0 {
		dur += e.cfg.PrefillBase + time.Duration(prefillTokens)*e.cfg.PrefillPerToken
	}
	if len(e.decoding) > 0 {
		dur += e.cfg.DecodeBase + time.Duration(len(e.decoding))*e.cfg.DecodePerSeq
	}
	e.publishSnapshot() // the step's batch is running now
	return dur, true, time.Time{}
}

func (e *engine) take(r *request, blocks int) {
	e.freeBlocks -= blocks
	e.usedBlocks += blocks
	r.numBlocks += blocks
}

func (e *engine) release(r *request) {
	e.freeBlocks += r.numBlocks
	e.usedBlocks -= r.numBlocks
	r.numBlocks = 0
}

// preempt moves the last running request back to the front of the waiting
// queue, freeing its blocks (vLLM's recompute preemption).
func (e *engine) preempt(r *request) {
	e.running[len(e.running)-1] = nil
	e.running = e.running[:len(e.running)-1]
	e.release(r)
	r.running = false
	r.preemptions++
	e.rep.preemptions++
	e.queued.Add(1)
	e.waiting = append(e.waiting, nil)
	copy(e.waiting[1:], e.waiting)
	e.waiting[0] = r
}

func (e *engine) reapAborted(now time.Time) {
	e.reapWaiting(now)
	run := e.running[:0]
	for _, r := range e.running {
		if r.aborted.Load() {
			e.release(r)
			e.finish(r, FinishAbort, now)
			continue
		}
		run = append(run, r)
	}
	clear(e.running[len(run):])
	e.running = run
}

// reapWaiting ends the aborted requests of the waiting queue (both modes).
func (e *engine) reapWaiting(now time.Time) {
	keep := e.waiting[:0]
	for _, r := range e.waiting {
		if r.aborted.Load() {
			e.queued.Add(-1)
			e.finish(r, FinishAbort, now)
			continue
		}
		keep = append(keep, r)
	}
	clear(e.waiting[len(keep):])
	e.waiting = keep
}

// complete ends the step planned by schedule at time end.
func (e *engine) complete(end time.Time) {
	rep := &e.rep
	rep.end = end
	for _, r := range e.admitted {
		r.generated++
		if r.firstTokenAt.IsZero() {
			r.firstTokenAt = end
			rep.ttfts = append(rep.ttfts, end.Sub(r.arrival).Seconds())
			rep.promptTokens += r.spec.prompt.tokens
			rep.firstTokens = append(rep.firstTokens, r)
		} else {
			rep.itls = append(rep.itls, end.Sub(r.lastTokenAt).Seconds())
		}
		r.lastTokenAt = end
		if e.pc != nil {
			e.pc.insert(r.spec.prompt.blocks)
		}
	}
	for _, r := range e.decoding {
		r.generated++
		rep.itls = append(rep.itls, end.Sub(r.lastTokenAt).Seconds())
		r.lastTokenAt = end
	}
	rep.genTokens = len(e.admitted) + len(e.decoding)
	rep.iterTokens = rep.promptTokens + rep.genTokens
	rep.ctxRequests = len(e.admitted)
	rep.genRequests = len(e.decoding)
	rep.iteration = true
	for _, r := range e.admitted {
		rep.ctxTokens += r.spec.prompt.tokens + r.generated - 1 - r.cachedTokens
	}
	anyDone := false
	for _, set := range [2][]*request{e.admitted, e.decoding} {
		for _, r := range set {
			if reason := e.finishCheck(r); reason != "" {
				e.release(r)
				anyDone = true
				if e.pc != nil {
					e.pc.insert(r.spec.prompt.blocks)
				}
				e.finish(r, reason, end)
				continue
			}
			if r.stallAt > 0 && !r.stalled && r.generated >= r.stallAt {
				r.stalled = true
				r.stallUntil = end.Add(e.cfg.Stall)
			}
			e.publish(r, false, "")
		}
	}
	if anyDone {
		run := e.running[:0]
		for _, r := range e.running {
			if !r.finished {
				run = append(run, r)
			}
		}
		clear(e.running[len(run):])
		e.running = run
	}
	e.publishSnapshot()
	e.fillGauges()
	for _, rec := range e.recorders {
		rec.record(rep)
	}
}

// runBatch is the scheduler goroutine of batch mode: a virtual step clock
// driven by real time. Back-to-back steps chain on the previous step's
// virtual end, so scheduling overhead does not add to modelled latency.
func (e *engine) runBatch(ctx context.Context) {
	const maxLag = 2 * time.Millisecond
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var prevEnd time.Time
	for ctx.Err() == nil {
		now := e.now()
		start := now
		if !prevEnd.IsZero() && now.Sub(prevEnd) < maxLag {
			start = prevEnd
		}
		dur, work, wakeAt := e.schedule(start)
		if !work {
			prevEnd = time.Time{}
			e.sleep(ctx, timer, wakeAt)
			continue
		}
		end := start.Add(dur)
		if d := end.Sub(e.now()); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
		}
		e.busy.add(end, dur)
		e.complete(end)
		prevEnd = end
	}
}
