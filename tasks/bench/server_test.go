package bench

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// Hand-computed against Prometheus's histogram_quantile rule.
func TestHistogramQuantile(t *testing.T) {
	inf := math.Inf(1)
	bs := []Bucket{{0.1, 10}, {0.2, 30}, {0.5, 40}, {inf, 40}}
	for _, c := range []struct{ q, want float64 }{
		{0.1, 0.04},  // rank 4 in (0, 0.1]: 0 + 0.1 x 4/10
		{0.5, 0.15},  // rank 20 in (0.1, 0.2]: 0.1 + 0.1 x 10/20
		{0.95, 0.44}, // rank 38 in (0.2, 0.5]: 0.2 + 0.3 x 8/10
		{1, 0.5},     // rank 40: the top of (0.2, 0.5]
		{0, 0},       // rank 0: the first bucket's start
	} {
		if got := HistogramQuantile(c.q, bs); !near(got, c.want) {
			t.Errorf("q=%v: %v, want %v", c.q, got, c.want)
		}
	}
	// Unsorted input is sorted.
	shuffled := []Bucket{bs[3], bs[1], bs[0], bs[2]}
	if got := HistogramQuantile(0.95, shuffled); !near(got, 0.44) {
		t.Errorf("unsorted: %v", got)
	}
	// A rank in the +Inf bucket: the highest finite bound.
	if got := HistogramQuantile(0.9, []Bucket{{1, 5}, {inf, 10}}); got != 1 {
		t.Errorf("+Inf rank: %v, want 1", got)
	}
	// Non-monotonic counts (a non-atomic scrape) are made monotonic:
	// (0.1:10, 0.2:8 -> 10, +Inf:20): rank 10 is reached at 0.1.
	if got := HistogramQuantile(0.5, []Bucket{{0.1, 10}, {0.2, 8}, {inf, 20}}); !near(got, 0.1) {
		t.Errorf("non-monotonic: %v, want 0.1", got)
	}
	// An empty bucket above the rank: the rank lands in the first bucket whose count reaches it.
	if got := HistogramQuantile(0.5, []Bucket{{1, 0}, {2, 4}, {3, 4}, {inf, 4}}); !near(got, 1.5) {
		t.Errorf("empty lower bucket: %v, want 1.5", got)
	}
	// A first bucket with a negative bound returns that bound.
	if got := HistogramQuantile(0.1, []Bucket{{-1, 5}, {1, 10}, {inf, 10}}); got != -1 {
		t.Errorf("negative first bound: %v", got)
	}
	for name, b := range map[string][]Bucket{
		"empty":   {{0.1, 0}, {inf, 0}},
		"no +Inf": {{0.1, 3}, {0.2, 4}},
		"one":     {{inf, 3}},
	} {
		if got := HistogramQuantile(0.5, b); !math.IsNaN(got) {
			t.Errorf("%s: %v, want NaN", name, got)
		}
	}
	if got := HistogramQuantile(1.5, bs); !math.IsNaN(got) {
		t.Errorf("q > 1: %v", got)
	}
}

func parse(t *testing.T, text string, at time.Time) *Snapshot {
	t.Helper()
	s, err := ParseMetrics(strings.NewReader(text), "test")
	if err != nil {
		t.Fatal(err)
	}
	s.At = at
	return s
}

const vllmBefore = `# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1",model_name="m"} 5
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.2",model_name="m"} 5
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.5",model_name="m"} 5
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="m"} 5
vllm:time_to_first_token_seconds_count{engine="0",model_name="m"} 5
vllm:time_to_first_token_seconds_sum{engine="0",model_name="m"} 0.25
# TYPE vllm:request_success_total counter
vllm:request_success_total{engine="0",finished_reason="stop",model_name="m"} 5
vllm:request_success_total{engine="0",finished_reason="length",model_name="m"} 0
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 0
`

