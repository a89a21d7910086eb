package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Triton's KServe v2 HTTP API (/v2/...) with the generate extension, for a
// vLLM-backend model or a TensorRT-LLM ensemble.

type tensorDef struct {
	name     string
	dtype    string // KServe datatype: BYTES, INT32, BOOL, FP32, UINT64, UINT32
	dims     []int  // config dims (without the batch dimension)
	optional bool
}

type tritonModel struct {
	name      string
	platform  string // metadata "platform"
	backend   string
	maxBatch  int
	decoupled bool
	inputs    []tensorDef
	outputs   []tensorDef
}

func (s *Server) tritonModels() []*tritonModel {
	opt := func(name, dt string, dims ...int) tensorDef {
		return tensorDef{name: name, dtype: dt, dims: dims, optional: true}
	}
	req := func(name, dt string, dims ...int) tensorDef { return tensorDef{name: name, dtype: dt, dims: dims} }
	if s.cfg.Personality == PersonalityTritonVLLM {
		return []*tritonModel{{
			name: s.cfg.ServedModelName, platform: "vllm", backend: "vllm", decoupled: true,
			inputs: []tensorDef{req("text_input", "BYTES", 1), opt("image", "BYTES", -1), opt("stream", "BOOL", 1),
				opt("sampling_parameters", "BYTES", 1), opt("exclude_input_in_output", "BOOL", 1),
				opt("return_finish_reason", "BOOL", 1), opt("return_cumulative_logprob", "BOOL", 1),
				opt("return_logprobs", "BOOL", 1), opt("return_num_input_tokens", "BOOL", 1),
				opt("return_num_output_tokens", "BOOL", 1)},
			outputs: []tensorDef{req("text_output", "BYTES", -1), req("finish_reason", "BYTES", -1),
				req("cumulative_logprob", "FP32", -1), req("logprobs", "BYTES", -1),
				req("num_input_tokens", "UINT32", 1), req("num_output_tokens", "UINT32", -1)},
		}}
	}
	d := s.cfg.TRTDecoupled
	return []*tritonModel{
		{name: "ensemble", platform: "ensemble", maxBatch: 64, decoupled: d,
			inputs: []tensorDef{req("text_input", "BYTES", 1), req("max_tokens", "INT32", 1),
				opt("bad_words", "BYTES", -1), opt("stop_words", "BYTES", -1), opt("end_id", "INT32", 1),
				opt("pad_id", "INT32", 1), opt("top_k", "INT32", 1), opt("top_p", "FP32", 1),
				opt("temperature", "FP32", 1), opt("length_penalty", "FP32", 1), opt("repetition_penalty", "FP32", 1),
				opt("min_tokens", "INT32", 1), opt("presence_penalty", "FP32", 1), opt("frequency_penalty", "FP32", 1),
				opt("random_seed", "UINT64", 1), opt("return_log_probs", "BOOL", 1), opt("return_context_logits", "BOOL", 1),
				opt("return_generation_logits", "BOOL", 1), opt("beam_width", "INT32", 1), opt("stream", "BOOL", 1),
				opt("exclude_input_in_output", "BOOL", 1)},
			outputs: []tensorDef{req("text_output", "BYTES", -1), req("cum_log_probs", "FP32", -1),
				req("output_log_probs", "FP32", -1, -1), req("context_logits", "FP32", -1, -1),
				req("generation_logits", "FP32", -1, -1, -1), req("batch_index", "INT32", 1)}},
		{name: "postprocessing", platform: "python", backend: "python", maxBatch: 64,
			inputs:  []tensorDef{req("TOKENS_BATCH", "INT32", -1, -1), req("SEQUENCE_LENGTH", "INT32", -1)},
			outputs: []tensorDef{req("OUTPUT", "BYTES", -1)}},
		{name: "preprocessing", platform: "python", backend: "python", maxBatch: 64,
			inputs: []tensorDef{req("QUERY", "BYTES", 1), req("REQUEST_OUTPUT_LEN", "INT32", 1),
				opt("BAD_WORDS_DICT", "BYTES", -1), opt("STOP_WORDS_DICT", "BYTES", -1)},
			outputs: []tensorDef{req("INPUT_ID", "INT32", -1), req("REQUEST_INPUT_LEN", "INT32", 1),
				req("REQUEST_OUTPUT_LEN", "INT32", -1)}},
		{name: "tensorrt_llm", platform: "tensorrtllm", backend: "tensorrtllm", maxBatch: 64, decoupled: d,
			inputs: []tensorDef{req("input_ids", "INT32", -1), req("input_lengths", "INT32", 1),
				req("request_output_len", "INT32", 1), opt("end_id", "INT32", 1), opt("pad_id", "INT32", 1),
				opt("streaming", "BOOL", 1), opt("beam_width", "INT32", 1), opt("temperature", "FP32", 1),
				opt("runtime_top_k", "INT32", 1), opt("runtime_top_p", "FP32", 1), opt("random_seed", "UINT64", 1),
				opt("min_tokens", "INT32", 1), opt("exclude_input_in_output", "BOOL", 1), opt("return_log_probs", "BOOL", 1)},
			outputs: []tensorDef{req("output_ids", "INT32", -1, -1), req("sequence_length", "INT32", -1),
				req("cum_log_probs", "FP32", -1), req("output_log_probs", "FP32", -1, -1),
				req("context_logits", "FP32", -1, -1), req("generation_logits", "FP32", -1, -1, -1),
				req("batch_index", "INT32", 1)}},
	}
}

