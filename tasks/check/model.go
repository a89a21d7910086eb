package check

import (
	"fmt"
	"math"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// ModelSize is what a Hugging Face model id says about the model's size.
type ModelSize struct {
	Params        float64 // parameter count, e.g. 1.5e9
	BytesPerParam float64 // 2 for bf16/fp16, 1 for fp8/int8, 0.5 for 4-bit
	Format        string  // "bf16", "fp32", "fp8", "int8", "int4", "fp4"
}

var (
	// "1.5B", "125m", "8x7B" (mixture of experts), "7b1" (BLOOM's 7.1B)
	reSize     = regexp.MustCompile(`^(?:(\d{1,3})x)?(\d{1,4}(?:\.\d{1,3})?)([mbt])$`)
	reSizeAlt  = regexp.MustCompile(`^(\d{1,4})b(\d)$`)
	reSplit    = regexp.MustCompile(`[-_/ ]+`)
	reSplitDot = regexp.MustCompile(`[-_/ .]+`)
)

// Quantization markers in model ids, matched against whole lower-cased
// tokens in this order ("GPTQ-Int8" is int8, "GPTQ-Int4" and "AWQ" int4).
var quantTokens = []struct {
	token  string
	format string
	bytes  float64
}{
	{"fp8", "fp8", 1}, {"w8a8", "int8", 1}, {"w8a16", "int8", 1},
	{"int8", "int8", 1}, {"8bit", "int8", 1},
	{"nvfp4", "fp4", 0.5}, {"mxfp4", "fp4", 0.5}, {"fp4", "fp4", 0.5},
	{"awq", "int4", 0.5}, {"gptq", "int4", 0.5}, {"int4", "int4", 0.5}, {"w4a16", "int4", 0.5},
	{"4bit", "int4", 0.5},
}

// ParseModelSize infers the parameter count and weight format from a model
// id such as "Qwen/Qwen2.5-1.5B-Instruct" (1.5e9, bf16) or "Qwen/Qwen3-4B-FP8"
// (4e9, fp8). dtype is the DTYPE setting (auto, float16, bfloat16, half,
// float32; "" = auto); it only matters for unquantized models. Several size
// tokens ("Qwen3-30B-A3B") give the largest, which for mixture-of-experts
// models is the total that must fit in memory; "8x7B" counts 56B.
func ParseModelSize(id, dtype string) (ModelSize, error) {
	name := strings.ToLower(strings.TrimSpace(id))
	if name == "" {
		return ModelSize{}, fmt.Errorf("empty model id")
	}
	// Local paths: only the last two elements say anything.
	if strings.Count(name, "/") > 1 {
		name = path.Join(path.Base(path.Dir(name)), path.Base(name))
	}
	tokens := reSplit.Split(name, -1)
	var m ModelSize
	for _, tok := range tokens {
		if p := tokenParams(tok); p > m.Params {
			m.Params = p
		}
	}
	if m.Params < 1e6 || m.Params > 1e13 {
		return ModelSize{}, fmt.Errorf("model id %q has no parameter count such as -1.5B- or -125M-", id)
	}
	// Quantization tokens may also follow a dot: "...-quantized.w8a8".
	joined := "-" + strings.Join(reSplitDot.Split(name, -1), "-") + "-"
	for _, q := range quantTokens {
		if strings.Contains(joined, "-"+q.token+"-") {
			m.Format, m.BytesPerParam = q.format, q.bytes
			break
		}
	}
	if m.Format == "" && strings.Contains(joined, "-gpt-oss-") { // ships MXFP4 expert weights
		m.Format, m.BytesPerParam = "fp4", 0.5
	}
	if m.Format == "" && strings.Contains(joined, "-gguf-") {
		return ModelSize{}, fmt.Errorf("model id %q is a GGUF repository: its size depends on the file's quantization", id)
	}
	if m.Format == "" {
		switch strings.ToLower(dtype) {
		case "", "auto", "bfloat16", "float16", "half":
			m.Format, m.BytesPerParam = "bf16", 2
			if d := strings.ToLower(dtype); d == "float16" || d == "half" {
				m.Format = "fp16"
			}
		case "float32", "float":
			m.Format, m.BytesPerParam = "fp32", 4
		default:
			return ModelSize{}, fmt.Errorf("DTYPE=%q: expected auto, float16, bfloat16, half or float32", dtype)
		}
	}
	return m, nil
}

func tokenParams(tok string) float64 {
	if s := reSizeAlt.FindStringSubmatch(tok); s != nil { // "7b1"
		whole, _ := strconv.ParseFloat(s[1], 64)
		frac, _ := strconv.ParseFloat(s[2], 64)
		return (whole + frac/10) * 1e9
	}
	s := reSize.FindStringSubmatch(tok)
	if s == nil {
		return 0
	}
	n, err := strconv.ParseFloat(s[2], 64)
	if err != nil {
		return 0
	}
	if s[1] != "" {
		experts, _ := strconv.ParseFloat(s[1], 64)
		n *= experts
	}
	switch s[3] {
	case "m":
		n *= 1e6
	case "b":
		n *= 1e9
	case "t":
		n *= 1e12
	}
	return n
}

// Estimate is the GPU memory a model needs, in bytes.
type Estimate struct {
	Model    ModelSize
	Weights  float64 // Params × BytesPerParam
	Overhead float64 // activations, CUDA graphs, CUDA context: 1.5 GiB + 10% of the weights
	KVCache  float64 // one sequence of MaxModelLen tokens; 0 when MaxModelLen is 0
	Total    float64
}

const gib = 1 << 30

// KVBytesPerToken is a rough 16-bit KV-cache size per token for a model of
// params parameters: 48 KiB × sqrt(params in billions). It is close to or
// above grouped-query-attention models (Qwen2.5-1.5B 28 KiB, Llama-3-8B
// 128 KiB, Llama-3-70B 320 KiB) and below old multi-head models.
func KVBytesPerToken(params float64) float64 {
	return 48 * 1024 * math.Sqrt(params/1e9)
}

// EstimateMemory adds headroom and the KV cache of one maxModelLen-token
// sequence (what vLLM must fit at start-up) to the weights.
func EstimateMemory(m ModelSize, maxModelLen int) Estimate {
	e := Estimate{Model: m, Weights: m.Params * m.BytesPerParam}
	e.Overhead = 1.5*gib + 0.1*e.Weights
	if maxModelLen > 0 {
		e.KVCache = float64(maxModelLen) * KVBytesPerToken(m.Params)
	}
	e.Total = e.Weights + e.Overhead + e.KVCache
	return e
}

func (e Estimate) String() string {
	s := fmt.Sprintf("~%.1f GiB (%s params × %g B %s = %.1f GiB weights + %.1f GiB overhead",
		e.Total/gib, humanParams(e.Model.Params), e.Model.BytesPerParam, e.Model.Format, e.Weights/gib, e.Overhead/gib)
	if e.KVCache > 0 {
		s += fmt.Sprintf(" + %.1f GiB KV cache", e.KVCache/gib)
	}
	return s + ")"
}

func humanParams(p float64) string {
	switch {
	case p >= 1e12:
		return strconv.FormatFloat(p/1e12, 'g', 4, 64) + "T"
	case p >= 1e9:
		return strconv.FormatFloat(p/1e9, 'g', 4, 64) + "B"
	default:
		return strconv.FormatFloat(p/1e6, 'g', 4, 64) + "M"
	}
}
