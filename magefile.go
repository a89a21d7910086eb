//go:build mage

// llm-observability-pack: vLLM and Triton with Prometheus, Grafana and ready
// dashboards, GPU checks, smoke tests and load that measures what users feel.
// Start with `mage env:init`, then `mage up:sim` (no GPU) or `mage up:vllm`.
package main

import (
	"context"
	"time"

	"github.com/magefile/mage/mg"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/targets"
	// mage:import check
	_ "github.com/llm-observability-pack/llm-observability-pack/tasks/targets/checkns" // check:gpu, check:all, check:config
)

// Demo runs the main job with no GPU and no Docker: the simulator in-process, load against it, TTFT/ITL against the SLOs.
func Demo(ctx context.Context,
	duration *time.Duration, // how long the load runs (default 20s)
	concurrency *int, // concurrent streaming workers (default 16)
	out *string, // results file (default results/demo-TIME.json)
) error {
	return targets.Demo(ctx, duration, concurrency, out)
}

// Env holds the targets that manage deploy/.env.
type Env mg.Namespace

// Init writes deploy/.env from deploy/env.example (never overwrites) and reports keys that differ.
func (Env) Init() error {
	return targets.EnvInit()
}

// Check runs every check: the GPU, the driver each image needs, the Docker engine, Compose and the NVIDIA container runtime (check:gpu runs the GPU part).
func Check(ctx context.Context,
	json *bool, // print one JSON object instead of the PASS/WARN/FAIL lines
	mindriver *int, // accept this NVIDIA driver major version and newer for every backend (default: the floor of each image in deploy/.env)
) error {
	return targets.CheckAll(ctx, json, mindriver)
}

// Up holds the targets that start one backend profile of the stack.
type Up mg.Namespace

// Vllm starts vLLM with Prometheus, Grafana and dcgm-exporter, waits for health and prints the URLs.
func (Up) Vllm(ctx context.Context,
	timeout *time.Duration, // how long to wait for every container's health (default 20m; 3m for sim)
	nocheck *bool, // skip the GPU and host checks
) error {
	return targets.Up(ctx, string(backend.VLLM), timeout, nocheck)
}

// Triton starts Triton with the vLLM backend, Prometheus and Grafana, waits for health and prints the URLs.
func (Up) Triton(ctx context.Context,
	timeout *time.Duration, // how long to wait for every container's health (default 20m; 3m for sim)
	nocheck *bool, // skip the GPU and host checks
) error {
	return targets.Up(ctx, string(backend.Triton), timeout, nocheck)
}

// Trt starts Triton with the TensorRT-LLM engine of compile:trt, Prometheus and Grafana, and waits for health.
func (Up) Trt(ctx context.Context,
	timeout *time.Duration, // how long to wait for every container's health (default 20m; 3m for sim)
	nocheck *bool, // skip the GPU and host checks
) error {
	return targets.Up(ctx, string(backend.TRT), timeout, nocheck)
}

