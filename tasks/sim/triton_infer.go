package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
)

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
	has := func(name string) bool { _, ok := in[name]; return ok }
	if err := m.requireInputs(req.ID, has, func() []string { return got }); err != nil {
		return nil, nil, err
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
