package bench

// The capacity search (-mode=search): bracket the highest request rate
// that meets every SLO by growing the rate, then bisect the bracket. The
// search is a pure function of a probe function, so that it is tested on
// fake probes; the probe that measures a server is in probe.go.

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
)

// Probe verdicts.
const (
	ProbePass    = "pass"    // every SLO held
	ProbeFail    = "fail"    // an SLO broke (Why says which)
	ProbeInvalid = "invalid" // the run measured the load generator, not the server
	ProbePartial = "partial" // canceled (Ctrl+C) before it could decide
)

// ProbeResult is one probe of the search: a rate, what was measured at it
// and the verdict.
type ProbeResult struct {
	Rate     float64 `json:"rate"`
	Requests int64   `json:"requests"` // measured requests that finished (ok + failed)
	Seconds  float64 `json:"seconds"`  // measured length
	// TTFTP95, ITLP95 and Availability are the load generator's figures;
	// null without data.
	TTFTP95      *float64 `json:"ttft_p95_seconds"`
	ITLP95       *float64 `json:"itl_p95_seconds"`
	Availability *float64 `json:"availability"`
	Verdict      string   `json:"verdict"`          // pass | fail | invalid | partial
	Why          string   `json:"why,omitempty"`    // what broke, or why the probe is invalid
	Stopped      string   `json:"stopped"`          // why the probe ended
	Repeat       bool     `json:"repeat,omitempty"` // a second probe at a rate whose first was invalid
}

// ProbeFunc measures the server at one request rate.
type ProbeFunc func(ctx context.Context, rate float64) (ProbeResult, error)

// Capacity is the search's outcome: the rate found, the bracket around it
// and every probe in the order run.
type Capacity struct {
	// Rate is the capacity: the middle of [Low, High]; Low when no probe
	// failed (AtLeast), 0 when none passed.
	Rate float64 `json:"rate"`
	// Low is the highest rate that met every SLO (0: none did); High the
	// lowest rate above it that did not (0: none failed).
	Low     float64       `json:"low"`
	High    float64       `json:"high"`
	AtLeast bool          `json:"at_least,omitempty"` // every probe up to the search's -max passed
	Probes  []ProbeResult `json:"probes"`
}

// SearchPlan are the bounds of a search.
type SearchPlan struct {
	Start     float64 // first rate (> 0)
	Max       float64 // highest rate probed (>= Start)
	Tolerance float64 // the search ends once (High - Low) / Low <= Tolerance (> 0)
	Factor    float64 // bracketing growth (default 2)
	// OnProbe, when set, is called after every probe with the search so
	// far, its Rate the estimate so far (printing, intermediate files).
	OnProbe func(c *Capacity) error
}

// maxProbes bounds a search whatever its plan (a bisection to 5 % takes
// about 5 probes after the bracket).
const maxProbes = 64

// ErrGeneratorLimited is wrapped by the error of a search stopped by a
// probe that was invalid twice, or of a sweep stopped by an invalid step:
// the load generator limited it. It is also
// load.ErrInvalid (errors.Is), so that the bench targets exit as an
// invalid load run does.
var ErrGeneratorLimited error = generatorLimited{}

type generatorLimited struct{}

func (generatorLimited) Error() string {
	return "the load generator, not the server, limited the measurement"
}
func (generatorLimited) Is(target error) bool { return target == load.ErrInvalid }

