package modelrepo

import (
	"bytes"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"text/template"
)

// The Triton TensorRT-LLM repository: the inflight_batcher_llm models of
// TensorRT-LLM's triton_backend/all_models (preprocessing -> tensorrt_llm ->
// postprocessing, wired by an ensemble), rendered with one engine build's
// settings. Clients send text to "ensemble" (text_input, max_tokens, stream,
// ...) and get text back (text_output); tensorrt_llm is decoupled so that
// generate_stream streams tokens.

// Paths of the TensorRT-LLM repository.
const (
	// TRTRepoDir is the repository, relative to the project root
	// (deploy/compose.yaml mounts it at /models in triton-trt).
	TRTRepoDir = "serving/triton-trt/model_repository"
	// TRTContainerRoot is where the triton-trt container sees the repository.
	TRTContainerRoot = "/models"
	// TRTEngineRel holds config.json and rank<N>.engine of the engine.
	TRTEngineRel = "tensorrt_llm/1"
	// TRTTokenizerRel holds the model's tokenizer files. Triton loads only
	// numeric version directories, so this one is ignored as a version.
	TRTTokenizerRel = "tensorrt_llm/tokenizer"
	// TRTEnsemble is the model clients call.
	TRTEnsemble = "ensemble"
)

// TRTModels are the repository's models, in pipeline order after the ensemble.
var TRTModels = []string{"ensemble", "preprocessing", "tensorrt_llm", "postprocessing"}

// TRTSettings are the values the repository's configs are rendered with
// (the tools/fill_template.py keys of tensorrtllm_backend, by their meaning).
type TRTSettings struct {
	MaxBatchSize int // triton_max_batch_size: the engine's max_batch_size
	// TokenizerDir and EngineDir are paths inside the Triton container.
	TokenizerDir string
	EngineDir    string
	// KVCacheFreeGPUMemFraction is kv_cache_free_gpu_mem_fraction, in (0,1].
	KVCacheFreeGPUMemFraction float64
	Decoupled                 bool // decoupled_mode: needed for streaming
	MaxQueueDelayMicroseconds int  // max_queue_delay_microseconds
	MaxQueueSize              int  // max_queue_size (0: no limit)
	PreprocessingInstances    int  // preprocessing_instance_count
	PostprocessingInstances   int  // postprocessing_instance_count
	MaxBeamWidth              int  // max_beam_width, as built
	// BatchSchedulerPolicy is guaranteed_no_evict or max_utilization.
	BatchSchedulerPolicy string
	EnableKVCacheReuse   bool
	EnableChunkedContext bool
	ExcludeInputInOutput bool
	AddSpecialTokens     bool
	SkipSpecialTokens    bool
	LogitsDatatype       string // TYPE_FP32 (the default) or TYPE_FP16/TYPE_BF16
}

// DefaultTRTSettings returns the settings for an engine built with
// maxBatch, with paths where WriteTRT's caller puts the engine and tokenizer.
func DefaultTRTSettings(maxBatch int, kvFraction float64) TRTSettings {
	return TRTSettings{
		MaxBatchSize:              maxBatch,
		TokenizerDir:              path.Join(TRTContainerRoot, TRTTokenizerRel),
		EngineDir:                 path.Join(TRTContainerRoot, TRTEngineRel),
		KVCacheFreeGPUMemFraction: kvFraction,
		Decoupled:                 true,
		MaxQueueDelayMicroseconds: 0,
		MaxQueueSize:              0,
		PreprocessingInstances:    1,
		PostprocessingInstances:   1,
		MaxBeamWidth:              1,
		BatchSchedulerPolicy:      "guaranteed_no_evict",
		ExcludeInputInOutput:      true,
		AddSpecialTokens:          true,
		SkipSpecialTokens:         true,
		LogitsDatatype:            "TYPE_FP32",
	}
}

