package sim

import (
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// vllmMetrics is vLLM 0.14's /metrics: the V1 engine's vllm:* families (one
// engine, "0"), prometheus-fastapi-instrumentator's http_* families and
// prometheus_client's python_*/process_* collectors.
//
// Versioned choices (see server-metrics.md): the deprecated families hidden
// since 0.11/0.12 (gpu_cache_usage_perc, gpu_prefix_cache_*,
// time_per_output_token_seconds) are absent; finished_reason has "error"; a
// client abort does not count as finished_reason="abort" (vLLM issue #31503),
// its prompt is counted in prompt_tokens once prefilled.
type vllmMetrics struct {
	mu      sync.Mutex
	eng     *engine
	cfg     *Config
	lbl     []string // engine, model_name
	created float64
	start   time.Time

	prefixQueries, prefixHits  float64
	preemptions                float64
	promptTokens, genTokens    float64
	srcCompute, srcCache       float64
	success                    map[string]float64
	reqPrompt, reqGen, iter    *histo
	maxGen, paramsN, maxTokens *histo
	prefillKV                  *histo
	ttft, itl, tpot, e2e       *histo
	queue, inference           *histo
	prefill, decode            *histo
}

var finishReasons = []string{FinishStop, FinishLength, FinishAbort, FinishError}

func newVLLMMetrics(cfg *Config, eng *engine, now time.Time) *vllmMetrics {
	b := buckets125(cfg.MaxModelLen)
	m := &vllmMetrics{
		eng: eng, cfg: cfg,
		lbl:       []string{"engine", "0", "model_name", cfg.ServedModelName},
		created:   float64(now.UnixNano()) / 1e9,
		start:     now,
		success:   map[string]float64{},
		reqPrompt: newHisto(b), reqGen: newHisto(b), iter: newHisto(vllmIterBuckets),
		maxGen: newHisto(b), paramsN: newHisto(vllmNBuckets), maxTokens: newHisto(b), prefillKV: newHisto(b),
		ttft: newHisto(vllmTTFTBuckets), itl: newHisto(vllmITLBuckets), tpot: newHisto(vllmITLBuckets),
		e2e: newHisto(vllmReqBuckets), queue: newHisto(vllmReqBuckets), inference: newHisto(vllmReqBuckets),
		prefill: newHisto(vllmReqBuckets), decode: newHisto(vllmReqBuckets),
	}
	return m
}

func (m *vllmMetrics) record(rep *stepReport) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prefixQueries += float64(rep.prefixQueries)
	m.prefixHits += float64(rep.prefixHits)
	m.preemptions += float64(rep.preemptions)
	m.promptTokens += float64(rep.promptTokens)
	m.genTokens += float64(rep.genTokens)
	for _, r := range rep.firstTokens {
		m.srcCache += float64(r.cachedTokens)
		m.srcCompute += float64(r.spec.prompt.tokens - r.cachedTokens)
	}
	if rep.iteration {
		m.iter.observe(float64(rep.iterTokens))
	}
	for _, v := range rep.ttfts {
		m.ttft.observe(v)
	}
	for _, v := range rep.itls {
		m.itl.observe(v)
	}
	for _, r := range rep.finished {
		m.success[r.finishReason]++
		m.reqPrompt.observe(float64(r.spec.prompt.tokens))
		m.reqGen.observe(float64(r.generated))
		m.maxGen.observe(float64(r.generated))
		m.paramsN.observe(float64(max(r.spec.n, 1)))
		m.maxTokens.observe(float64(r.spec.maxTokens))
		m.prefillKV.observe(float64(r.spec.prompt.tokens - r.cachedTokens))
		m.e2e.observe(r.e2e().Seconds())
		m.queue.observe(r.queueTime().Seconds())
		m.inference.observe(r.inferenceTime().Seconds())
		m.prefill.observe(r.prefillTime().Seconds())
		m.decode.observe(r.decodeTime().Seconds())
		if r.generated > 1 {
			m.tpot.observe(r.decodeTime().Seconds() / float64(r.generated-1))
		}
	}
}

// observeSent observes the TTFT and ITL of tokens [from, to) of a request
// that arrived at arrival, sent together at now, the previous one at last:
// the first token's TTFT, then the gap since the last send, then zero
// gaps for the others sent with it.
func (m *vllmMetrics) observeSent(arrival, last, now time.Time, from, to int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := from; k < to; k++ {
		switch {
		case k == 0:
			m.ttft.observe(now.Sub(arrival).Seconds())
		case k == from:
			m.itl.observe(now.Sub(last).Seconds())
		default:
			m.itl.observe(0)
		}
	}
}

