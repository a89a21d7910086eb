package sim

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Stream writers (constant mode): instead of waking one handler goroutine
// per token, the engine hands the requests that got tokens in a wake to a
// few writer goroutines (one per P), which write each one's chunk to its
// client. A request has a sink when its handler attached one; the others
// (batch mode, Triton, several choices) are woken through notify.
//
// A client that stops reading fills its socket's buffers and then blocks
// the write to it: when a writer has been in one delivery for longer than
// slowWrite, the engine starts another writer for its queue and detaches
// the stream, whose handler goroutine then writes it, as for a stream
// without a sink.

// slowWrite is how long one delivery may take before its stream is handed
// to its own goroutine.
const slowWrite = 20 * time.Millisecond

// streamSink writes what a request's progress adds to its stream; deliver
// is called on a writer goroutine, never twice at once for one request,
// with the writer's scratch buffer, which it returns (maybe grown);
// detach (any goroutine) stops the deliveries and has the handler take
// the stream over.
type streamSink interface {
	deliver(p progress, scratch []byte) []byte
	detach()
}

// sinkShard is one writer's queue. The requests whose last token is out
// (their ends) wait in a queue of their own, which the writer serves
// first: a writer that falls behind (more streams than its core can write
// one write per token) then still ends every request on time, so its
// client's next request is not delayed, and only the tokens in the middle
// of the streams leave late, several in one write (each its own SSE
// event).
type sinkShard struct {
	mu      sync.Mutex
	queue   []*request
	head    int           // queue[head:] are waiting
	ends    []*request    // waiting before queue
	endHead int           // ends[endHead:] are waiting
	cur     *writerToken  // the writer that owns the queue
	current *request      // the request cur delivers to now
	since   atomic.Int64  // when cur started delivering to current (unix ns); 0: idle
	wake    chan struct{} // cap 1
}

// writerToken identifies one writer goroutine of a shard.
type writerToken struct{}

func (sh *sinkShard) push(rs, ends []*request) {
	sh.mu.Lock()
	if sh.head > 0 && sh.head >= len(sh.queue)/2 {
		// A writer that is behind never empties its queue: drop the
		// taken part before it grows without bound.
		n := copy(sh.queue, sh.queue[sh.head:])
		clear(sh.queue[n:])
		sh.queue, sh.head = sh.queue[:n], 0
	}
	sh.queue = append(sh.queue, rs...)
	sh.ends = append(sh.ends, ends...)
	sh.mu.Unlock()
	select {
	case sh.wake <- struct{}{}:
	default:
	}
}

// next takes the next request for writer me: nil when me no longer owns
// the queue or ctx ended.
func (sh *sinkShard) next(ctx context.Context, me *writerToken) *request {
	for {
		sh.mu.Lock()
		if sh.cur != me {
			sh.mu.Unlock()
			return nil
		}
		if sh.endHead < len(sh.ends) {
			r := sh.ends[sh.endHead]
			sh.ends[sh.endHead] = nil
			sh.endHead++
			if sh.endHead == len(sh.ends) {
				sh.ends, sh.endHead = sh.ends[:0], 0
			}
			sh.current = r
			sh.since.Store(time.Now().UnixNano())
			sh.mu.Unlock()
			return r
		}
		if sh.head < len(sh.queue) {
			r := sh.queue[sh.head]
			sh.queue[sh.head] = nil
			sh.head++
			sh.current = r
			sh.since.Store(time.Now().UnixNano())
			sh.mu.Unlock()
			return r
		}
		sh.queue, sh.head, sh.current = sh.queue[:0], 0, nil
		sh.since.Store(0)
		sh.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-sh.wake:
		}
	}
}

func (sh *sinkShard) run(ctx context.Context, me *writerToken) {
	scratch := make([]byte, 0, 4096)
	for {
		r := sh.next(ctx, me)
		if r == nil {
			return
		}
		r.queued.Store(false) // what is published from now on queues it again
		r.mu.Lock()
		p, sink := progress{r.produced, r.done, r.reason}, r.sink
		r.mu.Unlock()
		if sink != nil {
			scratch = sink.deliver(p, scratch)[:0]
		}
	}
}

// start makes a new writer the owner of the queue.
func (sh *sinkShard) start(ctx context.Context) {
	me := &writerToken{}
	sh.mu.Lock()
	sh.cur, sh.current = me, nil
	sh.since.Store(0)
	sh.mu.Unlock()
	go sh.run(ctx, me)
}