var containerPathRE = regexp.MustCompile(`^/[A-Za-z0-9._/-]*$`)

// Validate checks the settings before they are rendered.
func (s TRTSettings) Validate() error {
	var errs []string
	if s.MaxBatchSize < 1 {
		errs = append(errs, fmt.Sprintf("max batch size %d: want a positive integer", s.MaxBatchSize))
	}
	for name, p := range map[string]string{"tokenizer dir": s.TokenizerDir, "engine dir": s.EngineDir} {
		if !containerPathRE.MatchString(p) {
			errs = append(errs, fmt.Sprintf("%s %q: want an absolute path inside the Triton container (letters, digits, . _ - /)", name, p))
		}
	}
	if !(s.KVCacheFreeGPUMemFraction > 0 && s.KVCacheFreeGPUMemFraction <= 1) {
		errs = append(errs, fmt.Sprintf("kv cache fraction %v: want a number in (0,1], e.g. GPU_MEMORY_UTILIZATION=0.90", s.KVCacheFreeGPUMemFraction))
	}
	if s.MaxQueueDelayMicroseconds < 0 || s.MaxQueueSize < 0 {
		errs = append(errs, "queue delay and queue size must not be negative")
	}
	if s.PreprocessingInstances < 1 || s.PostprocessingInstances < 1 || s.MaxBeamWidth < 1 {
		errs = append(errs, "instance counts and max beam width must be positive")
	}
	switch s.BatchSchedulerPolicy {
	case "guaranteed_no_evict", "max_utilization":
	default:
		errs = append(errs, fmt.Sprintf("batch scheduler policy %q: want guaranteed_no_evict or max_utilization", s.BatchSchedulerPolicy))
	}
	switch s.LogitsDatatype {
	case "TYPE_FP32", "TYPE_FP16", "TYPE_BF16":
	default:
		errs = append(errs, fmt.Sprintf("logits datatype %q: want TYPE_FP32, TYPE_FP16 or TYPE_BF16", s.LogitsDatatype))
	}
	if len(errs) > 0 {
		return fmt.Errorf("TensorRT-LLM repository settings: %s", joinLines(errs))
	}
	return nil
}

func joinLines(s []string) string {
	var b bytes.Buffer
	for i, l := range s {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(l)
	}
	return b.String()
}

// tensor is one input or output of a model config.
type tensor struct {
	Name     string
	Type     string
	Dims     string
	Optional bool
	Reshape  bool // reshape: { shape: [ ] } (scalar per request)
	Ragged   bool // allow_ragged_batch
}

// mapping is one input_map or output_map entry of an ensemble step.
type mapping struct{ Key, Value string }

type step struct {
	Model   string
	Inputs  []mapping
	Outputs []mapping
}

type param struct{ Key, Value string }

type modelConfig struct {
	Name       string
	Backend    string // or Platform
	Platform   string
	MaxBatch   int
	Decoupled  *bool
	Batching   string // "" none, "empty" for dynamic_batching {}, "full"
	Preferred  int
	QueueDelay int
	QueueSize  int
	Inputs     []tensor
	Outputs    []tensor
	Steps      []step
	Params     []param
	Instances  int
	Kind       string
}

