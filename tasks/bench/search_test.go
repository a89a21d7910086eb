package bench

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
)

// knee is a fake server that meets the SLOs up to capacity.
func knee(capacity float64) ProbeFunc {
	return func(_ context.Context, rate float64) (ProbeResult, error) {
		if rate <= capacity {
			return ProbeResult{Verdict: ProbePass}, nil
		}
		return ProbeResult{Verdict: ProbeFail, Why: "ttft_p95_seconds"}, nil
	}
}

func TestSearchMonotone(t *testing.T) {
	for _, capacity := range []float64{1, 3.3, 50, 999} {
		c, err := Search(context.Background(), SearchPlan{Start: 1, Max: 1024, Tolerance: 0.05}, knee(capacity))
		if err != nil {
			t.Fatal(err)
		}
		if !(c.Low <= capacity && capacity < c.High) || (c.High-c.Low)/c.Low > 0.05 {
			t.Errorf("capacity %v: bracket [%v, %v]", capacity, c.Low, c.High)
		}
		if c.Rate < c.Low || c.Rate > c.High || c.AtLeast {
			t.Errorf("capacity %v: rate %v outside [%v, %v] (at least %v)", capacity, c.Rate, c.Low, c.High, c.AtLeast)
		}
		if len(c.Probes) > 20 {
			t.Errorf("capacity %v: %d probes", capacity, len(c.Probes))
		}
		for i, p := range c.Probes {
			if p.Rate <= 0 || p.Verdict == "" {
				t.Errorf("capacity %v: probe %d = %+v", capacity, i, p)
			}
		}
		if got := c.String(); !strings.HasPrefix(got, "capacity: "+fmtLoad(c.Rate)+" req/s (between ") {
			t.Errorf("String() = %q", got)
		}
	}
}

func TestSearchBracketGrowsThenBisects(t *testing.T) {
	c, err := Search(context.Background(), SearchPlan{Start: 1, Max: 1024, Tolerance: 0.05}, knee(50))
	if err != nil {
		t.Fatal(err)
	}
	var rates []float64
	for _, p := range c.Probes {
		rates = append(rates, p.Rate)
	}
	want := []float64{1, 2, 4, 8, 16, 32, 64, 48, 56, 52, 50}
	if len(rates) != len(want) {
		t.Fatalf("rates %v, want %v", rates, want)
	}
	for i := range want {
		if rates[i] != want[i] {
			t.Fatalf("rates %v, want %v", rates, want)
		}
	}
}

func TestSearchNoisy(t *testing.T) {
	// Near the knee (45..55, capacity 50) a probe passes or fails at
	// random: the bracket still holds a rate that passed below one that
	// failed, and lands near the knee.
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 50; trial++ {
		probe := func(_ context.Context, rate float64) (ProbeResult, error) {
			pass := rate < 45 || (rate <= 55 && rng.Float64() < (55-rate)/10)
			if pass {
				return ProbeResult{Verdict: ProbePass}, nil
			}
			return ProbeResult{Verdict: ProbeFail}, nil
		}
		c, err := Search(context.Background(), SearchPlan{Start: 1, Max: 1024, Tolerance: 0.05}, probe)
		if err != nil {
			t.Fatal(err)
		}
		if !(c.Low < c.High) || c.Rate < 22 || c.Rate > 56 {
			t.Errorf("trial %d: capacity %v in [%v, %v]", trial, c.Rate, c.Low, c.High)
		}
	}
}

func TestSearchNeverPasses(t *testing.T) {
	c, err := Search(context.Background(), SearchPlan{Start: 2, Max: 1024, Tolerance: 0.05}, knee(0))
	if err != nil {
		t.Fatal(err)
	}
	if c.Rate != 0 || c.Low != 0 || c.High != 2 || len(c.Probes) != 1 {
		t.Fatalf("capacity %+v", c)
	}
	if got, want := c.String(), "capacity: below 2 req/s: no probe met every SLO, not even the first (-start=2)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestSearchAlwaysPasses(t *testing.T) {
	c, err := Search(context.Background(), SearchPlan{Start: 1, Max: 100, Tolerance: 0.05}, knee(1e9))
	if err != nil {
		t.Fatal(err)
	}
	if !c.AtLeast || c.Rate != 100 || c.Low != 100 || c.High != 0 {
		t.Fatalf("capacity %+v", c)
	}
	if last := c.Probes[len(c.Probes)-1].Rate; last != 100 {
		t.Errorf("last probe at %v, want -max 100", last)
	}
	if got, want := c.String(), "capacity: at least 100 req/s (every probe up to -max=100 met every SLO)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestSearchInvalidProbe(t *testing.T) {
	// Invalid once: repeated, then taken.
	calls := 0
	flaky := func(ctx context.Context, rate float64) (ProbeResult, error) {
		calls++
		if rate == 8 && calls == 4 {
			return ProbeResult{Verdict: ProbeInvalid, Why: "scheduling lag"}, nil
		}
		return knee(10)(ctx, rate)
	}
	c, err := Search(context.Background(), SearchPlan{Start: 1, Max: 1024, Tolerance: 0.05}, flaky)
	if err != nil {
		t.Fatal(err)
	}
	if c.Probes[3].Verdict != ProbeInvalid || !c.Probes[4].Repeat || c.Probes[4].Rate != 8 || c.Low < 9.5 || c.Low > 10 {
		t.Fatalf("probes %+v", c.Probes)
	}
	// Invalid twice: the search stops, never taking it as the server's.
	always := func(ctx context.Context, rate float64) (ProbeResult, error) {
		if rate >= 4 {
			return ProbeResult{Verdict: ProbeInvalid, Why: "scheduling lag"}, nil
		}
		return knee(10)(ctx, rate)
	}
	c, err = Search(context.Background(), SearchPlan{Start: 1, Max: 1024, Tolerance: 0.05}, always)
	if !errors.Is(err, ErrGeneratorLimited) || !errors.Is(err, load.ErrInvalid) || !strings.Contains(err.Error(), "probe at 4 req/s invalid twice (scheduling lag)") {
		t.Fatalf("err = %v", err)
	}
	if c.Low != 2 || c.High != 0 || len(c.Probes) != 4 {
		t.Fatalf("capacity %+v", c)
	}
}

func TestSearchProbeErrorAndCancel(t *testing.T) {
	boom := errors.New("connection refused")
	c, err := Search(context.Background(), SearchPlan{Start: 1, Max: 8, Tolerance: 0.05}, func(context.Context, float64) (ProbeResult, error) {
		return ProbeResult{}, boom
	})
	if !errors.Is(err, boom) || len(c.Probes) != 0 {
		t.Fatalf("err %v, probes %+v", err, c.Probes)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c, err = Search(ctx, SearchPlan{Start: 1, Max: 8, Tolerance: 0.05}, func(_ context.Context, rate float64) (ProbeResult, error) {
		if rate == 2 {
			cancel()
			return ProbeResult{Verdict: ProbePartial}, nil
		}
		return ProbeResult{Verdict: ProbePass}, nil
	})
	if !errors.Is(err, context.Canceled) || c.Low != 1 || len(c.Probes) != 2 {
		t.Fatalf("err %v, capacity %+v", err, c)
	}
	if _, err := Search(context.Background(), SearchPlan{Start: 0, Max: 8, Tolerance: 0.05}, knee(1)); err == nil {
		t.Error("start 0: no error")
	}
}
