package load

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Prometheus buckets. TTFT and ITL match vLLM's
// vllm:time_to_first_token_seconds and vllm:inter_token_latency_seconds so
// client and server views can be compared bucket by bucket; E2E matches
// vllm:e2e_request_latency_seconds.
var (
	TTFTBuckets = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560}
	ITLBuckets  = []float64{0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80}
	E2EBuckets  = []float64{0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680}
	LagBuckets  = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
)

// metrics is the generator's own Prometheus instrumentation. Every series
// carries the constant labels backend and model.
//
//	loadgen_ttft_seconds            histogram  time to first content chunk, from the intended send time
//	loadgen_itl_seconds             histogram  gaps between content chunks
//	loadgen_e2e_seconds             histogram  request latency, from the intended send time
//	loadgen_scheduling_lag_seconds  histogram  actual send time minus intended send time
//	loadgen_requests_total{outcome} counter    outcome = ok | failed | canceled | in_flight_at_end | client_error
//	loadgen_errors_total{kind}      counter    kind = http_4xx | http_5xx | ... (see ErrorKind)
//	loadgen_output_tokens_total     counter    output tokens of successful requests
//	loadgen_in_flight_requests      gauge      requests sent and not finished
//
// Warm-up requests are included (the live view shows what the server sees);
// the results file excludes them.
type metrics struct {
	ttft, itl, e2e, lag prometheus.Histogram
	requests            *prometheus.CounterVec
	errors              *prometheus.CounterVec
	outTokens           prometheus.Counter
	inFlight            prometheus.Gauge
	reqOK, reqFailed    prometheus.Counter
	reqCanceled         prometheus.Counter
	reqInFlightAtEnd    prometheus.Counter
	reqClient           prometheus.Counter
	kinds               []prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, backend, model string) (*metrics, error) {
	labels := prometheus.Labels{"backend": backend, "model": model}
	m := &metrics{
		ttft: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "loadgen_ttft_seconds",
			Help: "Time to first content chunk, measured from the intended send time.", Buckets: TTFTBuckets, ConstLabels: labels}),
		itl: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "loadgen_itl_seconds",
			Help: "Gaps between consecutive content chunks.", Buckets: ITLBuckets, ConstLabels: labels}),
		e2e: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "loadgen_e2e_seconds",
			Help: "Request latency to the end of the response, measured from the intended send time.", Buckets: E2EBuckets, ConstLabels: labels}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "loadgen_scheduling_lag_seconds",
			Help: "Actual send time minus intended send time.", Buckets: LagBuckets, ConstLabels: labels}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "loadgen_requests_total",
			Help: "Finished requests by outcome (ok, failed, canceled, in_flight_at_end: cut when a bounded run's drain ended, client_error: the generator's own failure).", ConstLabels: labels}, []string{"outcome"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "loadgen_errors_total",
			Help: "Failed or canceled requests by error kind.", ConstLabels: labels}, []string{"kind"}),
		outTokens: prometheus.NewCounter(prometheus.CounterOpts{Name: "loadgen_output_tokens_total",
			Help: "Output tokens of successful requests.", ConstLabels: labels}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "loadgen_in_flight_requests",
			Help: "Requests sent and not yet finished.", ConstLabels: labels}),
	}
	for _, c := range []prometheus.Collector{m.ttft, m.itl, m.e2e, m.lag, m.requests, m.errors, m.outTokens, m.inFlight} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.reqOK = m.requests.WithLabelValues("ok")
	m.reqFailed = m.requests.WithLabelValues("failed")
	m.reqCanceled = m.requests.WithLabelValues("canceled")
	m.reqInFlightAtEnd = m.requests.WithLabelValues("in_flight_at_end")
	m.reqClient = m.requests.WithLabelValues("client_error")
	for _, k := range allKinds {
		m.kinds = append(m.kinds, m.errors.WithLabelValues(string(k)))
	}
	return m, nil
}

func (m *metrics) observe(r *reqRecord) {
	m.lag.Observe(r.lag().Seconds())
	if r.kind != "" {
		switch r.kind {
		case ErrCanceled:
			m.reqCanceled.Inc()
		case ErrInFlightAtEnd:
			m.reqInFlightAtEnd.Inc()
		case ErrClient:
			m.reqClient.Inc()
		default:
			m.reqFailed.Inc()
		}
		if i := kindIndex(r.kind); i >= 0 {
			m.kinds[i].Inc()
		}
		return
	}
	m.reqOK.Inc()
	m.ttft.Observe(r.ttftSched().Seconds())
	m.e2e.Observe(r.e2eSched().Seconds())
	for _, g := range r.gaps {
		m.itl.Observe(float64(g) / 1e6)
	}
	m.outTokens.Add(float64(r.outTokens))
}
