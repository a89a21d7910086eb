package sim

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"
)

// vLLM's OpenAI-compatible API (vllm/entrypoints/openai), as of 0.14.

// apiError is vLLM's ErrorResponse: {"error":{"message","type","param","code"}}.
type apiError struct {
	status  int
	message string
	typ     string
	param   *string
}

func (e *apiError) Error() string { return e.message }

func (e *apiError) body() []byte {
	type info struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    int     `json:"code"`
	}
	b, _ := json.Marshal(struct {
		Error info `json:"error"`
	}{info{e.message, e.typ, e.param, e.status}})
	return b
}

func badRequest(format string, a ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, message: fmt.Sprintf(format, a...), typ: "BadRequestError"}
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeAPIError(w http.ResponseWriter, e *apiError) { writeJSON(w, e.status, e.body()) }

func (s *Server) vllmRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		if !s.ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {
		if !s.ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		b, _ := json.Marshal(map[string]string{"version": s.cfg.VLLMVersion})
		writeJSON(w, 200, b)
	})
	mux.HandleFunc("GET /v1/models", s.handleModels)
	mux.HandleFunc("POST /v1/completions", func(w http.ResponseWriter, r *http.Request) { s.handleOpenAI(w, r, false) })
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) { s.handleOpenAI(w, r, true) })
	mux.Handle("GET /metrics", s.vllmMetricsHandler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, []byte(`{"detail":"Not Found"}`))
	})
	return mux
}

// routeTemplate is the handler label of http_* metrics.
var vllmHandlers = map[string]bool{"/v1/completions": true, "/v1/chat/completions": true, "/v1/models": true,
	"/health": true, "/ping": true, "/version": true, "/metrics": true}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument counts requests as prometheus-fastapi-instrumentator does.
func (s *Server) instrument(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		handler := r.URL.Path
		if !vllmHandlers[handler] {
			handler = "none"
		}
		if sw.status == 0 {
			sw.status = 200
		}
		resBytes, _ := strconv.ParseInt(sw.Header().Get("Content-Length"), 10, 64)
		s.http.observe(handler, r.Method, sw.status, r.ContentLength, resBytes, time.Since(start))
	})
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	now := time.Now().Unix()
	b, _ := json.Marshal(map[string]any{"object": "list", "data": []any{map[string]any{
		"id": s.cfg.ServedModelName, "object": "model", "created": now, "owned_by": "vllm",
		"root": s.cfg.Model, "parent": nil, "max_model_len": s.cfg.MaxModelLen,
		"permission": []any{map[string]any{
			"id": "modelperm-" + randHex(s.cfg.Seed, s.reqSeq.Add(1)), "object": "model_permission", "created": now,
			"allow_create_engine": false, "allow_sampling": true, "allow_logprobs": true,
			"allow_search_indices": false, "allow_view": true, "allow_fine_tuning": false,
			"organization": "*", "group": nil, "is_blocking": false}},
	}}})
	writeJSON(w, 200, b)
}

func randHex(seed, n uint64) string {
	var b [16]byte
	a, c := splitmix64(seed^n^0x1d), splitmix64(seed^n^0x2e)
	for i := 0; i < 8; i++ {
		b[i] = byte(a >> (8 * i))
		b[8+i] = byte(c >> (8 * i))
	}
	return hex.EncodeToString(b[:])
}

// openAIRequest is the union of the chat and completion request fields the
// simulator uses; everything else is accepted and ignored.
type openAIRequest struct {
	Model               string          `json:"model"`
	Messages            []chatMessageIn `json:"messages"`
	Prompt              json.RawMessage `json:"prompt"`
	Stream              bool            `json:"stream"`
	StreamOptions       *streamOptions  `json:"stream_options"`
	MaxTokens           *int64          `json:"max_tokens"`
	MaxCompletionTokens *int64          `json:"max_completion_tokens"`
	MinTokens           *int64          `json:"min_tokens"`
	IgnoreEOS           bool            `json:"ignore_eos"`
	N                   *int64          `json:"n"`
	Seed                *int64          `json:"seed"`
}

type streamOptions struct {
	IncludeUsage         bool `json:"include_usage"`
	ContinuousUsageStats bool `json:"continuous_usage_stats"`
}