// Sim starts the simulator (no GPU needed) with Prometheus and Grafana, waits for health and prints the URLs.
func (Up) Sim(ctx context.Context,
	timeout *time.Duration, // how long to wait for every container's health (default 3m)
) error {
	return targets.Up(ctx, string(backend.Sim), timeout, nil)
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
	dataset *string, // prompts, conversations or a trace (see -datasetformat): a path, or a URL (needs -checksum)
	checksum *string, // sha256:HEX of a -dataset URL
	synthetic *int, // synthetic prompts of about this many tokens instead of the five default prompts
	metrics *string, // address of the generator's own /metrics (default: 127.0.0.1:9100 and, for the stack's Prometheus, docker0:9100; off)
	nostream *bool, // send non-streamed requests
	timeoutfirstbyte *time.Duration, // a request without response headers this long after sending fails as timeout (default 60s; 0 = off)
	timeoutfirsttoken *time.Duration, // a request without generated text this long after sending fails as timeout (default 60s; 0 = off)
	timeoutstall *time.Duration, // a stream without new text this long fails as stall (default 30s; 0 = off)
	inflightatend *string, // requests still running when a bounded run's drain ends: fail (default: count against availability) or ignore
	datasetformat *string, // -dataset's format: auto (default, from the content), jsonl, sharegpt, openai-chat, mooncake, azure or burstgpt
	once *bool, // play the prompts or dataset once: its end ends the run (default: cycled)
	sessions *bool, // replay each conversation of a sharegpt or openai-chat -dataset turn by turn (openai-chat only)
	thinktime *time.Duration, // -sessions: pause between a session's turns
	tracespeed *float64, // a trace's replay speed: 2 sends it twice as fast (default 1)
	syntheticdist *string, // -synthetic lengths: fixed (default), uniform:LO:HI, normal:SD or lognormal:SIGMA
	outputtokens *int, // -synthetic: mean output tokens (default -maxtokens)
	outputdist *string, // -synthetic: output length distribution, as -syntheticdist
	prefixtokens *int, // -synthetic: a shared prefix of this many tokens
	prefixgroups *int, // -synthetic: number of distinct shared prefixes (default 1)
	records *string, // per-request records file (JSON Lines: id, worker, times, TTFT, E2E, tokens, longest gap, error)
	stages *string, // staged run, e.g. 30s@10,60s@20,30s@c40: duration@rate or duration@cN, in order (replaces -rate, -duration)
) error {
	return targets.Load(ctx, string(backend.VLLM), concurrency, targets.LoadFlags{Duration: duration, Requests: requests, URL: url, Out: out, Rate: rate, Shape: shape, MaxTokens: maxtokens, Dataset: dataset, Checksum: checksum, Synthetic: synthetic, Metrics: metrics, NoStream: nostream,
		TimeoutFirstByte: timeoutfirstbyte, TimeoutFirstToken: timeoutfirsttoken, TimeoutStall: timeoutstall, InFlightAtEnd: inflightatend,
		DatasetFormat: datasetformat, Once: once, Sessions: sessions, ThinkTime: thinktime, TraceSpeed: tracespeed, SyntheticDist: syntheticdist,
		OutputTokens: outputtokens, OutputDist: outputdist, PrefixTokens: prefixtokens, PrefixGroups: prefixgroups,
		Records: records, Stages: stages})
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
	dataset *string, // prompts, conversations or a trace (see -datasetformat): a path, or a URL (needs -checksum)
	checksum *string, // sha256:HEX of a -dataset URL
	synthetic *int, // synthetic prompts of about this many tokens instead of the five default prompts
	metrics *string, // address of the generator's own /metrics (default: 127.0.0.1:9100 and, for the stack's Prometheus, docker0:9100; off)
	nostream *bool, // send non-streamed requests
	timeoutfirstbyte *time.Duration, // a request without response headers this long after sending fails as timeout (default 60s; 0 = off)
	timeoutfirsttoken *time.Duration, // a request without generated text this long after sending fails as timeout (default 60s; 0 = off)
	timeoutstall *time.Duration, // a stream without new text this long fails as stall (default 30s; 0 = off)
	inflightatend *string, // requests still running when a bounded run's drain ends: fail (default: count against availability) or ignore
	datasetformat *string, // -dataset's format: auto (default, from the content), jsonl, sharegpt, openai-chat, mooncake, azure or burstgpt
	once *bool, // play the prompts or dataset once: its end ends the run (default: cycled)
	sessions *bool, // replay each conversation of a sharegpt or openai-chat -dataset turn by turn (openai-chat only)
	thinktime *time.Duration, // -sessions: pause between a session's turns
	tracespeed *float64, // a trace's replay speed: 2 sends it twice as fast (default 1)
	syntheticdist *string, // -synthetic lengths: fixed (default), uniform:LO:HI, normal:SD or lognormal:SIGMA
	outputtokens *int, // -synthetic: mean output tokens (default -maxtokens)
	outputdist *string, // -synthetic: output length distribution, as -syntheticdist
	prefixtokens *int, // -synthetic: a shared prefix of this many tokens
	prefixgroups *int, // -synthetic: number of distinct shared prefixes (default 1)
	records *string, // per-request records file (JSON Lines: id, worker, times, TTFT, E2E, tokens, longest gap, error)
	stages *string, // staged run, e.g. 30s@10,60s@20,30s@c40: duration@rate or duration@cN, in order (replaces -rate, -duration)
) error {
	return targets.Load(ctx, string(backend.Triton), concurrency, targets.LoadFlags{Duration: duration, Requests: requests, URL: url, Out: out, Rate: rate, Shape: shape, MaxTokens: maxtokens, Dataset: dataset, Checksum: checksum, Synthetic: synthetic, Metrics: metrics, NoStream: nostream,
		TimeoutFirstByte: timeoutfirstbyte, TimeoutFirstToken: timeoutfirsttoken, TimeoutStall: timeoutstall, InFlightAtEnd: inflightatend,
		DatasetFormat: datasetformat, Once: once, Sessions: sessions, ThinkTime: thinktime, TraceSpeed: tracespeed, SyntheticDist: syntheticdist,
		OutputTokens: outputtokens, OutputDist: outputdist, PrefixTokens: prefixtokens, PrefixGroups: prefixgroups,
		Records: records, Stages: stages})
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
	dataset *string, // prompts, conversations or a trace (see -datasetformat): a path, or a URL (needs -checksum)
	checksum *string, // sha256:HEX of a -dataset URL
	synthetic *int, // synthetic prompts of about this many tokens instead of the five default prompts
	metrics *string, // address of the generator's own /metrics (default: 127.0.0.1:9100 and, for the stack's Prometheus, docker0:9100; off)
	nostream *bool, // send non-streamed requests
	timeoutfirstbyte *time.Duration, // a request without response headers this long after sending fails as timeout (default 60s; 0 = off)
	timeoutfirsttoken *time.Duration, // a request without generated text this long after sending fails as timeout (default 60s; 0 = off)
	timeoutstall *time.Duration, // a stream without new text this long fails as stall (default 30s; 0 = off)
	inflightatend *string, // requests still running when a bounded run's drain ends: fail (default: count against availability) or ignore
	datasetformat *string, // -dataset's format: auto (default, from the content), jsonl, sharegpt, openai-chat, mooncake, azure or burstgpt
	once *bool, // play the prompts or dataset once: its end ends the run (default: cycled)
	sessions *bool, // replay each conversation of a sharegpt or openai-chat -dataset turn by turn (openai-chat only)
	thinktime *time.Duration, // -sessions: pause between a session's turns
	tracespeed *float64, // a trace's replay speed: 2 sends it twice as fast (default 1)
	syntheticdist *string, // -synthetic lengths: fixed (default), uniform:LO:HI, normal:SD or lognormal:SIGMA
	outputtokens *int, // -synthetic: mean output tokens (default -maxtokens)
	outputdist *string, // -synthetic: output length distribution, as -syntheticdist
	prefixtokens *int, // -synthetic: a shared prefix of this many tokens
	prefixgroups *int, // -synthetic: number of distinct shared prefixes (default 1)
	records *string, // per-request records file (JSON Lines: id, worker, times, TTFT, E2E, tokens, longest gap, error)
	stages *string, // staged run, e.g. 30s@10,60s@20,30s@c40: duration@rate or duration@cN, in order (replaces -rate, -duration)
) error {
	return targets.Load(ctx, string(backend.TRT), concurrency, targets.LoadFlags{Duration: duration, Requests: requests, URL: url, Out: out, Rate: rate, Shape: shape, MaxTokens: maxtokens, Dataset: dataset, Checksum: checksum, Synthetic: synthetic, Metrics: metrics, NoStream: nostream,
		TimeoutFirstByte: timeoutfirstbyte, TimeoutFirstToken: timeoutfirsttoken, TimeoutStall: timeoutstall, InFlightAtEnd: inflightatend,
		DatasetFormat: datasetformat, Once: once, Sessions: sessions, ThinkTime: thinktime, TraceSpeed: tracespeed, SyntheticDist: syntheticdist,
		OutputTokens: outputtokens, OutputDist: outputdist, PrefixTokens: prefixtokens, PrefixGroups: prefixgroups,
		Records: records, Stages: stages})
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
	dataset *string, // prompts, conversations or a trace (see -datasetformat): a path, or a URL (needs -checksum)
	checksum *string, // sha256:HEX of a -dataset URL
	synthetic *int, // synthetic prompts of about this many tokens instead of the five default prompts
	metrics *string, // address of the generator's own /metrics (default: 127.0.0.1:9100 and, for the stack's Prometheus, docker0:9100; off)
	nostream *bool, // send non-streamed requests
	timeoutfirstbyte *time.Duration, // a request without response headers this long after sending fails as timeout (default 60s; 0 = off)
	timeoutfirsttoken *time.Duration, // a request without generated text this long after sending fails as timeout (default 60s; 0 = off)
	timeoutstall *time.Duration, // a stream without new text this long fails as stall (default 30s; 0 = off)
	inflightatend *string, // requests still running when a bounded run's drain ends: fail (default: count against availability) or ignore
	datasetformat *string, // -dataset's format: auto (default, from the content), jsonl, sharegpt, openai-chat, mooncake, azure or burstgpt
	once *bool, // play the prompts or dataset once: its end ends the run (default: cycled)
	sessions *bool, // replay each conversation of a sharegpt or openai-chat -dataset turn by turn (openai-chat only)
	thinktime *time.Duration, // -sessions: pause between a session's turns
	tracespeed *float64, // a trace's replay speed: 2 sends it twice as fast (default 1)
	syntheticdist *string, // -synthetic lengths: fixed (default), uniform:LO:HI, normal:SD or lognormal:SIGMA
	outputtokens *int, // -synthetic: mean output tokens (default -maxtokens)
	outputdist *string, // -synthetic: output length distribution, as -syntheticdist
	prefixtokens *int, // -synthetic: a shared prefix of this many tokens
	prefixgroups *int, // -synthetic: number of distinct shared prefixes (default 1)
	records *string, // per-request records file (JSON Lines: id, worker, times, TTFT, E2E, tokens, longest gap, error)
	stages *string, // staged run, e.g. 30s@10,60s@20,30s@c40: duration@rate or duration@cN, in order (replaces -rate, -duration)
) error {
	return targets.Load(ctx, string(backend.Sim), concurrency, targets.LoadFlags{Duration: duration, Requests: requests, URL: url, Out: out, Rate: rate, Shape: shape, MaxTokens: maxtokens, Dataset: dataset, Checksum: checksum, Synthetic: synthetic, Metrics: metrics, NoStream: nostream,
		TimeoutFirstByte: timeoutfirstbyte, TimeoutFirstToken: timeoutfirsttoken, TimeoutStall: timeoutstall, InFlightAtEnd: inflightatend,
		DatasetFormat: datasetformat, Once: once, Sessions: sessions, ThinkTime: thinktime, TraceSpeed: tracespeed, SyntheticDist: syntheticdist,
		OutputTokens: outputtokens, OutputDist: outputdist, PrefixTokens: prefixtokens, PrefixGroups: prefixgroups,
		Records: records, Stages: stages})
}

