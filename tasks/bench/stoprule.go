package bench

// The stopping rule of a search probe: from the load generator's live
// counters and histograms (its Prometheus registry), decide whether a
// probe has measured enough to say pass or fail, or has certainly failed.

import (
	"fmt"
	"math"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/ui"
)

// p95 and the normal quantile of the two-sided 95 % confidence interval
// of an order statistic.
const (
	pctP95 = 0.95
	zConf  = 1.96
)

// liveHist is a cumulative histogram: Cum[i] observations <= Bounds[i],
// N in all (the +Inf bucket).
type liveHist struct {
	Bounds []float64
	Cum    []uint64
	N      uint64
}

// sub is h minus an earlier snapshot of the same histogram (nil: none).
func (h liveHist) sub(o liveHist) liveHist {
	if len(o.Cum) != len(h.Cum) {
		return h
	}
	d := liveHist{Bounds: h.Bounds, Cum: make([]uint64, len(h.Cum)), N: h.N - o.N}
	for i := range h.Cum {
		d.Cum[i] = h.Cum[i] - o.Cum[i]
	}
	return d
}

// atMost is a lower and an upper bound of the observations <= t: the
// cumulative counts at the largest bound <= t and the smallest >= t.
func (h liveHist) atMost(t float64) (lo, hi uint64) {
	hi = h.N
	for i, b := range h.Bounds {
		if b <= t {
			lo = h.Cum[i]
		}
		if b >= t {
			hi = h.Cum[i]
			break
		}
	}
	return lo, hi
}

// tally is what a probe has measured since its warm-up ended.
type tally struct {
	OK, Failed int64 // failed includes requests cut at the end of the drain
	TTFT, ITL  liveHist
}

func (t tally) sub(o tally) tally {
	return tally{OK: t.OK - o.OK, Failed: t.Failed - o.Failed, TTFT: t.TTFT.sub(o.TTFT), ITL: t.ITL.sub(o.ITL)}
}

// stopRule decides when a probe has measured enough.
type stopRule struct {
	SLO       SLOSettings
	Tolerance float64       // relative: a p95 known within it of its objective is decided
	Planned   int64         // requests the probe would measure in ProbeMax
	Min       time.Duration // no pass before it (a certain failure may come earlier)
}

// Sides of a percentile against its objective.
const (
	sideUnknown = iota
	sideBelow   // certainly within the objective
	sideAbove   // certainly over it
	sideClose   // known within the tolerance of the objective: the point estimate decides
)

// p95Side places h's p95 against the objective t with 95 % confidence:
// the order statistics of ranks 0.95n -/+ 1.96 sqrt(0.95 x 0.05 x n)
// bound the p95; the histogram's buckets bound those order statistics.
func (r stopRule) p95Side(h liveHist, t float64) int {
	n := float64(h.N)
	if n == 0 {
		return sideUnknown
	}
	half := zConf * math.Sqrt(pctP95*(1-pctP95)*n)
	rLo, rHi := math.Floor(pctP95*n-half), math.Ceil(pctP95*n+half)
	// x(k) <= b exactly when at least k observations are <= b.
	if lo, _ := h.atMost(t); rHi <= n && float64(lo) >= rHi {
		return sideBelow
	}
	if _, hi := h.atMost(t); rLo >= 1 && float64(hi) < rLo {
		return sideAbove
	}
	// x(rLo) > lower edge and x(rHi) <= upper edge of the tolerance band.
	if rLo >= 1 && rHi <= n {
		_, hiLow := h.atMost(t * (1 - r.Tolerance))
		loHigh, _ := h.atMost(t * (1 + r.Tolerance))
		if float64(hiLow) < rLo && float64(loHigh) >= rHi {
			return sideClose
		}
	}
	return sideUnknown
}

// decide says whether the probe can stop (done) and, when it certainly
// failed, why (fail). A probe done without a failure is judged on its
// results (the exact percentiles). elapsed is the time since the warm-up.
func (r stopRule) decide(t tally, elapsed time.Duration) (done bool, fail string) {
	// Certain failures, whatever comes next in the planned requests.
	if a := r.SLO.Availability; a > 0 {
		if allowed := int64(math.Floor((1 - a) * float64(r.Planned))); t.Failed > allowed {
			return true, fmt.Sprintf("%d failed requests: more than availability %.4g%% allows in the %d planned", t.Failed, a*100, r.Planned)
		}
	}
	if s := r.SLO.TTFTP95Seconds; s > 0 {
		_, hi := t.TTFT.atMost(s)
		if over := t.TTFT.N - hi; float64(over) > (1-pctP95)*float64(r.Planned) {
			return true, fmt.Sprintf("%d requests finished since the warm-up over the TTFT objective %s: more than 5%% of the %d planned", over, ui.Seconds(s), r.Planned)
		}
	}
	sides := []struct {
		name string
		h    liveHist
		slo  float64
	}{{"TTFT", t.TTFT, r.SLO.TTFTP95Seconds}, {"ITL", t.ITL, r.SLO.ITLP95Seconds}}
	if elapsed < r.Min {
		return false, ""
	}
	decided := true
	for _, s := range sides {
		if s.slo <= 0 || (s.h.N == 0 && t.OK > 0) {
			continue // off, or not applicable (no gaps: one-chunk answers)
		}
		switch r.p95Side(s.h, s.slo) {
		case sideAbove:
			return true, fmt.Sprintf("p95 %s over %s with 95%% confidence (%d samples)", s.name, ui.Seconds(s.slo), s.h.N)
		case sideUnknown:
			decided = false
		}
	}
	return decided && t.OK > 0, ""
}