type chatMessageIn struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// decodeOpenAI parses and validates a request body (chat or completion)
// into engine specs. It is the fuzzed entry point.
func decodeOpenAI(body []byte, chat bool, cfg *Config) (*openAIRequest, []requestSpec, *apiError) {
	var req openAIRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		return nil, nil, badRequest("Invalid JSON request body: %v", err)
	}
	if dec.More() {
		return nil, nil, badRequest("Invalid JSON request body: trailing data after the JSON object")
	}
	if req.Model != "" && req.Model != cfg.ServedModelName {
		return nil, nil, &apiError{status: http.StatusNotFound, typ: "NotFoundError",
			message: fmt.Sprintf("The model `%s` does not exist.", req.Model), param: strPtr("model")}
	}
	if req.N != nil && *req.N != 1 {
		if *req.N < 1 {
			return nil, nil, badRequest("n must be at least 1, got %d.", *req.N)
		}
		return nil, nil, badRequest("n=%d is not supported by the simulator; use n=1 (several requests instead)", *req.N)
	}
	var prompts []promptInfo
	if chat {
		if req.Messages == nil {
			return nil, nil, badRequest("Field required: messages")
		}
		msgs := make([]chatMessage, 0, len(req.Messages))
		for i, m := range req.Messages {
			text, err := flattenContent(m.Content)
			if err != nil {
				return nil, nil, badRequest("messages[%d].content: %v", i, err)
			}
			if m.Role == "" {
				return nil, nil, badRequest("messages[%d].role: Field required", i)
			}
			msgs = append(msgs, chatMessage{m.Role, text})
		}
		prompts = append(prompts, buildChatPrompt(msgs, cfg.BlockSize, cfg.EnablePrefixCaching))
	} else {
		ps, err := parsePrompts(req.Prompt, cfg)
		if err != nil {
			return nil, nil, err
		}
		prompts = ps
	}
	var maxTok *int64
	if chat && req.MaxCompletionTokens != nil {
		maxTok = req.MaxCompletionTokens
	} else {
		maxTok = req.MaxTokens
	}
	if maxTok != nil && *maxTok < 1 {
		return nil, nil, badRequest("max_tokens must be at least 1, got %d.", *maxTok)
	}
	minTok := int64(0)
	if req.MinTokens != nil {
		minTok = *req.MinTokens
		if minTok < 0 {
			return nil, nil, badRequest("min_tokens must be greater than or equal to 0, got %d.", minTok)
		}
		if maxTok != nil && minTok > *maxTok {
			return nil, nil, badRequest("min_tokens must be less than or equal to max_tokens=%d, got %d.", *maxTok, minTok)
		}
	}
	specs := make([]requestSpec, 0, len(prompts))
	for _, p := range prompts {
		ml := int64(cfg.MaxModelLen)
		n := int64(p.tokens)
		if maxTok == nil {
			if n >= ml {
				return nil, nil, badRequest("This model's maximum context length is %d tokens. However, your request has %d input tokens. Please reduce the length of the input messages.", ml, n)
			}
		} else if n+*maxTok > ml {
			if n >= ml {
				return nil, nil, badRequest("This model's maximum context length is %d tokens. However, your request has %d input tokens. Please reduce the length of the input messages.", ml, n)
			}
			return nil, nil, badRequest("'max_tokens' or 'max_completion_tokens' is too large: %d. This model's maximum context length is %d tokens and your request has %d input tokens (%d > %d - %d).", *maxTok, ml, n, *maxTok, ml, n)
		}
		mt := ml - n
		if maxTok != nil {
			mt = *maxTok
		}
		spec := requestSpec{prompt: p, maxTokens: int(mt), minTokens: int(min(minTok, mt)), ignoreEOS: req.IgnoreEOS, n: 1, model: cfg.ServedModelName, stream: req.Stream}
		if req.Seed != nil {
			spec.hasSeed, spec.seed = true, uint64(*req.Seed)
		}
		specs = append(specs, spec)
	}
	return &req, specs, nil
}

func strPtr(s string) *string { return &s }

// flattenContent turns a message content (string, null or list of parts)
// into text; non-text parts count as one token each.
func flattenContent(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	case '[':
		var parts []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if err := json.Unmarshal(raw, &parts); err != nil {
			return "", fmt.Errorf("want a string or a list of content parts: %v", err)
		}
		var b []byte
		for _, p := range parts {
			if p.Type == "text" {
				b = append(b, p.Text...)
			} else {
				b = append(b, " \uE010"...) // one token per non-text part
			}
		}
		return string(b), nil
	}
	return "", errors.New("want a string or a list of content parts")
}

