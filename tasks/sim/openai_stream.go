package sim

import (
	"context"
	"net/http"
	"strconv"
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
// failure ends the stream with an error chunk.
func (s *Server) streamOpenAI(ctx context.Context, w http.ResponseWriter, req *openAIRequest, reqs []*request, chat bool, id string, created int64) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(200)
	fl, _ := w.(http.Flusher)
	if fl != nil {
		fl.Flush()
	}
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	continuous := includeUsage && req.StreamOptions.ContinuousUsageStats
	obj := "text_completion"
	if chat {
		obj = "chat.completion.chunk"
	}
	var head []byte
	head = append(head, `data: {"id":`...)
	head = appendJSONString(head, id)
	head = append(head, `,"object":"`...)
	head = append(head, obj...)
	head = append(head, `","created":`...)
	head = strconv.AppendInt(head, created, 10)
	head = append(head, `,"model":`...)
	head = appendJSONString(head, s.cfg.ServedModelName)
	head = append(head, `,"choices":[`...)
	buf := make([]byte, 0, 512)
	var promptTok, genTok int
	for i, r := range reqs {
		sent := 0
		first := true
		for {
			p, err := r.next(ctx, sent)
			if err != nil {
				return
			}
			buf = buf[:0]
			if chat && first {
				buf = append(buf, head...)
				buf = append(buf, `{"index":`...)
				buf = strconv.AppendInt(buf, int64(i), 10)
				buf = append(buf, `,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]`...)
				if continuous {
					buf = append(buf, `,"usage":`...)
					buf = appendUsage(buf, r.spec.prompt.tokens, 0)
				}
				buf = append(buf, "}\n\n"...)
			}
			first = false
			failed := p.done && p.reason == FinishError
			// One event per token, late ones too: a client slower than the
			// engine gets several events in one write, never one event
			// with several tokens.
			for k := sent; k < p.produced || (k == sent && p.done && !failed); k++ {
				end := min(k+1, p.produced)
				last := end == p.produced && p.done && !failed
				buf = appendCompletionChunk(buf, head, chat, i, r.textSeed, k, end, last, p.reason)
				if continuous {
					buf = append(buf, `,"usage":`...)
					buf = appendUsage(buf, r.spec.prompt.tokens, end)
				}
				buf = append(buf, "}\n\n"...)
			}
			sent = p.produced
			if failed {
				e := &apiError{status: 500, typ: "InternalServerError", message: "Simulated engine failure during generation (-midstream-failure-rate)."}
				buf = append(buf, "data: "...)
				buf = append(buf, e.body()...)
				buf = append(buf, "\n\ndata: [DONE]\n\n"...)
				_ = flushWrite(w, fl, buf)
				return
			}
			if flushWrite(w, fl, buf) != nil {
				return
			}
			if p.done {
				break
			}
		}
		promptTok += r.spec.prompt.tokens
		genTok += sent
	}
	buf = buf[:0]
	if includeUsage {
		buf = append(buf, head[:len(head)-len(`,"choices":[`)]...)
		buf = append(buf, `,"choices":[],"usage":`...)
		buf = appendUsage(buf, promptTok, genTok)
		buf = append(buf, "}\n\n"...)
	}
	buf = append(buf, "data: [DONE]\n\n"...)
	_ = flushWrite(w, fl, buf)
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
