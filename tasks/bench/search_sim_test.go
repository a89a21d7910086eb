package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
)

// A search against the simulator in constant mode (4 sequences at a time,
// 20 ms + 7 x 5 ms per request: 72.7 req/s) lands near its capacity,
// keeps each probe as a step and saves the files after every probe.
func TestSearchAgainstSim(t *testing.T) {
	cfg := constantSim(20*time.Millisecond, 5*time.Millisecond)
	cfg.MaxNumSeqs, cfg.OutputTokensMean = 4, 1000
	run := startSim(t, cfg)
	dir := filepath.Join(t.TempDir(), "out")
	lo := baseLoad(t, "sim", run)
	lo.Shape, lo.SLO.TTFTP95 = load.ShapeConstant, 80*time.Millisecond
	start, limit := 20.0, 400.0
	o := Options{Load: lo, Mode: ModeSearch, Start: &start, Max: &limit, Tolerance: 0.1,
		ProbeMin: time.Second, ProbeMax: 2 * time.Second, Warmup: 300 * time.Millisecond, Dir: dir}
	saves := 0
	o.saved = func(k int) {
		saves++
		r, err := ReadResult(filepath.Join(dir, "bench.json"))
		if err != nil {
			t.Errorf("after probe %d: %v", saves, err)
			return
		}
		if r.Capacity == nil || len(r.Capacity.Probes) != saves || len(r.Steps) != saves || r.StoppedBy != StoppedRunning {
			t.Errorf("after probe %d: capacity %+v, %d steps, stopped by %q", saves, r.Capacity, len(r.Steps), r.StoppedBy)
		}
	}
	var out strings.Builder
	o.Out = &out
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	c := res.Capacity
	if c == nil || c.Rate < 0.85*72.7 || c.Rate > 1.15*72.7 || saves != len(c.Probes) {
		t.Fatalf("capacity %+v after %d saves\n%s", c, saves, out.String())
	}
	if !strings.Contains(out.String(), "probe 1  20 req/s  ") || !strings.HasSuffix(out.String(), c.String()+"\n") {
		t.Errorf("output:\n%s", out.String())
	}
	html, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil || !strings.Contains(string(html), `class="knee"`) {
		t.Errorf("report.html has no knee marker (%v)", err)
	}
}

func TestSearchOptions(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Mode: ModeSearch, StepList: "1,2"}, "-mode=search picks its rates"},
		{Options{Mode: ModeSearch, Tolerance: 1.5}, "-tolerance=1.5"},
		{Options{Mode: ModeSearch, ProbeMin: 10 * time.Second, ProbeMax: time.Second}, "expected 0 <= -probemin <= -probemax"},
		{Options{Mode: ModeSearch, GoodputShare: 2}, "-goodput=2"},
		{Options{Mode: ModeRate, Tolerance: 0.1, StepDuration: time.Second}, "use them with -mode=search"},
	} {
		if _, err := c.o.Resolve(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err %v, want %q", c.o, err, c.want)
		}
	}
	o, err := Options{Mode: ModeSearch, AutoWarmup: true}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if o.Steps[0] != 1 || o.Steps[1] != DefaultSearchMax || o.Tolerance != DefaultTolerance || o.ProbeMax != DefaultProbeMax || o.Warmup != time.Second {
		t.Errorf("defaults: steps %v, tolerance %v, probemax %v, warm-up %v", o.Steps, o.Tolerance, o.ProbeMax, o.Warmup)
	}
}

// A trace searched keeps its arrival times: each probe replays it at the
// speed that makes its mean rate the probe's rate.
func TestSearchTrace(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 400; i++ { // 10 requests per second at its own speed, in bursts of 2
		fmt.Fprintf(&b, `{"timestamp": %d, "input_length": 20, "output_length": 4, "hash_ids": [%d]}`+"\n", (i/2)*200, i)
	}
	trace := filepath.Join(t.TempDir(), "mooncake.jsonl")
	if err := os.WriteFile(trace, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if r, err := traceRate(context.Background(), load.PromptSource{Dataset: trace}); err != nil || r < 9.9 || r > 10.1 {
		t.Fatalf("trace rate %v, %v; want 10", r, err)
	}
	run := startSim(t, constantSim(5*time.Millisecond, time.Millisecond))
	lo := baseLoad(t, "sim", run)
	lo.Prompts = load.PromptSource{Dataset: trace}
	start, limit := 20.0, 20.0
	o := Options{Load: lo, Mode: ModeSearch, Start: &start, Max: &limit, ProbeMin: 500 * time.Millisecond, ProbeMax: time.Second}
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Settings.Shape != load.ShapeTrace || len(res.Steps) != 1 {
		t.Fatalf("shape %q, %d steps", res.Settings.Shape, len(res.Steps))
	}
	cfg := res.Steps[0].Result.Config
	if cfg.Shape != load.ShapeTrace || res.Capacity.Probes[0].Verdict != ProbePass {
		t.Errorf("probe: shape %q, %+v", cfg.Shape, res.Capacity.Probes[0])
	}
	// At twice its speed, about 20 requests in the second measured.
	if n := res.Capacity.Probes[0].Requests; n < 12 || n > 28 {
		t.Errorf("%d requests in 1 s at 20 req/s", n)
	}
	o.Load.Shape = load.ShapeConstant
	if _, err := Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "a trace keeps its own arrival times") {
		t.Errorf("trace with -shape: %v", err)
	}
}

// Ctrl+C during a probe: the search ends canceled with that probe partial,
// and no error (what was measured is written).
func TestSearchCanceled(t *testing.T) {
	run := startSim(t, constantSim(5*time.Millisecond, time.Millisecond))
	lo := baseLoad(t, "sim", run)
	start := 5.0
	o := Options{Load: lo, Mode: ModeSearch, Start: &start, ProbeMin: 10 * time.Second, ProbeMax: 20 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	res, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.StoppedBy != StoppedCanceled || !strings.Contains(res.StoppedEarlyReason, "canceled during probe 1; that probe is partial") {
		t.Errorf("stopped by %q: %q", res.StoppedBy, res.StoppedEarlyReason)
	}
	if len(res.Steps) != 1 || !res.Steps[0].Partial || res.Capacity.Probes[0].Verdict != ProbePartial {
		t.Errorf("steps %+v, probes %+v", res.Steps, res.Capacity.Probes)
	}
	if got := Conclusion(res); !strings.HasPrefix(got, "capacity: unknown (no probe decided); stopped early (canceled)") {
		t.Errorf("conclusion %q", got)
	}
}
