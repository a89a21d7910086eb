// Package load is a load generator for LLM inference servers (vLLM's
// OpenAI-compatible API, Triton's generate extension with the vLLM backend
// or a TensorRT-LLM ensemble). It streams requests from a fixed number of
// workers (closed loop) or at a request rate (open loop: poisson, gamma or
// constant arrivals, optionally capped in concurrency), measures TTFT, ITL,
// TPOT and E2E per request, and checks service-level objectives.
//
// # Metric definitions
//
//   - TTFT: from the send time to the first content chunk (the first stream
//     event whose generated text is non-empty; role-only and usage-only
//     chunks do not count; reasoning text counts as content).
//   - ITL: every gap between consecutive content chunks (per chunk, not per
//     token; a chunk that bundles several tokens is one gap).
//   - E2E: from the send time to the end of the response (OpenAI "[DONE]",
//     the end of a Triton stream, or the full body when not streamed).
//   - TPOT: (E2E - TTFT) / (output tokens - 1), for streamed requests with
//     at least two output tokens.
//   - Output tokens: the server's usage.completion_tokens (OpenAI, with
//     stream_options.include_usage) or Triton's num_output_tokens when
//     present; otherwise the number of content chunks (streamed) or the
//     words of the text (non-streamed). output_tokens_source in the results
//     says which.
//   - Non-streamed requests: TTFT equals E2E and there is no ITL or TPOT.
//
// # Coordinated omission
//
// Every request has an intended send time: in an open loop the arrival time
// drawn from the load shape, in a closed loop the moment its worker became
// free. The generator records both the latencies from the actual send
// (service time: ttft_seconds, e2e_seconds) and from the intended send
// (response time: ttft_from_intended_seconds, e2e_from_intended_seconds),
// plus the scheduling lag between the two. A request held back by a
// concurrency cap or a slow client is late, and the lateness shows in the
// intended-time figures instead of vanishing. The TTFT SLO and goodput use
// the intended-time TTFT (equal to the actual-send TTFT in a closed loop,
// where there is no client queue).
//
// # Misbehaving servers
//
// Every request has a first-byte, a first-token and a stall timeout
// (Options.TimeoutFirstByte, TimeoutFirstToken, TimeoutStall; see
// guard.go), so a request the server never answers fails ("timeout",
// "stall") instead of holding a worker; every buffer the server fills is
// bounded ("oversized"); requests still running when a bounded run's drain
// period ends are reported as in_flight_at_end and count against
// availability unless SLO.IgnoreInFlightAtEnd; the generator's own
// failures (no descriptors, no local ports) are "client" errors, apart
// from the server's, and make the result suspect.
package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/load/stream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Protocol selects the wire protocol.
type Protocol string

// Protocols.
const (
	// ProtocolOpenAIChat: POST {URL}/v1/chat/completions.
	ProtocolOpenAIChat Protocol = "openai-chat"
	// ProtocolOpenAICompletions: POST {URL}/v1/completions.
	ProtocolOpenAICompletions Protocol = "openai-completions"
	// ProtocolTritonGenerate: POST {URL}/v2/models/{model}/generate_stream
	// (generate when not streamed) with the vLLM backend's inputs:
	// {"text_input": "...", "stream": true, "sampling_parameters": "{\"max_tokens\": N}"}.
	ProtocolTritonGenerate Protocol = "triton-generate"
	// ProtocolTritonTRT: the same endpoints with a TensorRT-LLM ensemble's
	// inputs: {"text_input": "...", "max_tokens": N, "stream": true, "bad_words": "", "stop_words": ""}.
	ProtocolTritonTRT Protocol = "triton-trt"
)

// Protocols lists the supported protocols.
var Protocols = []Protocol{ProtocolOpenAIChat, ProtocolOpenAICompletions, ProtocolTritonGenerate, ProtocolTritonTRT}

func (p Protocol) triton() bool { return p == ProtocolTritonGenerate || p == ProtocolTritonTRT }

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
	// refuse 0 workers instead of running 1.
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
	Status         io.Writer
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

