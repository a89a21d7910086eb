package dash

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
)

const tritonSel = `{model=~"$model"}`

// tritonFailSel: failures that count against availability (a client's
// cancellation is not a server failure; Triton before 2024 has no reason label,
// which this matcher also accepts).
const tritonFailSel = `{model=~"$model",reason!="CANCELED"}`

func tritonAvailability(rng string) string {
	return fmt.Sprintf("sum(rate(nv_inference_request_success%s[%s])) / (sum(rate(nv_inference_request_success%s[%s])) + sum(rate(nv_inference_request_failure%s[%s])))",
		tritonSel, rng, tritonSel, rng, tritonFailSel, rng)
}

// firstResponseQuantile is Triton core's time to first response in ms.
func firstResponseQuantile(qv float64, sel, rng string) string {
	return quantile(qv, sel, rng, "nv_inference_first_response_histogram_ms")
}

// tritonRequestPanels: what every Triton dashboard shows about requests
// (the old "Triton Overview" plus availability against the SLO).
func tritonRequestPanels() []any {
	return []any{
		row("Requests"),
		ts{title: "Inference requests: success and failure", unit: unitReqPS, min: zero, w: 8,
			desc: "nv_inference_request_success and nv_inference_request_failure per second. Failures are split by reason " +
				"(REJECTED, CANCELED, BACKEND, OTHER; Triton before 2024 has no reason label). A batch counts as one request.",
			queries: []q{
				{fmt.Sprintf("sum(rate(nv_inference_request_success%s[%s]))", tritonSel, ri), "success"},
				{fmt.Sprintf("sum by (reason) (rate(nv_inference_request_failure%s[%s]))", tritonSel, ri), "failure {{reason}}"},
			}},
		ts{title: "Availability", unit: unitRatio, thresholds: lowerLimit(AvailabilityObjective), max: one, w: 8,
			desc: "success / (success + failure), without failures with reason CANCELED (client cancellations). Objective " +
				"99.9 %, the dashed line. Empty while there is no traffic.",
			queries: []q{{tritonAvailability(ri), "availability"}}},
		ts{title: "Pending requests", unit: unitShort, min: zero, w: 8,
			desc: "nv_inference_pending_request_count: requests queued in Triton's scheduler and not yet executing, by model. " +
				"(Triton 22.07 and older do not have this gauge.)",
			queries: []q{{fmt.Sprintf("sum by (model) (nv_inference_pending_request_count%s)", tritonSel), "{{model}}"}}},
		ts{title: "Inference throughput", unit: unitOpsPS, min: zero, w: 12,
			desc: "nv_inference_count (inferences; a batch of n counts n) and nv_inference_exec_count (model executions) per " +
				"second, for every model of the server, composing models of an ensemble included.",
			queries: []q{
				{fmt.Sprintf("sum by (model) (rate(nv_inference_count[%s]))", ri), "inferences {{model}}"},
				{fmt.Sprintf("sum by (model) (rate(nv_inference_exec_count[%s]))", ri), "executions {{model}}"},
			}},
		ts{title: "Time per request by phase (mean)", unit: unitMicros, min: zero, w: 12,
			desc: "Cumulative Triton durations (µs) divided by inferences: queue (nv_inference_queue_duration_us), input " +
				"(nv_inference_compute_input_duration_us), model execution (nv_inference_compute_infer_duration_us), output " +
				"(nv_inference_compute_output_duration_us), by model.",
			queries: []q{
				{fmt.Sprintf("sum by (model) (rate(nv_inference_queue_duration_us%s[%s])) / sum by (model) (rate(nv_inference_count%s[%s]))", tritonSel, ri, tritonSel, ri), "queue {{model}}"},
				{fmt.Sprintf("sum by (model) (rate(nv_inference_compute_input_duration_us%s[%s])) / sum by (model) (rate(nv_inference_count%s[%s]))", tritonSel, ri, tritonSel, ri), "input {{model}}"},
				{fmt.Sprintf("sum by (model) (rate(nv_inference_compute_infer_duration_us%s[%s])) / sum by (model) (rate(nv_inference_count%s[%s]))", tritonSel, ri, tritonSel, ri), "infer {{model}}"},
				{fmt.Sprintf("sum by (model) (rate(nv_inference_compute_output_duration_us%s[%s])) / sum by (model) (rate(nv_inference_count%s[%s]))", tritonSel, ri, tritonSel, ri), "output {{model}}"},
			}},
	}
}

