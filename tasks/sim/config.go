// Package sim is an inference-server simulator: one engine model
// (continuous batching with a paged KV cache, as vLLM schedules) behind three
// "personalities" that speak the HTTP APIs and export the Prometheus metrics
// of the real servers:
//
//   - vllm:        vLLM's OpenAI API server (/v1/completions, /v1/chat/completions,
//     /v1/models, /health, /version, /metrics with vLLM 0.14's families).
//   - triton-vllm: Triton (KServe v2 HTTP, generate extension) serving a
//     vLLM-backend model; metrics (nv_*, vllm:* of the Triton vLLM backend) on
//     a separate port, as Triton's 8002.
//   - triton-trt:  Triton serving a TensorRT-LLM ensemble ("ensemble",
//     "preprocessing", "tensorrt_llm", "postprocessing"); nv_* and nv_trt_llm_*.
//
// An optional dcgm-exporter look-alike (DCGM_FI_DEV_*) serves GPU metrics
// that follow the engine's load.
//
// Token counting uses no real tokenizer; see CountTokens for the rule.
//
// Files by job: config.go (flags, environment, validation), server.go
// (listeners, readiness), engine.go with engine_batch.go and
// engine_constant.go (the engine core and its two schedulers), http.go
// (helpers every personality's handlers share), openai*.go (vLLM's API),
// triton*.go (Triton's model repository, HTTP front, generate and infer),
// metrics_*.go, expo.go and gpu.go (the metrics pages), tokens.go and
// prefix.go (token counting, the prefix cache), limits.go and hang.go
// (hostile clients, hung requests).
package sim

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
)

// Personalities: the backend table's (backend.Personality), as the
// strings Config.Personality holds.
const (
	PersonalityVLLM       = string(backend.PersonalityVLLM)
	PersonalityTritonVLLM = string(backend.PersonalityTritonVLLM)
	PersonalityTritonTRT  = string(backend.PersonalityTritonTRT)
)

// Personalities lists the valid values of Config.Personality, in the
// backend table's order.
var Personalities = personalities()

func personalities() []string {
	p := make([]string, len(backend.Personalities))
	for i, v := range backend.Personalities {
		p[i] = string(v)
	}
	return p
}

// orList joins xs as "a, b or c".
func orList(xs []string) string {
	if len(xs) < 2 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}

// Config is everything the simulator can be told. Every field has a flag
// (RegisterFlags) and an environment variable SIM_<FLAG NAME> with dashes
// as underscores (ApplyEnv), e.g. -max-num-seqs and SIM_MAX_NUM_SEQS.
type Config struct {
	Personality string

	// Listen addresses. MetricsAddr "" means: the personality's default
	// (none for vllm, whose /metrics is on Addr; 127.0.0.1:8002 for Triton).
	// DCGMAddr "" disables the dcgm-exporter look-alike.
	Addr, MetricsAddr, DCGMAddr string

	Model           string // vllm: shown as "root" in /v1/models
	ServedModelName string // vllm: the model name requests use; triton-vllm: the Triton model name
	VLLMVersion     string // /version and the engine's pretend version
	TritonVersion   string // /v2 server metadata

	// Engine.
	MaxModelLen         int
	MaxNumSeqs          int
	MaxNumBatchedTokens int // token budget per step (prefill tokens + decoding sequences)
	MaxWaiting          int // bounded waiting queue; beyond it requests are refused
	NumGPUBlocks        int
	BlockSize           int
	EnablePrefixCaching bool
	GPUMemoryUtil       float64 // reported only (cache_config_info, GPU memory)

	PrefillBase     time.Duration // a: prefill time = a + b x uncached prompt tokens
	PrefillPerToken time.Duration // b
	DecodeBase      time.Duration // c: decode step = c + d x decoding sequences
	DecodePerSeq    time.Duration // d

	// Constant-latency mode: when either is > 0 every request, once one of
	// the MaxNumSeqs slots is free (FIFO, MaxWaiting bounding the queue),
	// gets its first token this TTFT after it starts and then this gap
	// between tokens; no batching or KV limits apply. Capacity is
	// MaxNumSeqs / (ConstantTTFT + (tokens-1) x ConstantITL) requests/s.
	ConstantTTFT time.Duration
	ConstantITL  time.Duration

	// Output length when the request does not ignore EOS: lognormal with this
	// mean (tokens) and sigma (of the underlying normal).
	OutputTokensMean  float64
	OutputTokensSigma float64

	Seed uint64

	// Faults.
	ErrorRate           float64       // fraction of requests answered with HTTP 500 at once
	MidstreamFailRate   float64       // fraction of requests that fail after some tokens
	StallRate           float64       // fraction of requests that pause once mid-stream
	HangRate            float64       // fraction of requests accepted and never answered (no headers)
	Stall               time.Duration // length of that pause
	StartupDelay        time.Duration // not ready for this long after start
	TRTDecoupled        bool          // triton-trt: tensorrt_llm/ensemble decoupled (streaming)
	TritonHistLatencies bool          // triton: nv_inference_first_response_histogram_ms (histogram_latencies=true)

	// GPU the metrics pretend to have.
	GPUName      string
	GPUMemoryMiB int
	GPUPowerMaxW float64
	GPUPowerIdle float64
	Hostname     string

	// Hostile clients (limits.go). A header or idle timeout of 0 is the
	// read timeout; a read timeout of 0 is no limit.
	ReadHeaderTimeout time.Duration // request line and headers
	ReadTimeout       time.Duration // headers and body; lifted once the body is read (streams are long)
	IdleTimeout       time.Duration // keep-alive connection without a request
	MaxConnections    int           // open connections of all listeners; 0: the open-files limit less a reserve
	MaxBodySize       int64         // bytes of one request body
	MaxBodyMemory     int64         // bytes of request bodies in flight across all requests
}