// Merge merges results files of runs against one server into one result, exactly (HDR histograms): mage load:merge a.json,b.json.
func (Load) Merge(files string,
	out *string, // merged results file (default results/load-merged-TIME.json)
) error {
	return targets.LoadMerge(files, out)
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
	examples *string, // a TensorRT-LLM release instead of the image's own examples: https URL of a .tar.gz (with -checksum) or git::URL?ref=TAG
	checksum *string, // sha256:HEX of the -examples archive
) error {
	return targets.CompileTRT(ctx, targets.TRTFlags{Model: model, MaxBatch: maxbatch, MaxInput: maxinput, MaxOutput: maxoutput, DType: dtype, TP: tp, Force: force, NoCheck: nocheck, Examples: examples, Checksum: checksum})
}

// Smoke holds the smoke tests: one PASS or FAIL line per step, non-zero exit on any failure.
type Smoke mg.Namespace

// Vllm checks vLLM: health, models, version, a short, a long and a streamed completion, metrics.
func (Smoke) Vllm(ctx context.Context,
	json *bool, // print one JSON object instead of the PASS/FAIL lines
	url *string, // server base URL (default: from deploy/.env)
) error {
	return targets.Smoke(ctx, string(backend.VLLM), json, url)
}

// Triton checks Triton's vLLM model: health, metadata, short, long and streamed generate, metrics.
func (Smoke) Triton(ctx context.Context,
	json *bool, // print one JSON object instead of the PASS/FAIL lines
	url *string, // server base URL (default: from deploy/.env)
) error {
	return targets.Smoke(ctx, string(backend.Triton), json, url)
}

