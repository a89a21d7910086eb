package bench

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
)

// Defaults of a sweep.
const (
	// DefaultStepDuration is the measured length of each step when the
	// bench targets' -step is not given.
	DefaultStepDuration = 30 * time.Second
	// DefaultMaxConcurrency and DefaultMaxRate are the highest load a
	// planned sweep (no Steps, no StepList) reaches without Max.
	DefaultMaxConcurrency = 32
	DefaultMaxRate        = 16
	// DefaultSearchMax is the highest rate -mode=search probes without -max.
	DefaultSearchMax = 1024
	// DefaultTolerance, DefaultProbeMin and DefaultProbeMax are the
	// search's -tolerance, -probemin and -probemax.
	DefaultTolerance = 0.05
	DefaultProbeMin  = 5 * time.Second
	DefaultProbeMax  = 60 * time.Second
	// maxAutoWarmup bounds the warm-up AutoWarmup picks.
	maxAutoWarmup = 5 * time.Second
)

// Options configure a sweep. Run fills in the defaults and checks the
// combination (Resolve); the error messages name the bench targets' flags
// (-mode, -steps, -start, -max, -step, -warmup, -shape, -cap, -scrape), as
// the targets copy their flags into these fields unchanged.
type Options struct {
	// Load is the base of every step: URL, Protocol, Model, Backend,
	// MaxTokens, Stream, Prompts, SLO, Shape, HTTPClient... (load.Preset
	// gives a start). Concurrency, Rate, Duration, Warmup, Out and Status
	// are set per step. Shape is for rate mode only.
	Load load.Options
	// Mode is ModeConcurrency (default), ModeRate or ModeSearch.
	Mode string
	// Steps are the loads in the order they run. When empty, StepList
	// lists them ("1,2,4,8", ParseSteps), or else Plan makes them from
	// Start (nil: 1) doubling up to Max (nil: DefaultMaxConcurrency
	// workers, or DefaultMaxRate requests per second). StepList excludes
	// Start and Max.
	Steps      []float64
	StepList   string
	Start, Max *float64
	// StepDuration is the measured length of each step, > 0 (the bench
	// targets' -step, DefaultStepDuration unless given); Warmup runs
	// before it, unmeasured. AutoWarmup sets Warmup to a sixth of
	// StepDuration, at most 5 s.
	StepDuration time.Duration
	Warmup       time.Duration
	AutoWarmup   bool
	// MaxInFlight caps in-flight requests in rate and search modes (0 = no cap).
	MaxInFlight int
	// Search mode: the rates are probed from Start (nil: 1) to Max (nil:
	// DefaultSearchMax); Steps holds those two. Tolerance is the relative
	// width of the final bracket (0: DefaultTolerance). Each probe runs
	// at most ProbeMax (0: DefaultProbeMax) after its warm-up and decides
	// a pass no earlier than ProbeMin (0: DefaultProbeMin); AutoWarmup
	// then takes a fifth of ProbeMin, at most 5 s.
	Tolerance          float64
	ProbeMin, ProbeMax time.Duration
	// GoodputShare, when > 0, is an objective of the search: the requests
	// that met the latency objectives per second (load's goodput) at
	// least this share of the offered rate.
	GoodputShare float64
	// MetricsURL is the server's /metrics ("" = not scraped).
	MetricsURL string
	// MetricsModel selects the Triton model of the nv_inference_* counters
	// ("" sums every model).
	MetricsModel string
	// SampleEvery is the gauge sampling period during a step (default 1 s).
	SampleEvery time.Duration
	// Stop is the early-stop rule (zero: DefaultStopRule).
	Stop StopRule
	// Out receives the table, one row per step as it ends (nil: none).
	Out io.Writer
	// ScrapeClient fetches MetricsURL (default: a client with a 10 s timeout).
	ScrapeClient *http.Client
	// Dir, when set, receives bench.json and report.html after every
	// finished step, so that a kill loses at most one step.
	Dir string

	saved     func(steps int) // tests: called after each intermediate save
	traceRate float64         // search over a trace: its own mean rate (probes set its speed)
}

