package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/wire/stream"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/workload"
)

// do sends the run's idx-th request, it, and records it; worker is the
// closed-loop worker that sends it, -1 in an open loop. It returns when
// the request ended (its response's end, or its failure).
func (g *gen) do(idx int64, it *item, intended time.Time, warm bool, sh *shard, worker int) time.Time {
	spec := it.spec
	gp := g.gapPool.Get().(*[]int64)
	r := reqRecord{warm: warm, intended: intended, ready: it.ready, gaps: (*gp)[:0], streamed: g.o.Stream,
		promptTokens: spec.promptTokens}
	r.meta.id, r.meta.worker = g.requestID(idx), worker
	r.meta.source, r.meta.session, r.meta.turn = it.source, it.session, it.turn

	g.inFlight.Add(1)
	g.met.inFlight.Inc()
	g.execute(&r, spec, it.answer)
	if it.turn > 0 && !warm && r.kind == "" {
		g.turns.add(it.turn, r.ttft())
	}
	g.met.inFlight.Dec()
	g.inFlight.Add(-1)

	g.met.observe(&r)
	if r.kind != "" && r.kind != ErrCanceled {
		g.sample(r.kind, r.msg) // in_flight_at_end and client included: they explain the verdict
	}
	if !warm {
		good := r.kind == "" && g.meetsSLO(&r)
		sh.mu.Lock()
		sh.add(&r, good)
		sh.mu.Unlock()
		if g.stageStats != nil {
			g.addToStage(&r)
		}
	} else {
		sh.mu.Lock()
		sh.warmup++
		sh.mu.Unlock()
	}
	if g.records != nil {
		g.records.add(r.record(g.start))
	}
	*gp = r.gaps[:0]
	g.gapPool.Put(gp)
	return r.end
}

// meetsSLO reports whether a successful request meets every per-request
// SLO: TTFT (from the intended send) <= SLO.TTFTP95 and, for streamed
// requests with two or more tokens, TPOT <= SLO.ITLP95.
func (g *gen) meetsSLO(r *reqRecord) bool {
	if g.o.SLO.TTFTP95 > 0 && r.ttftSched() > g.o.SLO.TTFTP95 {
		return false
	}
	if tp, ok := r.tpot(); ok && g.o.SLO.ITLP95 > 0 && tp > g.o.SLO.ITLP95 {
		return false
	}
	return true
}

// ErrorSample is one example error message of a kind.
type ErrorSample struct {
	Kind    ErrorKind `json:"kind"`
	Message string    `json:"message"`
}

func (g *gen) sample(k ErrorKind, msg string) {
	g.errMu.Lock()
	defer g.errMu.Unlock()
	if len(g.samples) >= maxErrorSamples {
		return
	}
	for _, s := range g.samples {
		if s.Kind == k && s.Message == msg {
			return
		}
	}
	g.samples = append(g.samples, ErrorSample{Kind: k, Message: msg})
}

func (g *gen) fail(r *reqRecord, k ErrorKind, msg string) {
	r.kind, r.msg = k, msg
	if r.end.IsZero() {
		r.end = g.now()
	}
}

// execute sends one request; answer, when set, collects the generated
// text (sessions append it to the history).
func (g *gen) execute(r *reqRecord, spec *requestSpec, answer *strings.Builder) {
	ctx := g.hardCtx
	if g.o.RequestTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.o.RequestTimeout)
		defer cancel()
	}
	ctx, wd := g.watch(ctx)
	defer wd.stop()
	if g.h1 != nil {
		g.executeH1(ctx, wd, r, spec, answer)
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.endpoint, bytes.NewReader(spec.body))
	if err != nil {
		r.sent = g.now()
		g.fail(r, ErrConnect, err.Error())
		return
	}
	req.Header = g.header.Clone()
	req.Header.Set(RequestIDHeader, r.meta.id)
	r.sent = g.now()
	wd.start(g.realNow(r.sent))
	resp, err := g.client.Do(req)
	if err != nil {
		kind, msg := g.classify(ctx, err, false)
		g.fail(r, kind, msg)
		return
	}
	defer resp.Body.Close()
	wd.headers()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, errorBodyBytes))
		g.failStatus(r, resp.StatusCode, resp.Status, msg)
		return
	}
	if !g.o.Stream {
		g.readWhole(ctx, r, resp.Body, spec.prompt, answer)
		return
	}
	rd, put := g.streamReader(resp.Body)
	defer put()
	st := streamRun{g: g, ctx: ctx, r: r, wd: wd, answer: answer}
	for !st.event(rd.Next(), g.now()) {
	}
	if st.failed {
		return
	}
	// Let the transport reuse the connection.
	_, _ = io.CopyN(io.Discard, resp.Body, 4096)
	st.finish()
}

// failStatus records a non-2xx answer: its status and the start of its body.
func (g *gen) failStatus(r *reqRecord, code int, status string, msg []byte) {
	kind := ErrHTTPOther
	switch {
	case code >= 500:
		kind = ErrHTTP5xx
	case code >= 400:
		kind = ErrHTTP4xx
	}
	g.fail(r, kind, fmt.Sprintf("%s: %s", status, bytes.TrimSpace(msg)))
}

