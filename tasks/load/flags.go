package load

import (
	"cmp"
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
)

// Flags are the command-line options of the load generator. RegisterFlags
// defines them under the names of the load:* mage targets (which lowercase
// their parameter names: maxtokens, timeoutfirstbyte ...), so that
// cmd/loadgen and mage share the names and their meanings; cmd/loadgen's
// older hyphenated names (-max-tokens, -dataset-checksum ...) stay as
// aliases. Options turns them into Options.
type Flags struct {
	// Base receives the flags that are options as they are (-url,
	// -maxtokens, -sloavailability ...).
	Base Options

	Backend  string // a backend of the table: the protocol and model (Preset)
	Protocol string // "" takes the backend's
	// Metrics is the address of the generator's own /metrics ("" or "off":
	// none; load:* listens on its own default address when it is "").
	Metrics string
	// Timeouts in the flags' convention: 0 turns the timeout off.
	TimeoutFirstByte  time.Duration
	TimeoutFirstToken time.Duration
	TimeoutStall      time.Duration
	InFlightAtEnd     string // InFlightAtEndFail or InFlightAtEndIgnore
}

// DefaultFlags returns the flags' defaults: those of package load, with
// streaming on and the vllm backend.
func DefaultFlags() Flags {
	return Flags{
		Base: Options{Stream: true, Concurrency: DefaultConcurrency, Seed: DefaultSeed, MaxTokens: DefaultMaxTokens,
			Prompts: PromptSource{SyntheticCount: DefaultSyntheticCount}, SLO: DefaultSLO(),
			MaxEventBytes: DefaultMaxEventBytes, DrainTimeout: DefaultDrainTimeout},
		Backend:          string(backend.VLLM),
		TimeoutFirstByte: DefaultTimeoutFirstByte, TimeoutFirstToken: DefaultTimeoutFirstToken,
		TimeoutStall: DefaultTimeoutStall, InFlightAtEnd: InFlightAtEndFail,
	}
}