// Preset returns Options for a named backend with streaming on:
//
//	vllm:   openai-chat at http://localhost:8000, model discovered
//	triton: triton-generate (vLLM backend) at http://localhost:8000, model "vllm_model"
//	trt:    triton-trt (TensorRT-LLM ensemble) at http://localhost:8000, model "ensemble"
//	sim:    openai-chat at http://localhost:8000, model discovered
func Preset(backend string, concurrency int) (Options, error) {
	o := Options{Backend: backend, URL: "http://localhost:8000", Stream: true, Concurrency: concurrency,
		MaxTokens: 128, SLO: DefaultSLO()}
	switch backend {
	case "vllm", "sim":
		o.Protocol = ProtocolOpenAIChat
	case "triton":
		o.Protocol, o.Model = ProtocolTritonGenerate, "vllm_model"
	case "trt":
		o.Protocol, o.Model = ProtocolTritonTRT, "ensemble"
	default:
		return o, fmt.Errorf("load: unknown backend %q; expected vllm, triton, trt or sim", backend)
	}
	return o, nil
}

// ErrSLO is wrapped by the error of a bounded run that broke an SLO.
var ErrSLO = errors.New("SLO broken")

func (o *Options) validate() error {
	if o.Protocol == "" {
		o.Protocol = ProtocolOpenAIChat
	}
	known := false
	for _, p := range Protocols {
		known = known || p == o.Protocol
	}
	if !known {
		return fmt.Errorf("load: protocol %q: expected one of openai-chat, openai-completions, triton-generate, triton-trt", o.Protocol)
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("load: URL %q: expected the server's base URL, e.g. http://localhost:8000", o.URL)
	}
	o.URL = strings.TrimRight(o.URL, "/")
	if o.Protocol.triton() && o.Model == "" {
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
	}
	o.TimeoutFirstByte = effTimeout(o.TimeoutFirstByte, DefaultTimeoutFirstByte)
	o.TimeoutFirstToken = effTimeout(o.TimeoutFirstToken, DefaultTimeoutFirstToken)
	o.TimeoutStall = effTimeout(o.TimeoutStall, DefaultTimeoutStall)
	if o.MaxEventBytes == 0 {
		o.MaxEventBytes = DefaultMaxEventBytes
	}
	if o.Rate == 0 && o.Concurrency == 0 {
		o.Concurrency = 1
	}
	if o.Rate == 0 && o.Shape != "" {
		return fmt.Errorf("load: shape %q needs a rate (Rate > 0)", o.Shape)
	}
	if o.MaxTokens == 0 {
		o.MaxTokens = 128
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = 60 * time.Second
	}
	if o.Backend == "" {
		o.Backend = string(o.Protocol)
	}
	o.SLO = o.SLO.withDefaults()
	return nil
}

// bounded reports whether the run has its own end.
func (o *Options) bounded() bool { return o.Duration > 0 || o.Requests > 0 }

// newHTTPClient returns a keep-alive HTTP/1.1 client (no HTTP/2, no h2c, no
// proxy, no transparent compression, which would buffer SSE) whose idle
// pool keeps one connection per concurrent request.
func newHTTPClient(conns int) *http.Client {
	if conns <= 0 {
		conns = 1024
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		// The first-byte timeout is enforced per request (Options); the
		// header block is bounded here.
		MaxResponseHeaderBytes: MaxResponseHeaderBytes,
		DisableCompression:     true,
		ForceAttemptHTTP2:      false,
		Protocols:              &protos,
		ReadBufferSize:         16 << 10,
	}
	return &http.Client{Transport: tr}
}

// discoverModel asks an OpenAI-compatible server for its first model.
func discoverModel(ctx context.Context, c *http.Client, base, apiKey string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/models", nil)
	if err != nil {
		return "", err
	}
	if apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+apiKey)
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("load: no server answers at %s (asked GET %s/v1/models for the model: %w); start one: `mage up:sim` runs the simulator with Prometheus and Grafana, `mage sim` the simulator alone, `mage up:vllm` vLLM; or point -url at a running server", base, base, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("load: discover model: GET %s/v1/models: %s; the server is up but lists no model: name it with -model=NAME", base, resp.Status)
	}
	var m struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &m); err != nil || len(m.Data) == 0 || m.Data[0].ID == "" {
		return "", fmt.Errorf("load: discover model: GET %s/v1/models returned no model id; the server is up but lists no model: name it with -model=NAME", base)
	}
	return m.Data[0].ID, nil
}

// requestSpec is a prebuilt request body for one prompt.
type requestSpec struct {
	body         []byte
	promptTokens int    // estimated (words)
	prompt       string // Triton: a non-streamed answer may begin with it
}