func (s *Server) findTritonModel(name string) *tritonModel {
	for _, m := range s.tritonModels() {
		if m.name == name {
			return m
		}
	}
	return nil
}

// tritonError writes Triton's error body {"error": "..."}.
func tritonError(w http.ResponseWriter, status int, format string, a ...any) {
	b, _ := json.Marshal(map[string]string{"error": fmt.Sprintf(format, a...)})
	writeJSON(w, status, b)
}

func (s *Server) tritonRoutes() http.Handler { return http.HandlerFunc(s.serveTriton) }

func (s *Server) serveTriton(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	get, post := r.Method == http.MethodGet, r.Method == http.MethodPost
	switch {
	case p == "/v2/health/live" && get:
		w.WriteHeader(200)
	case p == "/v2/health/ready" && get:
		if s.ready() {
			w.WriteHeader(200)
		} else {
			w.WriteHeader(400)
		}
	case (p == "/v2" || p == "/v2/") && get:
		b, _ := json.Marshal(map[string]any{"name": "triton", "version": s.cfg.TritonVersion,
			"extensions": []string{"classification", "sequence", "model_repository", "model_repository(unload_dependents)",
				"schedule_policy", "model_configuration", "system_shared_memory", "cuda_shared_memory",
				"binary_tensor_data", "parameters", "statistics", "trace", "logging"}})
		writeJSON(w, 200, b)
	case p == "/v2/repository/index" && post:
		var idx []any
		for _, m := range s.tritonModels() {
			st := "READY"
			if !s.ready() {
				st = "LOADING"
			}
			idx = append(idx, map[string]string{"name": m.name, "version": "1", "state": st})
		}
		b, _ := json.Marshal(idx)
		writeJSON(w, 200, b)
	case strings.HasPrefix(p, "/v2/models/"):
		s.serveTritonModel(w, r, strings.Split(p[len("/v2/models/"):], "/"), get, post)
	default:
		tritonError(w, http.StatusNotFound, "Not Found")
	}
}

func (s *Server) serveTritonModel(w http.ResponseWriter, r *http.Request, parts []string, get, post bool) {
	name := parts[0]
	parts = parts[1:]
	version := ""
	if len(parts) >= 2 && parts[0] == "versions" {
		version = parts[1]
		parts = parts[2:]
	}
	if len(parts) > 1 {
		tritonError(w, http.StatusNotFound, "Not Found")
		return
	}
	action := ""
	if len(parts) == 1 {
		action = parts[0]
	}
	m := s.findTritonModel(name)
	if m == nil {
		tritonError(w, http.StatusBadRequest, "Request for unknown model: '%s' is not found", name)
		return
	}
	if version != "" && version != "1" {
		tritonError(w, http.StatusBadRequest, "Request for unknown model: '%s' version %s is not found", name, version)
		return
	}
	switch {
	case action == "" && get:
		writeJSON(w, 200, m.metadata())
	case action == "ready" && get:
		if s.ready() {
			w.WriteHeader(200)
		} else {
			w.WriteHeader(400)
		}
	case action == "config" && get:
		writeJSON(w, 200, m.config())
	case (action == "generate" || action == "generate_stream") && post:
		s.handleGenerate(w, r, m, action == "generate_stream")
	case action == "infer" && post:
		s.handleInfer(w, r, m)
	default:
		tritonError(w, http.StatusNotFound, "Not Found")
	}
}