// DefaultConfig returns the defaults: a small model on one GPU.
func DefaultConfig(personality string) Config {
	if personality == "" {
		personality = PersonalityVLLM
	}
	name := "qwen"
	return Config{
		Personality:         personality,
		Addr:                "127.0.0.1:8000",
		Model:               "Qwen/Qwen2.5-1.5B-Instruct",
		ServedModelName:     name,
		VLLMVersion:         "0.14.0",
		TritonVersion:       "2.65.0",
		MaxModelLen:         4096,
		MaxNumSeqs:          64,
		MaxNumBatchedTokens: 8192,
		MaxWaiting:          1000,
		NumGPUBlocks:        2000,
		BlockSize:           16,
		EnablePrefixCaching: true,
		GPUMemoryUtil:       0.9,
		PrefillBase:         15 * time.Millisecond,
		PrefillPerToken:     50 * time.Microsecond,
		DecodeBase:          8 * time.Millisecond,
		DecodePerSeq:        100 * time.Microsecond,
		OutputTokensMean:    128,
		OutputTokensSigma:   0.5,
		Stall:               2 * time.Second,
		TRTDecoupled:        true,
		GPUName:             "NVIDIA L4",
		GPUMemoryMiB:        23034,
		GPUPowerMaxW:        72,
		GPUPowerIdle:        16,
		Hostname:            "sim",
		ReadHeaderTimeout:   DefaultReadHeaderTimeout,
		ReadTimeout:         DefaultReadTimeout,
		IdleTimeout:         DefaultIdleTimeout,
		MaxBodySize:         DefaultMaxBodySize,
		MaxBodyMemory:       DefaultMaxBodyMemory,
	}
}