func buildBodies(o *Options, prompts []Prompt) ([]requestSpec, string, error) {
	var endpoint string
	switch o.Protocol {
	case ProtocolOpenAIChat:
		endpoint = o.URL + "/v1/chat/completions"
	case ProtocolOpenAICompletions:
		endpoint = o.URL + "/v1/completions"
	default:
		action := "generate"
		if o.Stream {
			action = "generate_stream"
		}
		endpoint = o.URL + "/v2/models/" + url.PathEscape(o.Model) + "/" + action
	}
	specs := make([]requestSpec, len(prompts))
	for i, p := range prompts {
		maxTok := o.MaxTokens
		if p.MaxTokens > 0 {
			maxTok = p.MaxTokens
		}
		var body any
		switch o.Protocol {
		case ProtocolOpenAIChat, ProtocolOpenAICompletions:
			m := map[string]any{"model": o.Model, "max_tokens": maxTok, "stream": o.Stream}
			if o.Protocol == ProtocolOpenAIChat {
				m["messages"] = []map[string]string{{"role": "user", "content": p.Text}}
			} else {
				m["prompt"] = p.Text
			}
			if o.Stream {
				m["stream_options"] = map[string]bool{"include_usage": true}
			}
			if o.IgnoreEOS {
				m["ignore_eos"] = true
			}
			body = m
		case ProtocolTritonGenerate:
			sp := map[string]any{"max_tokens": maxTok}
			if o.IgnoreEOS {
				sp["ignore_eos"] = true
			}
			spJSON, err := json.Marshal(sp)
			if err != nil {
				return nil, "", err
			}
			m := map[string]any{"text_input": p.Text, "stream": o.Stream, "sampling_parameters": string(spJSON)}
			if o.TritonTokenCounts {
				m["return_num_input_tokens"] = true
				m["return_num_output_tokens"] = true
			}
			body = m
		case ProtocolTritonTRT:
			body = map[string]any{"text_input": p.Text, "max_tokens": maxTok, "stream": o.Stream,
				"bad_words": "", "stop_words": ""}
		}
		b, err := json.Marshal(body)
		if err != nil {
			return nil, "", err
		}
		specs[i] = requestSpec{body: b, promptTokens: approxTokens(p.Text), prompt: p.Text}
	}
	return specs, endpoint, nil
}

// gen is one run's state.
type gen struct {
	o        Options
	client   *http.Client
	endpoint string
	specs    []requestSpec
	header   http.Header
	met      *metrics
	shards   []*shard
	start    time.Time
	hardCtx  context.Context

	mu           sync.Mutex
	stopped      bool
	stopReason   string
	stopCh       chan struct{}
	issued       int64
	measured     int64
	warmEnd      time.Time
	deadline     time.Time
	deadlineT    *time.Timer
	measureStart time.Time

	causes causes
	// cutAtEnd is set when the drain period of a bounded run ended with
	// requests in flight: the hard cancel that follows cuts them as
	// in_flight_at_end, not canceled.
	cutAtEnd atomic.Bool

	inFlight atomic.Int64
	// notSent counts open-loop arrivals intended before the deadline that
	// were never sent: the in-flight cap held them until the run ended.
	notSent atomic.Int64
	errMu   sync.Mutex
	samples []ErrorSample

	oaPool, trPool, gapPool sync.Pool
}

func (g *gen) now() time.Time {
	if g.o.clock != nil {
		return g.o.clock()
	}
	return time.Now()
}

func (g *gen) stop(reason string) {
	g.mu.Lock()
	g.stopLocked(reason)
	g.mu.Unlock()
}

func (g *gen) stopLocked(reason string) {
	if g.stopped {
		return
	}
	g.stopped = true
	g.stopReason = reason
	close(g.stopCh)
}

// take admits one request with the given intended send time.
func (g *gen) take(intended time.Time) (idx int64, warm, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return 0, false, false
	}
	if g.hardCtx.Err() != nil {
		g.stopLocked("canceled")
		return 0, false, false
	}
	if !g.deadline.IsZero() && !intended.Before(g.deadline) {
		g.stopLocked("duration")
		return 0, false, false
	}
	idx = g.issued
	g.issued++
	warm = idx < int64(g.o.WarmupRequests) || intended.Before(g.warmEnd)
	if !warm {
		if g.measured == 0 {
			g.measureStart = intended
			if g.o.Duration > 0 {
				g.deadline = intended.Add(g.o.Duration)
				g.deadlineT = time.AfterFunc(time.Until(g.deadline), func() { g.stop("duration") })
			}
		}
		g.measured++
		if g.o.Requests > 0 && g.measured >= int64(g.o.Requests) {
			g.stopLocked("requests")
		}
	}
	return idx, warm, true
}

