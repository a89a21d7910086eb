package sim

import (
	"net/http"
	"sync"
	"time"
)

// Triton failure reasons (nv_inference_request_failure{reason}).
const (
	ReasonRejected = "REJECTED"
	ReasonCanceled = "CANCELED"
	ReasonBackend  = "BACKEND"
	ReasonOther    = "OTHER"
)

var tritonReasons = []string{ReasonRejected, ReasonCanceled, ReasonBackend, ReasonOther}

type tritonModelStats struct {
	name      string
	decoupled bool
	engine    bool // its pending count is the engine's waiting queue
	success   float64
	failure   map[string]float64
	count     float64
	exec      float64
	reqUs     float64
	queueUs   float64
	inUs      float64
	inferUs   float64
	outUs     float64
	firstResp *histo
}

// tritonMetrics is Triton's :8002/metrics: core nv_inference_* per model
// (newer format: failure has a reason label; pending request gauge), GPU and
// CPU gauges, and the backend's families: the vLLM backend's vllm:* (labels
// model, version) or TensorRT-LLM's nv_trt_llm_* and nv_llm_*_token_len.
//
// Simplification: the engine's waiting queue shows as the model's
// nv_inference_pending_request_count and queue duration (the real backends
// take requests at once and queue inside).
type tritonMetrics struct {
	mu     sync.Mutex
	cfg    *Config
	eng    *engine
	gpu    *gpuModel
	models []*tritonModelStats
	by     map[string]*tritonModelStats

	// vLLM backend
	tvPrompt, tvGen                  float64
	tvTTFT, tvTPOT, tvE2E            *histo
	tvReqPrompt, tvReqGen, tvParamsN *histo
	// TensorRT-LLM backend
	trtIter                              float64
	trtLastTS                            time.Time
	trtReusedBlocks                      float64
	trtCtxTokens, trtGenReqs, trtCtxReqs int
	trtInLen, trtOutLen                  *histo
}

func newTritonMetrics(cfg *Config, eng *engine, gpu *gpuModel) *tritonMetrics {
	m := &tritonMetrics{cfg: cfg, eng: eng, gpu: gpu, by: map[string]*tritonModelStats{}}
	add := func(name string, decoupled, engine bool) {
		s := &tritonModelStats{name: name, decoupled: decoupled, engine: engine, failure: map[string]float64{}}
		if decoupled && cfg.TritonHistLatencies {
			s.firstResp = newHisto(tritonFirstRespMs)
		}
		m.models = append(m.models, s)
		m.by[name] = s
	}
	if cfg.Personality == PersonalityTritonVLLM {
		add(cfg.ServedModelName, true, true)
		b := buckets125(cfg.MaxModelLen)
		m.tvTTFT, m.tvTPOT, m.tvE2E = newHisto(tvTTFTBuckets), newHisto(tvTPOTBuckets), newHisto(tvE2EBuckets)
		m.tvReqPrompt, m.tvReqGen, m.tvParamsN = newHisto(b), newHisto(b), newHisto(vllmNBuckets)
	} else {
		add("ensemble", cfg.TRTDecoupled, false)
		add("postprocessing", false, false)
		add("preprocessing", false, false)
		add("tensorrt_llm", cfg.TRTDecoupled, true)
		m.trtInLen, m.trtOutLen = newHisto(trtTokenLenBuckets), newHisto(trtTokenLenBuckets)
	}
	return m
}

