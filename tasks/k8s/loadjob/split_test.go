package loadjob

import (
	"strings"
	"testing"
	"time"
)

func TestSplitAddsUpToTheWholeLoad(t *testing.T) {
	cases := []struct {
		l       Load
		workers int
	}{
		{Load{Concurrency: 2000}, 8},
		{Load{Concurrency: 10, Requests: 103, WarmupRequests: 5}, 3},
		{Load{Rate: 100, Shape: "poisson", Concurrency: 64}, 8},
		{Load{Rate: 30, Shape: "constant"}, 4},
		{Load{Concurrency: 1}, 1},
		{Load{Rate: 5, Shape: "gamma"}, 1},
	}
	for _, c := range cases {
		shares, err := Split(c.l, c.workers)
		if err != nil {
			t.Fatalf("%+v / %d: %v", c.l, c.workers, err)
		}
		var conc, req, warm int
		var rate float64
		seeds := map[uint64]bool{}
		for i, s := range shares {
			if s.Index != i || s.Workers != c.workers {
				t.Fatalf("share %d: %+v", i, s)
			}
			conc += s.Concurrency
			req += s.Requests
			warm += s.WarmupRequests
			rate += s.Rate
			seeds[s.Seed] = true
			if c.l.Rate == 0 && s.Concurrency < 1 {
				t.Fatalf("%+v: worker %d got no stream", c.l, i)
			}
			if d := s.Concurrency - shares[0].Concurrency; d > 0 || d < -1 {
				t.Fatalf("%+v: uneven: %d vs %d", c.l, s.Concurrency, shares[0].Concurrency)
			}
		}
		if conc != c.l.Concurrency || req != c.l.Requests || warm != c.l.WarmupRequests {
			t.Errorf("%+v / %d: sums concurrency %d requests %d warmup %d", c.l, c.workers, conc, req, warm)
		}
		if d := rate - c.l.Rate; d > 1e-9 || d < -1e-9 {
			t.Errorf("%+v: rates add to %g", c.l, rate)
		}
		if len(seeds) != c.workers {
			t.Errorf("%+v: %d distinct seeds for %d workers", c.l, len(seeds), c.workers)
		}
	}
}

// Constant arrivals interleave: worker i's n-th arrival is at
// i/rate + n x workers/rate, so together they are 1/rate apart.
func TestSplitConstantArrivalsInterleave(t *testing.T) {
	shares, err := Split(Load{Rate: 40, Shape: "constant"}, 4)
	if err != nil {
		t.Fatal(err)
	}
	var times []time.Duration
	for _, s := range shares {
		period := time.Duration(float64(time.Second) / s.Rate)
		for n := 0; n < 5; n++ {
			times = append(times, s.Offset+time.Duration(n)*period)
		}
	}
	seen := map[time.Duration]bool{}
	for _, x := range times {
		seen[x.Round(time.Millisecond)] = true
	}
	for k := 0; k < 20; k++ {
		if want := time.Duration(k) * 25 * time.Millisecond; !seen[want] {
			t.Fatalf("no arrival at %s: %v", want, times)
		}
	}
}

func TestSplitRefusesWhatDoesNotSplit(t *testing.T) {
	cases := []struct {
		l       Load
		workers int
		want    string
	}{
		{Load{Concurrency: 3}, 8, "3 concurrent streams cannot be split between 8 pods"},
		{Load{Rate: 10, Concurrency: 2}, 4, "an in-flight cap of 2 cannot be split between 4 pods"},
		{Load{Rate: 10, Shape: "gamma"}, 2, "gamma arrivals do not split"},
		{Load{Concurrency: 8, Requests: 3}, 4, "3 requests cannot be split between 4 pods"},
		{Load{Concurrency: 8}, 0, "at least 1"},
	}
	for _, c := range cases {
		if _, err := Split(c.l, c.workers); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v / %d: %v, want %q", c.l, c.workers, err, c.want)
		}
	}
}