// Resolve returns the options as Run uses them: the defaults filled in,
// the steps planned and the combination checked. Callers that show the
// plan before Run call it; Run calls it again (it is idempotent).
func (o Options) Resolve() (Options, error) {
	o.withDefaults()
	if err := o.validate(); err != nil {
		return o, err
	}
	if err := o.planSteps(); err != nil {
		return o, err
	}
	return o, nil
}

// withDefaults fills in what the zero values leave open.
func (o *Options) withDefaults() {
	o.Mode = cmp.Or(o.Mode, ModeConcurrency)
	if o.Mode == ModeSearch {
		o.Tolerance = cmp.Or(o.Tolerance, DefaultTolerance)
		o.ProbeMin, o.ProbeMax = cmp.Or(o.ProbeMin, DefaultProbeMin), cmp.Or(o.ProbeMax, DefaultProbeMax)
		o.StepDuration = o.ProbeMax
	}
	if o.AutoWarmup && o.Mode == ModeSearch {
		o.Warmup = min(o.ProbeMin/5, maxAutoWarmup).Round(time.Millisecond)
	} else if o.AutoWarmup {
		o.Warmup = min(o.StepDuration/6, maxAutoWarmup).Round(time.Millisecond)
	}
	if o.SampleEvery <= 0 {
		o.SampleEvery = time.Second
	}
	if o.ScrapeClient == nil {
		o.ScrapeClient = &http.Client{Timeout: 10 * time.Second}
	}
	o.Stop = o.Stop.withDefaults()
	o.Load.MaxTokens = cmp.Or(o.Load.MaxTokens, load.DefaultMaxTokens)
	if o.Load.DrainTimeout == 0 {
		o.Load.DrainTimeout = min(max(2*o.StepDuration, 10*time.Second), 60*time.Second)
	}
}

// validate checks the combination; each error names the flag and the fix.
func (o *Options) validate() error {
	if err := checkMode(o.Mode); err != nil {
		return err
	}
	if !openLoop(o.Mode) && (o.Load.Shape != "" || o.MaxInFlight != 0) {
		return fmt.Errorf("-shape and -cap shape an open loop: use them with -mode=rate or -mode=search")
	}
	if err := o.validateSearch(); err != nil {
		return err
	}
	if o.StepList != "" && (o.Start != nil || o.Max != nil) {
		return fmt.Errorf("-steps=%q lists the loads: leave out -start and -max", o.StepList)
	}
	if o.StepDuration <= 0 {
		return fmt.Errorf("-step=%s: each step needs a positive length, e.g. -step=30s", o.StepDuration)
	}
	if o.Warmup < 0 {
		return fmt.Errorf("-warmup=%s: expected a duration >= 0", o.Warmup)
	}
	if s := o.MetricsURL; s != "" {
		if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("-scrape=%q: expected the server's metrics URL, e.g. http://127.0.0.1:8002/metrics, or off", s)
		}
	}
	return nil
}

// planSteps fills in Steps from StepList, or from Start and Max.
func (o *Options) planSteps() error {
	if len(o.Steps) > 0 {
		return nil
	}
	var err error
	if o.StepList != "" {
		o.Steps, err = ParseSteps(o.Mode, o.StepList)
		return err
	}
	start, limit := 1.0, float64(DefaultMaxConcurrency)
	switch o.Mode {
	case ModeRate:
		limit = DefaultMaxRate
	case ModeSearch:
		limit = DefaultSearchMax
	}
	if o.Start != nil {
		start = *o.Start
	}
	if o.Max != nil {
		limit = *o.Max
	}
	if o.Mode == ModeSearch {
		if _, err := Plan(ModeRate, start, limit); err != nil {
			return err
		}
		o.Steps = []float64{start, limit}
		return nil
	}
	o.Steps, err = Plan(o.Mode, start, limit)
	return err
}

