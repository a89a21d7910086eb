package dash

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// The load generator (tasks/load) labels every series with backend and model
// (the served model name, or the Triton model it calls).
const lgSel = `{model=~"$model"}`

// Server-side counterparts. The client's model is vLLM's model_name or
// Triton's model; each backend contributes the branch whose metrics it has,
// so one query serves all three.
var (
	srvVLLMSel   = `{model_name=~"$model"}`
	srvTritonSel = `{model=~"$model"}`
)

// trtOnly restricts Triton core series to the models that export
// TensorRT-LLM's token histograms (the tensorrt_llm model of the ensemble).
const trtOnly = "and on (job, instance, model) group by (job, instance, model) (nv_llm_output_token_len_count)"

func withSource(expr, source string) string {
	return fmt.Sprintf(`label_replace(%s, "source", "%s", "", "")`, expr, source)
}

func serverTTFT(qv float64) string {
	vllm := fmt.Sprintf("histogram_quantile(%g, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket%s[%s]) or rate(vllm:time_to_first_token_seconds_bucket%s[%s])))",
		qv, srvVLLMSel, ri, srvTritonSel, ri)
	triton := fmt.Sprintf("histogram_quantile(%g, sum by (le) (rate(nv_inference_first_response_histogram_ms_bucket%s[%s]))) / 1000", qv, srvTritonSel, ri)
	return fmt.Sprintf("%s or %s", withSource(vllm, "server: vllm:time_to_first_token_seconds"),
		withSource(triton, "server: nv_inference_first_response_histogram_ms"))
}

func serverITL(qv float64) string {
	var parts []string
	for _, n := range vllmITLNames {
		parts = append(parts, fmt.Sprintf("rate(%s_bucket%s[%s])", n, srvVLLMSel, ri), fmt.Sprintf("rate(%s_bucket%s[%s])", n, srvTritonSel, ri))
	}
	vllm := fmt.Sprintf("histogram_quantile(%g, sum by (le) (%s))", qv, joinOr(parts))
	trt := fmt.Sprintf("(sum(rate(nv_inference_request_duration_us[%[1]s]) %[2]s) / 1e6 - sum(rate(nv_inference_first_response_histogram_ms_sum[%[1]s]) %[2]s) / 1e3) / "+
		"(sum(rate(nv_llm_output_token_len_sum[%[1]s])) - sum(rate(nv_llm_output_token_len_count[%[1]s])))", ri, trtOnly)
	return fmt.Sprintf("%s or %s", withSource(vllm, fmt.Sprintf("server p%g: vLLM inter-token histogram", qv*100)),
		withSource(trt, "server: TensorRT-LLM mean time per output token"))
}

func serverE2E(qv float64) string {
	vllm := fmt.Sprintf("histogram_quantile(%g, sum by (le) (rate(vllm:e2e_request_latency_seconds_bucket%s[%s]) or rate(vllm:e2e_request_latency_seconds_bucket%s[%s])))",
		qv, srvVLLMSel, ri, srvTritonSel, ri)
	trt := fmt.Sprintf("sum(rate(nv_inference_request_duration_us%s[%s])) / 1e6 / sum(rate(nv_inference_request_success%s[%s]))",
		srvTritonSel, ri, srvTritonSel, ri)
	return fmt.Sprintf("%s or %s", withSource(vllm, fmt.Sprintf("server p%g: vllm:e2e_request_latency_seconds", qv*100)),
		withSource(trt, "server: Triton mean request time"))
}

func joinOr(parts []string) string {
	s := ""
	for i, p := range parts {
		if i > 0 {
			s += " or "
		}
		s += p
	}
	return s
}

func clientLatency(metric string, rng string) []q {
	return []q{
		{quantile(0.5, lgSel, rng, metric), "client p50"},
		{quantile(0.95, lgSel, rng, metric), "client p95"},
		{quantile(0.99, lgSel, rng, metric), "client p99"},
	}
}