// fail counts a request that failed outside the engine. For the ensemble,
// a refusal by tensorrt_llm (reason) is the ensemble's OTHER, after
// preprocessing ran.
func (m *tritonMetrics) fail(model, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if model == "ensemble" {
		if p := m.by["preprocessing"]; p != nil {
			p.success++
			p.count++
			p.exec++
		}
		if t := m.by["tensorrt_llm"]; t != nil {
			t.failure[reason]++
		}
		reason = ReasonOther
	}
	if s := m.by[model]; s != nil {
		s.failure[reason]++
	}
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

func (m *tritonMetrics) record(rep *stepReport) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cfg.Personality == PersonalityTritonVLLM {
		m.tvPrompt += float64(rep.promptTokens)
		m.tvGen += float64(rep.genTokens)
		for _, v := range rep.ttfts {
			m.tvTTFT.observe(v)
		}
		for _, v := range rep.itls {
			m.tvTPOT.observe(v)
		}
	} else if rep.iteration {
		m.trtIter++
		m.trtLastTS = rep.end
		m.trtCtxTokens, m.trtGenReqs, m.trtCtxReqs = rep.ctxTokens, rep.genRequests, rep.ctxRequests
		m.trtReusedBlocks += float64(rep.prefixHits / max(m.cfg.BlockSize, 1))
	}
	for _, r := range rep.firstTokens {
		ms := float64(r.ttft().Nanoseconds()) / 1e6
		for _, name := range m.route(r) {
			if s := m.by[name]; s != nil && s.firstResp != nil {
				s.firstResp.observe(ms)
			}
		}
	}
	for _, r := range rep.finished {
		m.finish(r, r.finishReason)
	}
	for _, r := range rep.aborted {
		m.finish(r, FinishAbort)
	}
}

// route is the models a request went through.
func (m *tritonMetrics) route(r *request) []string {
	if r.spec.model == "ensemble" {
		return []string{"ensemble", "tensorrt_llm"}
	}
	return []string{r.spec.model}
}

func (m *tritonMetrics) finish(r *request, reason string) {
	ok := reason == FinishStop || reason == FinishLength
	failReason := ReasonBackend
	if reason == FinishAbort {
		failReason = ReasonCanceled
	}
	responses := 1.0
	if r.spec.stream {
		responses = float64(max(r.generated, 1))
	}
	e2e := r.e2e()
	q := r.queueTime()
	in := 20 * time.Microsecond
	out := time.Duration(responses) * 15 * time.Microsecond
	infer := max(e2e-q-in-out, 0)
	core := func(s *tritonModelStats, success bool, fr string, execs float64, reqD, qD, inD, inferD, outD time.Duration) {
		if s == nil {
			return
		}
		if success {
			s.success++
		} else {
			s.failure[fr]++
		}
		s.count++
		s.exec += execs
		s.reqUs += us(reqD)
		s.queueUs += us(qD)
		s.inUs += us(inD)
		s.inferUs += us(inferD)
		s.outUs += us(outD)
	}
	switch r.spec.model {
	case "ensemble":
		core(m.by["preprocessing"], true, "", 1, 300*time.Microsecond, 10*time.Microsecond, 20*time.Microsecond, 250*time.Microsecond, 20*time.Microsecond)
		core(m.by["tensorrt_llm"], ok, failReason, 1, e2e, q, in, infer, out)
		if r.generated > 0 {
			post := m.by["postprocessing"]
			post.success += responses
			post.count += responses
			post.exec += responses
			post.reqUs += responses * 200
			post.queueUs += responses * 10
			post.inUs += responses * 20
			post.inferUs += responses * 150
			post.outUs += responses * 20
		}
		ensReason := failReason
		if !ok && reason != FinishAbort {
			ensReason = ReasonOther
		}
		core(m.by["ensemble"], ok, ensReason, 1, e2e, q, in, infer, out)
	default:
		core(m.by[r.spec.model], ok, failReason, 1, e2e, q, in, infer, out)
	}
	if m.cfg.Personality == PersonalityTritonVLLM {
		if reason != FinishAbort {
			m.tvE2E.observe(e2e.Seconds())
			m.tvReqPrompt.observe(float64(r.spec.prompt.tokens))
			m.tvReqGen.observe(float64(r.generated))
			m.tvParamsN.observe(float64(max(r.spec.n, 1)))
		}
	} else if reason != FinishAbort {
		m.trtInLen.observe(float64(r.spec.prompt.tokens))
		m.trtOutLen.observe(float64(r.generated))
	}
}

