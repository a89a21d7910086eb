package check

import (
	"math"
	"strings"
	"testing"
)

func TestParseModelSize(t *testing.T) {
	tests := []struct {
		id, dtype string
		params    float64
		bytes     float64
		format    string
	}{
		{"Qwen/Qwen2.5-1.5B-Instruct", "", 1.5e9, 2, "bf16"},
		{"Qwen2.5-1.5B-Instruct", "auto", 1.5e9, 2, "bf16"},
		{"Qwen/Qwen3-4B-FP8", "", 4e9, 1, "fp8"},
		{"Qwen/Qwen3-4B-FP8", "float32", 4e9, 1, "fp8"}, // quantized weights ignore DTYPE
		{"facebook/opt-125m", "", 125e6, 2, "bf16"},
		{"facebook/opt-125m", "float16", 125e6, 2, "fp16"},
		{"facebook/opt-125m", "float32", 125e6, 4, "fp32"},
		{"meta-llama/Llama-3.1-8B-Instruct", "", 8e9, 2, "bf16"},
		{"meta-llama/Llama-2-7b-chat-hf", "", 7e9, 2, "bf16"},
		{"neuralmagic/Meta-Llama-3.1-70B-Instruct-FP8-dynamic", "", 70e9, 1, "fp8"},
		{"Qwen/Qwen2.5-7B-Instruct-AWQ", "", 7e9, 0.5, "int4"},
		{"Qwen/Qwen2.5-7B-Instruct-GPTQ-Int8", "", 7e9, 1, "int8"},
		{"Qwen/Qwen2.5-7B-Instruct-GPTQ-Int4", "", 7e9, 0.5, "int4"},
		{"unsloth/llama-3-8b-bnb-4bit", "", 8e9, 0.5, "int4"},
		{"Qwen/Qwen3-30B-A3B", "", 30e9, 2, "bf16"}, // total, not active parameters
		{"mistralai/Mixtral-8x7B-Instruct-v0.1", "", 56e9, 2, "bf16"},
		{"bigscience/bloom-7b1", "", 7.1e9, 2, "bf16"},
		{"openai/gpt-oss-20b", "", 20e9, 0.5, "fp4"},
		{"Qwen/Qwen2.5-Coder-7B-Instruct-128K", "", 7e9, 2, "bf16"}, // 128K is context, not size
		{"deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", "", 1.5e9, 2, "bf16"},
		{"HuggingFaceTB/SmolLM2-135M-Instruct", "", 135e6, 2, "bf16"},
		{"/models/hub/Qwen2.5-0.5B-Instruct", "", 0.5e9, 2, "bf16"},
		{"nvidia/Llama-3.1-8B-Instruct-NVFP4", "", 8e9, 0.5, "fp4"},
		{"RedHatAI/Meta-Llama-3.1-8B-Instruct-quantized.w8a8", "", 8e9, 1, "int8"},
		{"RedHatAI/Qwen2.5-7B-Instruct-quantized.w4a16", "", 7e9, 0.5, "int4"},
		{"RedHatAI/Llama-3.1-8B-Instruct-W8A8", "", 8e9, 1, "int8"},
	}
	for _, tt := range tests {
		m, err := ParseModelSize(tt.id, tt.dtype)
		if err != nil {
			t.Errorf("%s: %v", tt.id, err)
			continue
		}
		if math.Abs(m.Params-tt.params) > 1 || m.BytesPerParam != tt.bytes || m.Format != tt.format {
			t.Errorf("%s (%s): got %+v, want %g params, %g bytes %s", tt.id, tt.dtype, m, tt.params, tt.bytes, tt.format)
		}
	}
	for _, bad := range []struct{ id, dtype, want string }{
		{"microsoft/phi-2", "", "no parameter count"},
		{"gpt2", "", "no parameter count"},
		{"", "", "empty model id"},
		{"Phi-3-mini-4k-instruct", "", "no parameter count"},
		{"TheBloke/Llama-2-7B-Chat-GGUF", "", "GGUF"},
		{"Qwen/Qwen2.5-1.5B", "int3", "DTYPE"},
		{"model-99999T", "", "no parameter count"},
	} {
		if m, err := ParseModelSize(bad.id, bad.dtype); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ParseModelSize(%q, %q) = %+v, %v; want error containing %q", bad.id, bad.dtype, m, err, bad.want)
		}
	}
}

func TestEstimateMemory(t *testing.T) {
	m, err := ParseModelSize("Qwen/Qwen2.5-1.5B-Instruct", "")
	if err != nil {
		t.Fatal(err)
	}
	e := EstimateMemory(m, 0)
	if e.Weights != 3e9 || e.KVCache != 0 || e.Overhead != 1.5*gib+3e8 || e.Total != e.Weights+e.Overhead {
		t.Errorf("no MAX_MODEL_LEN: %+v", e)
	}
	e = EstimateMemory(m, 4096)
	wantKV := 4096 * 48 * 1024 * math.Sqrt(1.5)
	if math.Abs(e.KVCache-wantKV) > 1 || e.Total != e.Weights+e.Overhead+e.KVCache {
		t.Errorf("MAX_MODEL_LEN 4096: %+v, want KV %g", e, wantKV)
	}
	if s := e.String(); !strings.Contains(s, "1.5B params × 2 B bf16 = 2.8 GiB weights") || !strings.Contains(s, "GiB KV cache") {
		t.Errorf("String() = %q", s)
	}
	// KV per token is in the range of real GQA models.
	for _, c := range []struct {
		params, lo, hi float64
	}{{1.5e9, 28 << 10, 128 << 10}, {8e9, 128 << 10, 256 << 10}, {70e9, 320 << 10, 640 << 10}} {
		if kv := KVBytesPerToken(c.params); kv < c.lo || kv > c.hi {
			t.Errorf("KVBytesPerToken(%g) = %g, want in [%g, %g]", c.params, kv, c.lo, c.hi)
		}
	}
}

func FuzzParseModelSize(f *testing.F) {
	for _, s := range []string{"Qwen/Qwen2.5-1.5B-Instruct", "Qwen/Qwen3-4B-FP8", "mistralai/Mixtral-8x7B", "bloom-7b1", "x-999x9999.999t", "a/b/c/d-1b"} {
		f.Add(s, "")
	}
	f.Add("opt-125m", "float32")
	f.Fuzz(func(t *testing.T, id, dtype string) {
		m, err := ParseModelSize(id, dtype)
		if err != nil {
			return
		}
		if m.Params < 1e6 || m.Params > 1e13 || !(m.BytesPerParam == 0.5 || m.BytesPerParam == 1 || m.BytesPerParam == 2 || m.BytesPerParam == 4) || m.Format == "" {
			t.Fatalf("ParseModelSize(%q, %q) = %+v", id, dtype, m)
		}
		e := EstimateMemory(m, 1<<17)
		if !(e.Total > e.Weights && e.Total < math.Inf(1)) {
			t.Fatalf("estimate %+v", e)
		}
	})
}
