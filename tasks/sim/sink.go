package sim

import (
	"context"
	"runtime"
	"sync"
)

// Stream writers (constant mode): instead of waking one handler goroutine
// per token, the engine hands the requests that got tokens in a wake to a
// few writer goroutines (one per P), which write each one's chunk to its
// client. A request has a sink when its handler attached one; the others
// (batch mode, Triton, several choices) are woken through notify.

// streamSink writes what a request's progress adds to its stream; it is
// called on a writer goroutine, never twice at once for one request.
type streamSink interface{ deliver(p progress) }

// sinkShard is one writer goroutine's queue.
type sinkShard struct {
	mu    sync.Mutex
	queue []*request
	wake  chan struct{}
}

func (sh *sinkShard) push(rs []*request) {
	sh.mu.Lock()
	sh.queue = append(sh.queue, rs...)
	sh.mu.Unlock()
	select {
	case sh.wake <- struct{}{}:
	default:
	}
}

func (sh *sinkShard) run(ctx context.Context) {
	var batch []*request
	for {
		select {
		case <-ctx.Done():
			return
		case <-sh.wake:
		}
		sh.mu.Lock()
		batch, sh.queue = sh.queue, batch[:0]
		sh.mu.Unlock()
		for _, r := range batch {
			r.mu.Lock()
			p, sink := progress{r.produced, r.done, r.reason}, r.sink
			r.mu.Unlock()
			sink.deliver(p)
		}
		clear(batch)
	}
}

// newSinkShards makes one shard per P.
func newSinkShards() []*sinkShard {
	sh := make([]*sinkShard, runtime.GOMAXPROCS(0))
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
	e.shards[r.seq%uint64(len(e.shards))].push([]*request{r})
}

// publish tells r's client of its progress: its sink's writer (at the end
// of the wake, flushOutbox), else its notify channel.
func (e *engine) publish(r *request, done bool, reason string) {
	if r.publish(done, reason) {
		e.outbox = append(e.outbox, r)
	}
}

// flushOutbox hands the requests published in this wake to their writers.
func (e *engine) flushOutbox() {
	if len(e.outbox) == 0 {
		return
	}
	if len(e.shardBufs) != len(e.shards) {
		e.shardBufs = make([][]*request, len(e.shards))
	}
	for _, r := range e.outbox {
		k := r.seq % uint64(len(e.shards))
		e.shardBufs[k] = append(e.shardBufs[k], r)
	}
	clear(e.outbox)
	e.outbox = e.outbox[:0]
	for k, rs := range e.shardBufs {
		if len(rs) > 0 {
			e.shards[k].push(rs)
			clear(rs)
			e.shardBufs[k] = rs[:0]
		}
	}
}

// runWriters runs the shards' writer goroutines until ctx ends.
func (e *engine) runWriters(ctx context.Context) {
	for _, sh := range e.shards {
		go sh.run(ctx)
	}
}
