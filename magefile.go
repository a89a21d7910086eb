//go:build mage

// llm-observability-pack: vLLM and Triton with Prometheus, Grafana and ready
// dashboards, GPU checks, smoke tests and load that measures what users feel.
// Start with `mage env:init`, then `mage up:sim` (no GPU) or `mage up:vllm`.
package main

import (
	"context"
	"os"
	"time"

	"github.com/magefile/mage/mg"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/env"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/stack"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/targets"
)

// Env holds the targets that manage deploy/.env.
type Env mg.Namespace

// Init writes deploy/.env from deploy/env.example (never overwrites) and reports keys that differ.
func (Env) Init() error {
	rep, err := env.Init(".")
	if err != nil {
		return err
	}
	rep.Print(os.Stdout)
	return nil
}

// Check holds the checks of the GPU host and its configuration.
type Check mg.Namespace

// GPU checks nvidia-smi, each GPU's compute capability, the driver and memory for the model; -json for machines.
func (Check) GPU(ctx context.Context, json *bool, mindriver *int) error {
	return targets.CheckGPU(ctx, json, mindriver)
}

// All runs every check: the GPU, the Docker engine, Compose and the NVIDIA container runtime (also: mage check).
func (Check) All(ctx context.Context, json *bool, mindriver *int) error {
	return targets.CheckAll(ctx, json, mindriver)
}

// Aliases: `mage check` runs every check.
var Aliases = map[string]interface{}{
	"check": Check.All,
}

// Up holds the targets that start one backend profile of the stack.
type Up mg.Namespace

// Vllm starts vLLM with Prometheus, Grafana and dcgm-exporter, waits for health and prints the URLs.
func (Up) Vllm(ctx context.Context, timeout *time.Duration, nocheck *bool) error {
	return targets.Up(ctx, "vllm", timeout, nocheck)
}

// Triton starts Triton with the vLLM backend, Prometheus and Grafana, waits for health and prints the URLs.
func (Up) Triton(ctx context.Context, timeout *time.Duration, nocheck *bool) error {
	return targets.Up(ctx, "triton", timeout, nocheck)
}

// Trt starts Triton with the TensorRT-LLM engine of compile:trt, Prometheus and Grafana, and waits for health.
func (Up) Trt(ctx context.Context, timeout *time.Duration, nocheck *bool) error {
	return targets.Up(ctx, "triton-trt", timeout, nocheck)
}

// Sim starts the simulator (no GPU needed) with Prometheus and Grafana, waits for health and prints the URLs.
func (Up) Sim(ctx context.Context, timeout *time.Duration) error {
	return targets.Up(ctx, "sim", timeout, nil)
}

// Load holds the load targets: `mage load:vllm 5` runs 5 concurrent streaming workers.
type Load mg.Namespace

// Vllm streams chat completions to vLLM from N workers until Ctrl+C or -duration/-requests; TTFT, ITL, throughput, SLOs.
func (Load) Vllm(ctx context.Context, concurrency int,
	duration *time.Duration, // stop after this long (default: until Ctrl+C)
	requests *int, // stop after this many requests
	url *string, // server base URL (default: from deploy/.env)
	out *string, // results file (default: results/load-BACKEND-TIME.json)
	rate *float64, // open loop: requests per second; concurrency then caps in-flight requests (0 = no cap)
	shape *string, // arrivals with -rate: poisson (default), gamma or constant
	maxtokens *int, // output tokens per request (default 128)
	dataset *string, // JSONL prompts: a path, or a URL (needs -checksum)
	checksum *string, // sha256:HEX of a -dataset URL
	metrics *string, // address of the generator's own /metrics (default 127.0.0.1:9100; off)
	nostream *bool, // send non-streamed requests
) error {
	return targets.Load(ctx, "vllm", concurrency, targets.LoadFlags{Duration: duration, Requests: requests, URL: url, Out: out, Rate: rate, Shape: shape, MaxTokens: maxtokens, Dataset: dataset, Checksum: checksum, Metrics: metrics, NoStream: nostream})
}

// Triton streams generate_stream requests to Triton (vLLM backend) from N workers; TTFT, ITL, throughput, SLOs.
func (Load) Triton(ctx context.Context, concurrency int,
	duration *time.Duration, // stop after this long (default: until Ctrl+C)
	requests *int, // stop after this many requests
	url *string, // server base URL (default: from deploy/.env)
	out *string, // results file (default: results/load-BACKEND-TIME.json)
	rate *float64, // open loop: requests per second; concurrency then caps in-flight requests (0 = no cap)
	shape *string, // arrivals with -rate: poisson (default), gamma or constant
	maxtokens *int, // output tokens per request (default 128)
	dataset *string, // JSONL prompts: a path, or a URL (needs -checksum)
	checksum *string, // sha256:HEX of a -dataset URL
	metrics *string, // address of the generator's own /metrics (default 127.0.0.1:9100; off)
	nostream *bool, // send non-streamed requests
) error {
	return targets.Load(ctx, "triton", concurrency, targets.LoadFlags{Duration: duration, Requests: requests, URL: url, Out: out, Rate: rate, Shape: shape, MaxTokens: maxtokens, Dataset: dataset, Checksum: checksum, Metrics: metrics, NoStream: nostream})
}