// Run executes a load test. Canceling ctx (Ctrl+C) ends the run gracefully:
// in-flight requests are canceled (kind "canceled", not failures), the
// summary is printed, Out is written, and Run returns the result with a nil
// error. A bounded run (Duration or Requests) that breaks an SLO returns
// the result and an error wrapping ErrSLO; its requests still running
// when the drain period ends are cut and counted as in_flight_at_end. Out
// is checked writable before any request is sent. Run prints the live
// status and the final summary table to Options.Status when it is set.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.Out != "" {
		if err := CheckWritable(o.Out); err != nil {
			return nil, err
		}
	}
	prompts, err := LoadPrompts(ctx, o.Prompts)
	if err != nil {
		return nil, err
	}
	client := o.HTTPClient
	if client == nil {
		conns := o.Concurrency
		if o.Rate > 0 && conns == 0 {
			conns = 1024
		}
		client = newHTTPClient(conns)
		defer client.CloseIdleConnections()
	}
	if o.Model == "" {
		if o.Model, err = discoverModel(ctx, client, o.URL, o.APIKey); err != nil {
			return nil, err
		}
	}
	specs, endpoint, err := buildBodies(&o, prompts)
	if err != nil {
		return nil, err
	}

	reg := o.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	met, err := newMetrics(reg, o.Backend, o.Model)
	if err != nil {
		return nil, fmt.Errorf("load: register metrics: %w", err)
	}
	if o.MetricsListener != nil || o.MetricsAddr != "" {
		ln := o.MetricsListener
		if ln == nil {
			if ln, err = net.Listen("tcp", o.MetricsAddr); err != nil {
				return nil, fmt.Errorf("load: metrics address %q: %w (use host:port, e.g. :9400)", o.MetricsAddr, err)
			}
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
	}

	header := http.Header{"Content-Type": {"application/json"}}
	if o.Stream {
		header.Set("Accept", "text/event-stream")
	} else {
		header.Set("Accept", "application/json")
	}
	if o.APIKey != "" {
		header.Set("Authorization", "Bearer "+o.APIKey)
	}

	// A few shards keep recording contention low; each costs ~1.3 MB of
	// histograms, so their number is capped.
	nShards := runtime.GOMAXPROCS(0)
	if o.Concurrency > 0 && o.Concurrency < nShards {
		nShards = o.Concurrency
	}
	nShards = max(1, min(nShards, 8))
	g := &gen{o: o, client: client, endpoint: endpoint, specs: specs, header: header, met: met,
		stopCh: make(chan struct{}), causes: newCauses(&o)}
	for range nShards {
		g.shards = append(g.shards, &shard{stats: newStats()})
	}
	g.oaPool.New = func() any { r := stream.NewOpenAIReader(nil); r.SetMaxEventBytes(o.MaxEventBytes); return r }
	g.trPool.New = func() any { r := stream.NewTritonReader(nil); r.SetMaxEventBytes(o.MaxEventBytes); return r }
	g.gapPool.New = func() any { s := make([]int64, 0, 256); return &s }

	hardCtx, cancelHard := context.WithCancel(ctx)
	defer cancelHard()
	g.hardCtx = hardCtx
	g.start = time.Now()
	if o.Warmup > 0 {
		g.warmEnd = g.start.Add(o.Warmup)
	}
	started := time.Now()

	var arr *Arrivals
	if o.Rate > 0 {
		if arr, err = NewArrivals(o.Shape, o.Rate, o.Burstiness, o.Seed); err != nil {
			return nil, err
		}
	}

	var statusWG sync.WaitGroup
	statusDone := make(chan struct{})
	if o.Status != nil {
		statusWG.Add(1)
		go func() { defer statusWG.Done(); g.statusLoop(statusDone) }()
	}

	var wg sync.WaitGroup
	if o.Rate > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); g.openLoop(arr, &wg) }()
	} else {
		for w := 0; w < o.Concurrency; w++ {
			wg.Add(1)
			go func() { defer wg.Done(); g.worker(w) }()
		}
	}

	// Wait for the stop (bound reached or ctx canceled), then drain.
	select {
	case <-g.stopCh:
	case <-ctx.Done():
		g.stop("canceled")
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	if ctx.Err() != nil {
		cancelHard()
	} else {
		t := time.NewTimer(o.DrainTimeout)
		select {
		case <-allDone:
		case <-t.C:
			g.mu.Lock()
			g.stopReason += "+drain_timeout"
			g.mu.Unlock()
			g.cutAtEnd.Store(true)
		case <-ctx.Done():
			g.mu.Lock()
			g.stopReason = "canceled"
			g.mu.Unlock()
		}
		t.Stop()
		cancelHard()
	}
	<-allDone
	g.mu.Lock()
	if g.deadlineT != nil {
		g.deadlineT.Stop()
	}
	reason := g.stopReason
	g.mu.Unlock()
	close(statusDone)
	statusWG.Wait()

	res := g.result(started, reason)
	if o.Status != nil {
		res.PrintSummary(o.Status)
	}
	if o.Out != "" {
		if err := WriteResult(o.Out, res); err != nil {
			return res, err
		}
		if o.Status != nil {
			fmt.Fprintf(o.Status, "results written to %s\n", o.Out)
		}
	}
	if o.bounded() && reason != "canceled" {
		if err := res.SLOError(); err != nil {
			return res, err
		}
	}
	return res, nil
}