// Trt checks Triton's TensorRT-LLM ensemble (text in, text out): health, metadata, generate, stream, metrics.
func (Smoke) Trt(ctx context.Context,
	json *bool, // print one JSON object instead of the PASS/FAIL lines
	url *string, // server base URL (default: from deploy/.env)
) error {
	return targets.Smoke(ctx, string(backend.TRT), json, url)
}

// Sim checks the simulator with the steps of its personality (SIM_PERSONALITY in deploy/.env).
func (Smoke) Sim(ctx context.Context,
	json *bool, // print one JSON object instead of the PASS/FAIL lines
	url *string, // server base URL (default: from deploy/.env)
) error {
	return targets.Smoke(ctx, string(backend.Sim), json, url)
}

// Dash regenerates the Grafana dashboards (dashboards/), the SLO rules (deploy/prometheus/rules) and the Helm chart's copies of both from Go.
func Dash() error {
	return targets.Dash()
}

// K8s holds the Kubernetes targets: the chart in deploy/helm/llm-observability-pack for a cluster with kube-prometheus-stack.
type K8s mg.Namespace

// Render writes the chart's objects (PodMonitors, PrometheusRule, dashboard ConfigMaps; -sim: simulators) as YAML, as helm template does.
func (K8s) Render(ctx context.Context,
	out *string, // folder for one YAML file per object (created if missing), or - for one stream on stdout (default -)
	release *string, // release name: object name prefix and app.kubernetes.io/instance label (default llm-observability-pack)
	namespace *string, // namespace of every object (default llm-observability)
	sim *bool, // also the simulator, a Deployment and Service per backend
	dashboardlabel *string, // the Grafana sidecar's label of the dashboard ConfigMaps, KEY=VALUE (default grafana_dashboard=1)
) error {
	return targets.K8s(ctx, "render", targets.K8sFlags{Out: out, Release: release, Namespace: namespace, Sim: sim, DashboardLabel: dashboardlabel})
}