func (m *tritonModel) metadata() []byte {
	t := func(defs []tensorDef) []any {
		out := []any{}
		for _, d := range defs {
			shape := d.dims
			if m.maxBatch > 0 {
				shape = append([]int{-1}, d.dims...)
			}
			out = append(out, map[string]any{"name": d.name, "datatype": d.dtype, "shape": shape})
		}
		return out
	}
	b, _ := json.Marshal(map[string]any{"name": m.name, "versions": []string{"1"}, "platform": m.platform,
		"inputs": t(m.inputs), "outputs": t(m.outputs)})
	return b
}

var configTypes = map[string]string{"BYTES": "TYPE_STRING", "INT32": "TYPE_INT32", "BOOL": "TYPE_BOOL",
	"FP32": "TYPE_FP32", "UINT64": "TYPE_UINT64", "UINT32": "TYPE_UINT32"}

func (m *tritonModel) config() []byte {
	var in, out []any
	for _, d := range m.inputs {
		in = append(in, map[string]any{"name": d.name, "data_type": configTypes[d.dtype], "format": "FORMAT_NONE",
			"dims": d.dims, "is_shape_tensor": false, "allow_ragged_batch": false, "optional": d.optional})
	}
	for _, d := range m.outputs {
		out = append(out, map[string]any{"name": d.name, "data_type": configTypes[d.dtype], "dims": d.dims,
			"label_filename": "", "is_shape_tensor": false})
	}
	kind := "KIND_GPU"
	if m.backend == "python" || m.backend == "vllm" {
		kind = "KIND_MODEL"
	}
	cfg := map[string]any{"name": m.name, "platform": m.platform, "backend": m.backend,
		"version_policy": map[string]any{"latest": map[string]any{"num_versions": 1}},
		"max_batch_size": m.maxBatch, "input": in, "output": out,
		"model_transaction_policy": map[string]any{"decoupled": m.decoupled}}
	if m.platform != "ensemble" {
		cfg["instance_group"] = []any{map[string]any{"name": m.name + "_0", "kind": kind, "count": 1, "gpus": []int{0}}}
	} else {
		cfg["backend"] = ""
	}
	b, _ := json.Marshal(cfg)
	return b
}

// ---------------------------------------------------------------------------
// Generate extension.

// genRequest is a parsed generate request.
type genRequest struct {
	id         string
	spec       requestSpec
	stream     bool
	prompt     string
	excludeIn  bool
	wantFinish bool
	wantNumIn  bool
	wantNumOut bool
}

// jsonScalar reads v or [v] (one element) into dst.
func jsonScalar(raw json.RawMessage, dst any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '[' {
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return err
		}
		if len(list) != 1 {
			return fmt.Errorf("want one element, got %d", len(list))
		}
		raw = list[0]
	}
	return json.Unmarshal(raw, dst)
}

