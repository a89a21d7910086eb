package sim

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
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

func writeAPIError(w http.ResponseWriter, e *apiError) { writeJSON(w, e.status, e.body()) }

func (s *Server) vllmRoutes() http.Handler {
	mux := http.NewServeMux()
	health := func(w http.ResponseWriter, r *http.Request) {
		if !s.ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
	mux.HandleFunc("GET /health", health)
	mux.HandleFunc("GET /ping", health)
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

// vllmHandlers are the paths the http_* metrics label by name (the
// handler label); any other path is "none".
var vllmHandlers = map[string]bool{"/v1/completions": true, "/v1/chat/completions": true, "/v1/models": true,
	"/health": true, "/ping": true, "/version": true, "/metrics": true}

// statusWriter remembers the status a handler answered with, for instrument.
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
	if req.Stream && len(specs) == 1 && s.eng.shards != nil {
		specs[0].sendTimed = true // a stream writer sends it (streamOpenAI)
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
	// head: the fields both responses start with (encoding/json writes an
	// embedded struct's fields in its place).
	type head struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		Model   string `json:"model"`
	}
	var b []byte
	if chat {
		b, _ = json.Marshal(struct {
			head
			Choices           []chatChoice `json:"choices"`
			ServiceTier       any          `json:"service_tier"`
			SystemFingerprint any          `json:"system_fingerprint"`
			Usage             usage        `json:"usage"`
			PromptLogprobs    any          `json:"prompt_logprobs"`
			KVTransferParams  any          `json:"kv_transfer_params"`
		}{head: head{id, "chat.completion", created, s.cfg.ServedModelName}, Choices: chatChoices, Usage: u})
	} else {
		b, _ = json.Marshal(struct {
			head
			Choices          []textChoice `json:"choices"`
			Usage            usage        `json:"usage"`
			KVTransferParams any          `json:"kv_transfer_params"`
		}{head: head{id, "text_completion", created, s.cfg.ServedModelName}, Choices: textChoices, Usage: u})
	}
	writeJSON(w, 200, b)
}
