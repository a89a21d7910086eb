package load

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
	"github.com/prometheus/client_golang/prometheus"
)

// Protocol selects the wire protocol: backend.Protocol, so that load,
// smoke and the backend table speak one vocabulary.
type Protocol = backend.Protocol

// Protocols (see backend.Protocol for the endpoints and bodies of each).
const (
	ProtocolOpenAIChat        = backend.OpenAIChat
	ProtocolOpenAICompletions = backend.OpenAICompletions
	ProtocolTritonGenerate    = backend.TritonGenerate
	ProtocolTritonTRT         = backend.TritonTRT
)

// Protocols lists the supported protocols.
var Protocols = backend.Protocols

// Defaults of the options a zero value leaves open; withDefaults applies
// them, once, at the start of Run. (The timeouts and MaxEventBytes have
// theirs in guard.go, the SLOs in DefaultSLO.)
const (
	// DefaultURL is Preset's server: the pack's API port on this machine.
	DefaultURL = "http://localhost:8000"
	// DefaultProtocol is the protocol of an Options without one.
	DefaultProtocol = ProtocolOpenAIChat
	// DefaultConcurrency is the number of workers of a closed loop.
	DefaultConcurrency = 1
	// DefaultShape is the arrival process of an open loop.
	DefaultShape = ShapePoisson
	// DefaultMaxTokens is the output token budget of a request.
	DefaultMaxTokens = 128
	// DefaultSeed seeds the arrival process.
	DefaultSeed = 1
	// DefaultDrainTimeout is how long a bounded run waits for the
	// requests in flight when it stops sending.
	DefaultDrainTimeout = 60 * time.Second
)

// SLO holds the run's service-level objectives. In DefaultSLO all are set.
// A zero field in Options.SLO takes the default; a negative field disables
// that objective.
type SLO struct {
	// Availability is the minimum fraction of requests that succeed:
	// ok / (ok + failed + in flight at the end of a bounded run). Requests
	// canceled by ctx (Ctrl+C) and client errors (the generator's own,
	// kind "client") are not counted.
	Availability float64
	// IgnoreInFlightAtEnd leaves requests still running when a bounded
	// run's drain period ends out of availability (by default they count
	// as not successful: a server that never finishes them is not
	// available).
	IgnoreInFlightAtEnd bool
	// TTFTP95 is the maximum p95 TTFT, measured from the intended send time.
	TTFTP95 time.Duration
	// ITLP95 is the maximum p95 inter-chunk gap.
	ITLP95 time.Duration
}

// DefaultSLO returns availability >= 99.9%, p95 TTFT <= 2 s, p95 ITL <= 150 ms.
func DefaultSLO() SLO {
	return SLO{Availability: 0.999, TTFTP95: 2 * time.Second, ITLP95: 150 * time.Millisecond}
}

func (s SLO) withDefaults() SLO {
	d := DefaultSLO()
	if s.Availability == 0 {
		s.Availability = d.Availability
	}
	if s.TTFTP95 == 0 {
		s.TTFTP95 = d.TTFTP95
	}
	if s.ITLP95 == 0 {
		s.ITLP95 = d.ITLP95
	}
	return s
}