// decodeGenerate parses a generate body for model m. It is fuzzed.
func decodeGenerate(body []byte, m *tritonModel, cfg *Config) (*genRequest, error) {
	var top map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("failed to parse the request JSON buffer: %v", err)
	}
	if top == nil {
		return nil, fmt.Errorf("failed to parse the request JSON buffer: want a JSON object")
	}
	g := &genRequest{}
	if raw, ok := top["id"]; ok {
		if err := json.Unmarshal(raw, &g.id); err != nil {
			return nil, fmt.Errorf("unable to parse 'id': want a string")
		}
	}
	params := map[string]json.RawMessage{}
	if raw, ok := top["parameters"]; ok {
		if err := json.Unmarshal(raw, &params); err != nil || params == nil {
			return nil, fmt.Errorf("unable to parse 'parameters': want a JSON object")
		}
	}
	var missing []string
	for _, d := range m.inputs {
		if _, ok := top[d.name]; !ok && !d.optional {
			missing = append(missing, "'"+d.name+"'")
		}
	}
	if len(missing) > 0 {
		var got []string
		for k := range top {
			if k != "id" && k != "parameters" {
				got = append(got, "'"+k+"'")
			}
		}
		sort.Strings(got)
		return nil, fmt.Errorf("[request id: %s] expected %d inputs but got %d inputs for model '%s'. Got input(s) [%s], but missing required input(s) [%s]. Please provide all required input(s).",
			requestIDLabel(g.id), len(m.inputs)-countOptional(m.inputs), len(got), m.name, strings.Join(got, ","), strings.Join(missing, ","))
	}
	getInt := func(src map[string]json.RawMessage, name string) (int64, bool, error) {
		raw, ok := src[name]
		if !ok {
			return 0, false, nil
		}
		var v int64
		if err := jsonScalar(raw, &v); err != nil {
			return 0, false, fmt.Errorf("unable to parse '%s': want an integer: %v", name, err)
		}
		return v, true, nil
	}
	getBool := func(src map[string]json.RawMessage, name string) (bool, error) {
		raw, ok := src[name]
		if !ok {
			return false, nil
		}
		var v bool
		if err := jsonScalar(raw, &v); err != nil {
			return false, fmt.Errorf("unable to parse '%s': want a boolean: %v", name, err)
		}
		return v, nil
	}
	if err := jsonScalar(top["text_input"], &g.prompt); err != nil {
		return nil, fmt.Errorf("unable to parse 'text_input': want a string: %v", err)
	}
	var err error
	if g.stream, err = getBool(top, "stream"); err != nil {
		return nil, err
	}
	if !g.stream {
		if g.stream, err = getBool(params, "stream"); err != nil {
			return nil, err
		}
	}
	if g.excludeIn, err = getBool(top, "exclude_input_in_output"); err != nil {
		return nil, err
	}
	pb := newPromptBuilder(cfg.BlockSize, cfg.EnablePrefixCaching)
	pb.text(g.prompt)
	spec := requestSpec{prompt: pb.info(), n: 1, model: m.name, stream: g.stream}
	var maxTok, minTok int64
	var hasMax bool
	if m.backend == "vllm" {
		// SamplingParams from the sampling_parameters input or the request
		// parameters; vLLM's default max_tokens is 16.
		sp := params
		if raw, ok := top["sampling_parameters"]; ok {
			var s string
			if err := jsonScalar(raw, &s); err != nil {
				return nil, fmt.Errorf("unable to parse 'sampling_parameters': want a JSON string: %v", err)
			}
			sp = map[string]json.RawMessage{}
			if err := json.Unmarshal([]byte(s), &sp); err != nil || sp == nil {
				return nil, fmt.Errorf("unable to parse 'sampling_parameters': want a JSON object in the string")
			}
		}
		if maxTok, hasMax, err = getInt(sp, "max_tokens"); err != nil {
			return nil, err
		}
		if !hasMax {
			maxTok, hasMax = 16, true
		}
		if minTok, _, err = getInt(sp, "min_tokens"); err != nil {
			return nil, err
		}
		if spec.ignoreEOS, err = getBool(sp, "ignore_eos"); err != nil {
			return nil, err
		}
		if seed, ok, err := getInt(sp, "seed"); err != nil {
			return nil, err
		} else if ok {
			spec.hasSeed, spec.seed = true, uint64(seed)
		}
		for _, f := range []struct {
			name string
			dst  *bool
		}{{"return_finish_reason", &g.wantFinish}, {"return_num_input_tokens", &g.wantNumIn}, {"return_num_output_tokens", &g.wantNumOut}} {
			if *f.dst, err = getBool(top, f.name); err != nil {
				return nil, err
			}
		}
		if maxTok < 1 {
			return nil, fmt.Errorf("max_tokens must be at least 1, got %d.", maxTok)
		}
		if minTok < 0 || minTok > maxTok {
			return nil, fmt.Errorf("min_tokens must be between 0 and max_tokens=%d, got %d.", maxTok, minTok)
		}
		if n := int64(spec.prompt.tokens); n+maxTok > int64(cfg.MaxModelLen) {
			if n >= int64(cfg.MaxModelLen) {
				return nil, fmt.Errorf("The decoder prompt (length %d) is longer than the maximum model length of %d. Make sure that `max_model_len` is no smaller than the number of text tokens.", n, cfg.MaxModelLen)
			}
			maxTok = int64(cfg.MaxModelLen) - n // vLLM caps generation at max_model_len
		}
	} else {
		if maxTok, _, err = getInt(top, "max_tokens"); err != nil {
			return nil, err
		}
		if minTok, _, err = getInt(top, "min_tokens"); err != nil {
			return nil, err
		}
		if seed, ok, err := getInt(top, "random_seed"); err != nil {
			return nil, err
		} else if ok {
			spec.hasSeed, spec.seed = true, uint64(seed)
		}
		if g.stream && !m.decoupled {
			return nil, fmt.Errorf("Streaming is only supported if model is deployed using decoupled mode.")
		}
		if err := trtLengths(spec.prompt.tokens, maxTok, minTok, cfg); err != nil {
			return nil, err
		}
	}
	spec.maxTokens = int(maxTok)
	spec.minTokens = int(minTok)
	g.spec = spec
	return g, nil
}

