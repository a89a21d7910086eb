package dash

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The service-level objectives. The dashboards draw their thresholds at these
// values and the recording and alerting rules (rules.go) are built from them.
const (
	// TTFTThresholdSeconds: a request is good when its time to first token is
	// at most this long.
	TTFTThresholdSeconds = 2.0
	// ITLThresholdSeconds: a gap between two streamed outputs is good when it
	// is at most this long.
	ITLThresholdSeconds = 0.15
	// AvailabilityObjective: the share of requests that must not fail.
	AvailabilityObjective = 0.999
	// LatencyObjective: the share of requests (TTFT) or of token gaps (ITL)
	// that must be good. 0.95 is the same promise as "p95 <= threshold",
	// which is how the load generator states these SLOs.
	LatencyObjective = 0.95
)

// Windows of the SRE workbook's multi-window, multi-burn-rate alerts
// (chapter 5, "Alerting on SLOs", table 5-8), and the short windows that the
// recording rules must provide for them.
var (
	// shortWindows are evaluated with the global evaluation interval.
	shortWindows = []string{"5m", "30m", "1h"}
	// longWindows are expensive (up to three days of raw samples) and change
	// slowly; their group is evaluated once a minute.
	longWindows = []string{"2h", "6h", "1d", "3d"}
)

// burnAlert is one severity of a multi-window alert: it fires when the error
// ratio over both the long and the short window exceeds factor x the budget.
type burnAlert struct {
	severity    string
	long, short string
	factor      float64
}

var burnAlerts = []burnAlert{
	// page: 2% of a 30-day budget spent in 1 h, or 5% in 6 h.
	{"page", "1h", "5m", 14.4},
	{"page", "6h", "30m", 6},
	// ticket: 10% of the budget in 1 d, or 10% in 3 d.
	{"ticket", "1d", "2h", 3},
	{"ticket", "3d", "6h", 1},
}

// sliSource is one way to compute an SLI from one server family's metrics.
// errors and total return per-second rates over a window, aggregated by the
// SLI labels (job, backend, model).
type sliSource struct {
	name          string
	errors, total func(w string) string
	metrics       []string // the families it reads, for the documentation
}

// SLO is one objective with the sources its SLI can come from, in order of
// preference: where two sources give a series for the same job, backend and
// model, the first wins (PromQL `or`).
type SLO struct {
	Name        string // the value of the slo label: availability, ttft, itl
	Title       string
	Alert       string // alert name
	Objective   float64
	Threshold   float64 // seconds for latency SLOs; 0 for availability
	Description string
	sources     []sliSource
}

// Budget is the error budget: the share of bad events the objective allows.
func (s SLO) Budget() float64 { return 1 - s.Objective }

// sliLabels are the labels every SLI series carries.
const sliLabels = "job, backend, model"

// leMatcher is a regular expression for a histogram bucket's le label that
// matches the forms servers write (Python "1.0", C++ "1" or "1.000000", Go
// "1") and the one Prometheus 3 normalises classic buckets to.
func leMatcher(v float64) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	q := regexp.QuoteMeta(s)
	if strings.Contains(s, ".") {
		return "`" + q + "0*`"
	}
	return "`" + q + `(\.0*)?` + "`"
}

// vllmModel renames vLLM's model_name label to model (the Triton vLLM
// backend already calls it model), so one rule serves both servers.
func vllmModel(expr string) string {
	return fmt.Sprintf(`label_replace(%s, "model", "$1", "model_name", "(.+)")`, expr)
}

// rateOr is rate() over the first of several metric names that exists
// (names renamed across versions carry the same data).
func rateOr(w, sel string, names ...string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("rate(%s%s[%s])", n, sel, w)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "(" + strings.Join(parts, " or ") + ")"
}

// vllmV1 is the selector of vLLM's OpenAI API requests in
// prometheus-fastapi-instrumentator's http_requests_total.
const vllmV1 = `handler=~"/v1/.*"`

// vllmInstanceModel joins the served model name onto vLLM's per-instance HTTP
// metrics, which have no model label.
const vllmInstanceModel = `* on (job, backend, instance) group_left (model) group by (job, backend, instance, model) (label_replace(vllm:num_requests_running, "model", "$1", "model_name", "(.*)"))`

// Metric names that changed between vLLM versions.
var (
	vllmITLNames = []string{"vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"}
	vllmKVNames  = []string{"vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"}
)