// Options configure a run. Zero values take the defaults noted.
type Options struct {
	// Backend is a label for results and metrics ("vllm", "triton", "trt", "sim").
	Backend string
	// Model is the served model name. For OpenAI protocols an empty Model is
	// discovered from GET {URL}/v1/models (the first model); Triton
	// protocols need it (the Triton model name, e.g. "vllm_model", "ensemble").
	Model string
	// URL is the server's base URL, e.g. http://localhost:8000.
	URL      string
	Protocol Protocol // default openai-chat
	// Stream requests a streamed response (SSE). Preset sets it; without
	// streaming only E2E is meaningful.
	Stream bool
	// APIKey, when set, is sent as "Authorization: Bearer <key>".
	APIKey string

	// Concurrency is the number of workers of a closed loop (Rate == 0;
	// 0 takes the default, 1), or the cap on in-flight requests of an open
	// loop (Rate > 0; 0 = no cap). The command lines (load:*, cmd/loadgen)
	// refuse 0 workers instead of running 1. A trace (Prompts.Format
	// mooncake, azure, burstgpt) is replayed open loop: Concurrency then
	// caps its requests in flight (0 = no cap).
	Concurrency int
	// Rate > 0 makes an open loop with this many requests per second.
	Rate float64
	// Shape of the open-loop arrivals: "poisson" (default), "gamma", "constant".
	Shape string
	// Burstiness is the gamma shape parameter (default 1 = poisson).
	Burstiness float64
	// Seed of the arrival process (default 1).
	Seed uint64

	// Duration bounds the measured part of the run (after warm-up).
	// Requests bounds the number of measured requests. With neither the
	// run lasts until ctx is canceled. A bounded run that breaks an SLO
	// returns an error wrapping ErrSLO.
	Duration time.Duration
	Requests int
	// Stages, when set, make a staged run: each stage an open loop at its
	// rate (the Shape arrivals, at most Concurrency in flight when that is
	// set) or a closed loop of its workers, in order from the start; the
	// run ends after the last. Rate and Duration must then be 0 (the
	// stages set them); Requests still cuts the run, and Warmup is the
	// first part of the first stage.
	Stages Stages
	// Warmup excludes requests whose intended send time falls within this
	// long after the start (an open loop's warm-up arrivals that its cap
	// still holds when the warm-up ends are not sent); WarmupRequests
	// excludes the first N requests.
	Warmup         time.Duration
	WarmupRequests int

	// MaxTokens per request (default 128); a dataset line's max_tokens overrides it.
	MaxTokens int
	// IgnoreEOS asks vLLM to generate exactly MaxTokens (ignore_eos).
	IgnoreEOS bool
	// TritonTokenCounts sends return_num_input_tokens and
	// return_num_output_tokens (vLLM backend inputs, recent releases only),
	// so output tokens come from the server instead of counted chunks.
	TritonTokenCounts bool
	// Prompts selects the prompts (default: the five DefaultPrompts).
	Prompts PromptSource

	SLO SLO
	// Out is the results file (JSON); empty writes none. It is written
	// also when the run is stopped by ctx.
	Out string
	// Records, when set, is the per-request records file (JSON Lines,
	// one Record per request sent, warm-up ones marked). Run creates it
	// before any request and closes it before it returns, also when ctx
	// stops the run.
	Records string

	// MetricsAddr, when set, serves the generator's /metrics there during
	// the run (e.g. ":9400"). MetricsListener, when set, is used instead.
	MetricsAddr     string
	MetricsListener net.Listener
	// Registry receives the metrics; default a private registry.
	Registry *prometheus.Registry

	// Status receives the live status line and, at the end, the summary
	// table. On a terminal (IsTerminal) the line is redrawn in place every
	// StatusInterval (default 1 s); otherwise a plain line is written
	// every 5 s (or StatusInterval when set).
	Status io.Writer
	// Progress, when set, is called at every status interval with what
	// the run has measured so far (cmd/loadgen's workers publish it).
	Progress       func(Progress)
	IsTerminal     bool
	StatusInterval time.Duration

	// RequestTimeout bounds one request (0 = none); a request that runs
	// past it fails with kind "timeout".
	RequestTimeout time.Duration
	// Per-request timeouts, measured on the wall clock from the send:
	// TimeoutFirstByte until the response headers, TimeoutFirstToken until
	// the first generated text (for a non-streamed request: the whole
	// body); TimeoutStall is the longest gap between chunks of generated
	// text, and from the last one to the end of the stream. A request past
	// one fails with kind "timeout" ("stall" for the gap) and counts
	// against availability. 0 takes the default (DefaultTimeoutFirstByte,
	// DefaultTimeoutFirstToken, DefaultTimeoutStall); negative turns the
	// timeout off.
	TimeoutFirstByte  time.Duration
	TimeoutFirstToken time.Duration
	TimeoutStall      time.Duration
	// MaxEventBytes bounds each buffer the server fills: one SSE line, one
	// SSE event's data, one non-streamed response body (default
	// DefaultMaxEventBytes). A response over it fails with kind
	// "oversized"; the header block is bounded by MaxResponseHeaderBytes,
	// the body of an error answer by 2 KB.
	MaxEventBytes int
	// DrainTimeout is how long a bounded run waits for in-flight requests
	// after it stops sending (default 60 s); requests still running then
	// are cut and counted as in_flight_at_end (see SLO.IgnoreInFlightAtEnd).
	DrainTimeout time.Duration
	// HTTPClient replaces the built-in client (tests, custom TLS).
	HTTPClient *http.Client

	// clock replaces time.Now on the request path (closed-loop tests only).
	clock func() time.Time
}

