// Command loadgen is the container entry point of the load generator
// (package tasks/load). It streams requests to an LLM inference server,
// prints a live status line and a summary, writes a results file, serves
// its own Prometheus metrics, and exits non-zero when a bounded run breaks
// an SLO.
//
// Exit status: 0 success (or an unbounded run stopped by SIGINT/SIGTERM),
// 1 an SLO broken in a bounded run or the run failed, 2 bad flags, 3 a
// bounded run (-duration, -requests) cut short by SIGINT/SIGTERM: its
// results are written, but it is incomplete.
//
// The API key, if the server needs one, is read from LOADGEN_API_KEY (not a
// flag, to keep it out of process listings).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/ui"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, ui.IsTerminal(os.Stdout)))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, term bool) int {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := load.DefaultSLO()
	var (
		backend     = fs.String("backend", "vllm", "backend preset: vllm, triton, trt or sim (sets protocol and model defaults)")
		url         = fs.String("url", "", "server base URL (default http://localhost:8000)")
		model       = fs.String("model", "", "model name (default: discovered for OpenAI protocols, vllm_model for triton, ensemble for trt)")
		protocol    = fs.String("protocol", "", "openai-chat, openai-completions, triton-generate or triton-trt (default from -backend)")
		streamF     = fs.Bool("stream", true, "stream responses (SSE); -stream=false sends plain requests")
		concurrency = fs.Int("concurrency", 1, "workers of a closed loop, or the in-flight cap of an open loop (default with -rate: no cap)")
		rate        = fs.Float64("rate", 0, "open-loop request rate per second (0 = closed loop)")
		shape       = fs.String("shape", "", "open-loop arrivals: poisson (default), gamma or constant")
		burstiness  = fs.Float64("burstiness", 0, "gamma shape: 1 = poisson, <1 burstier, >1 smoother")
		seed        = fs.Uint64("seed", 1, "seed of the arrival process and synthetic prompts")
		duration    = fs.Duration("duration", 30*time.Second, "measured run length (0 = until SIGINT/SIGTERM, or -requests)")
		requests    = fs.Int("requests", 0, "stop after this many measured requests (0 = no limit)")
		warmup      = fs.Duration("warmup", 0, "exclude requests sent in this first period")
		warmupReqs  = fs.Int("warmup-requests", 0, "exclude the first N requests")
		maxTokens   = fs.Int("max-tokens", 128, "max_tokens per request (a dataset line may override it)")
		ignoreEOS   = fs.Bool("ignore-eos", false, "ask vLLM to always generate max-tokens (ignore_eos)")
		tritonCount = fs.Bool("triton-token-counts", false, "triton-generate: request num_input_tokens/num_output_tokens (recent vLLM backends)")
		dataset     = fs.String("dataset", "", "JSONL prompts ({\"prompt\": ..., \"max_tokens\": N} per line): a path or an http(s)/file URL")
		checksum    = fs.String("dataset-checksum", "", "sha256:<hex> of an http(s) -dataset (or put ?checksum= in the URL)")
		synthTokens = fs.Int("synthetic-tokens", 0, "generate prompts of about this many tokens (words)")
		synthCount  = fs.Int("synthetic-count", 100, "number of synthetic prompts")
		sloAvail    = fs.Float64("slo-availability", def.Availability, "SLO: minimum ok/(ok+failed); negative disables")
		sloTTFT     = fs.Duration("slo-ttft-p95", def.TTFTP95, "SLO: maximum p95 TTFT from the intended send time; negative disables")
		sloITL      = fs.Duration("slo-itl-p95", def.ITLP95, "SLO: maximum p95 inter-chunk latency; negative disables")
		out         = fs.String("out", "loadgen-results.json", "results file (JSON); empty for none")
		metricsAddr = fs.String("metrics-addr", "", "serve the generator's /metrics on this address, e.g. :9400")
		reqTimeout  = fs.Duration("request-timeout", 10*time.Minute, "per-request timeout (0 = none)")
		tFirstByte  = fs.Duration("timeout-first-byte", load.DefaultTimeoutFirstByte, "a request without response headers this long after sending fails as timeout (0 = off)")
		tFirstToken = fs.Duration("timeout-first-token", load.DefaultTimeoutFirstToken, "a request without generated text this long after sending fails as timeout (0 = off)")
		tStall      = fs.Duration("timeout-stall", load.DefaultTimeoutStall, "a stream without new generated text this long fails as stall (0 = off)")
		inflightEnd = fs.String("inflight-at-end", load.InFlightAtEndFail, "requests still running when a bounded run's drain ends: fail (count against availability) or ignore")
		maxEvent    = fs.Int("max-event-bytes", load.DefaultMaxEventBytes, "the largest SSE line, SSE event or non-streamed body accepted; larger fails as oversized")
		drain       = fs.Duration("drain-timeout", 60*time.Second, "how long a bounded run waits for in-flight requests")
		quiet       = fs.Bool("quiet", false, "no live status line (the summary is still printed)")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "loadgen: unexpected argument %q; all options are flags (see -h)\n", fs.Arg(0))
		return 2
	}
	o, err := load.Preset(*backend, *concurrency)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: -backend: %v\n", err)
		return 2
	}
	switch {
	case *rate <= 0 && *concurrency < 1:
		fmt.Fprintf(stderr, "loadgen: -concurrency %d: a closed loop needs at least 1 worker, e.g. -concurrency 4 (with -rate, 0 means no cap on in-flight requests)\n", *concurrency)
		return 2
	case *concurrency < 0:
		fmt.Fprintf(stderr, "loadgen: -concurrency %d: with -rate it caps in-flight requests: 0 for no cap or a positive cap\n", *concurrency)
		return 2
	case *maxEvent < 1:
		fmt.Fprintf(stderr, "loadgen: -max-event-bytes %d: expected a positive number of bytes (default %d)\n", *maxEvent, load.DefaultMaxEventBytes)
		return 2
	}
	for _, t := range []struct {
		name string
		v    time.Duration
		dst  *time.Duration
	}{{"timeout-first-byte", *tFirstByte, &o.TimeoutFirstByte}, {"timeout-first-token", *tFirstToken, &o.TimeoutFirstToken},
		{"timeout-stall", *tStall, &o.TimeoutStall}} {
		if *t.dst, err = load.TimeoutFlag(t.v); err != nil {
			fmt.Fprintf(stderr, "loadgen: -%s: %v\n", t.name, err)
			return 2
		}
	}
	ignoreInFlight, err := load.ParseInFlightAtEnd(*inflightEnd)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: -inflight-at-end: %v\n", err)
		return 2
	}
	if *url != "" {
		o.URL = *url
	}
	if *model != "" {
		o.Model = *model
	}
	if *protocol != "" {
		o.Protocol = load.Protocol(*protocol)
	}
	o.Stream = *streamF
	o.APIKey = os.Getenv("LOADGEN_API_KEY")
	o.Rate, o.Shape, o.Burstiness, o.Seed = *rate, *shape, *burstiness, *seed
	if o.Rate > 0 && !flagSet(fs, "concurrency") {
		o.Concurrency = 0 // an open loop has no in-flight cap unless one is asked for
	}
	o.Duration, o.Requests, o.Warmup, o.WarmupRequests = *duration, *requests, *warmup, *warmupReqs
	o.MaxTokens, o.IgnoreEOS, o.TritonTokenCounts = *maxTokens, *ignoreEOS, *tritonCount
	o.Prompts = load.PromptSource{Dataset: *dataset, Checksum: *checksum, SyntheticTokens: *synthTokens,
		SyntheticCount: *synthCount, Seed: *seed}
	o.SLO = load.SLO{Availability: *sloAvail, TTFTP95: *sloTTFT, ITLP95: *sloITL, IgnoreInFlightAtEnd: ignoreInFlight}
	o.MaxEventBytes = *maxEvent
	o.Out, o.MetricsAddr = *out, *metricsAddr
	o.RequestTimeout, o.DrainTimeout = *reqTimeout, *drain
	o.Status, o.IsTerminal = stdout, term
	if *quiet {
		o.StatusInterval = 365 * 24 * time.Hour
	}

	res, err := load.Run(ctx, o)
	if res != nil {
		if rerr := load.Report(o, res); rerr != nil {
			err = rerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 1
	}
	if ctx.Err() != nil && (o.Duration > 0 || o.Requests > 0) {
		fmt.Fprintf(stderr, "loadgen: interrupted (%v) before the run's end; the results are written, but the run is incomplete\n", context.Cause(ctx))
		return 3
	}
	return 0
}

// flagSet reports whether the flag was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