var availabilitySLO = SLO{
	Name: "availability", Title: "Availability", Alert: "LLMAvailabilityBudgetBurn",
	Objective: AvailabilityObjective,
	Description: "Share of inference requests that did not fail on the server side. vLLM: HTTP 5xx answers of /v1/* among " +
		"all /v1/* answers (http_requests_total; vLLM has no failure counter). Triton: nv_inference_request_failure " +
		"among success + failure, without reason=\"CANCELED\" (a client that cancels is not a server failure).",
	sources: []sliSource{
		{
			name:    "vllm-http",
			metrics: []string{"http_requests_total", "vllm:num_requests_running"},
			errors: func(w string) string {
				all := fmt.Sprintf(`sum by (job, backend, instance) (rate(http_requests_total{%s}[%s]))`, vllmV1, w)
				bad := fmt.Sprintf(`sum by (job, backend, instance) (rate(http_requests_total{%s,status="5xx"}[%s]))`, vllmV1, w)
				return fmt.Sprintf(`sum by (%s) ((%s or 0 * %s) %s)`, sliLabels, bad, all, vllmInstanceModel)
			},
			total: func(w string) string {
				all := fmt.Sprintf(`sum by (job, backend, instance) (rate(http_requests_total{%s}[%s]))`, vllmV1, w)
				return fmt.Sprintf(`sum by (%s) (%s %s)`, sliLabels, all, vllmInstanceModel)
			},
		},
		{
			name:    "triton",
			metrics: []string{"nv_inference_request_failure", "nv_inference_request_success"},
			errors: func(w string) string {
				return fmt.Sprintf(`sum by (%s) (rate(nv_inference_request_failure{reason!="CANCELED"}[%s]))`, sliLabels, w)
			},
			total: func(w string) string {
				return fmt.Sprintf(`(sum by (%s) (rate(nv_inference_request_failure{reason!="CANCELED"}[%s])) + sum by (%s) (rate(nv_inference_request_success[%s])))`,
					sliLabels, w, sliLabels, w)
			},
		},
	},
}

// The vLLM TTFT buckets around the threshold: 2 s is not a bucket boundary
// (…, 1.0, 2.5, …), so the share under 2 s is interpolated linearly inside
// the (1.0, 2.5] bucket — the same assumption histogram_quantile makes. The
// true share lies between the 1.0 and the 2.5 bucket; the dashboard shows both
// bounds.
const (
	vllmTTFTBelow = 1.0
	vllmTTFTAbove = 2.5
)

func vllmTTFTBucket(w string, le float64) string {
	return fmt.Sprintf(`sum by (%s) (%s)`, sliLabels,
		vllmModel(fmt.Sprintf(`rate(vllm:time_to_first_token_seconds_bucket{le=~%s}[%s])`, leMatcher(le), w)))
}

var ttftSLO = SLO{
	Name: "ttft", Title: "Time to first token", Alert: "LLMTTFTBudgetBurn",
	Objective: LatencyObjective, Threshold: TTFTThresholdSeconds,
	Description: "Share of requests whose time to first token is at most 2 s. Triton: nv_inference_first_response_histogram_ms, " +
		"whose 2000 ms bucket is exact (needs --metrics-config histogram_latencies=true and a decoupled model). vLLM and the " +
		"Triton vLLM backend: vllm:time_to_first_token_seconds, which has buckets 1.0 and 2.5 but none at 2.0; the share " +
		"under 2 s is interpolated linearly between them, as histogram_quantile does.",
	sources: []sliSource{
		{
			name:    "triton-first-response",
			metrics: []string{"nv_inference_first_response_histogram_ms"},
			errors: func(w string) string {
				return fmt.Sprintf(`(sum by (%s) (rate(nv_inference_first_response_histogram_ms_count[%s])) - sum by (%s) (rate(nv_inference_first_response_histogram_ms_bucket{le=~%s}[%s])))`,
					sliLabels, w, sliLabels, leMatcher(TTFTThresholdSeconds*1000), w)
			},
			total: func(w string) string {
				return fmt.Sprintf(`sum by (%s) (rate(nv_inference_first_response_histogram_ms_count[%s]))`, sliLabels, w)
			},
		},
		{
			name:    "vllm-ttft",
			metrics: []string{"vllm:time_to_first_token_seconds"},
			errors: func(w string) string {
				lo, hi := vllmTTFTBucket(w, vllmTTFTBelow), vllmTTFTBucket(w, vllmTTFTAbove)
				good := fmt.Sprintf(`(%s + (%s - %s) * (%g - %g) / (%g - %g))`, lo, hi, lo,
					TTFTThresholdSeconds, vllmTTFTBelow, vllmTTFTAbove, vllmTTFTBelow)
				return fmt.Sprintf(`(%s - %s)`, vllmTotal(w, "vllm:time_to_first_token_seconds"), good)
			},
			total: func(w string) string { return vllmTotal(w, "vllm:time_to_first_token_seconds") },
		},
	},
}