func trtLengths(n int, maxTok, minTok int64, cfg *Config) error {
	if maxTok < 1 {
		return fmt.Errorf("max_tokens must be a positive integer, got %d", maxTok)
	}
	if n >= cfg.MaxModelLen {
		return fmt.Errorf("Prompt length (%d) exceeds maximum input length (%d). Set log level to info and check TRTGptModel logs for how maximum input length is set", n, cfg.MaxModelLen-1)
	}
	if int64(n)+maxTok > int64(cfg.MaxModelLen) {
		return fmt.Errorf("Prompt length (%d) + output length (%d) exceeds maximum sequence length (%d)", n, maxTok, cfg.MaxModelLen)
	}
	if minTok < 0 || minTok > maxTok {
		return fmt.Errorf("min_tokens (%d) must be between 0 and max_tokens (%d)", minTok, maxTok)
	}
	return nil
}

func countOptional(d []tensorDef) int {
	n := 0
	for _, t := range d {
		if t.optional {
			n++
		}
	}
	return n
}

func requestIDLabel(id string) string {
	if id == "" {
		return "<id_unknown>"
	}
	return id
}

// readBody reads the body within the limits (limits.go); call release when
// the request is answered. Over -max-body-size Triton's answer is a 400
// with its --http-max-input-size message, as the real server's.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (body []byte, release func(), ok bool) {
	body, release, berr := s.readRequestBody(w, r)
	if berr == nil {
		return body, release, true
	}
	if berr.status == http.StatusRequestEntityTooLarge {
		size := ""
		if berr.size >= 0 {
			size = fmt.Sprint(" of ", berr.size)
		}
		tritonError(w, 400, "Request JSON size%s exceeds the maximum allowed value of %d bytes. Use --http-max-input-size to increase the limit (simulator: -max-body-size, %s).",
			size, berr.limit, EnvName("max-body-size"))
		return nil, nil, false
	}
	tritonError(w, berr.status, "%s", berr.msg)
	return nil, nil, false
}

func (s *Server) tritonAdmit(w http.ResponseWriter, m *tritonModel, spec requestSpec) (*request, bool) {
	if !s.ready() {
		tritonError(w, http.StatusServiceUnavailable, "Server not ready: model '%s' is loading (-startup-delay)", m.name)
		return nil, false
	}
	if m.name == "preprocessing" || m.name == "postprocessing" {
		tritonError(w, 400, "the simulator runs '%s' only as part of 'ensemble'; send requests to 'ensemble' or 'tensorrt_llm'", m.name)
		return nil, false
	}
	if s.injectError() {
		s.tm.fail(m.name, ReasonBackend)
		tritonError(w, 500, "Simulated internal error (-error-rate)")
		return nil, false
	}
	r, err := s.eng.submit(spec)
	if err != nil {
		s.tm.fail(m.name, ReasonRejected)
		tritonError(w, http.StatusServiceUnavailable, "Exceeds maximum queue size")
		return nil, false
	}
	return r, true
}

const midstreamMsg = "Simulated backend failure during generation (-midstream-failure-rate)"

func (s *Server) handleGenerate(w http.ResponseWriter, hr *http.Request, m *tritonModel, stream bool) {
	body, release, ok := s.readBody(w, hr)
	if !ok {
		return
	}
	defer release()
	if m.name == "preprocessing" || m.name == "postprocessing" {
		tritonError(w, 400, "the simulator runs '%s' only as part of 'ensemble'; send requests to 'ensemble' or 'tensorrt_llm'", m.name)
		return
	}
	if m.name == "tensorrt_llm" {
		tritonError(w, 400, "model 'tensorrt_llm' takes token ids (input_ids); use /v2/models/tensorrt_llm/infer or the 'ensemble' model for text")
		return
	}
	g, err := decodeGenerate(body, m, &s.cfg)
	if err != nil {
		tritonError(w, 400, "%v", err)
		return
	}
	if !stream {
		g.spec.stream = false
	}
	if s.hang(hr) {
		return
	}
	r, ok := s.tritonAdmit(w, m, g.spec)
	if !ok {
		return
	}
	ctx := hr.Context()
	defer s.eng.abort(r)
	if !stream || !g.stream {
		p, err := waitDone(ctx, r)
		if err != nil {
			return
		}
		if p.reason == FinishError {
			// the first (only) response carries the error: an HTTP error
			tritonError(w, 500, midstreamMsg)
			return
		}
		text := outputText(nil, r.textSeed, 0, p.produced)
		if !g.excludeIn {
			text = append([]byte(g.prompt+" "), text...)
		}
		ev := s.genEvent(nil, g, m, r, text, p, p.produced)
		if stream {
			w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
			w.WriteHeader(200)
			buf := append([]byte("data: "), ev...)
			_, _ = w.Write(append(buf, "\n\n"...))
			return
		}
		writeJSON(w, 200, ev)
		return
	}
	s.streamGenerate(ctx, w, g, m, r)
}