// RegisterFlags defines one flag per field, bound to f (its current
// values are the defaults), and the older hyphenated names as aliases.
// Timeouts, -inflightatend and -maxeventbytes are checked as they are
// parsed.
func (f *Flags) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&f.Backend, "backend", f.Backend, "backend preset: vllm, triton, trt or sim (sets protocol and model defaults)")
	fs.StringVar(&f.Base.URL, "url", f.Base.URL, "server base URL (default "+DefaultURL+")")
	fs.StringVar(&f.Base.Model, "model", f.Base.Model, "model name (default: discovered for OpenAI protocols, the backend's Triton model otherwise)")
	fs.StringVar(&f.Protocol, "protocol", f.Protocol, "openai-chat, openai-completions, triton-generate or triton-trt (default from -backend)")
	fs.BoolVar(&f.Base.Stream, "stream", f.Base.Stream, "stream responses (SSE); -stream=false sends plain requests")
	fs.BoolFunc("nostream", "send non-streamed requests (the same as -stream=false)", func(s string) error {
		v, err := strconv.ParseBool(s)
		f.Base.Stream = !v
		return err
	})
	fs.IntVar(&f.Base.Concurrency, "concurrency", f.Base.Concurrency, "workers of a closed loop, or the in-flight cap of an open loop (default with -rate: no cap)")
	fs.Float64Var(&f.Base.Rate, "rate", f.Base.Rate, "open-loop request rate per second (0 = closed loop)")
	fs.StringVar(&f.Base.Shape, "shape", f.Base.Shape, "open-loop arrivals: poisson (default), gamma or constant")
	fs.Float64Var(&f.Base.Burstiness, "burstiness", f.Base.Burstiness, "gamma shape: 1 = poisson, <1 burstier, >1 smoother")
	fs.Uint64Var(&f.Base.Seed, "seed", f.Base.Seed, "seed of the arrival process and synthetic prompts")
	fs.DurationVar(&f.Base.Duration, "duration", f.Base.Duration, "measured run length (0 = until SIGINT/SIGTERM, or -requests)")
	fs.IntVar(&f.Base.Requests, "requests", f.Base.Requests, "stop after this many measured requests (0 = no limit)")
	fs.DurationVar(&f.Base.Warmup, "warmup", f.Base.Warmup, "exclude requests sent in this first period")
	fs.IntVar(&f.Base.WarmupRequests, "warmuprequests", f.Base.WarmupRequests, "exclude the first N requests")
	fs.IntVar(&f.Base.MaxTokens, "maxtokens", f.Base.MaxTokens, "max_tokens per request (a dataset line may override it)")
	fs.BoolVar(&f.Base.IgnoreEOS, "ignoreeos", f.Base.IgnoreEOS, "ask vLLM to always generate maxtokens (ignore_eos)")
	fs.BoolVar(&f.Base.TritonTokenCounts, "tritontokencounts", f.Base.TritonTokenCounts, "triton-generate: request num_input_tokens/num_output_tokens (recent vLLM backends)")
	fs.StringVar(&f.Base.Prompts.Dataset, "dataset", f.Base.Prompts.Dataset, "prompts, conversations or a trace (see -datasetformat; JSONL: {\"prompt\": ..., \"max_tokens\": N} per line): a path or an http(s)/file URL")
	fs.StringVar(&f.Base.Prompts.Checksum, "checksum", f.Base.Prompts.Checksum, "sha256:<hex> of an http(s) -dataset (or put ?checksum= in the URL)")
	fs.IntVar(&f.Base.Prompts.SyntheticTokens, "synthetic", f.Base.Prompts.SyntheticTokens, "generate prompts of about this many tokens (words)")
	fs.IntVar(&f.Base.Prompts.SyntheticCount, "syntheticcount", f.Base.Prompts.SyntheticCount, "number of synthetic prompts")
	fs.StringVar((*string)(&f.Base.Prompts.Format), "datasetformat", string(f.Base.Prompts.Format), "-dataset's format: auto (from the content), jsonl, sharegpt, openai-chat, mooncake, azure or burstgpt")
	fs.BoolVar(&f.Base.Prompts.Once, "once", f.Base.Prompts.Once, "play the prompts or dataset once: its end ends the run (default: cycled)")
	fs.BoolVar(&f.Base.Prompts.Sessions, "sessions", f.Base.Prompts.Sessions, "replay each conversation of a sharegpt or openai-chat -dataset turn by turn, with the server's answers (openai-chat)")
	fs.DurationVar(&f.Base.Prompts.ThinkTime, "thinktime", f.Base.Prompts.ThinkTime, "-sessions: the pause between a session's turns")
	fs.Float64Var(&f.Base.Prompts.TraceSpeed, "tracespeed", f.Base.Prompts.TraceSpeed, "a trace's replay speed: 2 sends it twice as fast (default 1)")
	fs.StringVar(&f.Base.Prompts.SyntheticDist, "syntheticdist", f.Base.Prompts.SyntheticDist, "synthetic prompt lengths: fixed (default), uniform:LO:HI, normal:SD or lognormal:SIGMA")
	fs.IntVar(&f.Base.Prompts.OutputTokens, "outputtokens", f.Base.Prompts.OutputTokens, "synthetic prompts: mean output tokens (default: maxtokens)")
	fs.StringVar(&f.Base.Prompts.OutputDist, "outputdist", f.Base.Prompts.OutputDist, "synthetic prompts: output lengths, as -syntheticdist")
	fs.IntVar(&f.Base.Prompts.PrefixTokens, "prefixtokens", f.Base.Prompts.PrefixTokens, "synthetic prompts: a shared prefix of this many tokens")
	fs.IntVar(&f.Base.Prompts.PrefixGroups, "prefixgroups", f.Base.Prompts.PrefixGroups, "synthetic prompts: the number of distinct shared prefixes (default 1)")
	fs.Float64Var(&f.Base.SLO.Availability, "sloavailability", f.Base.SLO.Availability, "SLO: minimum ok/(ok+failed); negative disables")
	fs.DurationVar(&f.Base.SLO.TTFTP95, "slottftp95", f.Base.SLO.TTFTP95, "SLO: maximum p95 TTFT from the intended send time; negative disables")
	fs.DurationVar(&f.Base.SLO.ITLP95, "sloitlp95", f.Base.SLO.ITLP95, "SLO: maximum p95 inter-chunk latency; negative disables")
	fs.StringVar(&f.Base.Out, "out", f.Base.Out, "results file (JSON); empty for none")
	fs.StringVar(&f.Base.Records, "records", f.Base.Records, "per-request records file (JSON Lines: id, worker, times, latencies, tokens, error); empty for none")
	fs.Var(stagesValue{&f.Base.Stages}, "stages", "staged run, e.g. 30s@10,60s@20,30s@c40: each duration@rate (open loop, req/s) or duration@cN (N workers), in order; replaces -rate and -duration")
	fs.StringVar(&f.Metrics, "metrics", f.Metrics, "serve the generator's /metrics on this address, e.g. :9400 (off: none)")
	fs.DurationVar(&f.Base.RequestTimeout, "requesttimeout", f.Base.RequestTimeout, "per-request timeout (0 = none)")
	fs.Var(timeoutValue{&f.TimeoutFirstByte}, "timeoutfirstbyte", "a request without response headers this long after sending fails as timeout (0 = off)")
	fs.Var(timeoutValue{&f.TimeoutFirstToken}, "timeoutfirsttoken", "a request without generated text this long after sending fails as timeout (0 = off)")
	fs.Var(timeoutValue{&f.TimeoutStall}, "timeoutstall", "a stream without new generated text this long fails as stall (0 = off)")
	fs.Var(inFlightValue{&f.InFlightAtEnd}, "inflightatend", "requests still running when a bounded run's drain ends: fail (count against availability) or ignore")
	fs.Var(eventBytesValue{&f.Base.MaxEventBytes}, "maxeventbytes", "the largest SSE line, SSE event or non-streamed body accepted; larger fails as oversized")
	fs.DurationVar(&f.Base.DrainTimeout, "draintimeout", f.Base.DrainTimeout, "how long a bounded run waits for in-flight requests")
	// cmd/loadgen's older names.
	for _, a := range [][2]string{
		{"warmup-requests", "warmuprequests"},
		{"max-tokens", "maxtokens"},
		{"ignore-eos", "ignoreeos"},
		{"triton-token-counts", "tritontokencounts"},
		{"dataset-checksum", "checksum"},
		{"synthetic-tokens", "synthetic"},
		{"synthetic-count", "syntheticcount"},
		{"dataset-format", "datasetformat"},
		{"think-time", "thinktime"},
		{"trace-speed", "tracespeed"},
		{"synthetic-dist", "syntheticdist"},
		{"output-tokens", "outputtokens"},
		{"output-dist", "outputdist"},
		{"prefix-tokens", "prefixtokens"},
		{"prefix-groups", "prefixgroups"},
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

// Options returns the Options the flags ask for: Base, with the
// backend's URL, protocol and model (Preset) where the flags leave them
// open.
func (f *Flags) Options() (Options, error) {
	o := f.Base
	p, err := Preset(f.Backend, o.Concurrency)
	if err != nil {
		return o, fmt.Errorf("-backend: %w", err)
	}
	o.Backend = p.Backend
	o.URL, o.Model = cmp.Or(o.URL, p.URL), cmp.Or(o.Model, p.Model)
	o.Protocol = cmp.Or(Protocol(f.Protocol), p.Protocol)
	o.Prompts.Seed = o.Seed
	if o.SLO.IgnoreInFlightAtEnd, err = ParseInFlightAtEnd(f.InFlightAtEnd); err != nil {
		return o, err
	}
	if f.Metrics != "off" {
		o.MetricsAddr = f.Metrics
	}
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

// stagesValue is -stages: ParseStages's form.
type stagesValue struct{ s *Stages }

func (v stagesValue) String() string {
	if v.s == nil {
		return ""
	}
	return v.s.String()
}

func (v stagesValue) Get() any { return v.s.String() }

func (v stagesValue) Set(s string) error {
	ss, err := ParseStages(s)
	if err != nil {
		return err
	}
	*v.s = ss
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