// Apply applies the chart's objects server-side to the kubeconfig's cluster; nothing is written if the cluster refuses any (a missing CRD is named).
func (K8s) Apply(ctx context.Context,
	context *string, // kubeconfig context (default: the current context)
	namespace *string, // namespace of every object, created if missing (default llm-observability)
	release *string, // release name (default llm-observability-pack)
	sim *bool, // also the simulator, a Deployment and Service per backend
	dashboardlabel *string, // the Grafana sidecar's label of the dashboard ConfigMaps, KEY=VALUE (default grafana_dashboard=1)
	kubeconfig *string, // kubeconfig file (default as kubectl: $KUBECONFIG, else ~/.kube/config)
) error {
	return targets.K8s(ctx, "apply", targets.K8sFlags{Context: context, Namespace: namespace, Release: release, Sim: sim, DashboardLabel: dashboardlabel, Kubeconfig: kubeconfig})
}

// Delete removes from the cluster exactly the objects k8s:apply made for the release (found by its labels), and waits until they are gone.
func (K8s) Delete(ctx context.Context,
	context *string, // kubeconfig context (default: the current context)
	namespace *string, // namespace of the objects (default llm-observability)
	release *string, // release name (default llm-observability-pack)
	kubeconfig *string, // kubeconfig file (default as kubectl: $KUBECONFIG, else ~/.kube/config)
) error {
	return targets.K8s(ctx, "delete", targets.K8sFlags{Context: context, Namespace: namespace, Release: release, Kubeconfig: kubeconfig})
}

// Load runs N streams (or -rate) from -pods generator pods of an Indexed Job against -url, and merges their results exactly into one.
func (K8s) Load(ctx context.Context, backend string, concurrency int,
	pods *int, // generator pods; the load is split between them (default 1)
	url *string, // the server as the pods reach it, e.g. http://vllm-router.NAMESPACE.svc:8000 (required)
	image *string, // the generator image the cluster pulls: mage k8s:image builds it, push it (required)
	duration *time.Duration, // each pod stops after this long (default: until Ctrl+C)
	requests *int, // stop after this many requests in all
	rate *float64, // open loop: requests per second in all, split between the pods
	shape *string, // arrivals with -rate: poisson (default) or constant (gamma does not split)
	maxtokens *int, // output tokens per request (default 128)
	dataset *string, // a dataset URL the pods can reach (needs -checksum)
	checksum *string, // sha256:HEX of -dataset
	synthetic *int, // synthetic prompts of about this many tokens
	nostream *bool, // send non-streamed requests
	out *string, // the merged results file (default results/k8s-load-BACKEND-TIME.json)
	cpu *string, // each pod's CPU request and limit, e.g. 2
	job *string, // the Job's name (default lop-load-TIME)
	readytimeout *time.Duration, // how long the pods have to start (default 5m); the run starts with those ready
	keepjob *bool, // keep the finished Job and its pods' logs for an hour
	namespace *string, // the Job's namespace (default: the context's)
	context *string, // kubeconfig context (default: the current context)
	kubeconfig *string, // kubeconfig file (default as kubectl: $KUBECONFIG, else ~/.kube/config)
) error {
	return targets.K8sLoad(ctx, backend, concurrency, targets.K8sLoadFlags{Pods: pods, Image: image, CPU: cpu, Job: job, ReadyTimeout: readytimeout,
		KeepJob: keepjob, Namespace: namespace, Context: context, Kubeconfig: kubeconfig, Out: out,
		Load: targets.LoadFlags{URL: url, Duration: duration, Requests: requests, Rate: rate, Shape: shape, MaxTokens: maxtokens,
			Dataset: dataset, Checksum: checksum, Synthetic: synthetic, NoStream: nostream}})
}