// RegisterFlags defines one flag per field, bound to c (its current values
// are the defaults).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Personality, "personality", c.Personality, "server to imitate: "+orList(Personalities))
	fs.StringVar(&c.Addr, "addr", c.Addr, "API listen address (host:port)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "metrics listen address; empty: "+PersonalityVLLM+" serves /metrics on -addr only, Triton uses "+defaultTritonMetricsAddr)
	fs.StringVar(&c.DCGMAddr, "dcgm-addr", c.DCGMAddr, "dcgm-exporter look-alike listen address (e.g. :9400); empty: off")
	fs.StringVar(&c.Model, "model", c.Model, "model path ("+PersonalityVLLM+": the root shown in /v1/models)")
	fs.StringVar(&c.ServedModelName, "served-model-name", c.ServedModelName, "model name clients use ("+PersonalityVLLM+") / Triton model name ("+PersonalityTritonVLLM+")")
	fs.StringVar(&c.VLLMVersion, "vllm-version", c.VLLMVersion, "version reported by /version")
	fs.StringVar(&c.TritonVersion, "triton-version", c.TritonVersion, "version reported by Triton's /v2")
	fs.IntVar(&c.MaxModelLen, "max-model-len", c.MaxModelLen, "maximum prompt + output tokens per request")
	fs.IntVar(&c.MaxNumSeqs, "max-num-seqs", c.MaxNumSeqs, "maximum running sequences per step (constant-latency mode too: more wait in a FIFO queue)")
	fs.IntVar(&c.MaxNumBatchedTokens, "max-num-batched-tokens", c.MaxNumBatchedTokens, "token budget per step")
	fs.IntVar(&c.MaxWaiting, "max-waiting-queue-length", c.MaxWaiting, "waiting queue bound; beyond it requests get 503")
	fs.IntVar(&c.NumGPUBlocks, "num-gpu-blocks", c.NumGPUBlocks, "KV cache blocks")
	fs.IntVar(&c.BlockSize, "block-size", c.BlockSize, "tokens per KV cache block")
	fs.BoolVar(&c.EnablePrefixCaching, "enable-prefix-caching", c.EnablePrefixCaching, "reuse cached KV blocks of equal prompt prefixes")
	fs.Float64Var(&c.GPUMemoryUtil, "gpu-memory-utilization", c.GPUMemoryUtil, "fraction of GPU memory reported as used by the engine")
	fs.DurationVar(&c.PrefillBase, "prefill-base", c.PrefillBase, "prefill time per step: base")
	fs.DurationVar(&c.PrefillPerToken, "prefill-per-token", c.PrefillPerToken, "prefill time per uncached prompt token")
	fs.DurationVar(&c.DecodeBase, "decode-base", c.DecodeBase, "decode step time: base")
	fs.DurationVar(&c.DecodePerSeq, "decode-per-seq", c.DecodePerSeq, "decode step time per running sequence")
	fs.DurationVar(&c.ConstantTTFT, "constant-ttft", c.ConstantTTFT, "constant-latency mode: fixed time to first token (on when this or -constant-itl > 0)")
	fs.DurationVar(&c.ConstantITL, "constant-itl", c.ConstantITL, "constant-latency mode: fixed inter-token latency")
	fs.Float64Var(&c.OutputTokensMean, "output-tokens-mean", c.OutputTokensMean, "mean output length (tokens) of requests that stop on EOS")
	fs.Float64Var(&c.OutputTokensSigma, "output-tokens-sigma", c.OutputTokensSigma, "sigma of the lognormal output length (0: always the mean)")
	fs.Func("seed", "random seed (outputs, lengths, faults are repeatable per seed)", func(s string) error {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return fmt.Errorf("want a non-negative integer, got %q", s)
		}
		c.Seed = v
		return nil
	})
	fs.Float64Var(&c.ErrorRate, "error-rate", c.ErrorRate, "fraction (0-1) of requests answered with HTTP 500")
	fs.Float64Var(&c.MidstreamFailRate, "midstream-failure-rate", c.MidstreamFailRate, "fraction (0-1) of requests failing after some tokens")
	fs.Float64Var(&c.StallRate, "stall-rate", c.StallRate, "fraction (0-1) of requests pausing once mid-stream")
	fs.Float64Var(&c.HangRate, "hang-rate", c.HangRate, "fraction (0-1) of generation requests accepted and never answered, no headers, until the client leaves (evenly spaced: 0.04 hangs the 25th, 50th, ...)")
	fs.DurationVar(&c.Stall, "stall", c.Stall, "length of a mid-stream pause")
	fs.DurationVar(&c.StartupDelay, "startup-delay", c.StartupDelay, "not ready for this long after start (/health 503, Triton ready false)")
	fs.BoolVar(&c.TRTDecoupled, "trt-decoupled", c.TRTDecoupled, PersonalityTritonTRT+": models are decoupled (token streaming; /infer on tensorrt_llm refused as Triton does)")
	fs.BoolVar(&c.TritonHistLatencies, "triton-histogram-latencies", c.TritonHistLatencies, "triton: export nv_inference_first_response_histogram_ms (decoupled models)")
	fs.StringVar(&c.GPUName, "gpu-name", c.GPUName, "GPU model name in GPU metrics")
	fs.IntVar(&c.GPUMemoryMiB, "gpu-memory-mib", c.GPUMemoryMiB, "GPU memory in MiB")
	fs.Float64Var(&c.GPUPowerMaxW, "gpu-power-max", c.GPUPowerMaxW, "GPU power limit, W")
	fs.Float64Var(&c.GPUPowerIdle, "gpu-power-idle", c.GPUPowerIdle, "GPU idle power, W")
	fs.StringVar(&c.Hostname, "hostname", c.Hostname, "Hostname label of the dcgm look-alike")
	c.registerLimitFlags(fs)
}

