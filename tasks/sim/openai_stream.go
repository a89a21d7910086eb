package sim

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// vLLM's OpenAI-compatible streaming responses (server-sent events).

func appendUsage(b []byte, prompt, gen int) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(prompt), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(prompt+gen), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(gen), 10)
	return append(b, '}')
}

// streamOpenAI writes the SSE stream as vLLM does, with one chunk per
// token (vLLM sends one per engine output, which holds several tokens when
// the client is slower than the engine; here late tokens are still one
// chunk each, written together), the finish_reason on the chunk with the
// last text, an optional usage chunk, then "data: [DONE]". An engine
// failure ends the stream with an error chunk. In constant mode a stream
// of one choice is written by the engine's stream writers (sink.go); this
// goroutine only waits for its end.
func (s *Server) streamOpenAI(ctx context.Context, w http.ResponseWriter, req *openAIRequest, reqs []*request, chat bool, id string, created int64) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(200)
	fl, _ := w.(http.Flusher)
	if fl != nil {
		fl.Flush()
	}
	st := &oaStream{w: w, fl: fl, chat: chat}
	if rc := rawConnOf(ctx); rc != nil && fl != nil {
		st.raw = rc // the header is out: the chunks go to the connection (rawConn)
	}
	st.includeUsage = req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	st.continuous = st.includeUsage && req.StreamOptions.ContinuousUsageStats
	obj := "text_completion"
	if chat {
		obj = "chat.completion.chunk"
	}
	head := append([]byte(nil), `data: {"id":`...)
	head = appendJSONString(head, id)
	head = append(head, `,"object":"`...)
	head = append(head, obj...)
	head = append(head, `","created":`...)
	head = strconv.AppendInt(head, created, 10)
	head = append(head, `,"model":`...)
	head = appendJSONString(head, s.cfg.ServedModelName)
	st.head = append(head, `,"choices":[`...)
	if len(reqs) == 1 && reqs[0].spec.sendTimed {
		st.vm = s.vm
		st.endWithLast = true
		st.begin(0, reqs[0])
		st.ended, st.slowCh = make(chan struct{}), make(chan struct{})
		s.eng.attach(reqs[0], st)
		select {
		case <-st.ended:
		case <-ctx.Done():
			st.mu.Lock()
			st.closed = true // a writer in deliver has finished; no other starts
			st.mu.Unlock()
		case <-st.slowCh:
			st.takeOver(ctx)
		}
		return
	}
	for i, r := range reqs {
		st.begin(i, r)
		if !st.follow(ctx) {
			return
		}
	}
	st.end()
}

// follow writes the current choice to its end, waking on its request's
// notify; false when the stream is over before (a failure, the client gone).
func (st *oaStream) follow(ctx context.Context) bool {
	for {
		p, err := st.r.next(ctx, st.sent)
		if err != nil {
			return false
		}
		over, stop := st.step(p)
		if stop {
			return false
		}
		if over {
			return true
		}
	}
}

// oaStream is the state of one OpenAI stream.
type oaStream struct {
	w                              http.ResponseWriter
	fl                             http.Flusher
	raw                            net.Conn // not nil: chunks framed here and written to it (rawConn)
	endWithLast                    bool     // one choice: the end goes out with its last token
	endSent                        bool
	head, buf                      []byte
	chat, includeUsage, continuous bool
	i                              int // current choice
	r                              *request
	sent                           int
	first                          bool
	promptTok, genTok              int
	vm                             *vllmMetrics // sink mode: observes TTFT and ITL at each send
	lastSend                       time.Time
	mu                             sync.Mutex // sink mode: held while writing
	closed                         bool       // sink mode: nothing more is written
	ended                          chan struct{}
	slow                           atomic.Bool   // sink mode: detached, deliver does nothing
	slowCh                         chan struct{} // closed by detach
}

// begin starts choice i, request r.
func (st *oaStream) begin(i int, r *request) {
	st.i, st.r, st.sent, st.first = i, r, 0, true
}

// step writes what p adds to the current choice. over: the choice is
// done; stop: the stream is over (a failure, or the client is gone).
func (st *oaStream) step(p progress) (over, stop bool) {
	if p.produced <= st.sent && !p.done {
		return false, false
	}
	r, buf := st.r, st.start()
	if st.chat && st.first {
		buf = append(buf, st.head...)
		buf = append(buf, `{"index":`...)
		buf = strconv.AppendInt(buf, int64(st.i), 10)
		buf = append(buf, `,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]`...)
		if st.continuous {
			buf = append(buf, `,"usage":`...)
			buf = appendUsage(buf, r.spec.prompt.tokens, 0)
		}
		buf = append(buf, "}\n\n"...)
	}
	st.first = false
	failed := p.done && p.reason == FinishError
	// One event per token, late ones too: a client slower than the engine
	// gets several events in one write, never one event with several
	// tokens.
	for k := st.sent; k < p.produced || (k == st.sent && p.done && !failed); k++ {
		end := min(k+1, p.produced)
		last := end == p.produced && p.done && !failed
		buf = appendCompletionChunk(buf, st.head, st.chat, st.i, r.textSeed, k, end, last, p.reason)
		if st.continuous {
			buf = append(buf, `,"usage":`...)
			buf = appendUsage(buf, r.spec.prompt.tokens, end)
		}
		buf = append(buf, "}\n\n"...)
	}
	from := st.sent
	st.sent = p.produced
	if failed {
		e := &apiError{status: 500, typ: "InternalServerError", message: "Simulated engine failure during generation (-midstream-failure-rate)."}
		buf = append(buf, "data: "...)
		buf = append(buf, e.body()...)
		buf = append(buf, "\n\ndata: [DONE]\n\n"...)
	}
	if p.done && !failed {
		st.promptTok += r.spec.prompt.tokens
		st.genTok += st.sent
		if st.endWithLast {
			buf = st.appendEnd(buf) // one write for the last token and the end
			st.endSent = true
		}
	}
	err := st.send(buf)
	if err == nil && st.vm != nil && p.produced > from {
		now := time.Now()
		st.vm.observeSent(r.arrival, st.lastSend, now, from, p.produced)
		st.lastSend = now
	}
	if err != nil || failed {
		return true, true
	}
	return p.done, false
}