// streamReader returns a pooled reader of the run's protocol reading body,
// and the function that returns it to its pool.
func (g *gen) streamReader(body io.Reader) (stream.Reader, func()) {
	if g.o.Protocol.Triton() {
		tr := g.trPool.Get().(*stream.TritonReader)
		tr.Reset(body)
		return tr, func() { tr.Reset(nil); g.trPool.Put(tr) }
	}
	oa := g.oaPool.Get().(*stream.OpenAIReader)
	oa.Reset(body)
	return oa, func() { oa.Reset(nil); g.oaPool.Put(oa) }
}

// streamRun records the events of one streamed response.
type streamRun struct {
	g      *gen
	ctx    context.Context
	r      *reqRecord
	wd     *watchdog
	answer *strings.Builder

	usage     stream.Usage
	haveUsage bool
	chunks    int
	last      time.Time
	failed    bool // the stream ended with an error (recorded)
}

// event records ev, read at now; it reports whether the stream ended
// (done, or failed: then the failure is recorded).
func (s *streamRun) event(ev stream.Event, now time.Time) bool {
	g, r := s.g, s.r
	if ev.Err != nil {
		r.end = now
		var se *stream.ServerError
		var me *stream.MalformedError
		switch {
		case s.ctx.Err() != nil:
			// Canceled, cut at the end, or a timeout: the cause says which.
			kind, msg := g.classify(s.ctx, ev.Err, true)
			g.fail(r, kind, msg)
		case errors.Is(ev.Err, stream.ErrOversized):
			g.fail(r, ErrOversized, ev.Err.Error())
		case errors.As(ev.Err, &se), errors.As(ev.Err, &me):
			g.fail(r, ErrStreamError, ev.Err.Error())
		case errors.Is(ev.Err, stream.ErrTruncated):
			g.fail(r, ErrStreamTruncated, ev.Err.Error())
		default:
			kind, msg := g.classify(s.ctx, ev.Err, true)
			g.fail(r, kind, msg)
		}
		r.outTokens = s.chunks
		s.failed = true
		return true
	}
	if ev.Done {
		r.end = now
		return true
	}
	if ev.Text != "" {
		s.chunks++
		if s.answer != nil {
			s.answer.WriteString(ev.Text)
		}
		if r.first.IsZero() {
			r.first = now
		} else {
			r.gaps = append(r.gaps, now.Sub(s.last).Microseconds())
		}
		s.last = now
		s.wd.progress(g.realNow(now))
	}
	if ev.Usage != nil {
		s.usage, s.haveUsage = *ev.Usage, true
	}
	return false
}

// finish records the counts of a stream that ended properly.
func (s *streamRun) finish() {
	r := s.r
	if s.chunks == 0 {
		s.g.fail(r, ErrEmptyOutput, "the stream ended without generated text")
		return
	}
	r.outTokens, r.outSource = s.chunks, fromChunks
	if s.haveUsage && s.usage.CompletionTokens > 0 {
		r.outTokens, r.outSource = s.usage.CompletionTokens, fromUsage
	}
	if s.haveUsage && s.usage.PromptTokens > 0 {
		r.promptTokens, r.promptUsage = s.usage.PromptTokens, true
	}
}

// readWhole handles a non-streamed response; its body is bounded by
// MaxEventBytes.
func (g *gen) readWhole(ctx context.Context, r *reqRecord, body io.Reader, prompt string, answer *strings.Builder) {
	b, err := io.ReadAll(io.LimitReader(body, int64(g.o.MaxEventBytes)+1))
	r.end = g.now()
	if err != nil {
		kind, msg := g.classify(ctx, err, true)
		g.fail(r, kind, msg)
		return
	}
	if len(b) > g.o.MaxEventBytes {
		g.failBodySize(r)
		return
	}
	g.whole(r, b, prompt, answer)
}

func (g *gen) failBodySize(r *reqRecord) {
	g.fail(r, ErrOversized, (&stream.OversizedError{What: "response body", Limit: g.o.MaxEventBytes}).Error())
}

// whole records a non-streamed response body, b, read by r.end.
func (g *gen) whole(r *reqRecord, b []byte, prompt string, answer *strings.Builder) {
	var ev stream.Event
	if g.o.Protocol.Triton() {
		ev = stream.ParseTritonResponse(b)
		// Triton's vLLM backend puts the prompt before the output of a
		// non-streamed request (exclude_input_in_output defaults to false):
		// it is not generated text.
		ev.Text = strings.TrimPrefix(ev.Text, prompt)
	} else {
		ev = stream.ParseOpenAIResponse(b)
	}
	if ev.Err != nil {
		g.fail(r, ErrStreamError, ev.Err.Error())
		return
	}
	if ev.Text == "" {
		g.fail(r, ErrEmptyOutput, "the response has no generated text")
		return
	}
	r.first = r.end
	if answer != nil {
		answer.WriteString(ev.Text)
	}
	r.outTokens, r.outSource = workload.EstimateTokens(ev.Text), fromWords
	if r.outTokens == 0 {
		r.outTokens = 1
	}
	if ev.Usage != nil && ev.Usage.CompletionTokens > 0 {
		r.outTokens, r.outSource = ev.Usage.CompletionTokens, fromUsage
	}
	if ev.Usage != nil && ev.Usage.PromptTokens > 0 {
		r.promptTokens, r.promptUsage = ev.Usage.PromptTokens, true
	}
}