// errorFinish counts a request that failed before reaching the engine
// (injected 500) as vLLM counts a request-level internal error.
func (m *vllmMetrics) errorFinish() {
	m.mu.Lock()
	m.success[FinishError]++
	m.mu.Unlock()
}

func (m *vllmMetrics) write(w *promWriter) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.lbl
	gauge := func(name, help string, v float64) {
		w.header(name, help, "gauge")
		w.sample(name, l, v)
	}
	counter := func(name, help string, v float64) {
		w.header(name+"_total", help, "counter")
		w.sample(name+"_total", l, v)
		w.header(name+"_created", help, "gauge")
		w.sample(name+"_created", l, m.created)
	}
	hist := func(name, help string, h *histo) {
		w.header(name, help, "histogram")
		w.histogram(name, l, h)
		w.header(name+"_created", help, "gauge")
		w.sample(name+"_created", l, m.created)
	}
	gauge("vllm:num_requests_running", "Number of requests in model execution batches.", float64(m.eng.snapRunning.Load()))
	gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", float64(m.eng.waitingNow()))
	gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", m.eng.kvUsage())
	counter("vllm:prefix_cache_queries", "Prefix cache queries, in terms of number of queried tokens.", m.prefixQueries)
	counter("vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.", m.prefixHits)
	counter("vllm:num_preemptions", "Cumulative number of preemption from the engine.", m.preemptions)
	counter("vllm:prompt_tokens", "Number of prefill tokens processed.", m.promptTokens)
	{
		name, help := "vllm:prompt_tokens_by_source", "Number of prompt tokens by source."
		w.header(name+"_total", help, "counter")
		srcs := []struct {
			s string
			v float64
		}{{"local_compute", m.srcCompute}, {"local_cache_hit", m.srcCache}, {"external_kv_transfer", 0}}
		for _, s := range srcs {
			w.sample(name+"_total", append(l[:4:4], "source", s.s), s.v)
		}
		w.header(name+"_created", help, "gauge")
		for _, s := range srcs {
			w.sample(name+"_created", append(l[:4:4], "source", s.s), m.created)
		}
	}
	counter("vllm:prompt_tokens_cached", "Number of cached prompt tokens (local + external).", m.srcCache)
	counter("vllm:prompt_tokens_recomputed", "Number of cached tokens recomputed for forward pass.", 0)
	counter("vllm:generation_tokens", "Number of generation tokens processed.", m.genTokens)
	{
		name, help := "vllm:request_success", "Count of successfully processed requests."
		w.header(name+"_total", help, "counter")
		for _, r := range finishReasons {
			w.sample(name+"_total", append(l[:4:4], "finished_reason", r), m.success[r])
		}
		w.header(name+"_created", help, "gauge")
		for _, r := range finishReasons {
			w.sample(name+"_created", append(l[:4:4], "finished_reason", r), m.created)
		}
	}
	hist("vllm:request_prompt_tokens", "Number of prefill tokens processed.", m.reqPrompt)
	hist("vllm:request_generation_tokens", "Number of generation tokens processed.", m.reqGen)
	hist("vllm:iteration_tokens_total", "Histogram of number of tokens per engine_step.", m.iter)
	hist("vllm:request_max_num_generation_tokens", "Histogram of maximum number of requested generation tokens.", m.maxGen)
	hist("vllm:request_params_n", "Histogram of the n request parameter.", m.paramsN)
	hist("vllm:request_params_max_tokens", "Histogram of the max_tokens request parameter.", m.maxTokens)
	hist("vllm:request_prefill_kv_computed_tokens", "Histogram of new KV tokens computed during prefill (excluding cached tokens).", m.prefillKV)
	hist("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", m.ttft)
	hist("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", m.itl)
	hist("vllm:request_time_per_output_token_seconds", "Histogram of time_per_output_token_seconds per request.", m.tpot)
	hist("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", m.e2e)
	hist("vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.", m.queue)
	hist("vllm:request_inference_time_seconds", "Histogram of time spent in RUNNING phase for request.", m.inference)
	hist("vllm:request_prefill_time_seconds", "Histogram of time spent in PREFILL phase for request.", m.prefill)
	hist("vllm:request_decode_time_seconds", "Histogram of time spent in DECODE phase for request.", m.decode)
	c := m.cfg
	w.header("vllm:cache_config_info", "Information of the LLMEngine CacheConfig", "gauge")
	w.sample("vllm:cache_config_info", []string{
		"block_size", strconv.Itoa(c.BlockSize),
		"cache_dtype", "auto",
		"calculate_kv_scales", "False",
		"cpu_kvcache_space_bytes", "None",
		"cpu_offload_gb", "0.0",
		"enable_prefix_caching", pyBool(c.EnablePrefixCaching),
		"engine", "0",
		"gpu_memory_utilization", pyRepr(c.GPUMemoryUtil),
		"is_attention_free", "False",
		"kv_sharing_fast_prefill", "False",
		"mamba_cache_dtype", "auto",
		"mamba_page_size_padded", "None",
		"mamba_ssm_cache_dtype", "auto",
		"num_cpu_blocks", "None",
		"num_gpu_blocks", strconv.Itoa(c.NumGPUBlocks),
		"num_gpu_blocks_override", "None",
		"prefix_caching_hash_algo", "builtin",
		"sliding_window", "None",
		"swap_space", "4.0",
		"swap_space_bytes", "4294967296.0",
	}, 1)
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// httpMetrics is prometheus-fastapi-instrumentator as vLLM configures it:
// /metrics, /health, /load, /ping, /version and /server_info are not counted;
// unknown paths count as handler "none".
type httpMetrics struct {
	mu      sync.Mutex
	start   time.Time
	reqs    map[httpKey]float64
	created map[httpKey]float64
	reqSize map[string]*sumCount
	resSize map[string]*sumCount
	order   []string // handlers in first-seen order
	keys    []httpKey
	highr   *histo
	dur     map[httpKey]*histo // key without status
}

