package load

import (
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
)

// Flags are the command-line options of the load generator, one field per
// flag. RegisterFlags defines them under the names of the load:* mage
// targets (which lowercase their parameter names: maxtokens,
// timeoutfirstbyte ...), so that cmd/loadgen and mage share the names and
// their meanings; cmd/loadgen's older hyphenated names (-max-tokens,
// -dataset-checksum ...) stay as aliases. Options turns them into Options.
type Flags struct {
	Backend  string // a backend of the table: sets Protocol and Model (Preset)
	URL      string // server base URL
	Model    string // model name ("" takes the backend's, or asks /v1/models)
	Protocol string // "" takes the backend's

	// Stream is true unless -nostream (or -stream=false).
	Stream      bool
	Concurrency int
	Rate        float64
	Shape       string
	Burstiness  float64
	Seed        uint64

	Duration       time.Duration
	Requests       int
	Warmup         time.Duration
	WarmupRequests int

	MaxTokens         int
	IgnoreEOS         bool
	TritonTokenCounts bool
	Dataset           string
	Checksum          string // of a Dataset URL
	Synthetic         int    // synthetic prompts of about this many tokens
	SyntheticCount    int

	SLOAvailability float64
	SLOTTFTP95      time.Duration
	SLOITLP95       time.Duration

	Out string
	// Metrics is the address of the generator's own /metrics ("" or "off":
	// none; load:* listens on its own default address when it is "").
	Metrics string

	RequestTimeout time.Duration
	// Timeouts in the flags' convention: 0 turns the timeout off.
	TimeoutFirstByte  time.Duration
	TimeoutFirstToken time.Duration
	TimeoutStall      time.Duration
	InFlightAtEnd     string // InFlightAtEndFail or InFlightAtEndIgnore
	MaxEventBytes     int
	DrainTimeout      time.Duration
}

// DefaultFlags returns the flags' defaults: those of package load, with
// streaming on and the vllm backend.
func DefaultFlags() Flags {
	slo := DefaultSLO()
	return Flags{
		Backend: string(backend.VLLM), Stream: true, Concurrency: DefaultConcurrency, Seed: DefaultSeed,
		MaxTokens: DefaultMaxTokens, SyntheticCount: DefaultSyntheticCount,
		SLOAvailability: slo.Availability, SLOTTFTP95: slo.TTFTP95, SLOITLP95: slo.ITLP95,
		TimeoutFirstByte: DefaultTimeoutFirstByte, TimeoutFirstToken: DefaultTimeoutFirstToken,
		TimeoutStall: DefaultTimeoutStall, InFlightAtEnd: InFlightAtEndFail,
		MaxEventBytes: DefaultMaxEventBytes, DrainTimeout: DefaultDrainTimeout,
	}
}

