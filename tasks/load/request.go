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
	if len(g.samples) >= 10 {
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
		kind := ErrHTTPOther
		switch {
		case resp.StatusCode >= 500:
			kind = ErrHTTP5xx
		case resp.StatusCode >= 400:
			kind = ErrHTTP4xx
		}
		g.fail(r, kind, fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(msg)))
		return
	}
	if !g.o.Stream {
		g.readWhole(ctx, r, resp.Body, spec.prompt, answer)
		return
	}
	var rd stream.Reader
	if g.o.Protocol.Triton() {
		tr := g.trPool.Get().(*stream.TritonReader)
		tr.Reset(resp.Body)
		defer g.trPool.Put(tr)
		rd = tr
	} else {
		oa := g.oaPool.Get().(*stream.OpenAIReader)
		oa.Reset(resp.Body)
		defer g.oaPool.Put(oa)
		rd = oa
	}
	var usage stream.Usage
	haveUsage := false
	chunks := 0
	var last time.Time
	for {
		ev := rd.Next()
		now := g.now()
		if ev.Err != nil {
			r.end = now
			var se *stream.ServerError
			var me *stream.MalformedError
			switch {
			case ctx.Err() != nil:
				// Canceled, cut at the end, or a timeout: the cause says which.
				kind, msg := g.classify(ctx, ev.Err, true)
				g.fail(r, kind, msg)
			case errors.Is(ev.Err, stream.ErrOversized):
				g.fail(r, ErrOversized, ev.Err.Error())
			case errors.As(ev.Err, &se), errors.As(ev.Err, &me):
				g.fail(r, ErrStreamError, ev.Err.Error())
			case errors.Is(ev.Err, stream.ErrTruncated):
				g.fail(r, ErrStreamTruncated, ev.Err.Error())
			default:
				kind, msg := g.classify(ctx, ev.Err, true)
				g.fail(r, kind, msg)
			}
			r.outTokens = chunks
			return
		}
		if ev.Done {
			r.end = now
			break
		}
		if ev.Text != "" {
			chunks++
			if answer != nil {
				answer.WriteString(ev.Text)
			}
			if r.first.IsZero() {
				r.first = now
			} else {
				r.gaps = append(r.gaps, now.Sub(last).Microseconds())
			}
			last = now
			wd.progress(g.realNow(now))
		}
		if ev.Usage != nil {
			usage, haveUsage = *ev.Usage, true
		}
	}
	// Let the transport reuse the connection.
	_, _ = io.CopyN(io.Discard, resp.Body, 4096)
	if chunks == 0 {
		g.fail(r, ErrEmptyOutput, "the stream ended without generated text")
		return
	}
	r.outTokens, r.outSource = chunks, fromChunks
	if haveUsage && usage.CompletionTokens > 0 {
		r.outTokens, r.outSource = usage.CompletionTokens, fromUsage
	}
	if haveUsage && usage.PromptTokens > 0 {
		r.promptTokens, r.promptUsage = usage.PromptTokens, true
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
		g.fail(r, ErrOversized, (&stream.OversizedError{What: "response body", Limit: g.o.MaxEventBytes}).Error())
		return
	}
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