// after: 20 more observations, 10 in (0, 0.1], 8 in (0.1, 0.2], 2 in (0.2, 0.5];
// a second engine adds 10 in (0.1, 0.2].
const vllmAfter = `# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1",model_name="m"} 15
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.2",model_name="m"} 23
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.5",model_name="m"} 25
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="m"} 25
vllm:time_to_first_token_seconds_count{engine="0",model_name="m"} 25
vllm:time_to_first_token_seconds_sum{engine="0",model_name="m"} 2.25
vllm:time_to_first_token_seconds_bucket{engine="1",le="0.1",model_name="m"} 0
vllm:time_to_first_token_seconds_bucket{engine="1",le="0.2",model_name="m"} 10
vllm:time_to_first_token_seconds_bucket{engine="1",le="0.5",model_name="m"} 10
vllm:time_to_first_token_seconds_bucket{engine="1",le="+Inf",model_name="m"} 10
vllm:time_to_first_token_seconds_count{engine="1",model_name="m"} 10
vllm:time_to_first_token_seconds_sum{engine="1",model_name="m"} 1.5
# TYPE vllm:request_success_total counter
vllm:request_success_total{engine="0",finished_reason="stop",model_name="m"} 20
vllm:request_success_total{engine="0",finished_reason="length",model_name="m"} 15
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 3
vllm:num_requests_running{engine="1",model_name="m"} 2
`

func TestServerStatsVLLM(t *testing.T) {
	t0 := time.Unix(1000, 0)
	sv := ServerStats(parse(t, vllmBefore, t0), parse(t, vllmAfter, t0.Add(10*time.Second)), "")
	// Delta buckets: 0.1:10, 0.2:28, 0.5:30, +Inf:30 (engine 1 is new: all of it counts).
	d := sv.TTFT
	if d == nil || d.Metric != "vllm:time_to_first_token_seconds" || d.Count != 30 {
		t.Fatalf("TTFT %+v", d)
	}
	// mean: (2.25-0.25 + 1.5) / 30; p50: rank 15 in (0.1,0.2]: 0.1+0.1x5/18;
	// p95: rank 28.5 in (0.2,0.5]: 0.2+0.3x0.5/2; p90: rank 27: 0.1+0.1x17/18.
	for name, c := range map[string]struct {
		got  *float64
		want float64
	}{
		"mean": {d.Mean, 3.5 / 30}, "p50": {d.P50, 0.1 + 0.1*5/18.0}, "p90": {d.P90, 0.1 + 0.1*17/18.0},
		"p95": {d.P95, 0.2 + 0.3*0.5/2}, "p99": {d.P99, 0.2 + 0.3*1.7/2},
	} {
		if c.got == nil || !near(*c.got, c.want) {
			t.Errorf("%s: %v, want %v", name, c.got, c.want)
		}
	}
	if sv.RequestsPerSecond == nil || !near(*sv.RequestsPerSecond, 3) { // (35-5)/10 s
		t.Errorf("req/s %v, want 3", sv.RequestsPerSecond)
	}
	if sv.ITL != nil || sv.E2E != nil || sv.Triton != nil || sv.Seconds != 10 {
		t.Errorf("absent families reported: %+v", sv)
	}
	// Gauges sum over engines.
	smp := newSampler("")
	smp.add(parse(t, vllmBefore, t0))
	smp.add(parse(t, vllmAfter, t0))
	if g := smp.gauges()["running"]; g.Peak != 5 || g.Mean != 2.5 || g.Samples != 2 {
		t.Errorf("running gauge %+v, want peak 5 mean 2.5", g)
	}
}

// A counter reset between the scrapes (the server restarted) counts what
// the new process saw.
func TestServerStatsReset(t *testing.T) {
	t0 := time.Unix(1000, 0)
	sv := ServerStats(parse(t, vllmAfter, t0), parse(t, vllmBefore, t0.Add(5*time.Second)), "")
	if sv.TTFT == nil || sv.TTFT.Count != 5 || sv.TTFT.P50 == nil || !near(*sv.TTFT.P50, 0.05) {
		t.Errorf("after a reset: %+v", sv.TTFT)
	}
	if sv.RequestsPerSecond == nil || !near(*sv.RequestsPerSecond, 1) {
		t.Errorf("req/s after a reset: %v", sv.RequestsPerSecond)
	}
}

