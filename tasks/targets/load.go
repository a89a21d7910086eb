package targets

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/engine"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/env"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/netx"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/ui"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/workload"
)

// settings returns the validated deploy/.env, or env.example's defaults
// when there is no .env yet (targets that only talk to a server).
func settings() (*env.Config, error) { return env.Settings(".") }

// Endpoint is where a backend's API is and how to talk to it.
type Endpoint struct {
	Backend  string // vllm, triton, trt, sim: a backend.Name
	URL      string
	Protocol load.Protocol
	Model    string // "" for OpenAI: discovered from /v1/models
}

// EndpointFor derives a backend's endpoint from .env through the backend
// table: the API port on the bind address, the Triton model names, the
// simulator's personality.
func EndpointFor(name string, cfg *env.Config) (Endpoint, error) {
	e := Endpoint{Backend: name}
	b, err := backend.Lookup(name)
	if err != nil {
		return e, err
	}
	e.URL = b.APIURL(cfg.Get)
	s, err := b.Speaks(cfg.Get)
	if err != nil {
		return e, err
	}
	e.Protocol, e.Model = s.Protocol, s.ModelName(cfg.Get)
	return e, nil
}

// LoadFlags are the optional flags of the load targets.
type LoadFlags struct {
	Duration  *time.Duration // bounded run: stop after this long
	Requests  *int           // bounded run: stop after this many requests
	URL       *string        // server base URL (default from deploy/.env)
	Out       *string        // results file
	Rate      *float64       // open loop: requests per second
	Shape     *string        // poisson, gamma or constant (with -rate)
	MaxTokens *int           // output tokens per request
	Dataset   *string        // JSONL prompts: a path, or a URL with a checksum
	Checksum  *string        // sha256:HEX for a dataset URL
	Synthetic *int           // synthetic prompts of about this many tokens
	Metrics   *string        // address of the generator's own /metrics ("off" to disable)
	NoStream  *bool          // non-streamed requests
	Records   *string        // per-request records file (JSON Lines)
	Stages    *string        // staged run: 30s@10,60s@c40 (duration@rate or duration@cN)

	// What the workload is and how it is played (load.PromptSource).
	DatasetFormat *string        // auto (default), jsonl, sharegpt, openai-chat, mooncake, azure or burstgpt
	Once          *bool          // the dataset's end ends the run
	Sessions      *bool          // replay conversations turn by turn
	ThinkTime     *time.Duration // -sessions: pause between turns
	TraceSpeed    *float64       // trace replay speed (default 1)
	SyntheticDist *string        // synthetic prompt lengths: fixed, uniform:LO:HI, normal:SD, lognormal:SIGMA
	OutputTokens  *int           // synthetic prompts: mean output tokens
	OutputDist    *string        // synthetic prompts: output length distribution
	PrefixTokens  *int           // synthetic prompts: shared prefix length
	PrefixGroups  *int           // synthetic prompts: number of shared prefixes

	// Per-request timeouts (0 = off; nil: the defaults of package load)
	// and what requests still running at a bounded run's end count as.
	TimeoutFirstByte  *time.Duration
	TimeoutFirstToken *time.Duration
	TimeoutStall      *time.Duration
	InFlightAtEnd     *string // fail (default) or ignore
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// Load runs the load generator against a backend until Ctrl+C or the
// bounded end, prints the live status and the summary, and writes the
// results file. A bounded run that breaks an SLO fails, and so does one
// that Ctrl+C or SIGTERM cut short (after writing its results); one that
// measured the generator rather than the server (load.Result.Valid false)
// fails with exit status ExitInvalid.
func Load(ctx context.Context, backend string, concurrency int, f LoadFlags) error {
	// A run the flags leave unbounded may still have an end of its own (a
	// trace, -once, -sessions): the result says so.
	var finite atomic.Bool
	finite.Store(f.bounded())
	return interruptibleWhen(ctx, finite.Load, func(ctx context.Context) error { return runLoad(ctx, backend, concurrency, f, &finite) })
}

func runLoad(ctx context.Context, backend string, concurrency int, f LoadFlags, finite *atomic.Bool) error {
	cfg, err := settings()
	if err != nil {
		return err
	}
	ep, err := EndpointFor(backend, cfg)
	if err != nil {
		return err
	}
	stages, err := load.ParseStages(str(f.Stages))
	if err != nil {
		return fmt.Errorf("-stages: %w", err)
	}
	// With stages the number is the open stages' in-flight cap (0: none).
	open := (f.Rate != nil && *f.Rate > 0) || isTrace(f.promptSource())
	if err := checkConcurrency(backend, concurrency, open); err != nil && len(stages) == 0 {
		return err
	}
	// The flags as given; Run applies package load's defaults to the rest.
	o := load.Options{Backend: backend, URL: ep.URL, Protocol: ep.Protocol, Model: ep.Model,
		Stream: !Flag(f.NoStream), Concurrency: concurrency, Shape: str(f.Shape), Records: str(f.Records), Stages: stages}
	if f.URL != nil {
		o.URL = *f.URL
	}
	if f.Duration != nil {
		o.Duration = *f.Duration
	}
	if f.Requests != nil {
		o.Requests = *f.Requests
	}
	if f.Rate != nil {
		o.Rate = *f.Rate
	}
	if f.MaxTokens != nil {
		o.MaxTokens = *f.MaxTokens
	}
	o.Prompts = f.promptSource()
	for _, t := range []struct {
		name string
		flag *time.Duration
		dst  *time.Duration
	}{{"timeoutfirstbyte", f.TimeoutFirstByte, &o.TimeoutFirstByte}, {"timeoutfirsttoken", f.TimeoutFirstToken, &o.TimeoutFirstToken},
		{"timeoutstall", f.TimeoutStall, &o.TimeoutStall}} {
		if t.flag == nil {
			continue
		}
		if *t.dst, err = load.TimeoutFlag(*t.flag); err != nil {
			return fmt.Errorf("-%s: %w", t.name, err)
		}
	}
	if o.SLO.IgnoreInFlightAtEnd, err = load.ParseInFlightAtEnd(str(f.InFlightAtEnd)); err != nil {
		return fmt.Errorf("-inflightatend: %w", err)
	}
	o.Out = str(f.Out)
	if o.Out == "" {
		o.Out = filepath.Join("results", fmt.Sprintf("load-%s-%s.json", backend, time.Now().Format("20060102-150405")))
	}
	// Before the metrics listener and any request: a run that cannot write
	// its results is refused at once.
	if err := load.CheckWritable(o.Out); err != nil {
		return err
	}
	switch m := str(f.Metrics); m {
	case "off":
	case "":
		// 127.0.0.1 for people; the docker0 address for the stack's
		// Prometheus (job loadgen, host.docker.internal:9100), which other
		// hosts do not reach.
		addrs := []string{"127.0.0.1:9100"}
		if gw := bridgeGateway(ctx); gw != "" {
			addrs = append(addrs, net.JoinHostPort(gw, "9100"))
		}
		ln, err := netx.Listen(addrs...)
		if err != nil {
			return fmt.Errorf("the generator's /metrics cannot listen on %v: %w; pass -metrics=ADDR or -metrics=off", addrs, err)
		}
		o.MetricsListener = ln
		for _, a := range ln.Addrs() {
			fmt.Printf("load: client metrics on http://%s/metrics\n", a)
		}
	default:
		o.MetricsAddr = m
	}
	o.Status, o.IsTerminal = os.Stdout, ui.IsTerminal(os.Stdout)
	bound := "until Ctrl+C"
	if endsWithWorkload(o.Prompts) {
		bound = "until the dataset's end"
	}
	switch {
	case o.Duration > 0:
		bound = "for " + o.Duration.String()
	case o.Requests > 0:
		bound = fmt.Sprintf("for %d requests", o.Requests)
	case len(o.Stages) > 0:
		bound = "for " + o.Stages.Total().String()
	}
	shape := fmt.Sprintf("%d concurrent workers", o.Concurrency)
	if isTrace(o.Prompts) {
		shape = fmt.Sprintf("trace replay at speed %g, at most %d in flight", cmp.Or(o.Prompts.TraceSpeed, load.DefaultTraceSpeed), o.Concurrency)
		if o.Concurrency == 0 {
			shape = fmt.Sprintf("trace replay at speed %g, no cap on requests in flight", cmp.Or(o.Prompts.TraceSpeed, load.DefaultTraceSpeed))
		}
	}
	if o.Rate > 0 {
		shape = fmt.Sprintf("%.3g req/s (%s)", o.Rate, o.ShapeName())
		if o.Concurrency > 0 {
			shape += fmt.Sprintf(", at most %d in flight", o.Concurrency)
		}
	}
	if len(o.Stages) > 0 {
		shape = "stages " + o.Stages.String()
		if o.Concurrency > 0 {
			shape += fmt.Sprintf(", at most %d in flight in the open ones", o.Concurrency)
		}
	}
	fmt.Printf("load: %s at %s (%s), %s, %s\n", backend, o.URL, o.Protocol, shape, bound)
	if o.MetricsAddr != "" {
		fmt.Printf("load: client metrics on http://%s/metrics\n", o.MetricsAddr)
	}
	// A bounded run that breaks an SLO returns an error (not when Ctrl+C
	// ended it), after the summary and the results file.
	res, err := load.Run(ctx, o)
	if res == nil {
		return err
	}
	if res.Finite {
		finite.Store(true)
	}
	if rerr := load.Report(o, res); rerr != nil {
		return rerr
	}
	// A finished run the generator distorted is no server verdict, pass
	// or fail: it exits with a status of its own.
	if ierr := load.InvalidOutcome(ctx, res, err); ierr != nil {
		return &InvalidRunError{Err: ierr}
	}
	return err
}

// promptSource is the workload the flags select.
func (f LoadFlags) promptSource() load.PromptSource {
	p := load.PromptSource{Dataset: str(f.Dataset), Checksum: str(f.Checksum), SyntheticTokens: intv(f.Synthetic),
		Format: workload.Format(str(f.DatasetFormat)), Once: Flag(f.Once), Sessions: Flag(f.Sessions),
		ThinkTime: Duration(f.ThinkTime, 0), SyntheticDist: str(f.SyntheticDist), OutputTokens: intv(f.OutputTokens),
		OutputDist: str(f.OutputDist), PrefixTokens: intv(f.PrefixTokens), PrefixGroups: intv(f.PrefixGroups)}
	if f.TraceSpeed != nil {
		p.TraceSpeed = *f.TraceSpeed
	}
	return p
}

// checkConcurrency refuses a closed loop without workers (load:sim 0 used
// to announce 0 workers and run 1) and a negative in-flight cap. In an open
// loop (-rate, or a trace replayed at its times) the number caps requests
// in flight, 0 for no cap.
func checkConcurrency(backend string, concurrency int, open bool) error {
	switch {
	case !open && concurrency < 1:
		return fmt.Errorf("load:%s %d: the number of concurrent workers must be at least 1, e.g. mage load:%s 4 (with -rate or a trace, 0 means no cap on in-flight requests)", backend, concurrency, backend)
	case open && concurrency < 0:
		return fmt.Errorf("load:%s %d: with -rate or a trace the number caps in-flight requests: give 0 for no cap or a positive cap", backend, concurrency)
	}
	return nil
}

// bridgeGateway returns the docker0 address when a Docker engine answers
// at once, else "".
func bridgeGateway(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	eng, err := engine.Connect(ctx)
	if err != nil {
		return ""
	}
	defer eng.Close()
	gw, err := eng.BridgeGateway(ctx)
	if err != nil {
		return ""
	}
	return gw
}

// endsWithWorkload reports whether a run's end is its workload's: -once,
// -sessions, or a trace (a local file's format detected as the run will).
func endsWithWorkload(p load.PromptSource) bool {
	return p.Once || p.Sessions || isTrace(p)
}

// isTrace reports whether the dataset is a trace, given or detected.
func isTrace(p load.PromptSource) bool {
	f := p.Format
	if (f == "" || f == workload.Auto) && p.Dataset != "" {
		f = detectLocal(p.Dataset)
	}
	return f.Timed()
}

// detectLocal is the format of a local dataset file, "" when it is a URL
// or cannot be read or told (the run then says why).
func detectLocal(path string) workload.Format {
	fh, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer fh.Close()
	head := make([]byte, workload.DetectBytes)
	n, _ := io.ReadFull(fh, head)
	f, err := workload.Detect(head[:n])
	if err != nil {
		return ""
	}
	return f
}