// validateSearch checks the search's flags (and that the others leave
// them out).
func (o *Options) validateSearch() error {
	if o.Mode != ModeSearch {
		if o.Tolerance != 0 || o.ProbeMin != 0 || o.ProbeMax != 0 || o.GoodputShare != 0 {
			return fmt.Errorf("-tolerance, -probemin, -probemax and -goodput shape a capacity search: use them with -mode=search")
		}
		return nil
	}
	switch {
	case o.StepList != "":
		return fmt.Errorf("-steps=%q: -mode=search picks its rates: give -start and -max instead", o.StepList)
	case !(o.Tolerance > 0 && o.Tolerance < 1):
		return fmt.Errorf("-tolerance=%v: expected the final bracket's relative width, between 0 and 1 (e.g. 0.05)", o.Tolerance)
	case o.ProbeMin < 0 || o.ProbeMax < o.ProbeMin:
		return fmt.Errorf("-probemin=%s -probemax=%s: expected 0 <= -probemin <= -probemax", o.ProbeMin, o.ProbeMax)
	case o.GoodputShare < 0 || o.GoodputShare > 1:
		return fmt.Errorf("-goodput=%v: expected a share of the offered rate between 0 and 1 (e.g. 0.95), or 0 for off", o.GoodputShare)
	}
	return nil
}

// openLoop reports whether a mode sends requests at a rate.
func openLoop(mode string) bool { return mode == ModeRate || mode == ModeSearch }

// Plan returns the loads of a sweep: start, doubling, up to and including
// max (max is the last step even when it is not a doubling). Concurrency
// steps are whole numbers.
func Plan(mode string, start, max float64) ([]float64, error) {
	if err := checkMode(mode); err != nil {
		return nil, err
	}
	if start == 0 {
		start = 1
	}
	if !(start > 0) || math.IsInf(start, 0) {
		return nil, fmt.Errorf("-start=%v: the first load must be a positive number", start)
	}
	if !(max >= start) || math.IsInf(max, 0) {
		return nil, fmt.Errorf("-max=%v: the highest load must be a finite number >= -start (%v)", max, start)
	}
	if mode == ModeConcurrency && (start != math.Trunc(start) || max != math.Trunc(max)) {
		return nil, fmt.Errorf("-start=%v -max=%v: concurrency steps are whole numbers of workers", start, max)
	}
	var steps []float64
	for l := start; l < max && len(steps) < 64; l *= 2 {
		steps = append(steps, round3(l))
	}
	return append(steps, max), nil
}

// ParseSteps parses a comma-separated list of loads, e.g. "1,2,4,8", in
// increasing order.
func ParseSteps(mode, list string) ([]float64, error) {
	if err := checkMode(mode); err != nil {
		return nil, err
	}
	var steps []float64
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || !(v > 0) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("-steps=%q: %q is not a positive number (expected e.g. -steps=1,2,4,8)", list, f)
		}
		if mode == ModeConcurrency && v != math.Trunc(v) {
			return nil, fmt.Errorf("-steps=%q: %q: concurrency steps are whole numbers of workers", list, f)
		}
		if len(steps) > 0 && v <= steps[len(steps)-1] {
			return nil, fmt.Errorf("-steps=%q: loads must increase (%v after %v)", list, v, steps[len(steps)-1])
		}
		steps = append(steps, v)
	}
	return steps, nil
}

func checkMode(mode string) error {
	if mode != ModeConcurrency && mode != ModeRate && mode != ModeSearch {
		return fmt.Errorf("-mode=%q: expected %s or %s, or %s (the capacity under the SLOs)", mode, ModeConcurrency, ModeRate, ModeSearch)
	}
	return nil
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// withDefaults fills in the zero fields from DefaultStopRule.
func (r StopRule) withDefaults() StopRule {
	d := DefaultStopRule()
	if r.AvailabilityBelow == 0 {
		r.AvailabilityBelow = d.AvailabilityBelow
	}
	if r.TTFTFactor == 0 {
		r.TTFTFactor = d.TTFTFactor
	}
	return r
}