// Image builds the load generator's image FROM scratch (a static cmd/loadgen) for k8s:load; push it where the cluster pulls.
func (K8s) Image(ctx context.Context,
	tag *string, // image tag (default llm-observability-pack/loadgen:local)
) error {
	return targets.K8sImage(ctx, targets.K8sImageFlags{Tag: tag})
}

// Bench holds the load sweeps: `mage bench:vllm` steps the load up until the SLOs break and writes report.html.
type Bench mg.Namespace

// Vllm sweeps vLLM's load (concurrency 1, 2, 4 up to -max, or request rates) beside its metrics; table, JSON, report.html.
func (Bench) Vllm(ctx context.Context,
	mode *string, // concurrency (default: 1, 2, 4 workers and so on), rate (requests per second), or search (the highest rate meeting every SLO)
	start *float64, // first load (default 1); the loads double up to -max
	max *float64, // highest load, always run (default 32 workers, or 16 req/s)
	steps *string, // the loads instead of -start/-max, e.g. 1,2,4,8
	step *time.Duration, // measured length of each step (default 30s)
	warmup *time.Duration, // unmeasured warm-up before each step (default a sixth of -step, at most 5s)
	shape *string, // -mode=rate arrivals: poisson (default), gamma or constant
	cap *int, // -mode=rate: at most this many requests in flight (default no cap)
	url *string, // server base URL (default: from deploy/.env)
	scrape *string, // server metrics URL (default: from deploy/.env), or off
	out *string, // directory for bench.json and report.html (default results/bench-vllm-TIME)
	maxtokens *int, // output tokens per request (default 128)
	dataset *string, // prompts, conversations or a trace (see -datasetformat): a path, or a URL (needs -checksum)
	checksum *string, // sha256:HEX of a -dataset URL
	datasetformat *string, // -dataset's format: auto (default), jsonl, sharegpt, openai-chat, mooncake, azure or burstgpt (a trace's times are kept by -mode=search only, its speed scaled)
	ttft *time.Duration, // p95 TTFT SLO (default 2s; negative: off)
	itl *time.Duration, // p95 ITL SLO (default 150ms; negative: off)
	tolerance *float64, // -mode=search: the final bracket's relative width (default 0.05)
	probemin *time.Duration, // -mode=search: each probe's shortest time to a pass (default 5s)
	probemax *time.Duration, // -mode=search: each probe's longest time (default 60s)
	goodput *float64, // -mode=search: goodput objective, a share of the offered rate, e.g. 0.95 (default off)
) error {
	return targets.Bench(ctx, string(backend.VLLM), targets.BenchFlags{Mode: mode, Start: start, Max: max, Steps: steps, Step: step, Warmup: warmup, Shape: shape, Cap: cap, URL: url, Scrape: scrape, Out: out, MaxTokens: maxtokens, Dataset: dataset, Checksum: checksum, DatasetFormat: datasetformat, TTFT: ttft, ITL: itl, Tolerance: tolerance, ProbeMin: probemin, ProbeMax: probemax, Goodput: goodput})
}