var configTmpl = template.Must(template.New("config.pbtxt").Parse(`# Generated by llm-observability-pack (mage compile:trt) from TensorRT-LLM's
# triton_backend/all_models/inflight_batcher_llm/{{.Name}}; rebuilt on every compile.
name: "{{.Name}}"
{{- if .Platform}}
platform: "{{.Platform}}"
{{- else}}
backend: "{{.Backend}}"
{{- end}}
max_batch_size: {{.MaxBatch}}
{{- if .Decoupled}}

model_transaction_policy {
  decoupled: {{.Decoupled}}
}
{{- end}}
{{- if eq .Batching "empty"}}

dynamic_batching {}
{{- else if eq .Batching "full"}}

dynamic_batching {
  preferred_batch_size: [ {{.Preferred}} ]
  max_queue_delay_microseconds: {{.QueueDelay}}
  default_queue_policy: { max_queue_size: {{.QueueSize}} }
}
{{- end}}

input [{{template "tensors" .Inputs}}
]
output [{{template "tensors" .Outputs}}
]
{{- if .Steps}}

ensemble_scheduling {
  step [
{{- range $i, $s := .Steps}}{{if $i}},{{end}}
    {
      model_name: "{{$s.Model}}"
      model_version: -1
{{- range $s.Inputs}}
      input_map {
        key: "{{.Key}}"
        value: "{{.Value}}"
      }
{{- end}}
{{- range $s.Outputs}}
      output_map {
        key: "{{.Key}}"
        value: "{{.Value}}"
      }
{{- end}}
    }
{{- end}}
  ]
}
{{- end}}
{{- if .Instances}}

instance_group [
  {
    count: {{.Instances}}
    kind: {{.Kind}}
  }
]
{{- end}}
{{- range .Params}}

parameters: {
  key: "{{.Key}}"
  value: {
    string_value: "{{.Value}}"
  }
}
{{- end}}
{{- define "tensors"}}
{{- range $i, $t := .}}{{if $i}},{{end}}
  {
    name: "{{$t.Name}}"
    data_type: {{$t.Type}}
    dims: [ {{$t.Dims}} ]
{{- if $t.Reshape}}
    reshape: { shape: [ ] }
{{- end}}
{{- if $t.Optional}}
    optional: true
{{- end}}
{{- if $t.Ragged}}
    allow_ragged_batch: true
{{- end}}
  }
{{- end}}
{{- end}}
`))

func in(name, typ, dims string) tensor { return tensor{Name: name, Type: typ, Dims: dims} }
func opt(name, typ, dims string) tensor {
	return tensor{Name: name, Type: typ, Dims: dims, Optional: true}
}

// scalar is an optional per-request scalar of tensorrt_llm.
func scalar(name, typ string) tensor {
	return tensor{Name: name, Type: typ, Dims: "1", Optional: true, Reshape: true}
}

func ragged(name, typ, dims string) tensor {
	return tensor{Name: name, Type: typ, Dims: dims, Optional: true, Ragged: true}
}

func boolStr(b bool) string { return strconv.FormatBool(b) }

// perRequestOutputs are tensorrt_llm's per-request outputs that the ensemble
// passes through: log probabilities, logits, batch and KV cache statistics,
// timestamps, speculative decoding and token counts.
func perRequestOutputs(s TRTSettings) []tensor {
	return []tensor{
		in("cum_log_probs", "TYPE_FP32", "-1"),
		in("output_log_probs", "TYPE_FP32", "-1, -1"),
		in("context_logits", s.LogitsDatatype, "-1, -1"),
		in("generation_logits", s.LogitsDatatype, "-1, -1, -1"),
		in("batch_index", "TYPE_INT32", "1"),
		in("sequence_index", "TYPE_INT32", "1"),
		in("kv_cache_alloc_new_blocks", "TYPE_INT32", "1"),
		in("kv_cache_reused_blocks", "TYPE_INT32", "1"),
		in("kv_cache_alloc_total_blocks", "TYPE_INT32", "1"),
		in("arrival_time_ns", "TYPE_INT64", "1"),
		in("first_scheduled_time_ns", "TYPE_INT64", "1"),
		in("first_token_time_ns", "TYPE_INT64", "1"),
		in("last_token_time_ns", "TYPE_INT64", "1"),
		in("acceptance_rate", "TYPE_FP32", "1"),
		in("total_accepted_draft_tokens", "TYPE_INT32", "1"),
		in("total_draft_tokens", "TYPE_INT32", "1"),
		in("num_input_tokens", "TYPE_INT32", "1"),
		in("num_output_tokens", "TYPE_INT32", "1"),
	}
}

