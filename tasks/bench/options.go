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
	// Mode is ModeConcurrency (default) or ModeRate.
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
	// MaxInFlight caps in-flight requests in rate mode (0 = no cap).
	MaxInFlight int
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

	saved func(steps int) // tests: called after each intermediate save
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
	if o.AutoWarmup {
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
	if o.Mode != ModeRate && (o.Load.Shape != "" || o.MaxInFlight != 0) {
		return fmt.Errorf("-shape and -cap shape an open loop: use them with -mode=rate")
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
	if o.Mode == ModeRate {
		limit = DefaultMaxRate
	}
	if o.Start != nil {
		start = *o.Start
	}
	if o.Max != nil {
		limit = *o.Max
	}
	o.Steps, err = Plan(o.Mode, start, limit)
	return err
}

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
	if mode != ModeConcurrency && mode != ModeRate {
		return fmt.Errorf("-mode=%q: expected %s or %s", mode, ModeConcurrency, ModeRate)
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
