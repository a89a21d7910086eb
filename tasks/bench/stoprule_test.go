package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
)

// histOf builds a cumulative histogram of values over the generator's
// TTFT buckets.
func histOf(values ...float64) liveHist {
	h := liveHist{Bounds: load.TTFTBuckets, Cum: make([]uint64, len(load.TTFTBuckets)), N: uint64(len(values))}
	for _, v := range values {
		for i, b := range h.Bounds {
			if v <= b {
				h.Cum[i]++
			}
		}
	}
	return h
}

// repeat returns n copies of v.
func repeat(v float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func ttftRule() stopRule {
	return stopRule{SLO: SLOSettings{Availability: 0.99, TTFTP95Seconds: 0.15}, Tolerance: 0.05, Planned: 1000, Min: 5 * time.Second}
}

func TestP95Side(t *testing.T) {
	r := ttftRule()
	cases := []struct {
		name string
		h    liveHist
		want int
	}{
		{"no data", histOf(), sideUnknown},
		{"too few to pass", histOf(repeat(0.05, 50)...), sideUnknown},
		{"clearly below", histOf(repeat(0.05, 100)...), sideBelow},
		{"clearly above", histOf(repeat(0.3, 30)...), sideAbove},
		{"5% over, not clearly", histOf(append(repeat(0.05, 190), repeat(0.3, 10)...)...), sideUnknown},
		{"20% over: above", histOf(append(repeat(0.05, 160), repeat(0.3, 40)...)...), sideAbove},
		{"1% over: below", histOf(append(repeat(0.05, 396), repeat(0.3, 4)...)...), sideBelow},
	}
	for _, c := range cases {
		if got := r.p95Side(c.h, 0.15); got != c.want {
			t.Errorf("%s: side %d, want %d", c.name, got, c.want)
		}
	}
	// Buckets on both sides within the tolerance: known closely enough.
	close := stopRule{Tolerance: 0.5}
	h := histOf(append(repeat(0.05, 190), repeat(0.09, 10)...)...)
	if got := close.p95Side(h, 0.08); got != sideClose {
		t.Errorf("close: side %d, want %d", got, sideClose)
	}
}

func TestStopRuleDecide(t *testing.T) {
	r := ttftRule()
	fast := tally{OK: 100, TTFT: histOf(repeat(0.05, 100)...), ITL: histOf()}
	// A pass waits for -probemin.
	if done, fail := r.decide(fast, 2*time.Second); done || fail != "" {
		t.Errorf("before probemin: done %v, fail %q", done, fail)
	}
	if done, fail := r.decide(fast, 6*time.Second); !done || fail != "" {
		t.Errorf("after probemin: done %v, fail %q", done, fail)
	}
	// More failures than availability allows in the planned 1000: stop at
	// once, before -probemin.
	failing := fast
	failing.Failed = 11
	if done, fail := r.decide(failing, time.Second); !done || !strings.Contains(fail, "11 failed requests: more than availability 99% allows in the 1000 planned") {
		t.Errorf("failures: done %v, fail %q", done, fail)
	}
	failing.Failed = 10
	if done, fail := r.decide(failing, time.Second); done || fail != "" {
		t.Errorf("10 failures of 1000 allowed: done %v, fail %q", done, fail)
	}
	// More slow requests than 5% of the planned: certainly over.
	slow := tally{OK: 51, TTFT: histOf(repeat(0.3, 51)...)}
	if done, fail := r.decide(slow, time.Second); !done || !strings.Contains(fail, "51 requests finished since the warm-up over the TTFT objective 150ms: more than 5% of the 1000 planned") {
		t.Errorf("slow: done %v, fail %q", done, fail)
	}
	// Over with confidence, once past -probemin.
	over := tally{OK: 40, TTFT: histOf(repeat(0.3, 40)...)}
	if done, _ := r.decide(over, time.Second); done {
		t.Error("over before probemin: done")
	}
	if done, fail := r.decide(over, 6*time.Second); !done || !strings.Contains(fail, "p95 TTFT over 150ms with 95% confidence (40 samples)") {
		t.Errorf("over: done %v, fail %q", done, fail)
	}
	// ITL objective without samples (one-chunk answers): not applicable.
	r.SLO.ITLP95Seconds = 0.1
	if done, fail := r.decide(fast, 6*time.Second); !done || fail != "" {
		t.Errorf("no ITL samples: done %v, fail %q", done, fail)
	}
	// Undecided ITL keeps the probe running.
	mixed := fast
	mixed.ITL = histOf(append(repeat(0.05, 95), repeat(0.3, 5)...)...)
	if done, _ := r.decide(mixed, 6*time.Second); done {
		t.Error("undecided ITL: done")
	}
}

func TestLiveHistSub(t *testing.T) {
	a, b := histOf(0.05, 0.3), histOf(0.05, 0.3, 0.05, 0.5)
	d := b.sub(a)
	if d.N != 2 {
		t.Fatalf("N %d", d.N)
	}
	if lo, hi := d.atMost(0.15); lo != 1 || hi != 1 {
		t.Errorf("atMost(0.15) = %d, %d", lo, hi)
	}
	if got := b.sub(liveHist{}); got.N != 4 {
		t.Errorf("sub of an empty snapshot: N %d", got.N)
	}
}

func TestProbeVerdict(t *testing.T) {
	ok := func() *load.Result {
		return &load.Result{Valid: true, SLOOK: true, Throughput: load.Throughput{GoodputRequestsPerSec: 9}}
	}
	slo := SLOSettings{TTFTP95Seconds: 1}
	if v, why := probeVerdict(Step{Result: ok()}, "", slo, 10); v != ProbePass || why != "" {
		t.Errorf("pass: %s %q", v, why)
	}
	// Invalid wins over any failure: never a verdict on the server.
	bad := ok()
	bad.Valid, bad.Invalid, bad.SLOOK = false, []string{"scheduling lag p99 40ms", "CPU 98%"}, false
	if v, why := probeVerdict(Step{Result: bad}, "11 failed requests", slo, 10); v != ProbeInvalid || why != "scheduling lag p99 40ms; CPU 98%" {
		t.Errorf("invalid: %s %q", v, why)
	}
	if v, why := probeVerdict(Step{Result: ok()}, "11 failed requests", slo, 10); v != ProbeFail || why != "11 failed requests" {
		t.Errorf("certain failure: %s %q", v, why)
	}
	// Goodput 9 of 10 req/s offered: below a 95 % objective.
	slo.GoodputShare = 0.95
	if v, why := probeVerdict(Step{Result: ok()}, "", slo, 10); v != ProbeFail || why != "goodput 9 req/s (>= 0.95 x 10 req/s)" {
		t.Errorf("goodput: %s %q", v, why)
	}
	v := 3.0
	broken := ok()
	broken.SLOOK, broken.SLO = false, []load.SLOResult{{Name: "ttft_p95_seconds", Objective: "<= 1", Value: &v}}
	if v, why := probeVerdict(Step{Result: broken}, "", SLOSettings{}, 10); v != ProbeFail || why != "ttft_p95_seconds 3 (<= 1)" {
		t.Errorf("SLO broken: %s %q", v, why)
	}
}

// An invalid step of a sweep is no server verdict: its row says so and
// it ends BestLoad as a failing step does; a results file older than the
// check (no reasons) counts as valid.
func TestInvalidStep(t *testing.T) {
	ok := &load.Result{Valid: true, SLOOK: true}
	old := &load.Result{SLOOK: true}
	bad := &load.Result{SLOOK: true, Invalid: []string{"scheduling lag p99 40ms"}}
	if v := Verdict(Step{Load: 4, Result: bad}); v != "INVALID (the load generator limited it): scheduling lag p99 40ms" {
		t.Errorf("verdict %q", v)
	}
	if v := Verdict(Step{Load: 2, Result: old}); v != "ok" {
		t.Errorf("old file's verdict %q", v)
	}
	best := BestLoad([]Step{{Load: 1, Result: ok}, {Load: 2, Result: old}, {Load: 4, Result: bad}, {Load: 8, Result: ok}})
	if best == nil || *best != 2 {
		t.Errorf("best load %v, want 2", best)
	}
}