// streamGenerate writes one SSE event per engine output; the HTTP status
// follows the first response, and a later failure is an {"error": ...} event.
func (s *Server) streamGenerate(ctx context.Context, w http.ResponseWriter, g *genRequest, m *tritonModel, r *request) {
	fl, _ := w.(http.Flusher)
	sent := 0
	started := false
	buf := make([]byte, 0, 512)
	for {
		p, err := r.next(ctx, sent)
		if err != nil {
			return
		}
		failed := p.done && p.reason == FinishError
		if !started {
			if failed && p.produced == 0 {
				tritonError(w, 500, midstreamMsg)
				return
			}
			w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
			w.WriteHeader(200)
			started = true
		}
		buf = buf[:0]
		if p.produced > sent || (p.done && !failed) {
			text := outputText(nil, r.textSeed, sent, p.produced)
			buf = append(buf, "data: "...)
			buf = s.genEvent(buf, g, m, r, text, p, p.produced-sent)
			buf = append(buf, "\n\n"...)
		}
		sent = p.produced
		if failed {
			buf = append(buf, `data: {"error":"`+midstreamMsg+`"}`+"\n\n"...)
		}
		if _, err := w.Write(buf); err != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
		if p.done {
			return
		}
	}
}

// genEvent appends one generate response object.
func (s *Server) genEvent(b []byte, g *genRequest, m *tritonModel, r *request, text []byte, p progress, newTokens int) []byte {
	b = append(b, '{')
	if m.platform == "ensemble" {
		b = append(b, `"batch_index":0,"context_logits":0.0,"cum_log_probs":0.0,"generation_logits":0.0,`...)
		if g.id != "" {
			b = append(b, `"id":`...)
			b = appendJSONString(b, g.id)
			b = append(b, ',')
		}
		b = append(b, `"model_name":"ensemble","model_version":"1","output_log_probs":[`...)
		for i := 0; i < newTokens; i++ {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, "0.0"...)
		}
		b = append(b, `],"sequence_end":false,"sequence_id":0,"sequence_start":false,"text_output":`...)
		b = appendJSONString(b, string(text))
		return append(b, '}')
	}
	if p.done && g.wantFinish {
		b = append(b, `"finish_reason":`...)
		b = appendJSONString(b, p.reason)
		b = append(b, ',')
	}
	if g.id != "" {
		b = append(b, `"id":`...)
		b = appendJSONString(b, g.id)
		b = append(b, ',')
	}
	b = append(b, `"model_name":`...)
	b = appendJSONString(b, m.name)
	b = append(b, `,"model_version":"1"`...)
	if g.wantNumIn {
		b = append(b, `,"num_input_tokens":`...)
		b = strconv.AppendInt(b, int64(r.spec.prompt.tokens), 10)
	}
	if g.wantNumOut {
		b = append(b, `,"num_output_tokens":`...)
		b = strconv.AppendInt(b, int64(newTokens), 10)
	}
	b = append(b, `,"text_output":`...)
	b = appendJSONString(b, string(text))
	return append(b, '}')
}

// ---------------------------------------------------------------------------
// KServe v2 infer (JSON tensors) for tensorrt_llm (input_ids) and ensemble.

type v2Tensor struct {
	Name     string          `json:"name"`
	Shape    []int64         `json:"shape"`
	Datatype string          `json:"datatype"`
	Data     json.RawMessage `json:"data"`
}

type v2InferRequest struct {
	ID      string     `json:"id"`
	Inputs  []v2Tensor `json:"inputs"`
	Outputs []struct {
		Name string `json:"name"`
	} `json:"outputs"`
}

// flatten reads a tensor's data (nested JSON arrays) into a flat list.
func flatten(raw json.RawMessage, out []any) ([]any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return out, fmt.Errorf("missing data")
	}
	if raw[0] != '[' {
		var v any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return out, err
		}
		return append(out, v), nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return out, err
	}
	for _, e := range list {
		var err error
		if out, err = flatten(e, out); err != nil {
			return out, err
		}
	}
	return out, nil
}

