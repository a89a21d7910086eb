package sim

import (
	"context"
	"time"
)

// Constant-latency mode: at most MaxNumSeqs requests run at once; the others
// wait in arrival order (FIFO, bounded by MaxWaiting as in batch mode). A
// running request gets its first token ConstantTTFT after it starts, then
// one token per ConstantITL, with no batching effects, so a request of n
// tokens holds its slot for exactly TTFT + (n-1) x ITL and the capacity is
// MaxNumSeqs / (TTFT + (n-1) x ITL) requests per second. Its reported TTFT
// counts from its arrival, the queue wait included, as a real server's.
// One goroutine (runConstant) pops due tokens from a heap.

// constHeap orders the running requests by when their next token is due,
// a binary min-heap of items that hold the due time, so that comparisons
// do not touch the requests; they compare it as an integer (dueKey), which
// costs a third of time.Time's Before, a tenth of the engine's work with
// thousands of streams.
type constHeap []constItem

type constItem struct {
	key int64     // dueKey(due)
	due time.Time // r.due
	r   *request
}

// keyBase is the origin of dueKey.
var keyBase = time.Now()

// dueKey is t as nanoseconds since keyBase, on the monotonic clock when t
// has its reading (time.Now and what is added to it).
func dueKey(t time.Time) int64 { return int64(t.Sub(keyBase)) }

func (h constHeap) less(i, j int) bool { return h[i].key < h[j].key }

func (h *constHeap) push(r *request) {
	*h = append(*h, constItem{dueKey(r.due), r.due, r})
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

// down restores the heap below i.
func (h constHeap) down(i int) {
	n := len(h)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if c+1 < n && h.less(c+1, c) {
			c++
		}
		if !h.less(c, i) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// popTop takes out the first item.
func (h *constHeap) popTop() {
	q := *h
	last := len(q) - 1
	q[0] = q[last]
	q[last] = constItem{}
	*h = q[:last]
	(*h).down(0)
}

// fixTop restores the heap after the first request's due time changed.
func (h constHeap) fixTop() {
	h[0].due = h[0].r.due
	h[0].key = dueKey(h[0].due)
	h.down(0)
}

// constAdmit starts waiting requests, oldest first, while fewer than
// MaxNumSeqs run; a slot free since freed starts the next one then, or at
// its arrival if later.
func (e *engine) constAdmit(freed time.Time) {
	for len(e.waiting) > 0 && len(e.cheap) < e.cfg.MaxNumSeqs {
		r := e.waiting[0]
		e.waiting[0] = nil
		e.waiting = e.waiting[1:]
		e.queued.Add(-1)
		r.scheduled = true
		r.scheduledAt = r.arrival
		if freed.After(r.arrival) {
			r.scheduledAt = freed
		}
		r.running = true
		r.due = r.scheduledAt.Add(e.cfg.ConstantTTFT)
		e.cheap.push(r)
		e.constBlocks(r)
	}
}

// constAdvance admits new requests and produces every token due by now.
func (e *engine) constAdvance(now time.Time) {
	e.rep.reset()
	e.waiting = append(e.waiting, e.drainIncoming()...)
	if e.abortReq.Swap(0) > 0 {
		e.constReapAborted(now)
	}
	e.constAdmit(time.Time{})
	nowKey := dueKey(now)
	for len(e.cheap) > 0 && e.cheap[0].key <= nowKey {
		r := e.cheap[0].r
		t := r.due
		r.generated++
		e.rep.genTokens++
		if r.firstTokenAt.IsZero() {
			r.firstTokenAt = t
			if !r.spec.sendTimed {
				e.rep.ttfts = append(e.rep.ttfts, t.Sub(r.arrival).Seconds())
			}
			e.rep.promptTokens += r.spec.prompt.tokens
			e.rep.firstTokens = append(e.rep.firstTokens, r)
		} else if !r.spec.sendTimed {
			e.rep.itls = append(e.rep.itls, t.Sub(r.lastTokenAt).Seconds())
		}
		r.lastTokenAt = t
		e.constBlocks(r)
		if reason := e.finishCheck(r); reason != "" {
			e.cheap.popTop()
			e.usedBlocks -= r.blocksCounted
			e.finish(r, reason, t)
			e.constAdmit(t)
			continue
		}
		r.due = t.Add(e.cfg.ConstantITL)
		if r.stallAt > 0 && !r.stalled && r.generated >= r.stallAt {
			r.stalled = true
			r.due = r.due.Add(e.cfg.Stall)
		}
		e.cheap.fixTop()
		e.publish(r, false, "")
	}
	e.rep.iterTokens = e.rep.promptTokens + e.rep.genTokens
	e.rep.iteration = e.rep.genTokens > 0
	e.rep.ctxRequests = len(e.rep.firstTokens)
	e.rep.genRequests = len(e.cheap)
	e.publishSnapshot()
	e.rep.end = now
	e.fillGauges()
	if len(e.rep.finished)+len(e.rep.aborted)+len(e.rep.ttfts)+len(e.rep.itls)+e.rep.genTokens > 0 {
		for _, rec := range e.recorders {
			rec.record(&e.rep)
		}
	}
	e.flushOutbox()
}

// constReapAborted ends the aborted requests, waiting or running, and
// starts waiting ones in the running ones' slots.
func (e *engine) constReapAborted(now time.Time) {
	e.reapWaiting(now)
	kept := e.cheap[:0]
	for _, it := range e.cheap {
		if it.r.aborted.Load() {
			e.usedBlocks -= it.r.blocksCounted
			e.finish(it.r, FinishAbort, now)
			continue
		}
		kept = append(kept, it)
	}
	clear(e.cheap[len(kept):])
	e.cheap = kept
	for i := len(kept)/2 - 1; i >= 0; i-- {
		kept.down(i)
	}
	e.constAdmit(now)
}

func (e *engine) constBlocks(r *request) {
	b := e.blocksFor(r.spec.prompt.tokens + r.generated)
	e.usedBlocks += b - r.blocksCounted
	r.blocksCounted = b
}

// constTick is the shortest time runConstant sleeps between two token
// wakes: each wake produces every token due by then, so with thousands of
// streams the engine wakes about once per tick (not once per token) and a
// token leaves at most a tick after it is due. Its recorded time stays the
// due time, so the engine's figures keep the configured TTFT and ITL.
const constTick = time.Millisecond

func (e *engine) runConstant(ctx context.Context) {
	e.runWriters(ctx)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for ctx.Err() == nil {
		now := e.now()
		if len(e.cheap) > 0 && !e.lastWake.IsZero() {
			e.busy.add(now, now.Sub(e.lastWake))
		}
		e.lastWake = now
		e.constAdvance(now)
		e.unstickWriters(ctx, now)
		var due time.Time
		if len(e.cheap) > 0 {
			due = e.cheap[0].due
			if next := now.Add(constTick); due.Before(next) {
				due = next
			}
		}
		e.sleep(ctx, timer, due)
	}
}