// RegisterFlags defines one flag per field, bound to f (its current
// values are the defaults), and the older hyphenated names as aliases.
// Timeouts, -inflightatend and -maxeventbytes are checked as they are
// parsed.
func (f *Flags) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&f.Backend, "backend", f.Backend, "backend preset: vllm, triton, trt or sim (sets protocol and model defaults)")
	fs.StringVar(&f.URL, "url", f.URL, "server base URL (default "+DefaultURL+")")
	fs.StringVar(&f.Model, "model", f.Model, "model name (default: discovered for OpenAI protocols, the backend's Triton model otherwise)")
	fs.StringVar(&f.Protocol, "protocol", f.Protocol, "openai-chat, openai-completions, triton-generate or triton-trt (default from -backend)")
	fs.BoolVar(&f.Stream, "stream", f.Stream, "stream responses (SSE); -stream=false sends plain requests")
	fs.BoolFunc("nostream", "send non-streamed requests (the same as -stream=false)", func(s string) error {
		v, err := strconv.ParseBool(s)
		f.Stream = !v
		return err
	})
	fs.IntVar(&f.Concurrency, "concurrency", f.Concurrency, "workers of a closed loop, or the in-flight cap of an open loop (default with -rate: no cap)")
	fs.Float64Var(&f.Rate, "rate", f.Rate, "open-loop request rate per second (0 = closed loop)")
	fs.StringVar(&f.Shape, "shape", f.Shape, "open-loop arrivals: poisson (default), gamma or constant")
	fs.Float64Var(&f.Burstiness, "burstiness", f.Burstiness, "gamma shape: 1 = poisson, <1 burstier, >1 smoother")
	fs.Uint64Var(&f.Seed, "seed", f.Seed, "seed of the arrival process and synthetic prompts")
	fs.DurationVar(&f.Duration, "duration", f.Duration, "measured run length (0 = until SIGINT/SIGTERM, or -requests)")
	fs.IntVar(&f.Requests, "requests", f.Requests, "stop after this many measured requests (0 = no limit)")
	fs.DurationVar(&f.Warmup, "warmup", f.Warmup, "exclude requests sent in this first period")
	fs.IntVar(&f.WarmupRequests, "warmuprequests", f.WarmupRequests, "exclude the first N requests")
	fs.IntVar(&f.MaxTokens, "maxtokens", f.MaxTokens, "max_tokens per request (a dataset line may override it)")
	fs.BoolVar(&f.IgnoreEOS, "ignoreeos", f.IgnoreEOS, "ask vLLM to always generate maxtokens (ignore_eos)")
	fs.BoolVar(&f.TritonTokenCounts, "tritontokencounts", f.TritonTokenCounts, "triton-generate: request num_input_tokens/num_output_tokens (recent vLLM backends)")
	fs.StringVar(&f.Dataset, "dataset", f.Dataset, "JSONL prompts ({\"prompt\": ..., \"max_tokens\": N} per line): a path or an http(s)/file URL")
	fs.StringVar(&f.Checksum, "checksum", f.Checksum, "sha256:<hex> of an http(s) -dataset (or put ?checksum= in the URL)")
	fs.IntVar(&f.Synthetic, "synthetic", f.Synthetic, "generate prompts of about this many tokens (words)")
	fs.IntVar(&f.SyntheticCount, "syntheticcount", f.SyntheticCount, "number of synthetic prompts")
	fs.Float64Var(&f.SLOAvailability, "sloavailability", f.SLOAvailability, "SLO: minimum ok/(ok+failed); negative disables")
	fs.DurationVar(&f.SLOTTFTP95, "slottftp95", f.SLOTTFTP95, "SLO: maximum p95 TTFT from the intended send time; negative disables")
	fs.DurationVar(&f.SLOITLP95, "sloitlp95", f.SLOITLP95, "SLO: maximum p95 inter-chunk latency; negative disables")
	fs.StringVar(&f.Out, "out", f.Out, "results file (JSON); empty for none")
	fs.StringVar(&f.Metrics, "metrics", f.Metrics, "serve the generator's /metrics on this address, e.g. :9400 (off: none)")
	fs.DurationVar(&f.RequestTimeout, "requesttimeout", f.RequestTimeout, "per-request timeout (0 = none)")
	fs.Var(timeoutValue{&f.TimeoutFirstByte}, "timeoutfirstbyte", "a request without response headers this long after sending fails as timeout (0 = off)")
	fs.Var(timeoutValue{&f.TimeoutFirstToken}, "timeoutfirsttoken", "a request without generated text this long after sending fails as timeout (0 = off)")
	fs.Var(timeoutValue{&f.TimeoutStall}, "timeoutstall", "a stream without new generated text this long fails as stall (0 = off)")
	fs.Var(inFlightValue{&f.InFlightAtEnd}, "inflightatend", "requests still running when a bounded run's drain ends: fail (count against availability) or ignore")
	fs.Var(eventBytesValue{&f.MaxEventBytes}, "maxeventbytes", "the largest SSE line, SSE event or non-streamed body accepted; larger fails as oversized")
	fs.DurationVar(&f.DrainTimeout, "draintimeout", f.DrainTimeout, "how long a bounded run waits for in-flight requests")
	// cmd/loadgen's older names.
	for _, a := range [][2]string{
		{"warmup-requests", "warmuprequests"},
		{"max-tokens", "maxtokens"},
		{"ignore-eos", "ignoreeos"},
		{"triton-token-counts", "tritontokencounts"},
		{"dataset-checksum", "checksum"},
		{"synthetic-tokens", "synthetic"},
		{"synthetic-count", "syntheticcount"},
		{"slo-availability", "sloavailability"},
		{"slo-ttft-p95", "slottftp95"},
		{"slo-itl-p95", "sloitlp95"},
		{"metrics-addr", "metrics"},
		{"request-timeout", "requesttimeout"},
		{"timeout-first-byte", "timeoutfirstbyte"},
		{"timeout-first-token", "timeoutfirsttoken"},
		{"timeout-stall", "timeoutstall"},
		{"inflight-at-end", "inflightatend"},
		{"max-event-bytes", "maxeventbytes"},
		{"drain-timeout", "draintimeout"},
	} {
		fs.Var(fs.Lookup(a[1]).Value, a[0], "alias of -"+a[1])
	}
}