func ensembleConfig(s TRTSettings) modelConfig {
	inputs := []tensor{
		in("text_input", "TYPE_STRING", "1"),
		opt("decoder_text_input", "TYPE_STRING", "1"),
		in("max_tokens", "TYPE_INT32", "1"),
		opt("num_return_sequences", "TYPE_INT32", "1"),
		opt("bad_words", "TYPE_STRING", "-1"),
		opt("stop_words", "TYPE_STRING", "-1"),
		opt("exclude_input_in_output", "TYPE_BOOL", "1"),
		opt("end_id", "TYPE_INT32", "1"),
		opt("pad_id", "TYPE_INT32", "1"),
		opt("top_k", "TYPE_INT32", "1"),
		opt("top_p", "TYPE_FP32", "1"),
		opt("temperature", "TYPE_FP32", "1"),
		opt("length_penalty", "TYPE_FP32", "1"),
		opt("repetition_penalty", "TYPE_FP32", "1"),
		opt("min_tokens", "TYPE_INT32", "1"),
		opt("presence_penalty", "TYPE_FP32", "1"),
		opt("frequency_penalty", "TYPE_FP32", "1"),
		opt("seed", "TYPE_UINT64", "1"),
		opt("return_log_probs", "TYPE_BOOL", "1"),
		opt("return_context_logits", "TYPE_BOOL", "1"),
		opt("return_generation_logits", "TYPE_BOOL", "1"),
		opt("return_perf_metrics", "TYPE_BOOL", "1"),
		opt("return_num_input_tokens", "TYPE_BOOL", "1"),
		opt("return_num_output_tokens", "TYPE_BOOL", "1"),
		opt("beam_width", "TYPE_INT32", "1"),
		opt("stream", "TYPE_BOOL", "1"),
		opt("prompt_embedding_table", "TYPE_FP16", "-1, -1"),
		opt("prompt_table_extra_id", "TYPE_UINT64", "1"),
		opt("prompt_vocab_size", "TYPE_INT32", "1"),
		opt("embedding_bias_words", "TYPE_STRING", "-1"),
		opt("embedding_bias_weights", "TYPE_FP32", "-1"),
		opt("lora_task_id", "TYPE_UINT64", "1"),
		ragged("lora_weights", "TYPE_FP16", "-1, -1"),
		ragged("lora_config", "TYPE_INT32", "-1, 3"),
		ragged("guided_decoding_guide_type", "TYPE_STRING", "1"),
		ragged("guided_decoding_guide", "TYPE_STRING", "1"),
	}
	// Outputs passed through from tensorrt_llm, besides text_output.
	passed := perRequestOutputs(s)
	outputs := append([]tensor{in("text_output", "TYPE_STRING", "-1")}, passed...)

	pre := step{Model: "preprocessing", Inputs: []mapping{
		{"QUERY", "text_input"}, {"DECODER_QUERY", "decoder_text_input"}, {"REQUEST_OUTPUT_LEN", "max_tokens"},
		{"BAD_WORDS_DICT", "bad_words"}, {"STOP_WORDS_DICT", "stop_words"},
		{"EMBEDDING_BIAS_WORDS", "embedding_bias_words"}, {"EMBEDDING_BIAS_WEIGHTS", "embedding_bias_weights"},
		{"END_ID", "end_id"}, {"PAD_ID", "pad_id"}, {"PROMPT_TABLE_EXTRA_ID", "prompt_table_extra_id"},
	}, Outputs: []mapping{
		{"REQUEST_INPUT_LEN", "_REQUEST_INPUT_LEN"}, {"INPUT_ID", "_INPUT_ID"},
		{"REQUEST_DECODER_INPUT_LEN", "_REQUEST_DECODER_INPUT_LEN"}, {"DECODER_INPUT_ID", "_DECODER_INPUT_ID"},
		{"REQUEST_OUTPUT_LEN", "_REQUEST_OUTPUT_LEN"}, {"STOP_WORDS_IDS", "_STOP_WORDS_IDS"},
		{"BAD_WORDS_IDS", "_BAD_WORDS_IDS"}, {"EMBEDDING_BIAS", "_EMBEDDING_BIAS"},
		{"OUT_END_ID", "_PREPROCESSOR_END_ID"}, {"OUT_PAD_ID", "_PREPROCESSOR_PAD_ID"},
		{"OUT_PROMPT_TABLE_EXTRA_IDS", "_OUT_PROMPT_TABLE_EXTRA_IDS"},
	}}
	llm := step{Model: "tensorrt_llm", Inputs: []mapping{
		{"input_ids", "_INPUT_ID"}, {"decoder_input_ids", "_DECODER_INPUT_ID"},
		{"input_lengths", "_REQUEST_INPUT_LEN"}, {"decoder_input_lengths", "_REQUEST_DECODER_INPUT_LEN"},
		{"exclude_input_in_output", "exclude_input_in_output"}, {"request_output_len", "_REQUEST_OUTPUT_LEN"},
		{"end_id", "_PREPROCESSOR_END_ID"}, {"pad_id", "_PREPROCESSOR_PAD_ID"}, {"embedding_bias", "_EMBEDDING_BIAS"},
		{"runtime_top_k", "top_k"}, {"runtime_top_p", "top_p"}, {"temperature", "temperature"},
		{"len_penalty", "length_penalty"}, {"repetition_penalty", "repetition_penalty"},
		{"min_tokens", "min_tokens"}, {"presence_penalty", "presence_penalty"},
		{"frequency_penalty", "frequency_penalty"}, {"seed", "seed"},
		{"return_log_probs", "return_log_probs"}, {"return_context_logits", "return_context_logits"},
		{"return_generation_logits", "return_generation_logits"}, {"return_perf_metrics", "return_perf_metrics"},
		{"return_num_input_tokens", "return_num_input_tokens"}, {"return_num_output_tokens", "return_num_output_tokens"},
		{"num_return_sequences", "num_return_sequences"}, {"beam_width", "beam_width"},
		{"streaming", "stream"},
		{"prompt_embedding_table", "prompt_embedding_table"}, {"prompt_vocab_size", "prompt_vocab_size"},
		{"stop_words_list", "_STOP_WORDS_IDS"}, {"bad_words_list", "_BAD_WORDS_IDS"},
		{"prompt_table_extra_ids", "_OUT_PROMPT_TABLE_EXTRA_IDS"},
		{"lora_task_id", "lora_task_id"}, {"lora_weights", "lora_weights"}, {"lora_config", "lora_config"},
		{"guided_decoding_guide_type", "guided_decoding_guide_type"}, {"guided_decoding_guide", "guided_decoding_guide"},
	}, Outputs: []mapping{{"output_ids", "_TOKENS_BATCH"}, {"sequence_length", "_SEQUENCE_LENGTH"}}}
	for _, t := range passed {
		llm.Outputs = append(llm.Outputs, mapping{t.Name, t.Name})
	}
	post := step{Model: "postprocessing", Inputs: []mapping{
		{"TOKENS_BATCH", "_TOKENS_BATCH"}, {"SEQUENCE_LENGTH", "_SEQUENCE_LENGTH"},
	}, Outputs: []mapping{{"OUTPUT", "text_output"}}}

	return modelConfig{Name: "ensemble", Platform: "ensemble", MaxBatch: s.MaxBatchSize,
		Inputs: inputs, Outputs: outputs, Steps: []step{pre, llm, post}}
}