func loadgenDashboard() *dashboard.DashboardBuilder {
	b := newDashboard("llmobs-loadgen", "Load generator: client and server", "loadgen",
		"What the load generator (mage load; Prometheus job loadgen) measures as a client — TTFT, ITL and end-to-end "+
			"latency from its intended send times, errors, throughput — beside what the server reports for the same model.").
		WithVariable(queryVar("model", "Model", "Model the load generator calls (its model label).",
			"loadgen_requests_total", "model", true, ""))
	clientAvail := func(rng string) string {
		return fmt.Sprintf(`sum(rate(loadgen_requests_total{model=~"$model",outcome="ok"}[%s])) / sum(rate(loadgen_requests_total{model=~"$model",outcome=~"ok|failed"}[%s]))`, rng, rng)
	}
	items := []any{
		row("Client view"),
		st{title: "Client availability", unit: unitRatio, thresholds: lowerLimit(AvailabilityObjective), decimals: ptr(3.0),
			desc: "ok / (ok + failed) of the load generator's requests over the time range (loadgen_requests_total; " +
				"cancelled requests excluded). Counts failures the server cannot see (connection errors, timeouts, broken streams).",
			queries: []q{{clientAvail(rr), "availability"}}},
		st{title: "Client TTFT p95", unit: unitSeconds, thresholds: upperLimit(TTFTThresholdSeconds),
			desc:    "95th percentile of loadgen_ttft_seconds over the time range, from the intended send time (SLO: 2 s).",
			queries: []q{{quantile(0.95, lgSel, rr, "loadgen_ttft_seconds"), "p95"}}},
		st{title: "Client ITL p95", unit: unitSeconds, thresholds: upperLimit(ITLThresholdSeconds),
			desc:    "95th percentile of loadgen_itl_seconds (gaps between content chunks) over the time range (SLO: 150 ms).",
			queries: []q{{quantile(0.95, lgSel, rr, "loadgen_itl_seconds"), "p95"}}},
		st{title: "Requests in flight", unit: unitShort,
			desc:    "loadgen_in_flight_requests: requests sent and not yet finished.",
			queries: []q{{fmt.Sprintf("sum(loadgen_in_flight_requests%s)", lgSel), "in flight"}}},

		row("Latency: client and server"),
		ts{title: "Time to first token", unit: unitSeconds, thresholds: upperLimit(TTFTThresholdSeconds), min: zero, w: 8,
			desc: "Client: loadgen_ttft_seconds (first content chunk, from the intended send time, so client-side queueing " +
				"shows). Server p95: vllm:time_to_first_token_seconds (vLLM, Triton vLLM backend) or Triton's " +
				"nv_inference_first_response_histogram_ms (TensorRT-LLM). The gap is network, HTTP and client queueing. Dashed: SLO 2 s.",
			queries: append(clientLatency("loadgen_ttft_seconds", ri), q{serverTTFT(0.95), "{{source}} p95"})},
		ts{title: "Inter-token latency", unit: unitSeconds, thresholds: upperLimit(ITLThresholdSeconds), min: zero, w: 8,
			desc: "Client: loadgen_itl_seconds (gaps between content chunks). Server: the vLLM inter-token histogram's p95 " +
				"(vllm:inter_token_latency_seconds or vllm:time_per_output_token_seconds) or, for TensorRT-LLM, which has no such " +
				"histogram, the mean time per output token estimated from Triton's counters. Dashed: SLO 150 ms.",
			queries: append(clientLatency("loadgen_itl_seconds", ri), q{serverITL(0.95), "{{source}}"})},
		ts{title: "End-to-end latency", unit: unitSeconds, min: zero, w: 8,
			desc: "Client: loadgen_e2e_seconds (to the end of the response, from the intended send time). Server: p95 of " +
				"vllm:e2e_request_latency_seconds, or Triton's mean request time (nv_inference_request_duration_us) for TensorRT-LLM.",
			queries: append(clientLatency("loadgen_e2e_seconds", ri), q{serverE2E(0.95), "{{source}}"})},

		row("Requests and throughput"),
		ts{title: "Requests: client outcomes and server completions", unit: unitReqPS, min: zero, w: 8,
			desc: "loadgen_requests_total by outcome (ok, failed, canceled) beside the requests the server finished " +
				"(vllm:request_success_total, or nv_inference_request_success for Triton).",
			queries: []q{
				{fmt.Sprintf("sum by (outcome) (rate(loadgen_requests_total%s[%s]))", lgSel, ri), "client {{outcome}}"},
				{fmt.Sprintf("sum(rate(vllm:request_success_total%s[%s])) or sum(rate(nv_inference_request_success%s[%s]))", srvVLLMSel, ri, srvTritonSel, ri), "server finished"},
			}},
		ts{title: "Client errors by kind", unit: unitReqPS, min: zero, w: 8,
			desc: "loadgen_errors_total by kind: http_4xx, http_5xx, connect, timeout, stream_error (an error event inside a " +
				"200 stream), stream_truncated, empty_output, canceled.",
			queries: []q{{fmt.Sprintf("sum by (kind) (rate(loadgen_errors_total%s[%s]))", lgSel, ri), "{{kind}}"}}},
		ts{title: "Client availability", unit: unitRatio, thresholds: lowerLimit(AvailabilityObjective), max: one, w: 8,
			desc:    "ok / (ok + failed) per rate interval (objective 99.9 %, dashed).",
			queries: []q{{clientAvail(ri), "availability"}}},
		ts{title: "Output tokens: client and server", unit: unitTokPS, min: zero, w: 12,
			desc: "Output tokens of successful requests the client received (loadgen_output_tokens_total) beside the tokens " +
				"the server generated (vllm:generation_tokens_total, or nv_llm_output_token_len for TensorRT-LLM). The server " +
				"also counts tokens of requests the client gave up on.",
			queries: []q{
				{fmt.Sprintf("sum(rate(loadgen_output_tokens_total%s[%s]))", lgSel, ri), "client"},
				{fmt.Sprintf("sum(rate(vllm:generation_tokens_total%s[%s]) or rate(vllm:generation_tokens_total%s[%s])) or sum(rate(nv_llm_output_token_len_sum[%s]))",
					srvVLLMSel, ri, srvTritonSel, ri, ri), "server"},
			}},
		ts{title: "Scheduling lag", unit: unitSeconds, min: zero, w: 12,
			desc: "loadgen_scheduling_lag_seconds: actual send time minus intended send time. When it grows the generator " +
				"itself (or its concurrency cap) holds requests back; the client latencies above include that wait, so " +
				"coordinated omission does not hide it.",
			queries: []q{
				{quantile(0.5, lgSel, ri, "loadgen_scheduling_lag_seconds"), "p50"},
				{quantile(0.99, lgSel, ri, "loadgen_scheduling_lag_seconds"), "p99"},
			}},
	}
	return addAll(b, items...)
}