// worker is one closed-loop worker: one request at a time, the next one
// intended as soon as the previous ends.
func (g *gen) worker(w int) {
	sh := g.shards[w%len(g.shards)]
	for {
		intended := g.now()
		idx, warm, ok := g.take(intended)
		if !ok {
			return
		}
		g.do(idx, intended, warm, sh)
	}
}

// openLoop sends requests at the arrival times of arr, each in its own
// goroutine, at most Concurrency in flight when Concurrency > 0. A request
// delayed by the cap keeps its intended time (no coordinated omission).
// Go timers wake up to ~1 ms late on an idle Linux machine (the netpoller
// sleeps in whole milliseconds), so at high rates the scheduling lag is
// typically 0.5 ms at p50 and ~1 ms at p99; it is measured and reported
// (scheduling_lag_seconds), and the intended-time latencies include it.
func (g *gen) openLoop(arr *Arrivals, wg *sync.WaitGroup) {
	var sem chan struct{}
	if g.o.Concurrency > 0 {
		sem = make(chan struct{}, g.o.Concurrency)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	// The warm-up ends at its wall-clock end: a warm-up arrival the cap
	// still holds then is dropped (it would not be measured), so that a
	// backlog of warm-up requests cannot push the measured window past
	// its own end.
	warmOver := make(chan struct{})
	if sem != nil && !g.warmEnd.IsZero() {
		defer time.AfterFunc(time.Until(g.warmEnd), func() { close(warmOver) }).Stop()
	}
	next := g.start
	for i := 0; ; i++ {
		next = next.Add(arr.Next())
		if next.Before(g.warmEnd) && !time.Now().Before(g.warmEnd) {
			continue // a warm-up arrival due while the loop was held: dropped
		}
		if d := time.Until(next); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-g.stopCh:
				return
			}
		}
		idx, warm, ok := g.take(next)
		if !ok {
			g.countNotSent(arr, next)
			return
		}
		if sem != nil {
			// An admitted request is sent even when the run stops meanwhile
			// (the count bound admitted it); only a hard stop drops it.
			var held <-chan struct{}
			if next.Before(g.warmEnd) {
				held = warmOver
			}
			select {
			case sem <- struct{}{}:
			case <-held:
				continue // the warm-up ended while the cap held it: dropped
			case <-g.hardCtx.Done():
				if !warm && g.cutAtEnd.Load() {
					g.notSent.Add(1) // admitted, due, and held by the cap to the end
				}
				return
			}
		}
		sh := g.shards[i%len(g.shards)]
		wg.Add(1)
		go func(intended time.Time) {
			defer wg.Done()
			g.do(idx, intended, warm, sh)
			if sem != nil {
				<-sem
			}
		}(next)
	}
}