// sizeLineRoom is the room start leaves for a raw stream's chunk-size
// line: up to 8 hex digits and CRLF.
const sizeLineRoom = 10

// start is the stream's buffer, emptied; a raw stream's begins with room
// for the chunk-size line (send).
func (st *oaStream) start() []byte {
	if st.raw != nil {
		return append(st.buf[:0], "          "[:sizeLineRoom]...)
	}
	return st.buf[:0]
}

// send writes buf (from start) to the client in one chunk, flushed: through
// the ResponseWriter, or, raw, framed as an HTTP/1.1 chunk (size line,
// data, CRLF) in one write to the connection. It keeps buf for reuse.
func (st *oaStream) send(buf []byte) error {
	if st.raw == nil {
		st.buf = buf
		return flushWrite(st.w, st.fl, buf)
	}
	n := len(buf) - sizeLineRoom
	if n <= 0 {
		st.buf = buf
		return nil
	}
	k := sizeLineRoom - 2
	buf[k], buf[k+1] = '\r', '\n'
	for ; n > 0; n >>= 4 {
		k--
		buf[k] = "0123456789abcdef"[n&15]
	}
	buf = append(buf, '\r', '\n')
	st.buf = buf
	_, err := st.raw.Write(buf[k:])
	return err
}

// end writes the optional usage chunk and "data: [DONE]", unless they
// went out with the last token (endWithLast).
func (st *oaStream) end() {
	if st.endSent {
		return
	}
	st.endSent = true
	_ = st.send(st.appendEnd(st.start()))
}

// appendEnd appends the optional usage chunk and "data: [DONE]".
func (st *oaStream) appendEnd(buf []byte) []byte {
	if st.includeUsage {
		buf = append(buf, st.head[:len(st.head)-len(`,"choices":[`)]...)
		buf = append(buf, `,"choices":[],"usage":`...)
		buf = appendUsage(buf, st.promptTok, st.genTok)
		buf = append(buf, "}\n\n"...)
	}
	return append(buf, "data: [DONE]\n\n"...)
}

// detach stops the deliveries (a writer was stuck in one) and has the
// handler write the rest of the stream (takeOver).
func (st *oaStream) detach() {
	if !st.slow.Swap(true) {
		close(st.slowCh)
	}
}

// takeOver writes a detached stream to its end on the handler's
// goroutine, once the stuck write is done.
func (st *oaStream) takeOver(ctx context.Context) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return
	}
	st.closed = true
	st.r.detachSink()
	if st.follow(ctx) {
		st.end()
	}
}

// deliver is the sink mode's step, on a writer goroutine, building the
// chunks in the writer's scratch buffer (returned, maybe grown): when the
// stream is over it ends it and lets the handler return.
func (st *oaStream) deliver(p progress, scratch []byte) []byte {
	if st.slow.Load() {
		return scratch
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return scratch
	}
	st.buf = scratch
	over, stop := st.step(p)
	if over && !stop {
		st.end()
	}
	if over || stop {
		st.closed = true
		close(st.ended)
	}
	scratch, st.buf = st.buf, nil
	return scratch
}

// appendCompletionChunk appends the start of a chunk with the text of
// tokens [from, to) of choice i (the caller closes it, after an optional
// usage field, with "}\n\n"); last gives it the finish reason.
func appendCompletionChunk(buf, head []byte, chat bool, i int, seed uint64, from, to int, last bool, reason string) []byte {
	buf = append(buf, head...)
	buf = append(buf, `{"index":`...)
	buf = strconv.AppendInt(buf, int64(i), 10)
	if chat {
		buf = append(buf, `,"delta":{"content":"`...)
	} else {
		buf = append(buf, `,"text":"`...)
	}
	buf = outputText(buf, seed, from, to) // pseudo-words need no escaping
	buf = append(buf, '"')
	if chat {
		buf = append(buf, '}')
	}
	buf = append(buf, `,"logprobs":null,"finish_reason":`...)
	switch {
	case last:
		buf = append(buf, '"')
		buf = append(buf, reason...)
		buf = append(buf, `","stop_reason":null}]`...)
	case chat:
		buf = append(buf, `null}]`...)
	default:
		buf = append(buf, `null,"stop_reason":null}]`...)
	}
	return buf
}