// tritonGPUPanels: the GPU as Triton reports it (no dcgm-exporter needed).
func tritonGPUPanels() []any {
	return []any{
		row("GPU (as Triton reports it)"),
		ts{title: "GPU utilization (Triton)", unit: unitRatio, min: zero, max: one, w: 8,
			desc:    "nv_gpu_utilization (0-1) per GPU UUID, as Triton samples it (--allow-gpu-metrics). dcgm-exporter's view is below.",
			queries: []q{{"nv_gpu_utilization", "{{gpu_uuid}}"}}},
		ts{title: "GPU memory (Triton)", unit: unitBytes, min: zero, w: 8,
			desc: "nv_gpu_memory_used_bytes and nv_gpu_memory_total_bytes per GPU UUID.",
			queries: []q{
				{"nv_gpu_memory_used_bytes", "used {{gpu_uuid}}"},
				{"nv_gpu_memory_total_bytes", "total {{gpu_uuid}}"},
			}},
		ts{title: "GPU power (Triton)", unit: unitWatt, min: zero, w: 8,
			desc: "nv_gpu_power_usage and nv_gpu_power_limit in watts per GPU UUID.",
			queries: []q{
				{"nv_gpu_power_usage", "usage {{gpu_uuid}}"},
				{"nv_gpu_power_limit", "limit {{gpu_uuid}}"},
			}},
	}
}

func tritonTotalRequests() st {
	return st{title: "Requests in the range", unit: unitShort,
		desc:    "Requests Triton finished over the time range (success + failure), from nv_inference_request_success and nv_inference_request_failure.",
		queries: []q{{fmt.Sprintf("sum(increase(nv_inference_request_success%s[%s])) + sum(increase(nv_inference_request_failure%s[%s]))", tritonSel, rr, tritonSel, rr), "requests"}}}
}

