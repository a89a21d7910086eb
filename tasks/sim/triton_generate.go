package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
)

// Triton's generate extension (/v2/models/NAME/generate and
// generate_stream) for a vLLM-backend model or a TensorRT-LLM ensemble.

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
	has := func(name string) bool { _, ok := top[name]; return ok }
	if err := m.requireInputs(g.id, has, func() []string {
		var got []string
		for k := range top {
			if k != "id" && k != "parameters" {
				got = append(got, "'"+k+"'")
			}
		}
		sort.Strings(got)
		return got
	}); err != nil {
		return nil, err
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
	if m.backend == tritonBackendVLLM {
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

func (s *Server) handleGenerate(w http.ResponseWriter, hr *http.Request, m *tritonModel, stream bool) {
	body, release, ok := s.readBody(w, hr)
	if !ok {
		return
	}
	defer release()
	if s.pipelineOnly(w, m) {
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
		if flushWrite(w, fl, buf) != nil {
			return
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
