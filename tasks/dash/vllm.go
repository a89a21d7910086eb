package dash

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
)

const vllmSel = `{model_name=~"$model"}`

// vLLM's HTTP metrics (prometheus-fastapi-instrumentator) have no model label.
const (
	httpAll = `http_requests_total{handler=~"/v1/.*"}`
	http5xx = `http_requests_total{handler=~"/v1/.*",status="5xx"}`
)

func vllmAvailability(rng string) string {
	return fmt.Sprintf("1 - ((sum(rate(%s[%s])) or vector(0)) / sum(rate(%s[%s])))", http5xx, rng, httpAll, rng)
}

func vllmTTFTShare(le string) string {
	return fmt.Sprintf(`sum(rate(vllm:time_to_first_token_seconds_bucket{model_name=~"$model",le=~%s}[%s]))`, le, ri)
}

func vllmDashboard() *dashboard.DashboardBuilder {
	b := newDashboard("llmobs-"+backendTag(backend.VLLM), "vLLM", backendTag(backend.VLLM),
		"vLLM's OpenAI API server (V1 engine, 0.10 and newer): requests, latency against the SLOs, throughput, scheduler, "+
			"KV cache and the GPUs. Works across the renames of 0.10-0.15 (inter_token_latency / time_per_output_token, "+
			"kv_cache_usage / gpu_cache_usage).").
		WithVariable(queryVar("model", "Model", "Served model name (vLLM label model_name).",
			"vllm:num_requests_running", "model_name", true, "")).
		WithVariable(gpuVar())
	itl := vllmITLNames
	ttftLo, ttftHi := vllmTTFTShare(leMatcher(vllmTTFTBelow)), vllmTTFTShare(leMatcher(vllmTTFTAbove))
	ttftCount := fmt.Sprintf(`sum(rate(vllm:time_to_first_token_seconds_count%s[%s]))`, vllmSel, ri)
	items := []any{
		row("Service level"),
		st{title: "Availability", unit: unitRatio, thresholds: lowerLimit(AvailabilityObjective), decimals: ptr(3.0),
			desc: "Share of /v1/* HTTP answers that are not 5xx over the time range (objective 99.9 %). vLLM has no failure " +
				"counter (vllm:request_failure_total does not exist); http_requests_total has no model label, so this counts " +
				"every model of the server.",
			queries: []q{{vllmAvailability(rr), "availability"}}},
		st{title: "TTFT p95", unit: unitSeconds, thresholds: upperLimit(TTFTThresholdSeconds),
			desc: "95th percentile of the time to first token over the time range (SLO: at most 2 s), from " +
				"vllm:time_to_first_token_seconds. Its buckets are 1.0 and 2.5 around the objective, so values between them are interpolated.",
			queries: []q{{quantile(0.95, vllmSel, rr, "vllm:time_to_first_token_seconds"), "p95"}}},
		st{title: "ITL p95", unit: unitSeconds, thresholds: upperLimit(ITLThresholdSeconds),
			desc: "95th percentile of the inter-token latency over the time range (SLO: at most 150 ms), from " +
				"vllm:inter_token_latency_seconds or, before 0.10.2, vllm:time_per_output_token_seconds (same data).",
			queries: []q{{quantile(0.95, vllmSel, rr, itl...), "p95"}}},
		st{title: "Output tokens per second", unit: unitTokPS,
			desc:    "Generated tokens per second (vllm:generation_tokens_total), averaged over the time range.",
			queries: []q{{fmt.Sprintf("sum(rate(vllm:generation_tokens_total%s[%s]))", vllmSel, rr), "tokens/s"}}},

		row("Requests"),
		ts{title: "Requests by HTTP status", unit: unitReqPS, min: zero, w: 8,
			desc: "Answers of the OpenAI API (/v1/*) per second by status class, from http_requests_total " +
				"(prometheus-fastapi-instrumentator; no model label). 5xx are server failures and count against availability; " +
				"4xx are the client's.",
			queries: []q{{fmt.Sprintf("sum by (status) (rate(%s[%s]))", httpAll, ri), "HTTP {{status}}"}}},
		ts{title: "Finished requests by reason", unit: unitReqPS, min: zero, w: 8,
			desc: "vllm:request_success_total by finished_reason: stop (EOS or stop string), length (max_tokens), abort, error " +
				"(newer vLLM; answered with HTTP 500). Client disconnects are not counted as abort in V1 (vLLM issue #31503).",
			queries: []q{{fmt.Sprintf("sum by (finished_reason) (rate(vllm:request_success_total%s[%s]))", vllmSel, ri), "{{finished_reason}}"}}},
		ts{title: "Availability", unit: unitRatio, thresholds: lowerLimit(AvailabilityObjective), max: one, w: 8,
			desc:    "Share of /v1/* answers that are not 5xx (objective 99.9 %, the dashed line). Empty while there is no traffic.",
			queries: []q{{vllmAvailability(ri), "availability"}}},

		row("Latency"),
		ts{title: "Time to first token", unit: unitSeconds, thresholds: upperLimit(TTFTThresholdSeconds), min: zero, w: 8,
			desc: "vllm:time_to_first_token_seconds: from the request's arrival to its first output token, queueing and prefill " +
				"included. p50/p95/p99 and the mean; the dashed line is the SLO (2 s).",
			queries: latencyQueries(vllmSel, ri, "vllm:time_to_first_token_seconds")},
		ts{title: "Inter-token latency", unit: unitSeconds, thresholds: upperLimit(ITLThresholdSeconds), min: zero, w: 8,
			desc: "Gap between two outputs of a running request, one observation per engine step: " +
				"vllm:inter_token_latency_seconds (0.10.2+) or vllm:time_per_output_token_seconds (older; same data, removed " +
				"~0.15). The dashed line is the SLO (150 ms).",
			queries: latencyQueries(vllmSel, ri, itl...)},
		ts{title: "End-to-end request latency", unit: unitSeconds, min: zero, w: 8,
			desc: "vllm:e2e_request_latency_seconds: from arrival to the last token of finished requests. It grows with the " +
				"number of output tokens, so it has no SLO of its own.",
			queries: latencyQueries(vllmSel, ri, "vllm:e2e_request_latency_seconds")},
		ts{title: "Share of requests with TTFT within 2 s", unit: unitRatio, thresholds: lowerLimit(LatencyObjective), max: one, w: 12,
			desc: "The TTFT SLI: share of requests whose first token came within 2 s (objective 95 %). vLLM's buckets are 1.0 and " +
				"2.5 around 2 s, so the true share lies between the two bounds; the estimate interpolates linearly between " +
				"them, as the recording rule slo:sli_error:ratio_rate* does.",
			queries: []q{
				{fmt.Sprintf("%s / %s", ttftLo, ttftCount), "lower bound (TTFT <= 1 s)"},
				{fmt.Sprintf("(%s + (%s - %s) * (%g - %g) / (%g - %g)) / %s", ttftLo, ttftHi, ttftLo,
					TTFTThresholdSeconds, vllmTTFTBelow, vllmTTFTAbove, vllmTTFTBelow, ttftCount), "estimate (TTFT <= 2 s)"},
				{fmt.Sprintf("%s / %s", ttftHi, ttftCount), "upper bound (TTFT <= 2.5 s)"},
			}},
		ts{title: "Request phases (mean)", unit: unitSeconds, min: zero, w: 12,
			desc: "Mean time finished requests spent waiting in the queue (vllm:request_queue_time_seconds), in prefill " +
				"(vllm:request_prefill_time_seconds) and in decode (vllm:request_decode_time_seconds).",
			queries: []q{
				{mean(vllmSel, ri, "vllm:request_queue_time_seconds"), "queue"},
				{mean(vllmSel, ri, "vllm:request_prefill_time_seconds"), "prefill"},
				{mean(vllmSel, ri, "vllm:request_decode_time_seconds"), "decode"},
			}},

		row("Throughput and scheduler"),
		ts{title: "Token throughput", unit: unitTokPS, min: zero, w: 8,
			desc: "Prompt tokens processed (vllm:prompt_tokens_total; includes prompts of aborted requests) and tokens generated " +
				"(vllm:generation_tokens_total) per second.",
			queries: []q{
				{fmt.Sprintf("sum(rate(vllm:prompt_tokens_total%s[%s]))", vllmSel, ri), "prompt"},
				{fmt.Sprintf("sum(rate(vllm:generation_tokens_total%s[%s]))", vllmSel, ri), "generation"},
			}},
		ts{title: "Running and waiting requests", unit: unitShort, min: zero, w: 8,
			desc: "vllm:num_requests_running (in the running batch) and vllm:num_requests_waiting (queued). A waiting queue that " +
				"stays above zero means the server is saturated (max_num_seqs or KV cache); TTFT grows with it.",
			queries: []q{
				{fmt.Sprintf("sum(vllm:num_requests_running%s)", vllmSel), "running"},
				{fmt.Sprintf("sum(vllm:num_requests_waiting%s)", vllmSel), "waiting"},
			}},
		ts{title: "Request lengths (mean)", unit: unitTokens, min: zero, w: 8,
			desc: "Mean prompt length (vllm:request_prompt_tokens), mean output length (vllm:request_generation_tokens) of " +
				"finished requests, and mean tokens per engine step (vllm:iteration_tokens_total, a histogram despite its name).",
			queries: []q{
				{mean(vllmSel, ri, "vllm:request_prompt_tokens"), "prompt"},
				{mean(vllmSel, ri, "vllm:request_generation_tokens"), "generation"},
				{mean(vllmSel, ri, "vllm:iteration_tokens_total"), "tokens per step"},
			}},

		row("KV cache"),
		ts{title: "KV cache usage", unit: unitRatio, min: zero, max: one, w: 8,
			thresholds: steps("green", 0.8, "orange", 0.95, "red"),
			desc: "Share of the KV cache blocks in use: vllm:kv_cache_usage_perc (0.9.2+) or vllm:gpu_cache_usage_perc (removed " +
				"~0.12; same value). Near 100 % new requests wait and running ones can be preempted.",
			queries: []q{{fmt.Sprintf("vllm:kv_cache_usage_perc%s or vllm:gpu_cache_usage_perc%s", vllmSel, vllmSel),
				"{{model_name}} engine {{engine}}"}}},
		ts{title: "Prefix cache hit rate", unit: unitRatio, min: zero, max: one, w: 8,
			desc: "Share of prompt tokens found in the prefix cache: rate(vllm:prefix_cache_hits_total) / " +
				"rate(vllm:prefix_cache_queries_total). Zero when prefix caching is off.",
			queries: []q{{fmt.Sprintf("sum(rate(vllm:prefix_cache_hits_total%s[%s])) / sum(rate(vllm:prefix_cache_queries_total%s[%s]))",
				vllmSel, ri, vllmSel, ri), "hit rate"}}},
		ts{title: "Preemptions", unit: unitOpsPS, min: zero, w: 8,
			desc: "vllm:num_preemptions_total per second: running requests evicted because the KV cache ran out; they are " +
				"recomputed later, which costs latency.",
			queries: []q{{fmt.Sprintf("sum(rate(vllm:num_preemptions_total%s[%s]))", vllmSel, ri), "preemptions/s"}}},
	}
	return addAll(b, append(items, gpuRow()...)...)
}