func tritonVLLMDashboard() *dashboard.DashboardBuilder {
	b := newDashboard("llmobs-"+backendTag(backend.Triton), "Triton: vLLM backend", backendTag(backend.Triton),
		"NVIDIA Triton serving a vLLM-backend model: Triton's request metrics (nv_*), the vLLM backend's metrics (vllm:*, "+
			"labels model and version; REPORT_CUSTOM_METRICS must be on), latency against the SLOs and the GPUs.").
		WithVariable(queryVar("model", "Model", "Triton model name (label model).",
			"nv_inference_request_success", "model", true, "")).
		WithVariable(gpuVar())
	items := []any{
		row("Service level"),
		st{title: "Availability", unit: unitRatio, thresholds: lowerLimit(AvailabilityObjective), decimals: ptr(3.0),
			desc:    "success / (success + failure without CANCELED) over the time range (objective 99.9 %).",
			queries: []q{{tritonAvailability(rr), "availability"}}},
		st{title: "TTFT p95", unit: unitSeconds, thresholds: upperLimit(TTFTThresholdSeconds),
			desc:    "95th percentile of the time to first token over the time range (SLO: at most 2 s), from the vLLM backend's vllm:time_to_first_token_seconds.",
			queries: []q{{quantile(0.95, tritonSel, rr, "vllm:time_to_first_token_seconds"), "p95"}}},
		st{title: "ITL p95", unit: unitSeconds, thresholds: upperLimit(ITLThresholdSeconds),
			desc: "95th percentile of the gap between outputs over the time range (SLO: at most 150 ms). The vLLM backend " +
				"reports it as vllm:time_per_output_token_seconds (fed from inter-token latencies); a backend that adopts the new " +
				"name vllm:inter_token_latency_seconds is read too.",
			queries: []q{{quantile(0.95, tritonSel, rr, "vllm:time_per_output_token_seconds", "vllm:inter_token_latency_seconds"), "p95"}}},
		tritonTotalRequests(),
	}
	items = append(items, tritonRequestPanels()...)
	items = append(items,
		row("Latency"),
		ts{title: "Time to first token (vLLM backend)", unit: unitSeconds, thresholds: upperLimit(TTFTThresholdSeconds), min: zero, w: 12,
			desc: "vllm:time_to_first_token_seconds from the Triton vLLM backend: p50/p95/p99 and the mean. Its buckets stop at " +
				"10 s. The dashed line is the SLO (2 s).",
			queries: latencyQueries(tritonSel, ri, "vllm:time_to_first_token_seconds")},
		ts{title: "Time to first response (Triton core)", unit: unitMillis, thresholds: upperLimit(TTFTThresholdSeconds * 1000), min: zero, w: 12,
			desc: "nv_inference_first_response_histogram_ms: Triton's own time from request to first response (needs " +
				"--metrics-config histogram_latencies=true; decoupled models only). Default buckets 100, 500, 2000, 5000 ms, so " +
				"quantiles are coarse but 2000 ms, the SLO, is an exact boundary.",
			queries: []q{
				{firstResponseQuantile(0.5, tritonSel, ri), "p50"},
				{firstResponseQuantile(0.95, tritonSel, ri), "p95"},
				{firstResponseQuantile(0.99, tritonSel, ri), "p99"},
			}},
		ts{title: "Inter-token latency (vLLM backend)", unit: unitSeconds, thresholds: upperLimit(ITLThresholdSeconds), min: zero, w: 12,
			desc: "vllm:time_per_output_token_seconds from the Triton vLLM backend (the gaps between outputs, one per engine " +
				"step): p50/p95/p99 and the mean. The dashed line is the SLO (150 ms).",
			queries: latencyQueries(tritonSel, ri, "vllm:time_per_output_token_seconds", "vllm:inter_token_latency_seconds")},
		ts{title: "End-to-end request latency (vLLM backend)", unit: unitSeconds, min: zero, w: 12,
			desc:    "vllm:e2e_request_latency_seconds from the Triton vLLM backend (buckets 1 s to 60 s): p50/p95/p99 and the mean.",
			queries: latencyQueries(tritonSel, ri, "vllm:e2e_request_latency_seconds")},

		row("Tokens"),
		ts{title: "Token throughput", unit: unitTokPS, min: zero, w: 12,
			desc: "vllm:prompt_tokens_total and vllm:generation_tokens_total per second, from the Triton vLLM backend.",
			queries: []q{
				{fmt.Sprintf("sum(rate(vllm:prompt_tokens_total%s[%s]))", tritonSel, ri), "prompt"},
				{fmt.Sprintf("sum(rate(vllm:generation_tokens_total%s[%s]))", tritonSel, ri), "generation"},
			}},
		ts{title: "Request lengths (mean)", unit: unitTokens, min: zero, w: 12,
			desc: "Mean prompt (vllm:request_prompt_tokens) and output (vllm:request_generation_tokens) length of finished requests. " +
				"The vLLM backend reports no running/waiting or KV cache gauges; Triton's pending count is above.",
			queries: []q{
				{mean(tritonSel, ri, "vllm:request_prompt_tokens"), "prompt"},
				{mean(tritonSel, ri, "vllm:request_generation_tokens"), "generation"},
			}},
	)
	items = append(items, tritonGPUPanels()...)
	items = append(items, gpuRow()...)
	return addAll(b, items...)
}

const trtSel = `{model=~"$trt_model"}`