// parsePrompts reads a completion prompt: a string, a list of strings, a
// list of token ids or a list of lists of token ids.
func parsePrompts(raw json.RawMessage, cfg *Config) ([]promptInfo, *apiError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, badRequest("Field required: prompt")
	}
	text := func(s string) promptInfo {
		b := newPromptBuilder(cfg.BlockSize, cfg.EnablePrefixCaching)
		b.text(s)
		return b.info()
	}
	ids := func(v []int64) promptInfo {
		b := newPromptBuilder(cfg.BlockSize, cfg.EnablePrefixCaching)
		b.ids(v)
		return b.info()
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, badRequest("prompt: %v", err)
		}
		return []promptInfo{text(s)}, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil || len(list) == 0 {
		return nil, badRequest("prompt: want a string, a list of strings, a list of token ids or a list of lists of token ids")
	}
	first := bytes.TrimSpace(list[0])
	switch {
	case len(first) > 0 && first[0] == '"':
		var ss []string
		if err := json.Unmarshal(raw, &ss); err != nil {
			return nil, badRequest("prompt: %v", err)
		}
		out := make([]promptInfo, len(ss))
		for i, s := range ss {
			out[i] = text(s)
		}
		return out, nil
	case len(first) > 0 && first[0] == '[':
		var ll [][]int64
		if err := json.Unmarshal(raw, &ll); err != nil {
			return nil, badRequest("prompt: %v", err)
		}
		out := make([]promptInfo, len(ll))
		for i, l := range ll {
			if len(l) == 0 {
				return nil, badRequest("prompt[%d]: empty token list", i)
			}
			out[i] = ids(l)
		}
		return out, nil
	default:
		var l []int64
		if err := json.Unmarshal(raw, &l); err != nil {
			return nil, badRequest("prompt: %v", err)
		}
		return []promptInfo{ids(l)}, nil
	}
}

func (s *Server) handleOpenAI(w http.ResponseWriter, hr *http.Request, chat bool) {
	if !s.ready() {
		writeAPIError(w, &apiError{status: 503, typ: "ServiceUnavailableError", message: "The server is starting up (-startup-delay); retry later."})
		return
	}
	body, release, berr := s.readRequestBody(w, hr)
	if berr != nil {
		writeAPIError(w, &apiError{status: berr.status, typ: vllmErrorType(berr.status), message: berr.msg})
		return
	}
	defer release()
	req, specs, aerr := decodeOpenAI(body, chat, &s.cfg)
	if aerr != nil {
		writeAPIError(w, aerr)
		return
	}
	if s.hang(hr) {
		return
	}
	if s.injectError() {
		s.vm.errorFinish()
		writeAPIError(w, &apiError{status: 500, typ: "InternalServerError", message: "Simulated internal server error (-error-rate)."})
		return
	}
	reqs := make([]*request, 0, len(specs))
	for _, sp := range specs {
		r, err := s.eng.submit(sp)
		if err != nil {
			for _, q := range reqs {
				s.eng.abort(q)
			}
			writeAPIError(w, &apiError{status: 503, typ: "ServiceUnavailableError",
				message: fmt.Sprintf("The waiting queue is full (-max-waiting-queue-length=%d); retry later.", s.cfg.MaxWaiting)})
			return
		}
		reqs = append(reqs, r)
	}
	ctx := hr.Context()
	defer func() {
		for _, r := range reqs {
			s.eng.abort(r) // frees the request if the client went away; no-op once done
		}
	}()
	id := randHex(s.cfg.Seed, s.reqSeq.Add(1))
	if chat {
		id = "chatcmpl-" + id
	} else {
		id = "cmpl-" + id
	}
	created := time.Now().Unix()
	if req.Stream {
		s.streamOpenAI(ctx, w, req, reqs, chat, id, created)
		return
	}
	type usage struct {
		Prompt  int `json:"prompt_tokens"`
		Total   int `json:"total_tokens"`
		Compl   int `json:"completion_tokens"`
		Details any `json:"prompt_tokens_details"`
	}
	type message struct {
		Role         string `json:"role"`
		Content      string `json:"content"`
		Refusal      any    `json:"refusal"`
		Annotations  any    `json:"annotations"`
		Audio        any    `json:"audio"`
		FunctionCall any    `json:"function_call"`
		ToolCalls    []any  `json:"tool_calls"`
		Reasoning    any    `json:"reasoning_content"`
	}
	type chatChoice struct {
		Index        int     `json:"index"`
		Message      message `json:"message"`
		Logprobs     any     `json:"logprobs"`
		FinishReason string  `json:"finish_reason"`
		StopReason   any     `json:"stop_reason"`
	}
	type textChoice struct {
		Index          int    `json:"index"`
		Text           string `json:"text"`
		Logprobs       any    `json:"logprobs"`
		FinishReason   string `json:"finish_reason"`
		StopReason     any    `json:"stop_reason"`
		PromptLogprobs any    `json:"prompt_logprobs"`
	}
	var chatChoices []chatChoice
	var textChoices []textChoice
	var promptTok, genTok int
	for i, r := range reqs {
		p, err := waitDone(ctx, r)
		if err != nil {
			return // client went away; the deferred abort frees the request
		}
		if p.reason == FinishError {
			writeAPIError(w, &apiError{status: 500, typ: "InternalServerError", message: "Simulated engine failure during generation (-midstream-failure-rate)."})
			return
		}
		text := string(outputText(nil, r.textSeed, 0, p.produced))
		promptTok += r.spec.prompt.tokens
		genTok += p.produced
		if chat {
			chatChoices = append(chatChoices, chatChoice{Index: i, Message: message{Role: "assistant", Content: text, ToolCalls: []any{}}, FinishReason: p.reason})
		} else {
			textChoices = append(textChoices, textChoice{Index: i, Text: text, FinishReason: p.reason})
		}
	}
	u := usage{Prompt: promptTok, Total: promptTok + genTok, Compl: genTok}
	var b []byte
	if chat {
		b, _ = json.Marshal(struct {
			ID                string       `json:"id"`
			Object            string       `json:"object"`
			Created           int64        `json:"created"`
			Model             string       `json:"model"`
			Choices           []chatChoice `json:"choices"`
			ServiceTier       any          `json:"service_tier"`
			SystemFingerprint any          `json:"system_fingerprint"`
			Usage             usage        `json:"usage"`
			PromptLogprobs    any          `json:"prompt_logprobs"`
			KVTransferParams  any          `json:"kv_transfer_params"`
		}{ID: id, Object: "chat.completion", Created: created, Model: s.cfg.ServedModelName, Choices: chatChoices, Usage: u})
	} else {
		b, _ = json.Marshal(struct {
			ID               string       `json:"id"`
			Object           string       `json:"object"`
			Created          int64        `json:"created"`
			Model            string       `json:"model"`
			Choices          []textChoice `json:"choices"`
			Usage            usage        `json:"usage"`
			KVTransferParams any          `json:"kv_transfer_params"`
		}{ID: id, Object: "text_completion", Created: created, Model: s.cfg.ServedModelName, Choices: textChoices, Usage: u})
	}
	writeJSON(w, 200, b)
}