// unstick detaches the stream a writer has been delivering to for longer
// than slowWrite at now and gives the queue to a new writer.
func (sh *sinkShard) unstick(ctx context.Context, now time.Time) {
	t := sh.since.Load()
	if t == 0 || now.UnixNano()-t < int64(slowWrite) {
		return
	}
	sh.mu.Lock()
	r := sh.current
	sh.mu.Unlock()
	if r == nil {
		return
	}
	r.mu.Lock()
	sink := r.sink
	r.mu.Unlock()
	if sink != nil {
		sink.detach()
	}
	sh.start(ctx)
}

// streamWriters is the number of stream writers a new engine starts; 0:
// GOMAXPROCS.
var streamWriters atomic.Int32

// SpareProc runs the scheduler with one P more than the stream writers:
// GOMAXPROCS goes up by one and the writers stay as many as GOMAXPROCS
// was (call it before New). Busy writers (thousands of streams) never
// block, so with one P each nothing else runs on their Ps until the
// scheduler preempts them, every 10 ms: the engine's timer, the network
// poller (which finds the requests that arrived) and the handlers wait
// for it and the tokens leave late. The spare P runs them as soon as
// they are ready; the writers still have a P per core. It returns the
// new GOMAXPROCS and the writers.
func SpareProc() (procs, writers int) {
	writers = runtime.GOMAXPROCS(0)
	streamWriters.Store(int32(writers))
	runtime.GOMAXPROCS(writers + 1)
	return writers + 1, writers
}

// newSinkShards makes one shard per stream writer.
func newSinkShards() []*sinkShard {
	n := int(streamWriters.Load())
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	sh := make([]*sinkShard, n)
	for i := range sh {
		sh[i] = &sinkShard{wake: make(chan struct{}, 1)}
	}
	return sh
}

// attach makes s r's sink and has it deliver r's progress so far.
func (e *engine) attach(r *request, s streamSink) {
	r.mu.Lock()
	r.sink = s
	r.mu.Unlock()
	if r.queued.CompareAndSwap(false, true) {
		e.shards[r.seq%uint64(len(e.shards))].push([]*request{r}, nil)
	}
}

// detachSink makes r's client wake through notify again.
func (r *request) detachSink() {
	r.mu.Lock()
	r.sink = nil
	r.mu.Unlock()
}

// publish tells r's client of its progress: its sink's writer (at the end
// of the wake, flushOutbox), else its notify channel. A request already
// on a writer's queue is not queued twice: the writer reads its progress
// when it takes it, so a writer that falls behind writes the tokens of
// several wakes at once instead of a longer and longer queue. An end goes
// to the writer's queue of ends even so (the entry left in the other
// queue then finds the stream over and writes nothing).
func (e *engine) publish(r *request, done bool, reason string) {
	if !r.publish(done, reason) {
		return
	}
	if done {
		r.queued.Store(true)
		e.outboxEnds = append(e.outboxEnds, r)
	} else if r.queued.CompareAndSwap(false, true) {
		e.outbox = append(e.outbox, r)
	}
}

// flushOutbox hands the requests published in this wake to their writers.
func (e *engine) flushOutbox() {
	if len(e.outbox)+len(e.outboxEnds) == 0 {
		return
	}
	if len(e.shardBufs) != 2*len(e.shards) {
		e.shardBufs = make([][]*request, 2*len(e.shards))
	}
	n := uint64(len(e.shards))
	for _, r := range e.outbox {
		k := r.seq % n
		e.shardBufs[k] = append(e.shardBufs[k], r)
	}
	for _, r := range e.outboxEnds {
		k := n + r.seq%n
		e.shardBufs[k] = append(e.shardBufs[k], r)
	}
	clear(e.outbox)
	e.outbox = e.outbox[:0]
	clear(e.outboxEnds)
	e.outboxEnds = e.outboxEnds[:0]
	for k, sh := range e.shards {
		rs, ends := e.shardBufs[k], e.shardBufs[int(n)+k]
		if len(rs)+len(ends) > 0 {
			sh.push(rs, ends)
			clear(rs)
			clear(ends)
			e.shardBufs[k], e.shardBufs[int(n)+k] = rs[:0], ends[:0]
		}
	}
}

// runWriters starts the shards' writers; they end with ctx.
func (e *engine) runWriters(ctx context.Context) {
	for _, sh := range e.shards {
		sh.start(ctx)
	}
}

// unstickWriters replaces the writers stuck in one delivery (see slowWrite).
func (e *engine) unstickWriters(ctx context.Context, now time.Time) {
	for _, sh := range e.shards {
		sh.unstick(ctx, now)
	}
}