// Options returns the Options the flags ask for: the backend's preset,
// with the flags given on top.
func (f *Flags) Options() (Options, error) {
	o, err := Preset(f.Backend, f.Concurrency)
	if err != nil {
		return o, fmt.Errorf("-backend: %w", err)
	}
	if f.URL != "" {
		o.URL = f.URL
	}
	if f.Model != "" {
		o.Model = f.Model
	}
	if f.Protocol != "" {
		o.Protocol = Protocol(f.Protocol)
	}
	ignore, err := ParseInFlightAtEnd(f.InFlightAtEnd)
	if err != nil {
		return o, err
	}
	o.Stream = f.Stream
	o.Rate, o.Shape, o.Burstiness, o.Seed = f.Rate, f.Shape, f.Burstiness, f.Seed
	o.Duration, o.Requests, o.Warmup, o.WarmupRequests = f.Duration, f.Requests, f.Warmup, f.WarmupRequests
	o.MaxTokens, o.IgnoreEOS, o.TritonTokenCounts = f.MaxTokens, f.IgnoreEOS, f.TritonTokenCounts
	o.Prompts = PromptSource{Dataset: f.Dataset, Checksum: f.Checksum, SyntheticTokens: f.Synthetic,
		SyntheticCount: f.SyntheticCount, Seed: f.Seed}
	o.SLO = SLO{Availability: f.SLOAvailability, TTFTP95: f.SLOTTFTP95, ITLP95: f.SLOITLP95, IgnoreInFlightAtEnd: ignore}
	o.MaxEventBytes = f.MaxEventBytes
	o.Out = f.Out
	if f.Metrics != "off" {
		o.MetricsAddr = f.Metrics
	}
	o.RequestTimeout, o.DrainTimeout = f.RequestTimeout, f.DrainTimeout
	for _, t := range []struct{ flag, dst *time.Duration }{{&f.TimeoutFirstByte, &o.TimeoutFirstByte},
		{&f.TimeoutFirstToken, &o.TimeoutFirstToken}, {&f.TimeoutStall, &o.TimeoutStall}} {
		if *t.dst, err = TimeoutFlag(*t.flag); err != nil {
			return o, err
		}
	}
	return o, nil
}

// timeoutValue is a timeout flag: a duration >= 0, 0 turning it off.
type timeoutValue struct{ d *time.Duration }

func (v timeoutValue) String() string {
	if v.d == nil {
		return ""
	}
	return v.d.String()
}

func (v timeoutValue) Get() any { return *v.d }

func (v timeoutValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if _, err := TimeoutFlag(d); err != nil {
		return err
	}
	*v.d = d
	return nil
}

// inFlightValue is -inflightatend: fail or ignore.
type inFlightValue struct{ s *string }

func (v inFlightValue) String() string {
	if v.s == nil {
		return ""
	}
	return *v.s
}

func (v inFlightValue) Get() any { return *v.s }

func (v inFlightValue) Set(s string) error {
	if _, err := ParseInFlightAtEnd(s); err != nil {
		return err
	}
	*v.s = s
	return nil
}

// eventBytesValue is -maxeventbytes: a positive number of bytes.
type eventBytesValue struct{ n *int }

func (v eventBytesValue) String() string {
	if v.n == nil {
		return ""
	}
	return strconv.Itoa(*v.n)
}

func (v eventBytesValue) Get() any { return *v.n }

func (v eventBytesValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return err
	}
	if n < 1 {
		return fmt.Errorf("%d: expected a positive number of bytes (default %d)", n, DefaultMaxEventBytes)
	}
	*v.n = n
	return nil
}