func waitDone(ctx context.Context, r *request) (progress, error) {
	have := 0
	for {
		p, err := r.next(ctx, have)
		if err != nil {
			return p, err
		}
		if p.done {
			return p, nil
		}
		have = p.produced
	}
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, s[i:i+n]...)
			}
			i += n
			continue
		}
		switch c {
		case '"':
			b = append(b, `\"`...)
		case '\\':
			b = append(b, `\\`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		default:
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		}
		i++
	}
	return append(b, '"')
}

func appendUsage(b []byte, prompt, gen int) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(prompt), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(prompt+gen), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(gen), 10)
	return append(b, '}')
}

// streamOpenAI writes the SSE stream as vLLM does: one chunk per engine
// output (several tokens when the client is slower than the engine), the
// finish_reason on the chunk with the last text, an optional usage chunk,
// then "data: [DONE]". An engine failure ends the stream with an error
// chunk.
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
			if p.produced > sent || (p.done && !failed) {
				buf = append(buf, head...)
				buf = append(buf, `{"index":`...)
				buf = strconv.AppendInt(buf, int64(i), 10)
				if chat {
					buf = append(buf, `,"delta":{"content":"`...)
				} else {
					buf = append(buf, `,"text":"`...)
				}
				buf = outputText(buf, r.textSeed, sent, p.produced) // pseudo-words need no escaping
				buf = append(buf, '"')
				if chat {
					buf = append(buf, '}')
				}
				buf = append(buf, `,"logprobs":null,"finish_reason":`...)
				if p.done && !failed {
					buf = append(buf, '"')
					buf = append(buf, p.reason...)
					buf = append(buf, `","stop_reason":null}]`...)
				} else if chat {
					buf = append(buf, `null}]`...)
				} else {
					buf = append(buf, `null,"stop_reason":null}]`...)
				}
				if continuous {
					buf = append(buf, `,"usage":`...)
					buf = appendUsage(buf, r.spec.prompt.tokens, p.produced)
				}
				buf = append(buf, "}\n\n"...)
			}
			sent = p.produced
			if failed {
				e := &apiError{status: 500, typ: "InternalServerError", message: "Simulated engine failure during generation (-midstream-failure-rate)."}
				buf = append(buf, "data: "...)
				buf = append(buf, e.body()...)
				buf = append(buf, "\n\ndata: [DONE]\n\n"...)
				_, _ = w.Write(buf)
				if fl != nil {
					fl.Flush()
				}
				return
			}
			if _, err := w.Write(buf); err != nil {
				return
			}
			if fl != nil {
				fl.Flush()
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
	_, _ = w.Write(buf)
	if fl != nil {
		fl.Flush()
	}
}