// EnvName is the environment variable of a flag: SIM_ + upper case, '-' -> '_'.
func EnvName(flagName string) string {
	return "SIM_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// ApplyEnv sets every flag of fs not given on the command line from its
// environment variable (EnvName), read with lookup (os.LookupEnv when nil).
// Call it after fs.Parse.
func ApplyEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		env := EnvName(f.Name)
		v, ok := lookup(env)
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("environment variable %s=%q (flag -%s): %v", env, v, f.Name, err))
		}
	})
	return errors.Join(errs...)
}

// ConstantMode reports whether the constant-latency mode is on.
func (c *Config) ConstantMode() bool { return c.ConstantTTFT > 0 || c.ConstantITL > 0 }

// Validate checks the configuration; errors name the flag and the expected form.
func (c *Config) Validate() error {
	var errs []error
	bad := func(flagName, want string, got any) {
		errs = append(errs, fmt.Errorf("-%s (%s): want %s, got %v", flagName, EnvName(flagName), want, got))
	}
	if !slices.Contains(Personalities, c.Personality) {
		bad("personality", "one of "+strings.Join(Personalities, ", "), fmt.Sprintf("%q", c.Personality))
	}
	if c.Addr == "" {
		bad("addr", "a host:port", `""`)
	}
	if c.ServedModelName == "" {
		bad("served-model-name", "a non-empty name", `""`)
	}
	if c.MaxModelLen < 2 {
		bad("max-model-len", "an integer >= 2", c.MaxModelLen)
	}
	if c.MaxNumSeqs < 1 {
		bad("max-num-seqs", "an integer >= 1", c.MaxNumSeqs)
	}
	if c.MaxNumBatchedTokens < 1 {
		bad("max-num-batched-tokens", "an integer >= 1", c.MaxNumBatchedTokens)
	}
	if c.MaxWaiting < 0 {
		bad("max-waiting-queue-length", "an integer >= 0", c.MaxWaiting)
	}
	if c.BlockSize < 1 {
		bad("block-size", "an integer >= 1", c.BlockSize)
	}
	if c.NumGPUBlocks < 1 {
		bad("num-gpu-blocks", "an integer >= 1", c.NumGPUBlocks)
	} else if c.BlockSize >= 1 && c.NumGPUBlocks*c.BlockSize < c.MaxModelLen {
		// vLLM refuses to start in this case too.
		errs = append(errs, fmt.Errorf("-num-gpu-blocks x -block-size = %d tokens is less than -max-model-len %d: one request could never fit the KV cache; raise -num-gpu-blocks to at least %d or lower -max-model-len",
			c.NumGPUBlocks*c.BlockSize, c.MaxModelLen, (c.MaxModelLen+c.BlockSize-1)/c.BlockSize))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"prefill-base", c.PrefillBase}, {"prefill-per-token", c.PrefillPerToken}, {"decode-base", c.DecodeBase},
		{"decode-per-seq", c.DecodePerSeq}, {"constant-ttft", c.ConstantTTFT}, {"constant-itl", c.ConstantITL},
		{"stall", c.Stall}, {"startup-delay", c.StartupDelay}} {
		if d.v < 0 {
			bad(d.name, "a duration >= 0 such as 10ms", d.v)
		}
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"error-rate", c.ErrorRate}, {"midstream-failure-rate", c.MidstreamFailRate}, {"stall-rate", c.StallRate}, {"hang-rate", c.HangRate}, {"gpu-memory-utilization", c.GPUMemoryUtil}} {
		if !(r.v >= 0 && r.v <= 1) {
			bad(r.name, "a fraction between 0 and 1", r.v)
		}
	}
	if !(c.OutputTokensMean >= 1) {
		bad("output-tokens-mean", "a number >= 1", c.OutputTokensMean)
	}
	if !(c.OutputTokensSigma >= 0 && c.OutputTokensSigma <= 3) {
		bad("output-tokens-sigma", "a number between 0 and 3", c.OutputTokensSigma)
	}
	if c.GPUMemoryMiB < 1 {
		bad("gpu-memory-mib", "an integer >= 1", c.GPUMemoryMiB)
	}
	errs = append(errs, c.limitErrors()...)
	return errors.Join(errs...)
}

// defaultTritonMetricsAddr is where the Triton personalities serve metrics
// unless told (Triton's port 8002).
const defaultTritonMetricsAddr = "127.0.0.1:8002"

// effectiveMetricsAddr applies the personality default.
func (c *Config) effectiveMetricsAddr() string {
	if c.MetricsAddr == "" && c.Personality != PersonalityVLLM {
		return defaultTritonMetricsAddr
	}
	return c.MetricsAddr
}