func preprocessingConfig(s TRTSettings) modelConfig {
	return modelConfig{
		Name: "preprocessing", Backend: "python", MaxBatch: s.MaxBatchSize,
		Batching: "full", Preferred: s.MaxBatchSize, QueueDelay: s.MaxQueueDelayMicroseconds, QueueSize: s.MaxQueueSize,
		// Grouped by meaning, as the ensemble's maps: text, images and video,
		// the output length, word lists, embedding bias, special ids.
		Inputs: []tensor{
			in("QUERY", "TYPE_STRING", "1"), opt("DECODER_QUERY", "TYPE_STRING", "1"),
			opt("IMAGE_BYTES", "TYPE_UINT8", "-1, -1, -1, -1"), opt("IMAGE_URL", "TYPE_STRING", "1"),
			opt("IMAGES", "TYPE_STRING", "-1"), opt("VIDEO_BYTES", "TYPE_UINT8", "-1, -1, -1, -1"),
			in("REQUEST_OUTPUT_LEN", "TYPE_INT32", "1"),
			opt("BAD_WORDS_DICT", "TYPE_STRING", "-1"), opt("STOP_WORDS_DICT", "TYPE_STRING", "-1"),
			opt("EMBEDDING_BIAS_WORDS", "TYPE_STRING", "-1"), opt("EMBEDDING_BIAS_WEIGHTS", "TYPE_FP32", "-1"),
			opt("END_ID", "TYPE_INT32", "1"), opt("PAD_ID", "TYPE_INT32", "1"),
			opt("PROMPT_TABLE_EXTRA_ID", "TYPE_UINT64", "1"),
		},
		// model.py looks up the data type of every one of these outputs:
		// token ids and lengths, word lists, bias, special ids, then the
		// multimodal tensors.
		Outputs: []tensor{
			in("INPUT_ID", "TYPE_INT32", "-1"), in("REQUEST_INPUT_LEN", "TYPE_INT32", "1"),
			in("DECODER_INPUT_ID", "TYPE_INT32", "-1"), in("REQUEST_DECODER_INPUT_LEN", "TYPE_INT32", "1"),
			in("BAD_WORDS_IDS", "TYPE_INT32", "2, -1"), in("STOP_WORDS_IDS", "TYPE_INT32", "2, -1"),
			in("EMBEDDING_BIAS", "TYPE_FP32", "-1"), in("REQUEST_OUTPUT_LEN", "TYPE_INT32", "-1"),
			in("OUT_END_ID", "TYPE_INT32", "1"), in("OUT_PAD_ID", "TYPE_INT32", "1"),
			in("OUT_PROMPT_TABLE_EXTRA_IDS", "TYPE_UINT64", "-1"),
			in("PIXEL_VALUES", "TYPE_FP16", "-1, -1, -1, -1"), in("ASPECT_RATIO_IDS", "TYPE_INT64", "-1"),
			in("ASPECT_RATIO_MASK", "TYPE_INT64", "-1, -1"), in("CROSS_ATTENTION_MASK", "TYPE_INT64", "-1, -1, -1"),
			in("IMAGE_SIZES", "TYPE_INT64", "-1, 2"), in("IS_VIDEO_INPUT", "TYPE_BOOL", "1"),
			in("ATTENTION_MASK", "TYPE_INT64", "-1"), in("IMAGE_GRID_THW", "TYPE_INT64", "3"),
			in("VISION_INPUT_ID", "TYPE_INT32", "-1"),
		},
		Params: []param{
			{"tokenizer_dir", s.TokenizerDir},
			{"add_special_tokens", boolStr(s.AddSpecialTokens)},
			// model.py reads this key unconditionally; "" means text only.
			{"multimodal_model_path", ""},
			{"gpt_model_path", s.EngineDir},
			{"max_num_images", ""},
			{"hf_model_path", ""},
		},
		Instances: s.PreprocessingInstances, Kind: "KIND_CPU",
	}
}