// Search finds the highest rate at which the probes pass: from Start it
// multiplies the rate by Factor until a probe fails (or Max passes:
// AtLeast), then bisects [Low, High] until its relative width is at most
// Tolerance. A probe that is invalid is repeated once; invalid again, the
// search stops with an error wrapping ErrGeneratorLimited. The capacity so
// far is returned with any error (a probe's, OnProbe's, or ctx's).
func Search(ctx context.Context, p SearchPlan, probe ProbeFunc) (*Capacity, error) {
	if p.Factor <= 1 {
		p.Factor = 2
	}
	if !(p.Start > 0) || !(p.Max >= p.Start) || math.IsInf(p.Max, 0) || !(p.Tolerance > 0) {
		return nil, fmt.Errorf("search: start %v, max %v, tolerance %v: expected 0 < start <= max and a tolerance > 0", p.Start, p.Max, p.Tolerance)
	}
	c := &Capacity{Probes: []ProbeResult{}}
	run := func(rate float64) (bool, error) {
		for attempt := 0; attempt < 2; attempt++ {
			if err := ctx.Err(); err != nil {
				return false, err
			}
			pr, err := probe(ctx, rate)
			pr.Rate, pr.Repeat = rate, attempt > 0
			if err == nil || pr.Verdict != "" {
				c.Probes = append(c.Probes, pr)
			}
			if err != nil {
				return false, err
			}
			if pr.Verdict == ProbePass {
				c.Low = rate
			} else if pr.Verdict == ProbeFail {
				c.High = rate
			}
			if p.OnProbe != nil {
				if err := p.OnProbe(c.finish()); err != nil {
					return false, err
				}
			}
			switch pr.Verdict {
			case ProbePass:
				return true, nil
			case ProbeFail:
				return false, nil
			case ProbePartial:
				return false, ctx.Err()
			}
		}
		last := c.Probes[len(c.Probes)-1]
		return false, fmt.Errorf("probe at %s req/s invalid twice (%s): %w; rerun with fewer requests per second from this machine, or on a larger one", fmtLoad(rate), last.Why, ErrGeneratorLimited)
	}
	// Bracket.
	rate := p.Start
	for {
		ok, err := run(rate)
		if err != nil {
			return c.finish(), err
		}
		if !ok {
			break
		}
		if rate >= p.Max {
			c.AtLeast = true
			return c.finish(), nil
		}
		rate = min(round3(rate*p.Factor), p.Max)
	}
	if c.Low == 0 {
		return c.finish(), nil
	}
	// Bisect.
	for len(c.Probes) < maxProbes && (c.High-c.Low)/c.Low > p.Tolerance {
		mid := round3((c.Low + c.High) / 2)
		if mid <= c.Low || mid >= c.High {
			break
		}
		if _, err := run(mid); err != nil {
			return c.finish(), err
		}
	}
	return c.finish(), nil
}

// finish sets Rate from the bracket.
func (c *Capacity) finish() *Capacity {
	switch {
	case c.Low == 0:
		c.Rate = 0
	case c.High == 0:
		c.Rate = c.Low
	default:
		c.Rate = round3((c.Low + c.High) / 2)
	}
	return c
}

// String is the search's one-line conclusion, e.g. "capacity: 48.4 req/s
// (between 47.5 and 49.2)".
func (c *Capacity) String() string {
	switch {
	case c == nil || len(c.Probes) == 0:
		return "capacity: unknown (no probe finished)"
	case c.Low == 0 && c.High == 0:
		return "capacity: unknown (no probe decided)"
	case c.Low == 0:
		return fmt.Sprintf("capacity: below %s req/s: no probe met every SLO, not even the first (-start=%s)", fmtLoad(c.High), fmtLoad(c.High))
	case c.AtLeast:
		return fmt.Sprintf("capacity: at least %s req/s (every probe up to -max=%s met every SLO)", fmtLoad(c.Low), fmtLoad(c.Low))
	case c.High == 0:
		return fmt.Sprintf("capacity: at least %s req/s (the search ended before a probe failed)", fmtLoad(c.Low))
	}
	return fmt.Sprintf("capacity: %s req/s (between %s and %s)", fmtLoad(c.Rate), fmtLoad(c.Low), fmtLoad(c.High))
}

// probeLine is a probe's line as the search prints it.
func probeLine(n int, p ProbeResult) string {
	opt := func(v *float64, f func(float64) string) string {
		if v == nil {
			return "-"
		}
		return f(*v)
	}
	verdict := p.Verdict
	if p.Why != "" {
		verdict += ": " + p.Why
	}
	if p.Repeat {
		verdict += " (repeated)"
	}
	cells := []string{
		fmt.Sprintf("probe %d", n), fmtLoad(p.Rate) + " req/s", fmt.Sprintf("%d requests", p.Requests),
		"TTFT p95 " + opt(p.TTFTP95, secondsAxis), "ITL p95 " + opt(p.ITLP95, secondsAxis),
		"avail " + opt(p.Availability, func(v float64) string { return fmt.Sprintf("%.2f%%", v*100) }),
		verdict, "stopped: " + p.Stopped,
	}
	return strings.Join(cells, "  ")
}