type httpKey struct{ handler, method, status string }
type sumCount struct{ sum, count, created float64 }

func newHTTPMetrics(now time.Time) *httpMetrics {
	return &httpMetrics{start: now, reqs: map[httpKey]float64{}, created: map[httpKey]float64{},
		reqSize: map[string]*sumCount{}, resSize: map[string]*sumCount{}, highr: newHisto(httpHighrBuckets),
		dur: map[httpKey]*histo{}}
}

var vllmUninstrumented = map[string]bool{"/metrics": true, "/health": true, "/load": true, "/ping": true, "/version": true, "/server_info": true}

func (h *httpMetrics) observe(handler, method string, status int, reqBytes, resBytes int64, d time.Duration) {
	if vllmUninstrumented[handler] {
		return
	}
	now := float64(time.Now().UnixNano()) / 1e9
	k := httpKey{handler, method, strconv.Itoa(status/100) + "xx"}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.reqs[k]; !ok {
		h.keys = append(h.keys, k)
		h.created[k] = now
	}
	h.reqs[k]++
	if _, ok := h.reqSize[handler]; !ok {
		h.order = append(h.order, handler)
		h.reqSize[handler] = &sumCount{created: now}
		h.resSize[handler] = &sumCount{created: now}
	}
	h.reqSize[handler].sum += float64(max(reqBytes, 0))
	h.reqSize[handler].count++
	h.resSize[handler].sum += float64(max(resBytes, 0))
	h.resSize[handler].count++
	h.highr.observe(d.Seconds())
	dk := httpKey{handler, method, ""}
	hd := h.dur[dk]
	if hd == nil {
		hd = newHisto(httpDurationBuckets)
		h.dur[dk] = hd
		h.created[dk] = now
	}
	hd.observe(d.Seconds())
}