func (m *tritonMetrics) write(w *promWriter, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ml := func(s *tritonModelStats) []string { return []string{"model", s.name, "version", "1"} }
	per := func(name, help, typ string, v func(s *tritonModelStats) float64) {
		w.header(name, help, typ)
		for _, s := range m.models {
			w.sample(name, ml(s), v(s))
		}
	}
	per("nv_inference_request_success", "Number of successful inference requests, all batch sizes", "counter", func(s *tritonModelStats) float64 { return s.success })
	w.header("nv_inference_request_failure", "Number of failed inference requests, all batch sizes", "counter")
	for _, s := range m.models {
		for _, r := range tritonReasons {
			w.sample("nv_inference_request_failure", []string{"model", s.name, "reason", r, "version", "1"}, s.failure[r])
		}
	}
	per("nv_inference_count", "Number of inferences performed (does not include cached requests)", "counter", func(s *tritonModelStats) float64 { return s.count })
	per("nv_inference_exec_count", "Number of model executions performed (does not include cached requests)", "counter", func(s *tritonModelStats) float64 { return s.exec })
	per("nv_inference_request_duration_us", "Cumulative inference request duration in microseconds (includes cached requests)", "counter", func(s *tritonModelStats) float64 { return s.reqUs })
	per("nv_inference_queue_duration_us", "Cumulative inference queuing duration in microseconds (includes cached requests)", "counter", func(s *tritonModelStats) float64 { return s.queueUs })
	per("nv_inference_compute_input_duration_us", "Cumulative compute input duration in microseconds (does not include cached requests)", "counter", func(s *tritonModelStats) float64 { return s.inUs })
	per("nv_inference_compute_infer_duration_us", "Cumulative compute inference duration in microseconds (does not include cached requests)", "counter", func(s *tritonModelStats) float64 { return s.inferUs })
	per("nv_inference_compute_output_duration_us", "Cumulative inference compute output duration in microseconds (does not include cached requests)", "counter", func(s *tritonModelStats) float64 { return s.outUs })
	waiting := float64(m.eng.waitingNow())
	per("nv_inference_pending_request_count", "Instantaneous number of pending requests awaiting execution per-model.", "gauge", func(s *tritonModelStats) float64 {
		if s.engine {
			return waiting
		}
		return 0
	})
	if m.cfg.TritonHistLatencies {
		w.header("nv_inference_first_response_histogram_ms", "Duration from request to first response in milliseconds", "histogram")
		for _, s := range m.models {
			if s.firstResp != nil {
				w.histogram("nv_inference_first_response_histogram_ms", ml(s), s.firstResp)
			}
		}
	}
	g := m.gpu.read(now)
	gl := []string{"gpu_uuid", m.gpu.uuid}
	gauge := func(name, help string, v float64) {
		w.header(name, help, "gauge")
		w.sample(name, gl, v)
	}
	gauge("nv_gpu_utilization", "GPU utilization rate [0.0 - 1.0)", g.util)
	gauge("nv_gpu_memory_total_bytes", "GPU total memory, in bytes", float64(g.memTotalMiB)*(1<<20))
	gauge("nv_gpu_memory_used_bytes", "GPU used memory, in bytes", float64(g.memUsedMiB)*(1<<20))
	gauge("nv_gpu_power_usage", "GPU power usage in watts", g.powerW)
	gauge("nv_gpu_power_limit", "GPU power management limit in watts", m.cfg.GPUPowerMaxW)
	w.header("nv_energy_consumption", "GPU energy consumption in joules since the Triton Server started", "counter")
	w.sample("nv_energy_consumption", gl, g.energyJ)
	w.header("nv_cpu_utilization", "CPU utilization rate [0.0 - 1.0]", "gauge")
	w.sample("nv_cpu_utilization", nil, 0.05+0.1*g.util)
	w.header("nv_cpu_memory_total_bytes", "CPU total memory (RAM), in bytes", "gauge")
	w.sample("nv_cpu_memory_total_bytes", nil, 64<<30)
	w.header("nv_cpu_memory_used_bytes", "CPU used memory (RAM), in bytes", "gauge")
	w.sample("nv_cpu_memory_used_bytes", nil, 9<<30)
	if m.cfg.Personality == PersonalityTritonVLLM {
		m.writeVLLMBackend(w)
	} else {
		m.writeTRT(w, now)
	}
}