func toInts(name string, vals []any) ([]int64, error) {
	out := make([]int64, 0, len(vals))
	for _, v := range vals {
		switch x := v.(type) {
		case json.Number:
			n, err := x.Int64()
			if err != nil {
				return nil, fmt.Errorf("input '%s': want integers, got %s", name, x)
			}
			out = append(out, n)
		case bool:
			if x {
				out = append(out, 1)
			} else {
				out = append(out, 0)
			}
		default:
			return nil, fmt.Errorf("input '%s': want integers, got %T", name, v)
		}
	}
	return out, nil
}

type inferInput struct {
	prompt     string
	ids        []int64
	spec       requestSpec
	excludeIn  bool
	wantOutput map[string]bool
}

// decodeInfer parses a KServe v2 infer body for model m. It is fuzzed.
func decodeInfer(body []byte, m *tritonModel, cfg *Config) (*v2InferRequest, *inferInput, error) {
	var req v2InferRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, nil, fmt.Errorf("failed to parse the request JSON buffer: %v", err)
	}
	in := map[string][]any{}
	var got []string
	for _, t := range req.Inputs {
		if m.findInput(t.Name) == nil {
			return nil, nil, fmt.Errorf("[request id: %s] unexpected inference input '%s' for model '%s'", requestIDLabel(req.ID), t.Name, m.name)
		}
		vals, err := flatten(t.Data, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("unable to parse 'data' of input '%s': %v", t.Name, err)
		}
		var n int64 = 1
		for _, d := range t.Shape {
			n *= d
		}
		if len(t.Shape) > 0 && n != int64(len(vals)) {
			return nil, nil, fmt.Errorf("[request id: %s] input '%s' has shape %v (%d elements) but %d values", requestIDLabel(req.ID), t.Name, t.Shape, n, len(vals))
		}
		in[t.Name] = vals
		got = append(got, "'"+t.Name+"'")
	}
	var missing []string
	for _, d := range m.inputs {
		if _, ok := in[d.name]; !ok && !d.optional {
			missing = append(missing, "'"+d.name+"'")
		}
	}
	if len(missing) > 0 {
		return nil, nil, fmt.Errorf("[request id: %s] expected %d inputs but got %d inputs for model '%s'. Got input(s) [%s], but missing required input(s) [%s]. Please provide all required input(s).",
			requestIDLabel(req.ID), len(m.inputs)-countOptional(m.inputs), len(got), m.name, strings.Join(got, ","), strings.Join(missing, ","))
	}
	one := func(name string) (int64, bool, error) {
		v, ok := in[name]
		if !ok {
			return 0, false, nil
		}
		ints, err := toInts(name, v)
		if err != nil {
			return 0, false, err
		}
		if len(ints) != 1 {
			return 0, false, fmt.Errorf("input '%s': want one value (batch size 1), got %d", name, len(ints))
		}
		return ints[0], true, nil
	}
	x := &inferInput{wantOutput: map[string]bool{}}
	for _, o := range req.Outputs {
		if m.findOutput(o.Name) == nil {
			return nil, nil, fmt.Errorf("[request id: %s] unexpected inference output '%s' for model '%s'", requestIDLabel(req.ID), o.Name, m.name)
		}
		x.wantOutput[o.Name] = true
	}
	pb := newPromptBuilder(cfg.BlockSize, cfg.EnablePrefixCaching)
	var maxTok, minTok int64
	var err error
	if ex, ok, err := one("exclude_input_in_output"); err != nil {
		return nil, nil, err
	} else if ok {
		x.excludeIn = ex != 0
	}
	if st, ok, err := one("streaming"); err != nil {
		return nil, nil, err
	} else if ok && st != 0 {
		return nil, nil, fmt.Errorf("Streaming is only supported with the generate_stream or gRPC streaming endpoints of a decoupled model")
	}
	if st, ok, err := one("stream"); err != nil {
		return nil, nil, err
	} else if ok && st != 0 {
		return nil, nil, fmt.Errorf("Streaming is only supported if model is deployed using decoupled mode.")
	}
	switch m.name {
	case "tensorrt_llm":
		if x.ids, err = toInts("input_ids", in["input_ids"]); err != nil {
			return nil, nil, err
		}
		if len(x.ids) == 0 {
			return nil, nil, fmt.Errorf("input 'input_ids': empty")
		}
		if l, _, err := one("input_lengths"); err != nil {
			return nil, nil, err
		} else if l != int64(len(x.ids)) {
			return nil, nil, fmt.Errorf("input 'input_lengths' is %d but 'input_ids' has %d tokens", l, len(x.ids))
		}
		if maxTok, _, err = one("request_output_len"); err != nil {
			return nil, nil, err
		}
		pb.ids(x.ids)
	case "ensemble":
		v := in["text_input"]
		if len(v) != 1 {
			return nil, nil, fmt.Errorf("input 'text_input': want one string (batch size 1), got %d values", len(v))
		}
		s, ok := v[0].(string)
		if !ok {
			return nil, nil, fmt.Errorf("input 'text_input': want a string (BYTES), got %T", v[0])
		}
		x.prompt = s
		pb.text(s)
		if maxTok, _, err = one("max_tokens"); err != nil {
			return nil, nil, err
		}
	default:
		return nil, nil, fmt.Errorf("the simulator runs '%s' only as part of 'ensemble'", m.name)
	}
	if minTok, _, err = one("min_tokens"); err != nil {
		return nil, nil, err
	}
	spec := requestSpec{prompt: pb.info(), n: 1, model: m.name}
	if seed, ok, err := one("random_seed"); err != nil {
		return nil, nil, err
	} else if ok {
		spec.hasSeed, spec.seed = true, uint64(seed)
	}
	if err := trtLengths(spec.prompt.tokens, maxTok, minTok, cfg); err != nil {
		return nil, nil, err
	}
	spec.maxTokens, spec.minTokens = int(maxTok), int(minTok)
	x.spec = spec
	return &req, x, nil
}