func (h *httpMetrics) write(w *promWriter) {
	h.mu.Lock()
	defer h.mu.Unlock()
	const (
		reqHelp   = "Total number of requests by method, status and handler."
		sizeHelp  = "Content length of incoming requests by handler. Only value of header is respected. Otherwise ignored. No percentile calculated. "
		rsizeHelp = "Content length of outgoing responses by handler. Only value of header is respected. Otherwise ignored. No percentile calculated. "
		highrHelp = "Latency with many buckets but no API specific labels. Made for more accurate percentile calculations. "
		durHelp   = "Latency with only few buckets by handler. Made to be only used if aggregation by handler is important. "
	)
	w.header("http_requests_total", reqHelp, "counter")
	for _, k := range h.keys {
		w.sample("http_requests_total", []string{"handler", k.handler, "method", k.method, "status", k.status}, h.reqs[k])
	}
	w.header("http_requests_created", reqHelp, "gauge")
	for _, k := range h.keys {
		w.sample("http_requests_created", []string{"handler", k.handler, "method", k.method, "status", k.status}, h.created[k])
	}
	for _, s := range []struct {
		name, help string
		m          map[string]*sumCount
	}{{"http_request_size_bytes", sizeHelp, h.reqSize}, {"http_response_size_bytes", rsizeHelp, h.resSize}} {
		w.header(s.name, s.help, "summary")
		for _, hd := range h.order {
			w.sample(s.name+"_count", []string{"handler", hd}, s.m[hd].count)
			w.sample(s.name+"_sum", []string{"handler", hd}, s.m[hd].sum)
		}
		w.header(s.name+"_created", s.help, "gauge")
		for _, hd := range h.order {
			w.sample(s.name+"_created", []string{"handler", hd}, s.m[hd].created)
		}
	}
	w.header("http_request_duration_highr_seconds", highrHelp, "histogram")
	w.histogram("http_request_duration_highr_seconds", nil, h.highr)
	w.header("http_request_duration_highr_seconds_created", highrHelp, "gauge")
	w.sample("http_request_duration_highr_seconds_created", nil, float64(h.start.UnixNano())/1e9)
	w.header("http_request_duration_seconds", durHelp, "histogram")
	var dkeys []httpKey
	seen := map[httpKey]bool{}
	for _, k := range h.keys {
		dk := httpKey{k.handler, k.method, ""}
		if !seen[dk] {
			seen[dk] = true
			dkeys = append(dkeys, dk)
		}
	}
	for _, dk := range dkeys {
		w.histogram("http_request_duration_seconds", []string{"handler", dk.handler, "method", dk.method}, h.dur[dk])
	}
	w.header("http_request_duration_seconds_created", durHelp, "gauge")
	for _, dk := range dkeys {
		w.sample("http_request_duration_seconds_created", []string{"handler", dk.handler, "method", dk.method}, h.created[dk])
	}
}

// writeProcess writes prometheus_client's default python_* and process_*
// families, with the Go runtime's numbers where they have a meaning.
func writeProcess(w *promWriter, start time.Time) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gen := []string{"0", "1", "2"}
	w.header("python_gc_objects_collected_total", "Objects collected during gc", "counter")
	for i, g := range gen {
		w.sample("python_gc_objects_collected_total", []string{"generation", g}, float64(ms.Frees>>(3*i)))
	}
	w.header("python_gc_objects_uncollectable_total", "Uncollectable objects found during GC", "counter")
	for _, g := range gen {
		w.sample("python_gc_objects_uncollectable_total", []string{"generation", g}, 0)
	}
	w.header("python_gc_collections_total", "Number of times this generation was collected", "counter")
	for i, g := range gen {
		w.sample("python_gc_collections_total", []string{"generation", g}, float64(ms.NumGC>>(3*i)))
	}
	w.header("python_info", "Python platform information", "gauge")
	w.sample("python_info", []string{"implementation", "CPython", "major", "3", "minor", "12", "patchlevel", "3", "version", "3.12.3"}, 1)
	w.header("process_virtual_memory_bytes", "Virtual memory size in bytes.", "gauge")
	w.sample("process_virtual_memory_bytes", nil, float64(ms.Sys))
	w.header("process_resident_memory_bytes", "Resident memory size in bytes.", "gauge")
	w.sample("process_resident_memory_bytes", nil, float64(ms.HeapInuse+ms.StackInuse))
	w.header("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", "gauge")
	w.sample("process_start_time_seconds", nil, float64(start.Unix()))
	var ru syscall.Rusage
	cpu := 0.0
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		cpu = float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
	}
	w.header("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", "counter")
	w.sample("process_cpu_seconds_total", nil, cpu)
	w.header("process_open_fds", "Number of open file descriptors.", "gauge")
	w.sample("process_open_fds", nil, 44)
	w.header("process_max_fds", "Maximum number of open file descriptors.", "gauge")
	w.sample("process_max_fds", nil, 65535)
}

// vllmMetricsHandler serves the whole vLLM page.
func (s *Server) vllmMetricsHandler() http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := &promWriter{style: stylePython, sorted: true}
		writeProcess(w, s.started)
		s.vm.write(w)
		s.http.write(w)
		rw.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = rw.Write(w.b.Bytes())
	})
}
