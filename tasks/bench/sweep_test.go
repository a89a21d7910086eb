package bench

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/sim"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/sim/simtest"
)

var update = flag.Bool("update", false, "regenerate testdata/*.json from sweeps against the simulator")

// startSim starts the simulator in-process on free ports.
func startSim(t testing.TB, cfg sim.Config) *sim.Running {
	t.Helper()
	return simtest.Start(t, cfg)
}

// constantSim answers every request with a fixed TTFT and gap between tokens.
func constantSim(ttft, itl time.Duration) sim.Config {
	c := sim.DefaultConfig(sim.PersonalityVLLM)
	c.ConstantTTFT, c.ConstantITL = ttft, itl
	c.OutputTokensMean, c.OutputTokensSigma = 8, 0
	return c
}

func baseLoad(t testing.TB, backend string, run *sim.Running) load.Options {
	t.Helper()
	o, err := load.Preset(backend, 1)
	if err != nil {
		t.Fatal(err)
	}
	o.URL, o.MaxTokens = run.APIURL, 8
	return o
}

func TestPlan(t *testing.T) {
	for _, c := range []struct {
		mode       string
		start, max float64
		want       []float64
	}{
		{ModeConcurrency, 1, 4, []float64{1, 2, 4}},
		{ModeConcurrency, 0, 10, []float64{1, 2, 4, 8, 10}},
		{ModeConcurrency, 3, 3, []float64{3}},
		{ModeRate, 0.5, 4, []float64{0.5, 1, 2, 4}},
		{ModeRate, 2, 5, []float64{2, 4, 5}},
	} {
		got, err := Plan(c.mode, c.start, c.max)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("Plan(%s, %v, %v) = %v, %v; want %v", c.mode, c.start, c.max, got, err, c.want)
		}
	}
	for _, c := range []struct {
		mode       string
		start, max float64
		msg        string
	}{
		{"burst", 1, 4, "-mode"},
		{ModeConcurrency, 1, 0.5, "-max"},
		{ModeConcurrency, 1.5, 4, "whole numbers"},
		{ModeRate, -1, 4, "-start"},
	} {
		if _, err := Plan(c.mode, c.start, c.max); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("Plan(%s, %v, %v): error %v, want one naming %q", c.mode, c.start, c.max, err, c.msg)
		}
	}
	got, err := ParseSteps(ModeRate, "0.5, 1,2.5")
	if err != nil || !reflect.DeepEqual(got, []float64{0.5, 1, 2.5}) {
		t.Errorf("ParseSteps = %v, %v", got, err)
	}
	for _, bad := range []string{"1,1", "2,1", "a", "", "1,-2"} {
		if _, err := ParseSteps(ModeConcurrency, bad); err == nil || !strings.Contains(err.Error(), "-steps") {
			t.Errorf("ParseSteps(%q): error %v, want one naming -steps", bad, err)
		}
	}
	if _, err := ParseSteps(ModeConcurrency, "1,2.5"); err == nil {
		t.Error("ParseSteps accepted a fractional concurrency")
	}
}