const tritonBefore = `# TYPE nv_inference_request_success counter
nv_inference_request_success{model="ensemble",version="1"} 10
nv_inference_request_success{model="tensorrt_llm",version="1"} 10
# TYPE nv_inference_request_failure counter
nv_inference_request_failure{model="ensemble",reason="BACKEND",version="1"} 0
# TYPE nv_inference_queue_duration_us counter
nv_inference_queue_duration_us{model="ensemble",version="1"} 1000
nv_inference_queue_duration_us{model="tensorrt_llm",version="1"} 99999
# TYPE nv_inference_compute_infer_duration_us counter
nv_inference_compute_infer_duration_us{model="ensemble",version="1"} 500000
# TYPE nv_inference_request_duration_us counter
nv_inference_request_duration_us{model="ensemble",version="1"} 600000
# TYPE nv_inference_first_response_histogram_ms histogram
nv_inference_first_response_histogram_ms_bucket{model="ensemble",version="1",le="100"} 10
nv_inference_first_response_histogram_ms_bucket{model="ensemble",version="1",le="500"} 10
nv_inference_first_response_histogram_ms_bucket{model="ensemble",version="1",le="+Inf"} 10
nv_inference_first_response_histogram_ms_sum{model="ensemble",version="1"} 500
nv_inference_first_response_histogram_ms_count{model="ensemble",version="1"} 10
# TYPE nv_trt_llm_request_metrics gauge
nv_trt_llm_request_metrics{model="tensorrt_llm",request_type="active",version="1"} 2
nv_trt_llm_request_metrics{model="tensorrt_llm",request_type="waiting",version="1"} 0
`

const tritonAfter = `# TYPE nv_inference_request_success counter
nv_inference_request_success{model="ensemble",version="1"} 30
nv_inference_request_success{model="tensorrt_llm",version="1"} 30
# TYPE nv_inference_request_failure counter
nv_inference_request_failure{model="ensemble",reason="BACKEND",version="1"} 4
# TYPE nv_inference_queue_duration_us counter
nv_inference_queue_duration_us{model="ensemble",version="1"} 5000
nv_inference_queue_duration_us{model="tensorrt_llm",version="1"} 99999
# TYPE nv_inference_compute_infer_duration_us counter
nv_inference_compute_infer_duration_us{model="ensemble",version="1"} 2500000
# TYPE nv_inference_request_duration_us counter
nv_inference_request_duration_us{model="ensemble",version="1"} 3000000
# TYPE nv_inference_first_response_histogram_ms histogram
nv_inference_first_response_histogram_ms_bucket{model="ensemble",version="1",le="100"} 20
nv_inference_first_response_histogram_ms_bucket{model="ensemble",version="1",le="500"} 30
nv_inference_first_response_histogram_ms_bucket{model="ensemble",version="1",le="+Inf"} 30
nv_inference_first_response_histogram_ms_sum{model="ensemble",version="1"} 4500
nv_inference_first_response_histogram_ms_count{model="ensemble",version="1"} 30
# TYPE nv_trt_llm_request_metrics gauge
nv_trt_llm_request_metrics{model="tensorrt_llm",request_type="active",version="1"} 7
nv_trt_llm_request_metrics{model="tensorrt_llm",request_type="waiting",version="1"} 3
`

func TestServerStatsTriton(t *testing.T) {
	t0 := time.Unix(1000, 0)
	sv := ServerStats(parse(t, tritonBefore, t0), parse(t, tritonAfter, t0.Add(10*time.Second)), "ensemble")
	tr := sv.Triton
	if tr == nil || tr.Model != "ensemble" || !near(tr.RequestsPerSecond, 2) || !near(tr.FailuresPerSecond, 0.4) {
		t.Fatalf("triton %+v", tr)
	}
	// Per successful request: queue 4000 us / 20, compute 2e6 / 20, request 2.4e6 / 20.
	if tr.AvgQueueUs == nil || !near(*tr.AvgQueueUs, 200) || !near(*tr.AvgComputeInferUs, 100000) || !near(*tr.AvgRequestUs, 120000) {
		t.Errorf("averages %v %v %v", *tr.AvgQueueUs, *tr.AvgComputeInferUs, *tr.AvgRequestUs)
	}
	// First response, ms -> s: delta 100:10, 500:20, +Inf:20; p50 rank 10 -> 0.1 s; p95 rank 19 in (100,500]: 100+400x9/10 ms.
	d := sv.TTFT
	if d == nil || d.Metric != "nv_inference_first_response_histogram_ms" || d.Count != 20 || !near(*d.P50, 0.1) || !near(*d.P95, 0.46) || !near(*d.Mean, 0.2) {
		t.Errorf("first response %+v", d)
	}
	if sv.RequestsPerSecond == nil || !near(*sv.RequestsPerSecond, 2) {
		t.Errorf("req/s %v", sv.RequestsPerSecond)
	}
	smp := newSampler("ensemble")
	smp.add(parse(t, tritonBefore, t0))
	smp.add(parse(t, tritonAfter, t0))
	g := smp.gauges()
	if g["trt_active"].Peak != 7 || g["trt_waiting"].Peak != 3 || g["trt_waiting"].Mean != 1.5 {
		t.Errorf("gauges %+v", g)
	}
}