func vllmTotal(w string, names ...string) string {
	counts := make([]string, len(names))
	for i, n := range names {
		counts[i] = n + "_count"
	}
	return fmt.Sprintf(`sum by (%s) (%s)`, sliLabels, vllmModel(rateOr(w, "", counts...)))
}

var itlSLO = SLO{
	Name: "itl", Title: "Inter-token latency", Alert: "LLMITLBudgetBurn",
	Objective: LatencyObjective, Threshold: ITLThresholdSeconds,
	Description: "Share of gaps between streamed outputs that are at most 150 ms (0.15 is a bucket boundary, so the share is exact). " +
		"vLLM: vllm:inter_token_latency_seconds (0.10.2+) or vllm:time_per_output_token_seconds (older vLLM and the Triton " +
		"vLLM backend, same data). TensorRT-LLM exports no inter-token histogram, so this SLO has no server-side SLI there; " +
		"the load generator dashboard shows the client's view.",
	sources: []sliSource{
		{
			name:    "vllm-itl",
			metrics: vllmITLNames,
			errors: func(w string) string {
				buckets := make([]string, len(vllmITLNames))
				for i, n := range vllmITLNames {
					buckets[i] = n + "_bucket"
				}
				good := fmt.Sprintf(`sum by (%s) (%s)`, sliLabels,
					vllmModel(rateOr(w, fmt.Sprintf("{le=~%s}", leMatcher(ITLThresholdSeconds)), buckets...)))
				return fmt.Sprintf(`(%s - %s)`, vllmTotal(w, vllmITLNames...), good)
			},
			total: func(w string) string { return vllmTotal(w, vllmITLNames...) },
		},
	},
}

// SLOs are the objectives, in dashboard order.
var SLOs = []SLO{availabilitySLO, ttftSLO, itlSLO}

func orJoin(parts []string) string {
	if len(parts) == 1 {
		return parts[0]
	}
	wrapped := make([]string, len(parts))
	for i, p := range parts {
		wrapped[i] = "(" + p + ")"
	}
	return strings.Join(wrapped, "\nor\n")
}

// ErrorRatioExpr is the SLI's error ratio over window w (bad events / all
// events), taking each (job, backend, model) from the first source that has it.
func (s SLO) ErrorRatioExpr(w string) string {
	parts := make([]string, len(s.sources))
	for i, src := range s.sources {
		parts[i] = fmt.Sprintf("%s\n/\n%s", src.errors(w), src.total(w))
	}
	return orJoin(parts)
}

// ErrorsExpr is the rate of bad events over window w.
func (s SLO) ErrorsExpr(w string) string {
	parts := make([]string, len(s.sources))
	for i, src := range s.sources {
		parts[i] = src.errors(w)
	}
	return orJoin(parts)
}

// TotalExpr is the rate of all events over window w.
func (s SLO) TotalExpr(w string) string {
	parts := make([]string, len(s.sources))
	for i, src := range s.sources {
		parts[i] = src.total(w)
	}
	return orJoin(parts)
}

// Recording rule names.
const (
	recErrorRatio = "slo:sli_error:ratio_rate" // + window
	recErrors     = "slo:sli_errors:rate5m"
	recTotal      = "slo:sli_requests:rate5m"
	recObjective  = "slo:objective:ratio"
)

// RecordErrorRatio is the name of the recorded error ratio over window w.
func RecordErrorRatio(w string) string { return recErrorRatio + w }

// AlertExpr is the multi-window condition of one severity.
func (s SLO) AlertExpr(severity string) string {
	var parts []string
	for _, a := range burnAlerts {
		if a.severity != severity {
			continue
		}
		limit := strconv.FormatFloat(a.factor*s.Budget(), 'g', 6, 64)
		parts = append(parts, fmt.Sprintf(`(%s{slo="%s"} > %s and %s{slo="%s"} > %s)`,
			RecordErrorRatio(a.long), s.Name, limit, RecordErrorRatio(a.short), s.Name, limit))
	}
	return strings.Join(parts, "\nor\n")
}
