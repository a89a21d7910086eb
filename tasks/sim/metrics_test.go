package sim

import (
	"context"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func parsePage(t testing.TB, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("metrics page does not parse: %v", err)
	}
	return fams
}

func scrape(t testing.TB, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return parsePage(t, string(b))
}

func labelsMatch(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}

// value sums the counter/gauge/untyped values of name's series matching labels.
func value(t testing.TB, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no family %s", name)
	}
	sum := 0.0
	for _, m := range f.GetMetric() {
		if !labelsMatch(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// labelKeySets is the set of label-name sets of a family, "le"/"quantile" excluded.
func labelKeySets(f *dto.MetricFamily) []string {
	set := map[string]bool{}
	for _, m := range f.GetMetric() {
		var ks []string
		for _, l := range m.GetLabel() {
			if l.GetName() != "le" && l.GetName() != "quantile" {
				ks = append(ks, l.GetName())
			}
		}
		sort.Strings(ks)
		set[strings.Join(ks, ",")] = true
	}
	var out []string
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func buckets(f *dto.MetricFamily) []float64 {
	if len(f.GetMetric()) == 0 || f.GetMetric()[0].Histogram == nil {
		return nil
	}
	var out []float64
	for _, b := range f.GetMetric()[0].GetHistogram().GetBucket() {
		if math.IsInf(b.GetUpperBound(), 1) {
			continue // the text parser keeps +Inf; the lists below do not
		}
		out = append(out, b.GetUpperBound())
	}
	return out
}

func labelValues(f *dto.MetricFamily, name string) []string {
	var out []string
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == name && !slices.Contains(out, l.GetValue()) {
				out = append(out, l.GetValue())
			}
		}
	}
	sort.Strings(out)
	return out
}

func readCapture(t *testing.T, name string) map[string]*dto.MetricFamily {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return parsePage(t, string(b)+"\n") // the vLLM capture lacks the final newline
}

// compareWithCapture checks that every family of the capture, except the
// listed absent ones, has the same type, label-name sets (unless relabelled)
// and buckets on our page; and that our extra families are exactly added.
func compareWithCapture(t *testing.T, capture, ours map[string]*dto.MetricFamily, absent map[string]string, relabel map[string][]string, added []string) {
	t.Helper()
	for name, cf := range capture {
		if why, ok := absent[name]; ok {
			if ours[name] != nil {
				t.Errorf("%s should be absent (%s)", name, why)
			}
			continue
		}
		of := ours[name]
		if of == nil {
			t.Errorf("family %s of the capture is missing", name)
			continue
		}
		if cf.GetType() != of.GetType() {
			t.Errorf("%s: type %v, capture has %v", name, of.GetType(), cf.GetType())
		}
		want := labelKeySets(cf)
		if r, ok := relabel[name]; ok {
			want = r
		}
		if len(cf.GetMetric()) > 0 && !slices.Equal(labelKeySets(of), want) {
			t.Errorf("%s: label names %v, want %v", name, labelKeySets(of), want)
		}
		if cb := buckets(cf); cb != nil && !slices.Equal(buckets(of), cb) {
			t.Errorf("%s: buckets %v, capture has %v", name, buckets(of), cb)
		}
	}
	var extra []string
	for name := range ours {
		if capture[name] == nil {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	sort.Strings(added)
	if !slices.Equal(extra, added) {
		t.Errorf("families beyond the capture:\n got %v\nwant %v", extra, added)
	}
}

// vLLM 0.10 (capture) -> 0.14 (simulated) differences, per server-metrics.md §1.
var (
	vllmRemovedSince010 = map[string]string{
		"vllm:gpu_cache_usage_perc":                  "deprecated 0.10, hidden 0.11, removed ~0.12 (PR #29330)",
		"vllm:gpu_prefix_cache_queries_total":        "same life cycle as gpu_cache_usage_perc",
		"vllm:gpu_prefix_cache_queries_created":      "same",
		"vllm:gpu_prefix_cache_hits_total":           "same",
		"vllm:gpu_prefix_cache_hits_created":         "same",
		"vllm:time_per_output_token_seconds":         "deprecated 0.11, hidden ~0.12 (PR #29330)",
		"vllm:time_per_output_token_seconds_created": "same",
	}
	vllmAddedSince010 = []string{
		"vllm:inter_token_latency_seconds", "vllm:inter_token_latency_seconds_created", // 0.10.2, PR #24110
		"vllm:request_time_per_output_token_seconds", "vllm:request_time_per_output_token_seconds_created", // 0.11+
		"vllm:prompt_tokens_by_source_total", "vllm:prompt_tokens_by_source_created", // ~0.13+
		"vllm:prompt_tokens_cached_total", "vllm:prompt_tokens_cached_created",
		"vllm:prompt_tokens_recomputed_total", "vllm:prompt_tokens_recomputed_created",
		"vllm:request_prefill_kv_computed_tokens", "vllm:request_prefill_kv_computed_tokens_created",
	}
)

func TestVLLMMetricsMatchCapture(t *testing.T) {
	cfg := fastConfig(PersonalityVLLM)
	cfg.MaxModelLen = 8192 // as the captured server (--max-model-len 8192)
	_, run := startServer(t, cfg)
	c := oaClient(run)
	if _, err := c.Models.List(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(run.APIURL+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"qwen","messages":[{"role":"user","content":"hi"}],"max_tokens":5}`))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	ours := scrape(t, run.MetricsURL)
	capture := readCapture(t, "vllm-0.10-ngc-25.09-qwen3-4b.metrics.txt")
	compareWithCapture(t, capture, ours, vllmRemovedSince010, nil, vllmAddedSince010)

	// Families not in the capture, against the reference (server-metrics.md §1.2).
	itl := []float64{0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0}
	for _, name := range []string{"vllm:inter_token_latency_seconds", "vllm:request_time_per_output_token_seconds"} {
		if got := buckets(ours[name]); !slices.Equal(got, itl) {
			t.Errorf("%s buckets %v", name, got)
		}
		if got := labelKeySets(ours[name]); !slices.Equal(got, []string{"engine,model_name"}) {
			t.Errorf("%s labels %v", name, got)
		}
	}
	if got := labelValues(ours["vllm:request_success_total"], "finished_reason"); !slices.Equal(got, []string{"abort", "error", "length", "stop"}) {
		t.Errorf("finished_reason values %v", got)
	}
	if got := labelValues(ours["vllm:prompt_tokens_by_source_total"], "source"); !slices.Equal(got, []string{"external_kv_transfer", "local_cache_hit", "local_compute"}) {
		t.Errorf("source values %v", got)
	}
	if got := labelValues(ours["http_requests_total"], "handler"); !slices.Equal(got, []string{"/v1/chat/completions", "/v1/models"}) {
		t.Errorf("http handlers %v (/metrics and /health are not instrumented)", got)
	}
	if got := labelValues(ours["http_requests_total"], "status"); !slices.Equal(got, []string{"2xx"}) {
		t.Errorf("http status classes %v", got)
	}
	// The page on -metrics-addr equals the API's /metrics in the vLLM personality.
	if labelKeySets(ours["vllm:cache_config_info"])[0] == "" || !strings.Contains(labelKeySets(ours["vllm:cache_config_info"])[0], "num_gpu_blocks") {
		t.Error("cache_config_info lacks num_gpu_blocks")
	}
}

func TestVLLMBuckets125(t *testing.T) {
	if got, want := buckets125(8192), []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000}; !slices.Equal(got, want) {
		t.Errorf("buckets125(8192) = %v", got)
	}
	if got, want := buckets125(4096), []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000}; !slices.Equal(got, want) {
		t.Errorf("buckets125(4096) = %v", got)
	}
}

// Triton 22.07 (capture) -> the simulated newer Triton (server-metrics.md §3).
var (
	tritonAbsent = map[string]string{
		"nv_cache_num_entries": "response cache metrics: newer Triton exports them only with the cache on",
		"nv_cache_num_lookups": "", "nv_cache_num_hits": "", "nv_cache_num_misses": "", "nv_cache_num_evictions": "",
		"nv_cache_lookup_duration": "", "nv_cache_insertion_duration": "", "nv_cache_util": "",
		"nv_cache_num_hits_per_model": "", "nv_cache_hit_lookup_duration_per_model": "",
		"nv_cache_num_misses_per_model": "", "nv_cache_miss_lookup_duration_per_model": "",
		"nv_cache_miss_insertion_duration_per_model": "",
		"python_gc_objects_collected_total":          "empty families of the capture's Python backend stub",
		"python_gc_objects_uncollectable_total":      "", "python_gc_collections_total": "", "python_info": "",
		"process_virtual_memory_bytes": "", "process_resident_memory_bytes": "", "process_start_time_seconds": "",
		"process_cpu_seconds_total": "", "process_open_fds": "", "process_max_fds": "",
	}
	tritonRelabel = map[string][]string{
		"nv_inference_request_failure": {"model,reason,version"}, // reason label, 2024+
	}
	tritonAdded = []string{"nv_inference_pending_request_count", "nv_cpu_utilization", "nv_cpu_memory_total_bytes", "nv_cpu_memory_used_bytes"}
)

func TestTritonMetricsMatchCapture(t *testing.T) {
	capture := readCapture(t, "triton-22.07.metrics.txt")
	for _, p := range []string{PersonalityTritonVLLM, PersonalityTritonTRT} {
		t.Run(p, func(t *testing.T) {
			cfg := fastConfig(p)
			_, run := startServer(t, cfg)
			model := "qwen"
			body := `{"text_input":"hello there","parameters":{"max_tokens":4}}`
			if p == PersonalityTritonTRT {
				model = "ensemble"
				body = `{"text_input":"hello there","max_tokens":4}`
			}
			resp, err := http.Post(run.APIURL+"/v2/models/"+model+"/generate", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			ours := scrape(t, run.MetricsURL)
			added := slices.Clone(tritonAdded)
			if p == PersonalityTritonVLLM {
				added = append(added, "vllm:prompt_tokens_total", "vllm:generation_tokens_total", "vllm:time_to_first_token_seconds",
					"vllm:time_per_output_token_seconds", "vllm:e2e_request_latency_seconds", "vllm:request_prompt_tokens",
					"vllm:request_generation_tokens", "vllm:request_params_n")
			} else {
				added = append(added, "nv_trt_llm_request_metrics", "nv_trt_llm_runtime_memory_metrics", "nv_trt_llm_kv_cache_block_metrics",
					"nv_trt_llm_inflight_batcher_metrics", "nv_trt_llm_general_metrics", "nv_llm_input_token_len", "nv_llm_output_token_len")
			}
			compareWithCapture(t, capture, ours, tritonAbsent, tritonRelabel, added)
			if got := labelValues(ours["nv_inference_request_failure"], "reason"); !slices.Equal(got, []string{"BACKEND", "CANCELED", "OTHER", "REJECTED"}) {
				t.Errorf("failure reasons %v", got)
			}
			if v := value(t, ours, "nv_inference_request_success", map[string]string{"model": model}); v != 1 {
				t.Errorf("nv_inference_request_success{model=%s} = %v, want 1", model, v)
			}
			if p == PersonalityTritonVLLM {
				checkTritonVLLMBackend(t, ours)
			} else {
				checkTRT(t, ours)
			}
		})
	}
}

// server-metrics.md §4: the Triton vLLM backend's families.
func checkTritonVLLMBackend(t *testing.T, f map[string]*dto.MetricFamily) {
	want := map[string][]float64{
		"vllm:time_to_first_token_seconds":   {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0},
		"vllm:time_per_output_token_seconds": {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5},
		"vllm:e2e_request_latency_seconds":   {1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0},
		"vllm:request_params_n":              {1, 2, 5, 10, 20},
		"vllm:request_prompt_tokens":         {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000},
	}
	for name, b := range want {
		if f[name].GetType() != dto.MetricType_HISTOGRAM || !slices.Equal(buckets(f[name]), b) {
			t.Errorf("%s: %v buckets %v, want histogram %v", name, f[name].GetType(), buckets(f[name]), b)
		}
	}
	for _, name := range []string{"vllm:prompt_tokens_total", "vllm:generation_tokens_total", "vllm:time_to_first_token_seconds"} {
		if got := labelKeySets(f[name]); !slices.Equal(got, []string{"model,version"}) {
			t.Errorf("%s labels %v, want model,version", name, got)
		}
	}
	if v := value(t, f, "vllm:generation_tokens_total", nil); v != 4 {
		t.Errorf("vllm:generation_tokens_total %v, want 4", v)
	}
}

// server-metrics.md §5: TensorRT-LLM backend families and label values.
func checkTRT(t *testing.T, f map[string]*dto.MetricFamily) {
	cats := map[string]struct {
		key  string
		vals []string
	}{
		"nv_trt_llm_request_metrics":          {"request_type", []string{"active", "context", "max", "scheduled", "waiting"}},
		"nv_trt_llm_runtime_memory_metrics":   {"memory_type", []string{"cpu", "gpu", "pinned"}},
		"nv_trt_llm_kv_cache_block_metrics":   {"kv_cache_block_type", []string{"fraction", "free", "max", "reused", "tokens_per", "used"}},
		"nv_trt_llm_inflight_batcher_metrics": {"inflight_batcher_specific_metric", []string{"generation_requests", "micro_batch_id", "paused_requests", "total_context_tokens"}},
		"nv_trt_llm_general_metrics":          {"general_type", []string{"iteration_counter", "timestamp"}},
	}
	for name, c := range cats {
		fam := f[name]
		if fam.GetType() != dto.MetricType_GAUGE {
			t.Errorf("%s type %v", name, fam.GetType())
		}
		keys := []string{c.key, "model", "version"}
		sort.Strings(keys)
		if got := labelKeySets(fam); !slices.Equal(got, []string{strings.Join(keys, ",")}) {
			t.Errorf("%s labels %v", name, got)
		}
		if got := labelValues(fam, c.key); !slices.Equal(got, c.vals) {
			t.Errorf("%s %s values %v, want %v", name, c.key, got, c.vals)
		}
	}
	for _, name := range []string{"nv_llm_input_token_len", "nv_llm_output_token_len"} {
		if !slices.Equal(buckets(f[name]), []float64{10, 50, 100, 500, 1000}) {
			t.Errorf("%s buckets %v", name, buckets(f[name]))
		}
	}
	if v := value(t, f, "nv_trt_llm_general_metrics", map[string]string{"general_type": "iteration_counter"}); v < 4 {
		t.Errorf("iteration_counter %v after a 4-token request", v)
	}
	// ensemble = preprocessing -> tensorrt_llm -> postprocessing
	for _, m := range []string{"preprocessing", "tensorrt_llm", "postprocessing"} {
		if v := value(t, f, "nv_inference_request_success", map[string]string{"model": m}); v != 1 {
			t.Errorf("nv_inference_request_success{model=%s} = %v, want 1", m, v)
		}
	}
}

func TestDCGMPage(t *testing.T) {
	_, run := startServer(t, fastConfig(PersonalityVLLM))
	f := scrape(t, run.DCGMURL)
	want := []string{"DCGM_FI_DEV_SM_CLOCK", "DCGM_FI_DEV_MEM_CLOCK", "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_POWER_USAGE",
		"DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_MEM_COPY_UTIL", "DCGM_FI_DEV_FB_USED",
		"DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_FB_RESERVED", "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE",
		"DCGM_FI_PROF_DRAM_ACTIVE", "DCGM_FI_DEV_XID_ERRORS"}
	for _, name := range want {
		if f[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	for name, fam := range f {
		if got := labelKeySets(fam); !slices.Equal(got, []string{"DCGM_FI_DRIVER_VERSION,Hostname,UUID,device,gpu,modelName,pci_bus_id"}) {
			t.Errorf("%s labels %v", name, got)
		}
	}
	if f["DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"].GetType() != dto.MetricType_COUNTER {
		t.Error("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION is not a counter")
	}
	total := value(t, f, "DCGM_FI_DEV_FB_USED", nil) + value(t, f, "DCGM_FI_DEV_FB_FREE", nil) + value(t, f, "DCGM_FI_DEV_FB_RESERVED", nil)
	if total != 23034 {
		t.Errorf("FB used+free+reserved = %v MiB, want the GPU's 23034", total)
	}
}

// The number format follows prometheus_client (values from the vLLM capture).
func TestPythonFloatFormat(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0.0", 246: "246.0", 0.0011764705882353343: "0.0011764705882353343",
		1.7710424574207425e+09: "1.7710424574207425e+09", 13720145920: "1.372014592e+010",
		1.109622784e+09: "1.109622784e+09", 14.040000000000001: "14.040000000000001", 0.001: "0.001",
		2560: "2560.0", 1e-05: "1e-05", 1e+20: "1e+20",
	} {
		if got := pyFloatToGo(v); got != want {
			t.Errorf("pyFloatToGo(%v) = %q, want %q", v, got, want)
		}
	}
}