// A real vLLM 0.10 capture parses (names with ':', _created series), and
// its 6 TTFT observations give hand-computed quantiles.
func TestServerStatsRealCapture(t *testing.T) {
	f, err := os.Open("testdata/vllm-0.10.metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	after, err := ParseMetrics(f, "capture")
	if err != nil {
		t.Fatal(err)
	}
	before := &Snapshot{At: after.At.Add(-time.Second), Families: nil}
	sv := ServerStats(before, after, "")
	// 4 in (0.02, 0.04], 2 in (0.04, 0.06]: p50 rank 3: 0.02+0.02x3/4; p95 rank 5.7: 0.04+0.02x1.7/2.
	if d := sv.TTFT; d == nil || d.Count != 6 || !near(*d.P50, 0.035) || !near(*d.P95, 0.057) {
		t.Errorf("TTFT %+v", d)
	}
	if sv.ITL == nil || sv.ITL.Metric != "vllm:time_per_output_token_seconds" {
		t.Errorf("ITL falls back to time_per_output_token: %+v", sv.ITL)
	}
	if sv.E2E == nil || sv.E2E.Count != 6 {
		t.Errorf("E2E %+v", sv.E2E)
	}
}

func TestParseMetricsError(t *testing.T) {
	_, err := ParseMetrics(strings.NewReader("vllm:x{a=\"1\" 3\n"), "http://h/metrics")
	if err == nil || !strings.Contains(err.Error(), "http://h/metrics") {
		t.Errorf("error %v does not name the source", err)
	}
}

func FuzzParseMetrics(f *testing.F) {
	f.Add(vllmBefore, vllmAfter)
	f.Add(tritonBefore, tritonAfter)
	f.Add("a 1\n", "a{le=\"x\"} 2\n")
	f.Add("# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n", "# TYPE h histogram\nh_bucket{le=\"NaN\"} 1\n")
	f.Fuzz(func(t *testing.T, a, b string) {
		sa, errA := ParseMetrics(strings.NewReader(a), "a")
		sb, errB := ParseMetrics(strings.NewReader(b), "b")
		if errA != nil || errB != nil {
			return
		}
		sb.At = sa.At.Add(time.Second)
		sv := ServerStats(sa, sb, "ensemble")
		for _, d := range []*Distribution{sv.TTFT, sv.ITL, sv.E2E} {
			if d == nil {
				continue
			}
			for _, p := range []*float64{d.Mean, d.P50, d.P90, d.P95, d.P99} {
				if p != nil && (math.IsNaN(*p) || math.IsInf(*p, 0)) {
					t.Fatalf("non-finite figure in %+v", d)
				}
			}
		}
		smp := newSampler("")
		smp.add(sa)
		smp.add(sb)
		_ = smp.gauges()
	})
}

func FuzzHistogramQuantile(f *testing.F) {
	f.Add(0.5, 0.1, 3.0, 0.5, 7.0, 10.0)
	f.Add(0.99, 1.0, 0.0, 2.0, 0.0, 0.0)
	f.Fuzz(func(t *testing.T, q, b1, c1, b2, c2, cinf float64) {
		bs := []Bucket{{b1, c1}, {b2, c2}, {math.Inf(1), cinf}}
		v := HistogramQuantile(q, bs)
		if math.IsNaN(v) {
			return
		}
		lo, hi := math.Min(math.Min(b1, b2), 0), math.Max(b1, b2)
		if !(q >= 0 && q <= 1) || v < lo-1e-9*math.Abs(lo) || v > hi+1e-9*math.Abs(hi) {
			if !math.IsNaN(b1) && !math.IsNaN(b2) && !math.IsInf(b1, 0) && !math.IsInf(b2, 0) {
				t.Fatalf("q=%v buckets %v: %v outside [%v, %v]", q, bs, v, lo, hi)
			}
		}
	})
}

// BenchmarkScrapeParse parses a real vLLM /metrics page and computes a
// step's figures from it, as each gauge sample and step end does.
func BenchmarkScrapeParse(b *testing.B) {
	page, err := os.ReadFile("testdata/vllm-0.10.metrics.txt")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		s, err := ParseMetrics(strings.NewReader(string(page)), "capture")
		if err != nil {
			b.Fatal(err)
		}
		_ = ServerStats(&Snapshot{At: s.At.Add(-time.Second)}, s, "")
	}
}
