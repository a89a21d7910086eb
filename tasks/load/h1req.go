package load

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/wire/stream"
)

// aLongTimeAgo is the deadline that interrupts a connection's read or
// write at once (cancellation, timeouts).
var aLongTimeAgo = time.Unix(1, 0)

// errBodyCollected ends the read of a body once enough of it is kept.
var errBodyCollected = errors.New("body collected")

// errBodyTooLarge ends the read of a non-streamed body over the bound.
var errBodyTooLarge = errors.New("body too large")

// executeH1 is execute over the run's own HTTP/1.1 client (h1.go).
func (g *gen) executeH1(ctx context.Context, wd *watchdog, r *reqRecord, spec *requestSpec, answer *strings.Builder) {
	r.sent = g.now()
	wd.start(g.realNow(r.sent))
	cn, err := g.h1.get(ctx)
	if err != nil {
		kind, msg := g.classify(ctx, err, false)
		g.fail(r, kind, msg)
		return
	}
	reuse := false
	defer func() {
		if reuse {
			g.h1.put(cn)
		} else {
			cn.nc.Close()
		}
	}()
	// Cancellation and the timeouts interrupt the connection's I/O.
	stop := context.AfterFunc(ctx, func() {
		cn.canceled.Store(true)
		cn.nc.SetDeadline(aLongTimeAgo)
	})
	defer func() {
		if !stop() {
			reuse = false
		}
	}()
	bp := g.h1.request(r.meta.id, spec.body)
	_, err = cn.nc.Write(*bp)
	g.h1.reqPool.Put(bp)
	if err != nil {
		kind, msg := g.classify(ctx, err, false)
		g.fail(r, kind, msg)
		return
	}

	var (
		resp  h1Resp
		ok2xx bool
		kept  []byte // an error answer's or a non-streamed answer's body
		feed  *sseFeed
		rd    stream.Reader
		st    = streamRun{g: g, ctx: ctx, r: r, wd: wd, answer: answer}
		ended bool // the stream reader returned its last event
		tail  int  // body bytes after that
		at    time.Time
	)
	var putRd func()
	defer func() {
		if rd != nil {
			putRd()
			g.feedPool.Put(feed)
		}
	}()
	var sink func([]byte) error
	// drain hands the reader the complete events (all that is left once
	// the feed is finished).
	drain := func(all bool) {
		for !ended && (all || feed.ready > 0) {
			feed.ready--
			ended = st.event(rd.Next(), at)
		}
		if !ended && feed.err != nil {
			ended = st.event(stream.Event{Err: feed.err}, at)
		}
	}
	streamSink := func(p []byte) error {
		if ended {
			tail += len(p)
			return nil
		}
		feed.add(p)
		return nil
	}
	keepSink := func(p []byte) error {
		kept = append(kept, p...)
		switch {
		case !ok2xx && len(kept) >= errorBodyBytes:
			kept = kept[:errorBodyBytes]
			return errBodyCollected
		case ok2xx && len(kept) > g.o.MaxEventBytes:
			return errBodyTooLarge
		}
		return nil
	}
	err = cn.pump(g.now, func(b []byte, now time.Time, eof bool) (int, bool, error) {
		at = now
		n := 0
		if !resp.headDone {
			m, err := resp.parseHead(b)
			if err != nil {
				return 0, false, err
			}
			if !resp.headDone {
				if eof {
					return 0, false, errEOFBeforeHead
				}
				return 0, false, nil
			}
			n = m
			wd.headers()
			cn.eager = !resp.body.chunked && resp.body.length < 0
			ok2xx = resp.status >= 200 && resp.status <= 299
			switch {
			case !ok2xx || !g.o.Stream:
				sink = keepSink
			default:
				feed = g.feedPool.Get().(*sseFeed)
				feed.reset(g.o.MaxEventBytes)
				rd, putRd = g.streamReader(feed)
				sink = streamSink
			}
		}
		m, err := resp.body.decode(b[n:], eof, sink)
		n += m
		if err != nil {
			return n, false, err
		}
		if rd != nil {
			drain(false)
			if ended && (st.failed || tail > 4096) {
				return n, true, nil
			}
			if resp.body.done && !ended {
				feed.finish(errEOFOrTruncated(nil))
				drain(true)
			}
		}
		return n, resp.body.done, nil
	})
	if err != nil {
		at = g.now() // the read failed now, not at the last read
	}
	if !resp.headDone {
		if err == nil {
			err = errEOFBeforeHead
		}
		kind, msg := g.classify(ctx, err, false)
		g.fail(r, kind, msg)
		return
	}
	switch {
	case !ok2xx:
		r.end = at
		g.failStatus(r, resp.status, resp.statusText, kept)
		return
	case !g.o.Stream:
		r.end = at
		switch {
		case errors.Is(err, errBodyTooLarge):
			g.failBodySize(r)
			return
		case err != nil:
			kind, msg := g.classify(ctx, err, true)
			g.fail(r, kind, msg)
			return
		}
		g.whole(r, kept, spec.prompt, answer)
	default:
		if !ended {
			// The body was cut (a read error, or bad framing): the reader
			// reads what is left and ends with that error.
			feed.finish(errEOFOrTruncated(err))
			drain(true)
		}
		if st.failed {
			return
		}
		st.finish()
	}
	reuse = err == nil && resp.body.done && !resp.close
}

// errEOFBeforeHead: the connection ended before the response head.
var errEOFBeforeHead = errors.New("the server closed the connection before answering (EOF)")

// errEOFOrTruncated is what the SSE feed ends with: io.EOF at the end of a
// complete body, else the error that cut it.
func errEOFOrTruncated(err error) error {
	if err == nil {
		return io.EOF
	}
	return err
}