// countNotSent counts the arrivals from next up to the deadline of a timed
// run that ended while the in-flight cap held them back: they were due,
// so leaving them out would hide the overload (coordinated omission).
func (g *gen) countNotSent(arr *Arrivals, next time.Time) {
	g.mu.Lock()
	deadline, reason := g.deadline, g.stopReason
	g.mu.Unlock()
	if deadline.IsZero() || reason != "duration" {
		return
	}
	for n := int64(0); next.Before(deadline); n++ {
		g.notSent.Add(1)
		next = next.Add(arr.Next())
		if n > 1e7 {
			return // a pathological rate; the count is already damning
		}
	}
}

// do sends one request and records it.
func (g *gen) do(idx int64, intended time.Time, warm bool, sh *shard) {
	spec := &g.specs[int(idx%int64(len(g.specs)))]
	gp := g.gapPool.Get().(*[]int64)
	r := reqRecord{warm: warm, intended: intended, gaps: (*gp)[:0], streamed: g.o.Stream,
		promptTokens: spec.promptTokens}

	g.inFlight.Add(1)
	g.met.inFlight.Inc()
	g.execute(&r, spec)
	g.met.inFlight.Dec()
	g.inFlight.Add(-1)

	g.met.observe(&r)
	if r.kind != "" && r.kind != ErrCanceled {
		g.sample(r.kind, r.msg) // in_flight_at_end and client included: they explain the verdict
	}
	if !warm {
		good := r.kind == "" && g.meetsSLO(&r)
		sh.mu.Lock()
		sh.add(&r, good)
		sh.mu.Unlock()
	} else {
		sh.mu.Lock()
		sh.warmup++
		sh.mu.Unlock()
	}
	*gp = r.gaps[:0]
	g.gapPool.Put(gp)
}

// meetsSLO reports whether a successful request meets every per-request
// SLO: TTFT (from the intended send) <= SLO.TTFTP95 and, for streamed
// requests with two or more tokens, TPOT <= SLO.ITLP95.
func (g *gen) meetsSLO(r *reqRecord) bool {
	if g.o.SLO.TTFTP95 > 0 && r.ttftSched() > g.o.SLO.TTFTP95 {
		return false
	}
	if tp, ok := r.tpot(); ok && g.o.SLO.ITLP95 > 0 && tp > g.o.SLO.ITLP95 {
		return false
	}
	return true
}

// ErrorSample is one example error message of a kind.
type ErrorSample struct {
	Kind    ErrorKind `json:"kind"`
	Message string    `json:"message"`
}

func (g *gen) sample(k ErrorKind, msg string) {
	g.errMu.Lock()
	defer g.errMu.Unlock()
	if len(g.samples) >= 10 {
		return
	}
	for _, s := range g.samples {
		if s.Kind == k && s.Message == msg {
			return
		}
	}
	g.samples = append(g.samples, ErrorSample{Kind: k, Message: msg})
}

func (g *gen) fail(r *reqRecord, k ErrorKind, msg string) {
	r.kind, r.msg = k, msg
	if r.end.IsZero() {
		r.end = g.now()
	}
}