func (m *tritonMetrics) writeVLLMBackend(w *promWriter) {
	l := []string{"model", m.cfg.ServedModelName, "version", "1"}
	w.header("vllm:prompt_tokens_total", "Number of prefill tokens processed.", "counter")
	w.sample("vllm:prompt_tokens_total", l, m.tvPrompt)
	w.header("vllm:generation_tokens_total", "Number of generation tokens processed.", "counter")
	w.sample("vllm:generation_tokens_total", l, m.tvGen)
	for _, h := range []struct {
		name, help string
		h          *histo
	}{
		{"vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", m.tvTTFT},
		{"vllm:time_per_output_token_seconds", "Histogram of time per output token in seconds.", m.tvTPOT},
		{"vllm:e2e_request_latency_seconds", "Histogram of end to end request latency in seconds.", m.tvE2E},
		{"vllm:request_prompt_tokens", "Number of prefill tokens processed.", m.tvReqPrompt},
		{"vllm:request_generation_tokens", "Number of generation tokens processed.", m.tvReqGen},
		{"vllm:request_params_n", "Histogram of the n request parameter.", m.tvParamsN},
	} {
		w.header(h.name, h.help, "histogram")
		w.histogram(h.name, l, h.h)
	}
}

func (m *tritonMetrics) writeTRT(w *promWriter, now time.Time) {
	base := []string{"model", "tensorrt_llm", "version", "1"}
	cat := func(name, help, key string, vals []string, v []float64) {
		w.header(name, help, "gauge")
		for i, val := range vals {
			w.sample(name, append(base[:2:2], key, val, "version", "1"), v[i])
		}
	}
	running := float64(m.eng.snapRunning.Load())
	waiting := float64(m.eng.waitingNow())
	cat("nv_trt_llm_request_metrics", "TRT LLM request metrics", "request_type",
		[]string{"active", "max", "scheduled", "context", "waiting"},
		[]float64{running + waiting, float64(m.cfg.MaxNumSeqs), float64(m.trtGenReqs + m.trtCtxReqs), float64(m.trtCtxReqs), waiting})
	cat("nv_trt_llm_runtime_memory_metrics", "TRT LLM runtime memory metrics", "memory_type",
		[]string{"cpu", "gpu", "pinned"}, []float64{1 << 28, float64(m.cfg.GPUMemoryMiB) * m.cfg.GPUMemoryUtil * 0.3 * (1 << 20), 1 << 26})
	used := float64(m.eng.snapUsed.Load())
	total := float64(m.cfg.NumGPUBlocks)
	cat("nv_trt_llm_kv_cache_block_metrics", "TRT LLM KV cache block metrics", "kv_cache_block_type",
		[]string{"max", "free", "used", "tokens_per", "reused", "fraction"},
		[]float64{total, max(total-used, 0), used, float64(m.cfg.BlockSize), m.trtReusedBlocks, m.eng.kvUsage()})
	cat("nv_trt_llm_inflight_batcher_metrics", "TRT LLM inflight_batcher-specific metrics", "inflight_batcher_specific_metric",
		[]string{"total_context_tokens", "generation_requests", "micro_batch_id", "paused_requests"},
		[]float64{float64(m.trtCtxTokens), float64(m.trtGenReqs), 0, 0})
	ts := m.trtLastTS
	if ts.IsZero() {
		ts = now
	}
	cat("nv_trt_llm_general_metrics", "General TRT LLM metrics", "general_type",
		[]string{"timestamp", "iteration_counter"}, []float64{float64(ts.UnixMicro()), m.trtIter})
	w.header("nv_llm_input_token_len", "TRT LLM response metrics", "histogram")
	w.histogram("nv_llm_input_token_len", append(base[:2:2], "response_metric_type", "total_input_tokens", "version", "1"), m.trtInLen)
	w.header("nv_llm_output_token_len", "TRT LLM response metrics", "histogram")
	w.histogram("nv_llm_output_token_len", append(base[:2:2], "response_metric_type", "total_output_tokens", "version", "1"), m.trtOutLen)
}

func (s *Server) tritonMetricsHandler() http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(rw, r)
			return
		}
		w := &promWriter{style: styleTriton, sorted: true}
		s.tm.write(w, time.Now())
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = rw.Write(w.b.Bytes())
	})
}