// Trt streams text to Triton's TensorRT-LLM ensemble from N workers; TTFT, ITL, throughput, SLOs.
func (Load) Trt(ctx context.Context, concurrency int,
	duration *time.Duration, // stop after this long (default: until Ctrl+C)
	requests *int, // stop after this many requests
	url *string, // server base URL (default: from deploy/.env)
	out *string, // results file (default: results/load-BACKEND-TIME.json)
	rate *float64, // open loop: requests per second; concurrency then caps in-flight requests (0 = no cap)
	shape *string, // arrivals with -rate: poisson (default), gamma or constant
	maxtokens *int, // output tokens per request (default 128)
	dataset *string, // JSONL prompts: a path, or a URL (needs -checksum)
	checksum *string, // sha256:HEX of a -dataset URL
	metrics *string, // address of the generator's own /metrics (default 127.0.0.1:9100; off)
	nostream *bool, // send non-streamed requests
) error {
	return targets.Load(ctx, "trt", concurrency, targets.LoadFlags{Duration: duration, Requests: requests, URL: url, Out: out, Rate: rate, Shape: shape, MaxTokens: maxtokens, Dataset: dataset, Checksum: checksum, Metrics: metrics, NoStream: nostream})
}

// Sim loads the simulator from N workers in its configured personality; TTFT, ITL, throughput, SLOs.
func (Load) Sim(ctx context.Context, concurrency int,
	duration *time.Duration, // stop after this long (default: until Ctrl+C)
	requests *int, // stop after this many requests
	url *string, // server base URL (default: from deploy/.env)
	out *string, // results file (default: results/load-BACKEND-TIME.json)
	rate *float64, // open loop: requests per second; concurrency then caps in-flight requests (0 = no cap)
	shape *string, // arrivals with -rate: poisson (default), gamma or constant
	maxtokens *int, // output tokens per request (default 128)
	dataset *string, // JSONL prompts: a path, or a URL (needs -checksum)
	checksum *string, // sha256:HEX of a -dataset URL
	metrics *string, // address of the generator's own /metrics (default 127.0.0.1:9100; off)
	nostream *bool, // send non-streamed requests
) error {
	return targets.Load(ctx, "sim", concurrency, targets.LoadFlags{Duration: duration, Requests: requests, URL: url, Out: out, Rate: rate, Shape: shape, MaxTokens: maxtokens, Dataset: dataset, Checksum: checksum, Metrics: metrics, NoStream: nostream})
}

// Sim runs the simulator in the foreground until Ctrl+C: vLLM's API on 127.0.0.1:8000 unless flags say otherwise.
func Sim(ctx context.Context,
	personality *string, // vllm (default), triton-vllm or triton-trt
	addr *string, // API listen address (default 127.0.0.1:8000); more settings: SIM_* variables, see go run ./cmd/sim -h
) error {
	return targets.Sim(ctx, personality, addr)
}

// Compile holds the targets that build inference engines.
type Compile mg.Namespace

// Trt builds a TensorRT-LLM engine in a builder container and writes the Triton repository that up:trt serves.
func (Compile) Trt(ctx context.Context,
	model *string, // Hugging Face model id (default: MODEL_NAME of deploy/.env)
	maxbatch *int, // max batch size (default: MAX_NUM_SEQS)
	maxinput *int, // max input tokens (default: MAX_MODEL_LEN - max output)
	maxoutput *int, // max output tokens (default: 1024, at most half of MAX_MODEL_LEN)
	dtype *string, // float16, bfloat16 (default: DTYPE; auto = the model's)
	tp *int, // tensor parallel size (default 1)
	force *bool, // rebuild even when an engine with the same settings exists
	nocheck *bool, // skip the GPU checks
) error {
	return targets.CompileTRT(ctx, targets.TRTFlags{Model: model, MaxBatch: maxbatch, MaxInput: maxinput, MaxOutput: maxoutput, DType: dtype, TP: tp, Force: force, NoCheck: nocheck})
}

// Down stops every profile; volumes are kept unless -volumes is given.
func Down(ctx context.Context, volumes *bool) error {
	return stack.Down(ctx, stack.Options{Volumes: targets.Flag(volumes)})
}

// Logs follows the stack's logs until Ctrl+C; -service=NAME follows one service.
func Logs(ctx context.Context, service *string) error {
	o := stack.Options{}
	if service != nil {
		o.Service = *service
	}
	return stack.Logs(ctx, o)
}

// Status shows each container's state and health and whether Prometheus scrapes each target.
func Status(ctx context.Context) error {
	return stack.Status(ctx, stack.Options{})
}
