package sim

import "encoding/json"

// Triton's model repository: the models a Triton personality serves (a
// vLLM-backend model or a TensorRT-LLM ensemble), their metadata and config.
// The HTTP API (/v2/...) is in triton_http.go, the generate extension in
// triton_generate.go, KServe v2 infer in triton_infer.go.

// Triton backends of the models (config.pbtxt's backend), as Triton names
// them: not the pack's backend names (tasks/backend).
const (
	tritonBackendVLLM   = "vllm"
	tritonBackendPython = "python"
	tritonBackendTRTLLM = "tensorrtllm"
)

// tensorDef is one input or output tensor of a model's config.
type tensorDef struct {
	name     string
	dtype    string // KServe datatype: BYTES, INT32, BOOL, FP32, UINT64, UINT32
	dims     []int  // config dims (without the batch dimension)
	optional bool
}

// tritonModel is one model of the repository, as its config.pbtxt declares it.
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
			name: s.cfg.ServedModelName, platform: tritonBackendVLLM, backend: tritonBackendVLLM, decoupled: true,
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
		{name: "postprocessing", platform: tritonBackendPython, backend: tritonBackendPython, maxBatch: 64,
			inputs:  []tensorDef{req("TOKENS_BATCH", "INT32", -1, -1), req("SEQUENCE_LENGTH", "INT32", -1)},
			outputs: []tensorDef{req("OUTPUT", "BYTES", -1)}},
		{name: "preprocessing", platform: tritonBackendPython, backend: tritonBackendPython, maxBatch: 64,
			inputs: []tensorDef{req("QUERY", "BYTES", 1), req("REQUEST_OUTPUT_LEN", "INT32", 1),
				opt("BAD_WORDS_DICT", "BYTES", -1), opt("STOP_WORDS_DICT", "BYTES", -1)},
			outputs: []tensorDef{req("INPUT_ID", "INT32", -1), req("REQUEST_INPUT_LEN", "INT32", 1),
				req("REQUEST_OUTPUT_LEN", "INT32", -1)}},
		{name: "tensorrt_llm", platform: tritonBackendTRTLLM, backend: tritonBackendTRTLLM, maxBatch: 64, decoupled: d,
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
	if m.backend == tritonBackendPython || m.backend == tritonBackendVLLM {
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

func countOptional(d []tensorDef) int {
	n := 0
	for _, t := range d {
		if t.optional {
			n++
		}
	}
	return n
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