func (g *gen) execute(r *reqRecord, spec *requestSpec) {
	ctx := g.hardCtx
	if g.o.RequestTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.o.RequestTimeout)
		defer cancel()
	}
	ctx, wd := g.watch(ctx)
	defer wd.stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.endpoint, bytes.NewReader(spec.body))
	if err != nil {
		r.sent = g.now()
		g.fail(r, ErrConnect, err.Error())
		return
	}
	req.Header = g.header.Clone()
	r.sent = g.now()
	wd.start(g.realNow(r.sent))
	resp, err := g.client.Do(req)
	if err != nil {
		kind, msg := g.classify(ctx, err, false)
		g.fail(r, kind, msg)
		return
	}
	defer resp.Body.Close()
	wd.headers()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, errorBodyBytes))
		kind := ErrHTTPOther
		switch {
		case resp.StatusCode >= 500:
			kind = ErrHTTP5xx
		case resp.StatusCode >= 400:
			kind = ErrHTTP4xx
		}
		g.fail(r, kind, fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(msg)))
		return
	}
	if !g.o.Stream {
		g.readWhole(ctx, r, resp.Body, spec.prompt)
		return
	}
	var rd stream.Reader
	if g.o.Protocol.triton() {
		tr := g.trPool.Get().(*stream.TritonReader)
		tr.Reset(resp.Body)
		defer g.trPool.Put(tr)
		rd = tr
	} else {
		oa := g.oaPool.Get().(*stream.OpenAIReader)
		oa.Reset(resp.Body)
		defer g.oaPool.Put(oa)
		rd = oa
	}
	var usage stream.Usage
	haveUsage := false
	chunks := 0
	var last time.Time
	for {
		ev := rd.Next()
		now := g.now()
		if ev.Err != nil {
			r.end = now
			var se *stream.ServerError
			var me *stream.MalformedError
			switch {
			case ctx.Err() != nil:
				// Canceled, cut at the end, or a timeout: the cause says which.
				kind, msg := g.classify(ctx, ev.Err, true)
				g.fail(r, kind, msg)
			case errors.Is(ev.Err, stream.ErrOversized):
				g.fail(r, ErrOversized, ev.Err.Error())
			case errors.As(ev.Err, &se), errors.As(ev.Err, &me):
				g.fail(r, ErrStreamError, ev.Err.Error())
			case errors.Is(ev.Err, stream.ErrTruncated):
				g.fail(r, ErrStreamTruncated, ev.Err.Error())
			default:
				kind, msg := g.classify(ctx, ev.Err, true)
				g.fail(r, kind, msg)
			}
			r.outTokens = chunks
			return
		}
		if ev.Done {
			r.end = now
			break
		}
		if ev.Text != "" {
			chunks++
			if r.first.IsZero() {
				r.first = now
			} else {
				r.gaps = append(r.gaps, now.Sub(last).Microseconds())
			}
			last = now
			wd.progress(g.realNow(now))
		}
		if ev.Usage != nil {
			usage, haveUsage = *ev.Usage, true
		}
	}
	// Let the transport reuse the connection.
	_, _ = io.CopyN(io.Discard, resp.Body, 4096)
	if chunks == 0 {
		g.fail(r, ErrEmptyOutput, "the stream ended without generated text")
		return
	}
	r.outTokens, r.outSource = chunks, 1
	if haveUsage && usage.CompletionTokens > 0 {
		r.outTokens, r.outSource = usage.CompletionTokens, 0
	}
	if haveUsage && usage.PromptTokens > 0 {
		r.promptTokens, r.promptUsage = usage.PromptTokens, true
	}
}

// readWhole handles a non-streamed response; its body is bounded by
// MaxEventBytes.
func (g *gen) readWhole(ctx context.Context, r *reqRecord, body io.Reader, prompt string) {
	b, err := io.ReadAll(io.LimitReader(body, int64(g.o.MaxEventBytes)+1))
	r.end = g.now()
	if err != nil {
		kind, msg := g.classify(ctx, err, true)
		g.fail(r, kind, msg)
		return
	}
	if len(b) > g.o.MaxEventBytes {
		g.fail(r, ErrOversized, (&stream.OversizedError{What: "response body", Limit: g.o.MaxEventBytes}).Error())
		return
	}
	var ev stream.Event
	if g.o.Protocol.triton() {
		ev = stream.ParseTritonResponse(b)
		// Triton's vLLM backend puts the prompt before the output of a
		// non-streamed request (exclude_input_in_output defaults to false):
		// it is not generated text.
		ev.Text = strings.TrimPrefix(ev.Text, prompt)
	} else {
		ev = stream.ParseOpenAIResponse(b)
	}
	if ev.Err != nil {
		g.fail(r, ErrStreamError, ev.Err.Error())
		return
	}
	if ev.Text == "" {
		g.fail(r, ErrEmptyOutput, "the response has no generated text")
		return
	}
	r.first = r.end
	r.outTokens, r.outSource = approxTokens(ev.Text), 2
	if r.outTokens == 0 {
		r.outTokens = 1
	}
	if ev.Usage != nil && ev.Usage.CompletionTokens > 0 {
		r.outTokens, r.outSource = ev.Usage.CompletionTokens, 0
	}
	if ev.Usage != nil && ev.Usage.PromptTokens > 0 {
		r.promptTokens, r.promptUsage = ev.Usage.PromptTokens, true
	}
}

// snapshot merges the shards into dst (which is reset first).
func (g *gen) snapshot(dst *stats) {
	dst.reset()
	for _, sh := range g.shards {
		sh.mu.Lock()
		dst.merge(&sh.stats)
		sh.mu.Unlock()
	}
}