// A short sweep against the simulator: every planned step runs with its
// load, the server's metrics are scraped, the sweep ends at its limit.
func TestSweepAgainstSim(t *testing.T) {
	run := startSim(t, constantSim(20*time.Millisecond, 5*time.Millisecond))
	steps, _ := Plan(ModeConcurrency, 1, 4)
	var out bytes.Buffer
	res, err := Run(context.Background(), Options{
		Load: baseLoad(t, "sim", run), Steps: steps, StepDuration: time.Second, Warmup: 200 * time.Millisecond,
		MetricsURL: run.MetricsURL, SampleEvery: 200 * time.Millisecond, Out: &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := loadsOf(res); !reflect.DeepEqual(got, []float64{1, 2, 4}) {
		t.Fatalf("steps ran at %v, want 1, 2, 4", got)
	}
	if res.StoppedBy != StoppedLimit || res.StoppedEarlyReason != "" {
		t.Errorf("stopped by %q (%q), want the limit", res.StoppedBy, res.StoppedEarlyReason)
	}
	if res.BestLoadMeetingSLOs == nil || *res.BestLoadMeetingSLOs != 4 {
		t.Errorf("best load %v, want 4 (constant 20 ms TTFT meets every default SLO)", res.BestLoadMeetingSLOs)
	}
	if res.Model == "" || res.Schema != Schema || res.Settings.Mode != ModeConcurrency || res.Settings.StepSeconds != 1 {
		t.Errorf("header: %+v", res)
	}
	for _, s := range res.Steps {
		r := s.Result
		if r.Config.Concurrency != int(s.Load) || r.Config.Rate != 0 || r.Requests.OK == 0 || r.Config.DurationSeconds != 1 {
			t.Errorf("step %v: config %+v, requests %+v", s.Load, r.Config, r.Requests)
		}
		if r.TTFT.P50 < 0.02 {
			t.Errorf("step %v: client TTFT p50 %v below the simulator's constant 20 ms", s.Load, r.TTFT.P50)
		}
		sv := s.Server
		if sv == nil || sv.Error != "" || sv.MetricsURL != run.MetricsURL {
			t.Fatalf("step %v: server %+v", s.Load, sv)
		}
		if sv.TTFT == nil || sv.TTFT.Metric != "vllm:time_to_first_token_seconds" || sv.TTFT.Count == 0 || sv.TTFT.P95 == nil || *sv.TTFT.P95 <= 0.01 {
			// Every TTFT is 20 ms or more: above the bucket le=0.01, so
			// the interpolated p95 is too.
			t.Errorf("step %v: server TTFT %+v, p95 %v (want > 0.01: every TTFT is >= 20 ms)", s.Load, sv.TTFT, ptrVal(sv.TTFT))
		}
		if sv.ITL == nil || sv.ITL.Metric != "vllm:inter_token_latency_seconds" || sv.ITL.Count == 0 {
			t.Errorf("step %v: server ITL %+v", s.Load, sv.ITL)
		}
		if g, ok := sv.Gauges["running"]; !ok || g.Samples == 0 || g.Peak > s.Load {
			t.Errorf("step %v: running gauge %+v (want samples, peak <= the concurrency)", s.Load, g)
		}
	}
	txt := out.String()
	for _, want := range []string{"conc.", "srv TTFT p95", "highest load meeting every SLO: concurrency 4", "reached its limit"} {
		if !strings.Contains(txt, want) {
			t.Errorf("table lacks %q:\n%s", want, txt)
		}
	}
	if n := strings.Count(txt, "\n"); n != 5 {
		t.Errorf("table has %d lines, want header + 3 steps + conclusion:\n%s", n, txt)
	}
	// The results file round-trips.
	p := filepath.Join(t.TempDir(), "bench.json")
	if err := WriteResult(p, res); err != nil {
		t.Fatal(err)
	}
	back, err := ReadResult(p)
	if err != nil || len(back.Steps) != 3 || back.Steps[2].Result.Requests.OK != res.Steps[2].Result.Requests.OK {
		t.Fatalf("round trip: %v %+v", err, back)
	}
}

// Rate mode: each step is an open loop at its rate, capped in flight.
func TestSweepRateMode(t *testing.T) {
	run := startSim(t, constantSim(10*time.Millisecond, 2*time.Millisecond))
	res, err := Run(context.Background(), Options{
		Load: baseLoad(t, "sim", run), Mode: ModeRate, Steps: []float64{5, 10}, StepDuration: time.Second, MaxInFlight: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != 2 || res.Settings.Shape != load.ShapePoisson || res.Settings.MaxInFlight != 3 || res.MetricsURL != "" {
		t.Fatalf("result %+v", res)
	}
	for _, s := range res.Steps {
		if s.Result.Config.Rate != s.Load || s.Result.Config.Shape != load.ShapePoisson || s.Result.Config.Concurrency != 3 || s.Server != nil {
			t.Errorf("step %v: config %+v server %+v", s.Load, s.Result.Config, s.Server)
		}
	}
}

// The sweep stops once the SLOs break badly, and says why.
func TestSweepStopsEarly(t *testing.T) {
	t.Run("ttft", func(t *testing.T) {
		run := startSim(t, constantSim(250*time.Millisecond, 2*time.Millisecond))
		o := baseLoad(t, "sim", run)
		o.SLO.TTFTP95 = 100 * time.Millisecond // stop beyond 2 x 100 ms; every TTFT is >= 250 ms
		res, err := Run(context.Background(), Options{Load: o, Steps: []float64{1, 2, 4}, StepDuration: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Steps) != 1 || res.StoppedBy != StoppedSLO || !strings.Contains(res.StoppedEarlyReason, "p95 TTFT") ||
			!strings.Contains(res.StoppedEarlyReason, "2 planned step(s) not run") || res.BestLoadMeetingSLOs != nil {
			t.Fatalf("ran %v, stopped by %q: %q, best %v", loadsOf(res), res.StoppedBy, res.StoppedEarlyReason, res.BestLoadMeetingSLOs)
		}
	})
	t.Run("availability", func(t *testing.T) {
		cfg := constantSim(5*time.Millisecond, time.Millisecond)
		cfg.ErrorRate = 0.5
		run := startSim(t, cfg)
		res, err := Run(context.Background(), Options{Load: baseLoad(t, "sim", run), Steps: []float64{1, 2}, StepDuration: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Steps) != 1 || res.StoppedBy != StoppedSLO || !strings.Contains(res.StoppedEarlyReason, "availability") {
			t.Fatalf("ran %v, stopped by %q: %q", loadsOf(res), res.StoppedBy, res.StoppedEarlyReason)
		}
		if v := Verdict(res.Steps[0]); !strings.HasPrefix(v, "FAIL: availability") {
			t.Errorf("verdict %q", v)
		}
	})
	t.Run("off", func(t *testing.T) {
		cfg := constantSim(5*time.Millisecond, time.Millisecond)
		cfg.ErrorRate = 0.5
		run := startSim(t, cfg)
		res, err := Run(context.Background(), Options{Load: baseLoad(t, "sim", run), Steps: []float64{1, 2}, StepDuration: 500 * time.Millisecond,
			Stop: StopRule{AvailabilityBelow: -1, TTFTFactor: -1}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Steps) != 2 || res.StoppedBy != StoppedLimit {
			t.Fatalf("with early stop off: ran %v, stopped by %q", loadsOf(res), res.StoppedBy)
		}
	})
}

// Ctrl+C ends the sweep: the step it cut is kept, marked partial, and
// never counts as meeting the SLOs.
func TestSweepCanceled(t *testing.T) {
	run := startSim(t, constantSim(5*time.Millisecond, time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(1500*time.Millisecond, cancel)
	res, err := Run(ctx, Options{Load: baseLoad(t, "sim", run), Steps: []float64{1, 2, 4, 8}, StepDuration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	last := res.Steps[len(res.Steps)-1]
	if res.StoppedBy != StoppedCanceled || !last.Partial || len(res.Steps) == 4 {
		t.Fatalf("ran %v, stopped by %q, last partial %v", loadsOf(res), res.StoppedBy, last.Partial)
	}
	if res.BestLoadMeetingSLOs != nil && *res.BestLoadMeetingSLOs >= last.Load {
		t.Errorf("best load %v counts the partial step %v", *res.BestLoadMeetingSLOs, last.Load)
	}
}

func TestSweepUnreachable(t *testing.T) {
	o, _ := load.Preset("vllm", 1)
	o.URL = "http://127.0.0.1:1"
	res, err := Run(context.Background(), Options{Load: o, Steps: []float64{1}, StepDuration: 100 * time.Millisecond})
	if err == nil || res == nil || res.StoppedBy != StoppedError || !strings.Contains(err.Error(), "step 1") {
		t.Fatalf("res %+v err %v", res, err)
	}
}

func loadsOf(r *Result) []float64 {
	var out []float64
	for _, s := range r.Steps {
		out = append(out, s.Load)
	}
	return out
}

// TestUpdateFixtures regenerates the fixed results the report tests read
// (go test ./tasks/bench -run TestUpdateFixtures -update): a vLLM-like
// simulator that saturates at 8 sequences, and a TensorRT-LLM-like one
// swept at other loads.
func TestUpdateFixtures(t *testing.T) {
	if !*update {
		t.Skip("run with -update to regenerate testdata/*.json")
	}
	gen := func(personality, backend, model string, steps []float64, name string) {
		cfg := sim.DefaultConfig(personality)
		cfg.MaxNumSeqs, cfg.DecodePerSeq, cfg.DecodeBase = 8, 12*time.Millisecond, 10*time.Millisecond
		cfg.OutputTokensMean = 24
		cfg.TritonHistLatencies = true
		run := startSim(t, cfg)
		o, err := load.Preset(backend, 1)
		if err != nil {
			t.Fatal(err)
		}
		o.URL, o.MaxTokens = run.APIURL, 24
		if model != "" {
			o.Model = model
		}
		res, err := Run(context.Background(), Options{Load: o, Steps: steps, StepDuration: 3 * time.Second, Warmup: 500 * time.Millisecond,
			MetricsURL: run.MetricsURL, MetricsModel: model, SampleEvery: 250 * time.Millisecond,
			Stop: StopRule{AvailabilityBelow: -1, TTFTFactor: -1}})
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteResult(filepath.Join("testdata", name), res); err != nil {
			t.Fatal(err)
		}
	}
	gen(sim.PersonalityVLLM, "vllm", "", []float64{1, 2, 4, 8, 16}, "sweep-vllm.json")
	gen(sim.PersonalityTritonTRT, "trt", "ensemble", []float64{1, 3, 6, 12}, "sweep-trt.json")
}

func ptrVal(d *Distribution) float64 {
	if d == nil || d.P95 == nil {
		return -1
	}
	return *d.P95
}

// A rate step whose in-flight cap is far below what the rate needs: the
// warm-up ends at its wall-clock end (arrivals it could not send are
// dropped, never sent late), so its backlog does not push the measured
// window past its own end; every arrival due in the window is either sent
// or counted as not sent, and the step fails and ends the sweep instead
// of passing on the few requests that got through.
func TestSweepRateCappedBelowTheRate(t *testing.T) {
	// Each request takes at least 20 ms + 7 x 10 ms = 90 ms: a cap of 1
	// sends at most ~11 per second, a cap of 2 at most ~22.
	run := startSim(t, constantSim(20*time.Millisecond, 10*time.Millisecond))
	for _, c := range []struct {
		rate   float64 // a power of two: constant gaps of exact nanoseconds
		cap    int
		warmup time.Duration
	}{
		{64, 1, time.Second},
		{512, 2, 250 * time.Millisecond}, // a rate ~25 times what the cap lets through: 127 warm-up arrivals, 512 due in the window
	} {
		t.Run(fmt.Sprintf("rate%v-cap%d", c.rate, c.cap), func(t *testing.T) {
			o := baseLoad(t, "sim", run)
			o.Shape = load.ShapeConstant
			res, err := Run(context.Background(), Options{
				Load: o, Mode: ModeRate, Steps: []float64{c.rate, 2 * c.rate}, StepDuration: time.Second,
				Warmup: c.warmup, MaxInFlight: c.cap,
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Steps) != 1 {
				t.Fatalf("ran %v; want the sweep to stop after the first step, whose arrivals the cap held", loadsOf(res))
			}
			rq := res.Steps[0].Result.Requests
			t.Logf("requests %+v", rq)
			due := int64(c.rate * 1) // rate x step: the window [warm-up end, +1 s) holds exactly this many constant arrivals
			if got := rq.OK + rq.Failed + rq.Canceled + rq.NotSent; got != due {
				t.Errorf("requests %+v: sent + not sent = %d, want the %d arrivals due in the window", rq, got, due)
			}
			// Before the fix every warm-up arrival was sent, one after the
			// other, and the first measured one found its window already
			// over: one request measured, the rest "not sent".
			warmDue := int64(c.rate*c.warmup.Seconds()) - 1
			if rq.Warmup >= warmDue {
				t.Errorf("%d warm-up requests sent of %d due: the cap's backlog was sent after the warm-up ended", rq.Warmup, warmDue)
			}
			if sent := rq.OK + rq.Failed; sent < 3 {
				t.Errorf("only %d request(s) sent in the 1 s window (room for ~%d at 90 ms each with cap %d): the warm-up shifted the window", sent, 11*c.cap, c.cap)
			}
			if rq.NotSent == 0 {
				t.Errorf("requests %+v: no arrival counted as not sent at %v req/s with cap %d", rq, c.rate, c.cap)
			}
			if res.StoppedBy != StoppedSLO || !strings.Contains(res.StoppedEarlyReason, "not sent") {
				t.Errorf("stopped by %q: %q; want slo, naming the arrivals not sent", res.StoppedBy, res.StoppedEarlyReason)
			}
			if v := Verdict(res.Steps[0]); !strings.Contains(v, "FAIL") || !strings.Contains(v, "not sent") {
				t.Errorf("verdict %q; want FAIL naming the arrivals not sent", v)
			}
			if res.BestLoadMeetingSLOs != nil {
				t.Errorf("best load %v: a step whose arrivals were not sent met the SLOs", *res.BestLoadMeetingSLOs)
			}
		})
	}
}

// With Dir set, bench.json is rewritten after every finished step: after
// step k it is valid JSON holding k steps (a kill loses at most the step
// in progress), and the report beside it is complete.
func TestSweepSavesEveryStep(t *testing.T) {
	run := startSim(t, constantSim(5*time.Millisecond, time.Millisecond))
	dir := filepath.Join(t.TempDir(), "out")
	var seen []int
	o := Options{Load: baseLoad(t, "sim", run), Steps: []float64{1, 2, 3}, StepDuration: 300 * time.Millisecond, Dir: dir}
	o.saved = func(k int) {
		r, err := ReadResult(filepath.Join(dir, "bench.json"))
		if err != nil {
			t.Errorf("after step %d: %v", k, err)
			return
		}
		if r.StoppedBy != StoppedRunning || !strings.Contains(r.StoppedEarlyReason, fmt.Sprintf("after step %d of 3", k)) {
			t.Errorf("after step %d: stopped by %q (%q), want running", k, r.StoppedBy, r.StoppedEarlyReason)
		}
		html, err := os.ReadFile(filepath.Join(dir, "report.html"))
		if err != nil || !strings.HasSuffix(strings.TrimSpace(string(html)), "</html>") {
			t.Errorf("after step %d: report.html: %v", k, err)
		}
		seen = append(seen, len(r.Steps))
	}
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(seen, []int{1, 2, 3}) {
		t.Fatalf("bench.json held %v steps after each step, want 1, 2, 3", seen)
	}
	if res.StoppedBy != StoppedLimit {
		t.Errorf("the result says %q, want limit (only the files on the way say running)", res.StoppedBy)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// A sweep canceled before any step ran (during the first warm-up, or
// before it) still has a result to write, and its files render.
func TestSweepNoStep(t *testing.T) {
	run := startSim(t, constantSim(5*time.Millisecond, time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := Run(ctx, Options{Load: baseLoad(t, "sim", run), Steps: []float64{1, 2}, StepDuration: time.Second})
	if err != nil || res == nil {
		t.Fatalf("res %v, err %v; want a result and no error", res, err)
	}
	if res.StoppedBy != StoppedCanceled || res.BestLoadMeetingSLOs != nil {
		t.Fatalf("stopped by %q (%q), best %v", res.StoppedBy, res.StoppedEarlyReason, res.BestLoadMeetingSLOs)
	}
	for _, s := range res.Steps {
		if !s.Partial {
			t.Errorf("step %v of a canceled sweep is not partial", s.Load)
		}
	}
	dir := t.TempDir()
	if _, _, err := Save(dir, res); err != nil {
		t.Fatal(err)
	}
	back, err := ReadResult(filepath.Join(dir, "bench.json"))
	if err != nil || back.StoppedBy != StoppedCanceled {
		t.Fatalf("read back: %v %+v", err, back)
	}
	html, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	if !strings.Contains(string(html), "none (no step finished); stopped early (canceled): canceled before step 1") {
		t.Errorf("the report does not say the sweep was canceled:\n%.2000s", html)
	}

	// Canceled during the first step's warm-up: that step is kept, partial,
	// with nothing measured.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	res, err = Run(ctx, Options{Load: baseLoad(t, "sim", run), Steps: []float64{1, 2}, StepDuration: time.Second, Warmup: time.Hour})
	if err != nil || res.StoppedBy != StoppedCanceled || len(res.Steps) != 1 || !res.Steps[0].Partial || res.Steps[0].Result.Requests.OK != 0 {
		t.Fatalf("err %v, stopped by %q, steps %+v", err, res.StoppedBy, res.Steps)
	}
	if _, _, err := Save(t.TempDir(), res); err != nil {
		t.Fatal(err)
	}
}

func TestCheckDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	if err := CheckDir(dir); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("CheckDir left %v", left)
	}
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o644)
	if err := CheckDir(file); err == nil || !strings.Contains(err.Error(), "-out="+file+" is a file") {
		t.Errorf("a file: %v", err)
	}
	if err := CheckDir(filepath.Join(file, "sub")); err == nil || !strings.Contains(err.Error(), "-out="+filepath.Join(file, "sub")) {
		t.Errorf("under a file: %v", err)
	}
	if os.Geteuid() != 0 { // root writes anywhere
		ro := filepath.Join(t.TempDir(), "ro")
		os.Mkdir(ro, 0o555)
		if err := CheckDir(ro); err == nil || !strings.Contains(err.Error(), "cannot write there: permission denied") {
			t.Errorf("read-only: %v", err)
		}
	}
}
