package load

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The thresholds, on fabricated figures: each check fires past its
// threshold only, and says what it measured, the threshold and the fix.
func TestInvalidReasons(t *testing.T) {
	share := func(v float64) *float64 { return &v }
	delay := func(n int64, p99 time.Duration) Quantiles {
		return Quantiles{Count: n, P99: p99.Seconds(), Max: 2 * p99.Seconds()}
	}
	quiet := selfCheck{delay: delay(1000, 2*time.Millisecond), cpu: share(0.3), cpuWall: 10 * time.Second, cores: 2, requests: 1000}
	for _, c := range []struct {
		name string
		mod  func(*selfCheck)
		want []string // substrings of the one reason; nil: valid
	}{
		{"quiet", func(*selfCheck) {}, nil},
		{"delay at the threshold", func(c *selfCheck) { c.delay = delay(1000, MaxGeneratorDelayP99) }, nil},
		{"delay past it", func(c *selfCheck) { c.delay = delay(1000, 40*time.Millisecond) },
			[]string{"sent requests late", "40.0ms at p99", "max 80.0ms", "over 1000 requests", "threshold p99 25ms", "cmd/loadgen on another host"}},
		{"delay past it, too few requests", func(c *selfCheck) { c.delay = delay(MinDelaySamples-1, time.Second) }, nil},
		{"cpu at the threshold", func(c *selfCheck) { c.cpu = share(MaxGeneratorCPU) }, nil},
		{"cpu past it", func(c *selfCheck) { c.cpu = share(0.97) },
			[]string{"short of CPU", "97% of its 2 core(s) over 10.0s", "threshold 90%", "more cores"}},
		{"cpu past it, short run", func(c *selfCheck) { c.cpu, c.cpuWall = share(1), MinCPUWall-time.Millisecond }, nil},
		{"cpu unknown", func(c *selfCheck) { c.cpu = nil }, nil},
		{"client errors", func(c *selfCheck) { c.clientErrors = 3 },
			[]string{"3 of 1000 requests failed in the load generator itself", "less load than asked"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			sc := quiet
			c.mod(&sc)
			got := invalidReasons(sc)
			if c.want == nil {
				if len(got) != 0 {
					t.Errorf("invalid: %q", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("reasons %q, want one", got)
			}
			mustContain(t, got[0], c.want...)
		})
	}
}

// The summary has a line per reason, the results file the list and
// "valid": false, and InvalidError names them.
func TestInvalidReported(t *testing.T) {
	r := &Result{Invalid: []string{"first reason", "second reason"}, Requests: RequestCounts{NotSent: 5}}
	var b strings.Builder
	r.PrintSummary(&b)
	mustContain(t, b.String(), "INVALID: first reason\n", "INVALID: second reason\n", "the server, or the generator itself (INVALID above), could not keep up")
	err := r.InvalidError()
	if err == nil || !strings.Contains(err.Error(), "first reason; second reason") {
		t.Errorf("InvalidError: %v", err)
	}
	if (&Result{Valid: true}).InvalidError() != nil {
		t.Error("a valid run has an InvalidError")
	}
	path := t.TempDir() + "/r.json"
	if err := WriteResult(path, r); err != nil {
		t.Fatal(err)
	}
	back, err := ReadResult(path)
	if err != nil || back.Valid || len(back.Invalid) != 2 {
		t.Errorf("round trip: %v %+v", err, back)
	}
}

// A request the in-flight cap holds waits for the server, not the
// generator: the scheduling lag counts the wait, the generator's delay
// does not, and the run stays valid.
func TestCapWaitIsNotTheGenerators(t *testing.T) {
	const service = 20 * ms1
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		time.Sleep(service)
		io.WriteString(w, "data: "+chatChunk("a")+"\n\ndata: [DONE]\n\n")
	})
	res, err := Run(context.Background(), Options{URL: srv.URL, Stream: true, Rate: 200, Shape: ShapeConstant, Concurrency: 1,
		Requests: 10, SLO: SLO{TTFTP95: time.Hour, ITLP95: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	if res.SchedulingLag.Max < 0.130 || res.Generator.Delay.Count != 10 || res.Generator.Delay.Max >= 0.1 {
		t.Errorf("lag %+v, generator delay %+v: want the lag >= 130 ms (the cap's wait) and the delay well under it", res.SchedulingLag, res.Generator.Delay)
	}
	if !res.Valid || res.Generator.Cores < 1 {
		t.Errorf("valid %v (%q), generator %+v", res.Valid, res.Invalid, res.Generator)
	}
}

// A generator starved of CPU (one core, busy goroutines beside an open
// loop at a high rate) marks its run invalid.
func TestStarvedGeneratorIsInvalid(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: burns a core for two seconds")
	}
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "data: "+chatChunk("a")+"\n\ndata: [DONE]\n\n")
	})
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var stop atomic.Bool
	defer stop.Store(true)
	for range 4 {
		go func() {
			x := 0
			for !stop.Load() {
				x++
			}
			_ = x
		}()
	}
	res, err := Run(context.Background(), Options{URL: srv.URL, Stream: true, Rate: 2000, Shape: ShapeConstant,
		Duration: 2 * time.Second, SLO: SLO{Availability: -1, TTFTP95: -1, ITLP95: -1}})
	stop.Store(true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Valid || len(res.Invalid) == 0 || res.Generator.Cores != 1 {
		t.Fatalf("valid %v, invalid %q, generator %+v (cpu %v)", res.Valid, res.Invalid, res.Generator, deref(res.Generator.CPUUtilization))
	}
	for _, why := range res.Invalid {
		if !strings.Contains(why, "the generator") {
			t.Errorf("reason %q does not name the generator", why)
		}
	}
	t.Logf("invalid: %q", res.Invalid)
}

func deref(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}