// Preset returns Options for a named backend of the backend table with
// streaming on, at DefaultURL, with DefaultMaxTokens and DefaultSLO:
//
//	vllm:   openai-chat, model discovered
//	triton: triton-generate (vLLM backend), model "vllm_model"
//	trt:    triton-trt (TensorRT-LLM ensemble), model "ensemble"
//	sim:    openai-chat (the simulator's default personality), model discovered
func Preset(name string, concurrency int) (Options, error) {
	o := Options{Backend: name, URL: DefaultURL, Stream: true, Concurrency: concurrency,
		MaxTokens: DefaultMaxTokens, SLO: DefaultSLO()}
	b, err := backend.Lookup(name)
	if err != nil {
		return o, fmt.Errorf("load: %w", err)
	}
	o.Protocol, o.Model = cmp.Or(b.Protocol, DefaultProtocol), b.Model
	return o, nil
}

// ErrSLO is wrapped by the error of a bounded run that broke an SLO.
var ErrSLO = errors.New("SLO broken")

// withDefaults fills in what the zero values leave open (the defaults
// above and those of guard.go) and resolves the timeouts' convention (a
// negative timeout is off, stored as 0). It is not idempotent for the
// timeouts, so Run applies it once, before validate.
func (o *Options) withDefaults() {
	o.Protocol = cmp.Or(o.Protocol, DefaultProtocol)
	o.URL = strings.TrimRight(o.URL, "/")
	o.TimeoutFirstByte = effTimeout(o.TimeoutFirstByte, DefaultTimeoutFirstByte)
	o.TimeoutFirstToken = effTimeout(o.TimeoutFirstToken, DefaultTimeoutFirstToken)
	o.TimeoutStall = effTimeout(o.TimeoutStall, DefaultTimeoutStall)
	o.MaxEventBytes = cmp.Or(o.MaxEventBytes, DefaultMaxEventBytes)
	if o.Rate == 0 && len(o.Stages) == 0 {
		o.Concurrency = cmp.Or(o.Concurrency, DefaultConcurrency)
	} else {
		o.Shape = o.ShapeName()
	}
	o.MaxTokens = cmp.Or(o.MaxTokens, DefaultMaxTokens)
	o.Seed = cmp.Or(o.Seed, DefaultSeed)
	o.DrainTimeout = cmp.Or(o.DrainTimeout, DefaultDrainTimeout)
	o.Backend = cmp.Or(o.Backend, string(o.Protocol))
	o.SLO = o.SLO.withDefaults()
}

// validate checks the options after withDefaults.
func (o *Options) validate() error {
	if _, err := backend.ParseProtocol(string(o.Protocol)); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("load: URL %q: expected the server's base URL, e.g. http://localhost:8000", o.URL)
	}
	if err := o.validateStages(); err != nil {
		return err
	}
	if o.Protocol.Triton() && o.Model == "" {
		return fmt.Errorf("load: protocol %s needs Model (the Triton model name, e.g. vllm_model or ensemble)", o.Protocol)
	}
	switch {
	case o.Rate < 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0):
		return fmt.Errorf("load: rate %v: expected requests per second > 0, or 0 for a closed loop", o.Rate)
	case o.Concurrency < 0:
		return fmt.Errorf("load: concurrency %d: expected >= 0", o.Concurrency)
	case o.Duration < 0 || o.Requests < 0 || o.Warmup < 0 || o.WarmupRequests < 0:
		return errors.New("load: Duration, Requests, Warmup and WarmupRequests must not be negative")
	case o.MaxTokens < 0:
		return fmt.Errorf("load: max tokens %d: expected > 0", o.MaxTokens)
	case o.MaxEventBytes < 0:
		return fmt.Errorf("load: max event bytes %d: expected > 0 (0 takes the default, %d)", o.MaxEventBytes, DefaultMaxEventBytes)
	case o.RequestTimeout < 0 || o.DrainTimeout < 0:
		return errors.New("load: RequestTimeout and DrainTimeout must not be negative")
	case o.Rate == 0 && len(o.Stages) == 0 && o.Shape != "":
		return fmt.Errorf("load: shape %q needs a rate (Rate > 0)", o.Shape)
	}
	return nil
}

// ShapeName is the arrival process the options run: "closed-loop" without
// a rate (or an open stage), else Shape or DefaultShape.
func (o *Options) ShapeName() string {
	if o.Rate == 0 && !o.Stages.open() {
		return ShapeClosedLoop
	}
	return cmp.Or(o.Shape, DefaultShape)
}

// bounded reports whether the run has its own end.
func (o *Options) bounded() bool { return o.Duration > 0 || o.Requests > 0 || len(o.Stages) > 0 }