// Triton sweeps Triton's load (vLLM backend; concurrency 1, 2, 4 up to -max, or rates); table, JSON, report.html.
func (Bench) Triton(ctx context.Context,
	mode *string, // concurrency (default: 1, 2, 4 workers and so on), rate (requests per second), or search (the highest rate meeting every SLO)
	start *float64, // first load (default 1); the loads double up to -max
	max *float64, // highest load, always run (default 32 workers, or 16 req/s)
	steps *string, // the loads instead of -start/-max, e.g. 1,2,4,8
	step *time.Duration, // measured length of each step (default 30s)
	warmup *time.Duration, // unmeasured warm-up before each step (default a sixth of -step, at most 5s)
	shape *string, // -mode=rate arrivals: poisson (default), gamma or constant
	cap *int, // -mode=rate: at most this many requests in flight (default no cap)
	url *string, // server base URL (default: from deploy/.env)
	scrape *string, // server metrics URL (default: from deploy/.env), or off
	out *string, // directory for bench.json and report.html (default results/bench-triton-TIME)
	maxtokens *int, // output tokens per request (default 128)
	dataset *string, // prompts, conversations or a trace (see -datasetformat): a path, or a URL (needs -checksum)
	checksum *string, // sha256:HEX of a -dataset URL
	datasetformat *string, // -dataset's format: auto (default), jsonl, sharegpt, openai-chat, mooncake, azure or burstgpt (a trace's times are kept by -mode=search only, its speed scaled)
	ttft *time.Duration, // p95 TTFT SLO (default 2s; negative: off)
	itl *time.Duration, // p95 ITL SLO (default 150ms; negative: off)
	tolerance *float64, // -mode=search: the final bracket's relative width (default 0.05)
	probemin *time.Duration, // -mode=search: each probe's shortest time to a pass (default 5s)
	probemax *time.Duration, // -mode=search: each probe's longest time (default 60s)
	goodput *float64, // -mode=search: goodput objective, a share of the offered rate, e.g. 0.95 (default off)
) error {
	return targets.Bench(ctx, string(backend.Triton), targets.BenchFlags{Mode: mode, Start: start, Max: max, Steps: steps, Step: step, Warmup: warmup, Shape: shape, Cap: cap, URL: url, Scrape: scrape, Out: out, MaxTokens: maxtokens, Dataset: dataset, Checksum: checksum, DatasetFormat: datasetformat, TTFT: ttft, ITL: itl, Tolerance: tolerance, ProbeMin: probemin, ProbeMax: probemax, Goodput: goodput})
}

// Trt sweeps Triton's TensorRT-LLM load (concurrency 1, 2, 4 up to -max, or rates); table, JSON, report.html.
func (Bench) Trt(ctx context.Context,
	mode *string, // concurrency (default: 1, 2, 4 workers and so on), rate (requests per second), or search (the highest rate meeting every SLO)
	start *float64, // first load (default 1); the loads double up to -max
	max *float64, // highest load, always run (default 32 workers, or 16 req/s)
	steps *string, // the loads instead of -start/-max, e.g. 1,2,4,8
	step *time.Duration, // measured length of each step (default 30s)
	warmup *time.Duration, // unmeasured warm-up before each step (default a sixth of -step, at most 5s)
	shape *string, // -mode=rate arrivals: poisson (default), gamma or constant
	cap *int, // -mode=rate: at most this many requests in flight (default no cap)
	url *string, // server base URL (default: from deploy/.env)
	scrape *string, // server metrics URL (default: from deploy/.env), or off
	out *string, // directory for bench.json and report.html (default results/bench-trt-TIME)
	maxtokens *int, // output tokens per request (default 128)
	dataset *string, // prompts, conversations or a trace (see -datasetformat): a path, or a URL (needs -checksum)
	checksum *string, // sha256:HEX of a -dataset URL
	datasetformat *string, // -dataset's format: auto (default), jsonl, sharegpt, openai-chat, mooncake, azure or burstgpt (a trace's times are kept by -mode=search only, its speed scaled)
	ttft *time.Duration, // p95 TTFT SLO (default 2s; negative: off)
	itl *time.Duration, // p95 ITL SLO (default 150ms; negative: off)
	tolerance *float64, // -mode=search: the final bracket's relative width (default 0.05)
	probemin *time.Duration, // -mode=search: each probe's shortest time to a pass (default 5s)
	probemax *time.Duration, // -mode=search: each probe's longest time (default 60s)
	goodput *float64, // -mode=search: goodput objective, a share of the offered rate, e.g. 0.95 (default off)
) error {
	return targets.Bench(ctx, string(backend.TRT), targets.BenchFlags{Mode: mode, Start: start, Max: max, Steps: steps, Step: step, Warmup: warmup, Shape: shape, Cap: cap, URL: url, Scrape: scrape, Out: out, MaxTokens: maxtokens, Dataset: dataset, Checksum: checksum, DatasetFormat: datasetformat, TTFT: ttft, ITL: itl, Tolerance: tolerance, ProbeMin: probemin, ProbeMax: probemax, Goodput: goodput})
}