// trtTPOT estimates the mean time per output token of the TensorRT-LLM model:
// (request time - time to first response) / (output tokens - 1 per request).
// TensorRT-LLM has no inter-token histogram; this is a mean, not a quantile.
func trtTPOT(sel, rng string) string {
	return fmt.Sprintf("(sum(rate(nv_inference_request_duration_us%s[%s])) / 1e6 - sum(rate(nv_inference_first_response_histogram_ms_sum%s[%s])) / 1e3) / "+
		"(sum(rate(nv_llm_output_token_len_sum%s[%s])) - sum(rate(nv_llm_output_token_len_count%s[%s])))",
		sel, rng, sel, rng, sel, rng, sel, rng)
}

func tritonTRTDashboard() *dashboard.DashboardBuilder {
	b := newDashboard("llmobs-"+backendTag(backend.TRT), "Triton: TensorRT-LLM", backendTag(backend.TRT),
		"NVIDIA Triton serving a TensorRT-LLM ensemble (preprocessing, tensorrt_llm, postprocessing): Triton's request "+
			"metrics, the TensorRT-LLM backend's engine metrics (nv_trt_llm_*, nv_llm_*), latency against the SLOs and the GPUs.").
		WithVariable(queryVar("model", "Model", "The Triton model clients call (usually the ensemble).",
			"nv_inference_request_success", "model", false, "ensemble")).
		WithVariable(queryVar("trt_model", "TensorRT-LLM model", "The tensorrt_llm model whose engine metrics (nv_trt_llm_*) to show.",
			"nv_trt_llm_request_metrics", "model", true, "")).
		WithVariable(gpuVar())
	items := []any{
		row("Service level"),
		st{title: "Availability", unit: unitRatio, thresholds: lowerLimit(AvailabilityObjective), decimals: ptr(3.0),
			desc:    "success / (success + failure without CANCELED) of the model clients call, over the time range (objective 99.9 %).",
			queries: []q{{tritonAvailability(rr), "availability"}}},
		st{title: "Time to first response p95", unit: unitMillis, thresholds: upperLimit(TTFTThresholdSeconds * 1000),
			desc: "95th percentile of nv_inference_first_response_histogram_ms over the time range (SLO: 2000 ms). TensorRT-LLM " +
				"has no TTFT histogram; Triton's first-response histogram needs histogram_latencies=true and a decoupled (streaming) model.",
			queries: []q{{firstResponseQuantile(0.95, tritonSel, rr), "p95"}}},
		st{title: "Mean time per output token", unit: unitSeconds, thresholds: upperLimit(ITLThresholdSeconds),
			desc: "Estimate over the time range: (request time - time to first response) / (output tokens - 1), from " +
				"nv_inference_request_duration_us, nv_inference_first_response_histogram_ms and nv_llm_output_token_len of the " +
				"TensorRT-LLM model. A mean, compared with the 150 ms ITL objective; TensorRT-LLM exports no inter-token histogram.",
			queries: []q{{trtTPOT(trtSel, rr), "TPOT"}}},
		tritonTotalRequests(),
	}
	items = append(items, tritonRequestPanels()...)
	items = append(items,
		row("Latency"),
		ts{title: "Time to first response", unit: unitMillis, thresholds: upperLimit(TTFTThresholdSeconds * 1000), min: zero, w: 8,
			desc: "nv_inference_first_response_histogram_ms of the called model: p50/p95/p99. Default buckets 100, 500, 2000, " +
				"5000 ms; 2000 ms (the SLO, dashed) is an exact boundary. Needs histogram_latencies=true and a decoupled model.",
			queries: []q{
				{firstResponseQuantile(0.5, tritonSel, ri), "p50"},
				{firstResponseQuantile(0.95, tritonSel, ri), "p95"},
				{firstResponseQuantile(0.99, tritonSel, ri), "p99"},
			}},
		ts{title: "Mean time per output token (estimate)", unit: unitSeconds, thresholds: upperLimit(ITLThresholdSeconds), min: zero, w: 8,
			desc: "(request time - time to first response) / (output tokens - 1) of the TensorRT-LLM model, from " +
				"nv_inference_request_duration_us, nv_inference_first_response_histogram_ms and nv_llm_output_token_len. A mean " +
				"over requests, not a per-gap quantile: TensorRT-LLM exports no inter-token histogram (the load generator " +
				"dashboard has the client's ITL). The dashed line is the ITL objective (150 ms).",
			queries: []q{{trtTPOT(trtSel, ri), "mean TPOT"}}},
		ts{title: "Request time (mean)", unit: unitSeconds, min: zero, w: 8,
			desc: "nv_inference_request_duration_us / nv_inference_request_success of the called model: mean end-to-end time of " +
				"a request inside Triton.",
			queries: []q{{fmt.Sprintf("sum(rate(nv_inference_request_duration_us%s[%s])) / 1e6 / sum(rate(nv_inference_request_success%s[%s]))",
				tritonSel, ri, tritonSel, ri), "mean"}}},

		row("TensorRT-LLM engine"),
		ts{title: "Requests in the engine", unit: unitShort, min: zero, w: 8,
			desc: "nv_trt_llm_request_metrics by request_type: active, scheduled, context (in prefill), waiting; max is the " +
				"engine's limit.",
			queries: []q{{fmt.Sprintf("sum by (request_type) (nv_trt_llm_request_metrics%s)", trtSel), "{{request_type}}"}}},
		ts{title: "KV cache usage", unit: unitRatio, min: zero, max: one, w: 8,
			thresholds: steps("green", 0.8, "orange", 0.95, "red"),
			desc:       "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"fraction\"}: used / max KV cache blocks.",
			queries:    []q{{`nv_trt_llm_kv_cache_block_metrics{model=~"$trt_model",kv_cache_block_type="fraction"}`, "{{model}}"}}},
		ts{title: "KV cache blocks", unit: unitShort, min: zero, w: 8,
			desc:    "nv_trt_llm_kv_cache_block_metrics: used, free and max blocks (tokens_per is the block size in tokens).",
			queries: []q{{`sum by (kv_cache_block_type) (nv_trt_llm_kv_cache_block_metrics{model=~"$trt_model",kv_cache_block_type=~"used|free|max"})`, "{{kv_cache_block_type}}"}}},
		ts{title: "Token throughput", unit: unitTokPS, min: zero, w: 8,
			desc: "Input and output tokens per second of finished requests, from the sums of nv_llm_input_token_len and " +
				"nv_llm_output_token_len.",
			queries: []q{
				{fmt.Sprintf("sum(rate(nv_llm_input_token_len_sum%s[%s]))", trtSel, ri), "input"},
				{fmt.Sprintf("sum(rate(nv_llm_output_token_len_sum%s[%s]))", trtSel, ri), "output"},
			}},
		ts{title: "Request lengths (mean)", unit: unitTokens, min: zero, w: 8,
			desc: "Mean input and output tokens per request (nv_llm_input_token_len, nv_llm_output_token_len).",
			queries: []q{
				{mean(trtSel, ri, "nv_llm_input_token_len"), "input"},
				{mean(trtSel, ri, "nv_llm_output_token_len"), "output"},
			}},
		ts{title: "In-flight batcher", unit: unitShort, min: zero, w: 8,
			desc: "nv_trt_llm_inflight_batcher_metrics: requests in generation, paused requests and context tokens of the " +
				"current iteration.",
			queries: []q{{`sum by (inflight_batcher_specific_metric) (nv_trt_llm_inflight_batcher_metrics{model=~"$trt_model",inflight_batcher_specific_metric=~"generation_requests|paused_requests|total_context_tokens"})`,
				"{{inflight_batcher_specific_metric}}"}}},
		ts{title: "Runtime memory", unit: unitBytes, min: zero, w: 24,
			desc:    "nv_trt_llm_runtime_memory_metrics by memory_type: the engine's GPU, CPU and pinned memory.",
			queries: []q{{fmt.Sprintf("sum by (memory_type) (nv_trt_llm_runtime_memory_metrics%s)", trtSel), "{{memory_type}}"}}},
	)
	items = append(items, tritonGPUPanels()...)
	items = append(items, gpuRow()...)
	return addAll(b, items...)
}