func postprocessingConfig(s TRTSettings) modelConfig {
	return modelConfig{
		Name: "postprocessing", Backend: "python", MaxBatch: s.MaxBatchSize, Batching: "empty",
		Inputs: []tensor{
			in("TOKENS_BATCH", "TYPE_INT32", "-1, -1"),
			in("SEQUENCE_LENGTH", "TYPE_INT32", "-1"),
		},
		Outputs: []tensor{in("OUTPUT", "TYPE_STRING", "-1")},
		Params: []param{
			{"tokenizer_dir", s.TokenizerDir},
			{"skip_special_tokens", boolStr(s.SkipSpecialTokens)},
		},
		Instances: s.PostprocessingInstances, Kind: "KIND_CPU",
	}
}

func tensorrtLLMConfig(s TRTSettings) modelConfig {
	d := s.Decoupled
	return modelConfig{
		Name: "tensorrt_llm", Backend: "tensorrtllm", MaxBatch: s.MaxBatchSize, Decoupled: &d,
		Batching: "full", Preferred: s.MaxBatchSize, QueueDelay: s.MaxQueueDelayMicroseconds, QueueSize: s.MaxQueueSize,
		Inputs: []tensor{
			{Name: "input_ids", Type: "TYPE_INT32", Dims: "-1", Optional: true, Ragged: true},
			ragged("encoder_input_features", "TYPE_FP16", "-1, -1"),
			scalar("encoder_output_lengths", "TYPE_INT32"),
			{Name: "input_lengths", Type: "TYPE_INT32", Dims: "1", Reshape: true},
			{Name: "request_output_len", Type: "TYPE_INT32", Dims: "1", Reshape: true},
			scalar("num_return_sequences", "TYPE_INT32"),
			ragged("draft_input_ids", "TYPE_INT32", "-1"),
			ragged("decoder_input_ids", "TYPE_INT32", "-1"),
			scalar("decoder_input_lengths", "TYPE_INT32"),
			ragged("draft_logits", s.LogitsDatatype, "-1, -1"),
			scalar("draft_acceptance_threshold", "TYPE_FP32"),
			scalar("end_id", "TYPE_INT32"),
			scalar("pad_id", "TYPE_INT32"),
			ragged("stop_words_list", "TYPE_INT32", "2, -1"),
			ragged("bad_words_list", "TYPE_INT32", "2, -1"),
			ragged("embedding_bias", "TYPE_FP32", "-1"),
			scalar("beam_width", "TYPE_INT32"),
			scalar("temperature", "TYPE_FP32"),
			scalar("runtime_top_k", "TYPE_INT32"),
			scalar("runtime_top_p", "TYPE_FP32"),
			scalar("runtime_top_p_min", "TYPE_FP32"),
			scalar("runtime_top_p_decay", "TYPE_FP32"),
			scalar("runtime_top_p_reset_ids", "TYPE_INT32"),
			scalar("len_penalty", "TYPE_FP32"),
			scalar("early_stopping", "TYPE_BOOL"),
			scalar("repetition_penalty", "TYPE_FP32"),
			scalar("min_tokens", "TYPE_INT32"),
			scalar("beam_search_diversity_rate", "TYPE_FP32"),
			scalar("presence_penalty", "TYPE_FP32"),
			scalar("frequency_penalty", "TYPE_FP32"),
			scalar("seed", "TYPE_UINT64"),
			scalar("return_log_probs", "TYPE_BOOL"),
			scalar("return_context_logits", "TYPE_BOOL"),
			scalar("return_generation_logits", "TYPE_BOOL"),
			scalar("return_perf_metrics", "TYPE_BOOL"),
			scalar("return_num_input_tokens", "TYPE_BOOL"),
			scalar("return_num_output_tokens", "TYPE_BOOL"),
			scalar("exclude_input_in_output", "TYPE_BOOL"),
			scalar("stop", "TYPE_BOOL"),
			scalar("streaming", "TYPE_BOOL"),
			ragged("prompt_embedding_table", "TYPE_FP16", "-1, -1"),
			ragged("prompt_table_extra_ids", "TYPE_UINT64", "-1"),
			scalar("prompt_vocab_size", "TYPE_INT32"),
			ragged("cross_attention_mask", "TYPE_BOOL", "-1, -1"),
			opt("mrope_rotary_cos_sin", "TYPE_FP32", "-1"),
			opt("mrope_position_deltas", "TYPE_INT64", "1"),
			scalar("lora_task_id", "TYPE_UINT64"),
			ragged("lora_weights", "TYPE_FP16", "-1, -1"),
			ragged("lora_config", "TYPE_INT32", "-1, 3"),
			ragged("context_phase_params", "TYPE_UINT8", "-1"),
			ragged("skip_cross_attn_blocks", "TYPE_BOOL", "1"),
			ragged("retention_token_range_starts", "TYPE_INT32", "-1"),
			ragged("retention_token_range_ends", "TYPE_INT32", "-1"),
			ragged("retention_token_range_priorities", "TYPE_INT32", "-1"),
			ragged("retention_token_range_durations_ms", "TYPE_INT32", "-1"),
			ragged("retention_decode_priority", "TYPE_INT32", "1"),
			ragged("retention_decode_duration_ms", "TYPE_INT32", "1"),
			ragged("guided_decoding_guide_type", "TYPE_STRING", "1"),
			ragged("guided_decoding_guide", "TYPE_STRING", "1"),
			ragged("lookahead_window_size", "TYPE_INT32", "1"),
			ragged("lookahead_ngram_size", "TYPE_INT32", "1"),
			ragged("lookahead_verification_set_size", "TYPE_INT32", "1"),
		},
		Outputs: append([]tensor{
			in("output_ids", "TYPE_INT32", "-1, -1"),
			in("sequence_length", "TYPE_INT32", "-1"),
			in("context_phase_params", "TYPE_UINT8", "-1"),
		}, perRequestOutputs(s)...),
		Instances: 1, Kind: "KIND_CPU",
		// Keys left out are the backend's defaults (the upstream template
		// leaves them as unfilled ${...} placeholders, which it ignores).
		Params: []param{
			{"max_beam_width", strconv.Itoa(s.MaxBeamWidth)},
			{"FORCE_CPU_ONLY_INPUT_TENSORS", "no"},
			{"gpt_model_type", "inflight_fused_batching"},
			{"gpt_model_path", s.EngineDir},
			{"batch_scheduler_policy", s.BatchSchedulerPolicy},
			{"kv_cache_free_gpu_mem_fraction", strconv.FormatFloat(s.KVCacheFreeGPUMemFraction, 'f', -1, 64)},
			{"exclude_input_in_output", boolStr(s.ExcludeInputInOutput)},
			{"enable_kv_cache_reuse", boolStr(s.EnableKVCacheReuse)},
			{"enable_chunked_context", boolStr(s.EnableChunkedContext)},
			{"executor_worker_path", "/opt/tritonserver/backends/tensorrtllm/trtllmExecutorWorker"},
			{"tokenizer_dir", s.TokenizerDir},
		},
	}
}

// TRTFiles renders the repository's config files (and the empty version
// directory the ensemble needs), keyed by path relative to the repository
// root. The engine, the tokenizer and the Python models' model.py files come
// from the build.
func TRTFiles(s TRTSettings) (map[string][]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	files := map[string][]byte{
		path.Join("ensemble", "1", ".keep"): {},
	}
	for _, m := range []modelConfig{ensembleConfig(s), preprocessingConfig(s), tensorrtLLMConfig(s), postprocessingConfig(s)} {
		var b bytes.Buffer
		if err := configTmpl.Execute(&b, m); err != nil {
			return nil, fmt.Errorf("rendering %s/config.pbtxt: %w", m.Name, err)
		}
		files[path.Join(m.Name, "config.pbtxt")] = b.Bytes()
	}
	return files, nil
}