// Sim sweeps the simulator's load (concurrency 1, 2, 4 up to -max, or rates); table, JSON, report.html.
func (Bench) Sim(ctx context.Context,
	mode *string, // concurrency (default: 1, 2, 4 workers and so on), rate (requests per second), or search (the highest rate meeting every SLO)
	start *float64, // first load (default 1); the loads double up to -max
	max *float64, // highest load, always run (default 32 workers, or 16 req/s)
	steps *string, // the loads instead of -start/-max, e.g. 1,2,4,8
	step *time.Duration, // measured length of each step (default 30s)
	warmup *time.Duration, // unmeasured warm-up before each step (default a sixth of -step, at most 5s)
	shape *string, // -mode=rate arrivals: poisson (default), gamma or constant
	cap *int, // -mode=rate: at most this many requests in flight (default no cap)
	url *string, // server base URL (default: from deploy/.env)
	scrape *string, // server metrics URL (default: from deploy/.env), or off
	out *string, // directory for bench.json and report.html (default results/bench-sim-TIME)
	maxtokens *int, // output tokens per request (default 128)
	dataset *string, // prompts, conversations or a trace (see -datasetformat): a path, or a URL (needs -checksum)
	checksum *string, // sha256:HEX of a -dataset URL
	datasetformat *string, // -dataset's format: auto (default), jsonl, sharegpt, openai-chat, mooncake, azure or burstgpt (a trace's times are kept by -mode=search only, its speed scaled)
	ttft *time.Duration, // p95 TTFT SLO (default 2s; negative: off)
	itl *time.Duration, // p95 ITL SLO (default 150ms; negative: off)
	tolerance *float64, // -mode=search: the final bracket's relative width (default 0.05)
	probemin *time.Duration, // -mode=search: each probe's shortest time to a pass (default 5s)
	probemax *time.Duration, // -mode=search: each probe's longest time (default 60s)
	goodput *float64, // -mode=search: goodput objective, a share of the offered rate, e.g. 0.95 (default off)
) error {
	return targets.Bench(ctx, string(backend.Sim), targets.BenchFlags{Mode: mode, Start: start, Max: max, Steps: steps, Step: step, Warmup: warmup, Shape: shape, Cap: cap, URL: url, Scrape: scrape, Out: out, MaxTokens: maxtokens, Dataset: dataset, Checksum: checksum, DatasetFormat: datasetformat, TTFT: ttft, ITL: itl, Tolerance: tolerance, ProbeMin: probemin, ProbeMax: probemax, Goodput: goodput})
}

// Compare writes one report of several sweeps side by side: mage bench:compare a.json,b.json (one comma-separated list).
func (Bench) Compare(ctx context.Context, files string,
	out *string, // report file (.html) or directory for compare.html (default results/compare-TIME.html)
) error {
	return targets.BenchCompare(ctx, files, out)
}

// Down stops every profile; volumes are kept unless -volumes is given.
func Down(ctx context.Context,
	volumes *bool, // also remove the volumes: Prometheus data, Grafana state, the model cache
) error {
	return targets.Down(ctx, volumes)
}

// Logs follows the stack's logs until Ctrl+C; -service=NAME follows one service.
func Logs(ctx context.Context,
	service *string, // follow this service only (e.g. sim, vllm, prometheus)
) error {
	return targets.Logs(ctx, service)
}

// Status shows each container's state and health, whether Prometheus scrapes each target, and Alertmanager's state and alerts.
func Status(ctx context.Context) error {
	return targets.Status(ctx)
}

// Alerts holds the targets of the stack's Alertmanager.
type Alerts mg.Namespace

// Test sends a test alert through Alertmanager to the receiver deploy/.env gives its severity and says whether it was delivered.
func (Alerts) Test(ctx context.Context,
	severity *string, // page (default) or ticket: which route, and so which receiver, the test alert takes
	timeout *time.Duration, // how long to wait for the notification (default 2m; Alertmanager first waits its group_wait, 30s)
) error {
	return targets.AlertsTest(ctx, severity, timeout)
}