func (m *tritonModel) findInput(name string) *tensorDef {
	for i := range m.inputs {
		if m.inputs[i].name == name {
			return &m.inputs[i]
		}
	}
	return nil
}

func (m *tritonModel) findOutput(name string) *tensorDef {
	for i := range m.outputs {
		if m.outputs[i].name == name {
			return &m.outputs[i]
		}
	}
	return nil
}

func (s *Server) handleInfer(w http.ResponseWriter, hr *http.Request, m *tritonModel) {
	body, release, ok := s.readBody(w, hr)
	if !ok {
		return
	}
	defer release()
	if m.decoupled {
		tritonError(w, 400, "HTTP end point doesn't support models with decoupled transaction policy")
		return
	}
	if ct := hr.Header.Get("Inference-Header-Content-Length"); ct != "" {
		tritonError(w, 400, "the simulator accepts JSON tensors only, not the binary tensor data extension (Inference-Header-Content-Length)")
		return
	}
	req, x, err := decodeInfer(body, m, &s.cfg)
	if err != nil {
		tritonError(w, 400, "%v", err)
		return
	}
	r, ok := s.tritonAdmit(w, m, x.spec)
	if !ok {
		return
	}
	defer s.eng.abort(r)
	p, err := waitDone(hr.Context(), r)
	if err != nil {
		return
	}
	if p.reason == FinishError {
		tritonError(w, 500, midstreamMsg)
		return
	}
	want := func(name string) bool { return len(x.wantOutput) == 0 || x.wantOutput[name] }
	var outs []any
	zeros := make([]float64, p.produced)
	if m.name == "tensorrt_llm" {
		ids := []int64{}
		if !x.excludeIn {
			ids = append(ids, x.ids...)
		}
		for i := 0; i < p.produced; i++ {
			ids = append(ids, tokenID(r.textSeed, i))
		}
		if want("output_ids") {
			outs = append(outs, map[string]any{"name": "output_ids", "datatype": "INT32", "shape": []int{1, 1, len(ids)}, "data": ids})
		}
		if want("sequence_length") {
			outs = append(outs, map[string]any{"name": "sequence_length", "datatype": "INT32", "shape": []int{1, 1}, "data": []int{len(ids)}})
		}
	} else {
		text := string(outputText(nil, r.textSeed, 0, p.produced))
		if !x.excludeIn {
			text = x.prompt + " " + text
		}
		if want("text_output") {
			outs = append(outs, map[string]any{"name": "text_output", "datatype": "BYTES", "shape": []int{1, 1}, "data": []string{text}})
		}
	}
	if want("cum_log_probs") {
		outs = append(outs, map[string]any{"name": "cum_log_probs", "datatype": "FP32", "shape": []int{1, 1}, "data": []float64{0}})
	}
	if want("output_log_probs") {
		outs = append(outs, map[string]any{"name": "output_log_probs", "datatype": "FP32", "shape": []int{1, 1, p.produced}, "data": zeros})
	}
	if want("batch_index") {
		outs = append(outs, map[string]any{"name": "batch_index", "datatype": "INT32", "shape": []int{1, 1}, "data": []int{0}})
	}
	resp := map[string]any{"model_name": m.name, "model_version": "1", "outputs": outs}
	if req.ID != "" {
		resp["id"] = req.ID
	}
	b, _ := json.Marshal(resp)
	writeJSON(w, 200, b)
}
