package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/wire/promtext"
)

// Snapshot is one scrape of a server's /metrics page: every family by name.
type Snapshot struct {
	At       time.Time
	Families map[string]*dto.MetricFamily
}

// ParseMetrics parses the Prometheus text exposition format, names with
// ':' included (vllm:*). name is used in errors.
func ParseMetrics(r io.Reader, name string) (*Snapshot, error) {
	p, err := promtext.Parse(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &Snapshot{At: time.Now(), Families: p.Families}, nil
}

// Scrape GETs a /metrics URL and parses it.
func Scrape(ctx context.Context, client *http.Client, url string) (*Snapshot, error) {
	if client == nil {
		client = http.DefaultClient
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("server metrics URL %q: %w (expected http://host:port/metrics)", url, err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping %s: HTTP %d (is this the server's metrics URL? set it with -scrape=URL, or -scrape=off)", url, resp.StatusCode)
	}
	s, err := ParseMetrics(resp.Body, url)
	if s != nil {
		s.At = time.Now()
	}
	return s, err
}

// Bucket is one cumulative histogram bucket: Count observations <= UpperBound.
type Bucket struct {
	UpperBound float64
	Count      float64
}

// HistogramQuantile returns the q-quantile (0 <= q <= 1) of cumulative
// buckets the way Prometheus's histogram_quantile does: the buckets are
// sorted by upper bound, made monotonic, and the quantile is interpolated
// linearly within the bucket where the rank q*total falls; the lowest
// bucket starts at 0 (when its bound is positive); a rank in the +Inf
// bucket returns the highest finite bound. It returns NaN when there are no
// observations or no +Inf bucket, as Prometheus does.
func HistogramQuantile(q float64, buckets []Bucket) float64 {
	if math.IsNaN(q) || q < 0 || q > 1 {
		return math.NaN()
	}
	bs := append([]Bucket(nil), buckets...)
	sort.Slice(bs, func(i, j int) bool { return bs[i].UpperBound < bs[j].UpperBound })
	if len(bs) < 2 || !math.IsInf(bs[len(bs)-1].UpperBound, 1) {
		return math.NaN()
	}
	// Monotonic counts (scrapes are not atomic across buckets).
	for i := 1; i < len(bs); i++ {
		if bs[i].Count < bs[i-1].Count {
			bs[i].Count = bs[i-1].Count
		}
	}
	total := bs[len(bs)-1].Count
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	b := sort.Search(len(bs)-1, func(i int) bool { return bs[i].Count >= rank })
	if b == len(bs)-1 {
		return bs[len(bs)-2].UpperBound
	}
	if b == 0 && bs[0].UpperBound <= 0 {
		return bs[0].UpperBound
	}
	start, end := 0.0, bs[b].UpperBound
	count := bs[b].Count
	if b > 0 {
		start = bs[b-1].UpperBound
		count -= bs[b-1].Count
		rank -= bs[b-1].Count
	}
	if count == 0 {
		return end
	}
	return start + (end-start)*(rank/count)
}

// page is the snapshot's families as a promtext page.
func (s *Snapshot) page() *promtext.Page {
	if s == nil {
		return nil
	}
	return &promtext.Page{Families: s.Families}
}

// counterDelta is after - before, or after when the counter was reset
// (the server restarted) between them.
func counterDelta(before, after float64) float64 {
	if after < before {
		return after
	}
	return after - before
}

// Distribution is a server-side latency distribution over one step, from
// the bucket deltas of a histogram between two scrapes.
type Distribution struct {
	Metric string   `json:"metric"`
	Count  float64  `json:"count"`
	Mean   *float64 `json:"mean"`
	P50    *float64 `json:"p50"`
	P90    *float64 `json:"p90"`
	P95    *float64 `json:"p95"`
	P99    *float64 `json:"p99"`
}

func num(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// deltaDistribution computes the distribution of the observations made
// between two scrapes of a histogram, scaled by scale (e.g. 0.001 for ms).
func deltaDistribution(name string, before, after *Snapshot, want map[string]string, scale float64) *Distribution {
	ha, ok := after.page().Histogram(name, want)
	if !ok {
		return nil
	}
	hb, ok := before.page().Histogram(name, want)
	if !ok {
		hb = &promtext.Histogram{Buckets: map[float64]float64{}}
	}
	reset := ha.Count < hb.Count
	var bs []Bucket
	for le, c := range ha.Buckets {
		d := c - hb.Buckets[le]
		if reset {
			d = c
		}
		if d < 0 {
			d = 0
		}
		bs = append(bs, Bucket{UpperBound: le, Count: d})
	}
	count, sum := ha.Count-hb.Count, ha.Sum-hb.Sum
	if reset {
		count, sum = ha.Count, ha.Sum
	}
	d := &Distribution{Metric: name, Count: count}
	if count > 0 {
		d.Mean = num(sum / count * scale)
	}
	for _, p := range []struct {
		q   float64
		dst **float64
	}{{0.5, &d.P50}, {0.9, &d.P90}, {0.95, &d.P95}, {0.99, &d.P99}} {
		*p.dst = num(HistogramQuantile(p.q, bs) * scale)
	}
	return d
}

// Gauge is the peak and mean of a server gauge sampled during a step.
type Gauge struct {
	Metric  string  `json:"metric"`
	Peak    float64 `json:"peak"`
	Mean    float64 `json:"mean"`
	Samples int     `json:"samples"`
}

// Triton holds the per-step figures of Triton's nv_inference_* counters
// for one model: rates over the step and averages per successful request.
type Triton struct {
	Model             string   `json:"model"`
	RequestsPerSecond float64  `json:"requests_per_second"`
	FailuresPerSecond float64  `json:"failures_per_second"`
	AvgQueueUs        *float64 `json:"avg_queue_us"`
	AvgComputeInferUs *float64 `json:"avg_compute_infer_us"`
	AvgRequestUs      *float64 `json:"avg_request_us"`
}

// Server is what the server's own metrics say about one step: scraped
// after the warm-up and at the end of the step (histogram quantiles from
// bucket deltas), with gauges sampled in between.
type Server struct {
	MetricsURL string        `json:"metrics_url"`
	Error      string        `json:"error,omitempty"`
	Seconds    float64       `json:"seconds"`
	TTFT       *Distribution `json:"ttft_seconds,omitempty"`
	ITL        *Distribution `json:"itl_seconds,omitempty"`
	E2E        *Distribution `json:"e2e_seconds,omitempty"`
	// RequestsPerSecond is the server's count of finished requests per
	// second (vllm:request_success_total or nv_inference_request_success).
	RequestsPerSecond *float64         `json:"requests_per_second,omitempty"`
	Triton            *Triton          `json:"triton,omitempty"`
	Gauges            map[string]Gauge `json:"gauges,omitempty"`
}

// gaugeSpec names a gauge to sample: the key in Server.Gauges, the family
// and the labels its series must carry (summed over the rest).
type gaugeSpec struct {
	key, metric string
	labels      map[string]string
}

// gaugeSpecs are the gauges sampled during a step; absent ones are skipped.
func gaugeSpecs(model string) []gaugeSpec {
	var m map[string]string
	if model != "" {
		m = map[string]string{"model": model}
	}
	return []gaugeSpec{
		{"running", "vllm:num_requests_running", nil},
		{"waiting", "vllm:num_requests_waiting", nil},
		{"kv_cache_usage", "vllm:kv_cache_usage_perc", nil},
		{"triton_pending", "nv_inference_pending_request_count", m},
		{"trt_active", "nv_trt_llm_request_metrics", map[string]string{"request_type": "active"}},
		{"trt_waiting", "nv_trt_llm_request_metrics", map[string]string{"request_type": "waiting"}},
	}
}

// sampler records gauge samples.
type sampler struct {
	mu    sync.Mutex
	specs []gaugeSpec
	g     map[string]*Gauge
	sums  map[string]float64
}

func newSampler(model string) *sampler {
	return &sampler{specs: gaugeSpecs(model), g: map[string]*Gauge{}, sums: map[string]float64{}}
}

func (s *sampler) add(snap *Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sp := range s.specs {
		v, ok := snap.page().Sum(sp.metric, sp.labels)
		if !ok {
			continue
		}
		g := s.g[sp.key]
		if g == nil {
			g = &Gauge{Metric: sp.metric, Peak: v}
			s.g[sp.key] = g
		}
		g.Peak = math.Max(g.Peak, v)
		g.Samples++
		s.sums[sp.key] += v
		g.Mean = s.sums[sp.key] / float64(g.Samples)
	}
}

func (s *sampler) gauges() map[string]Gauge {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.g) == 0 {
		return nil
	}
	out := map[string]Gauge{}
	for k, g := range s.g {
		out[k] = *g
	}
	return out
}

// ServerStats computes a step's server figures from the scrapes before
// and after it. model selects the Triton model of the nv_inference_*
// counters ("" sums every model).
func ServerStats(before, after *Snapshot, model string) *Server {
	sv := &Server{}
	if before == nil || after == nil {
		return sv
	}
	secs := after.At.Sub(before.At).Seconds()
	sv.Seconds = math.Round(secs*1000) / 1000
	sv.TTFT = deltaDistribution("vllm:time_to_first_token_seconds", before, after, nil, 1)
	if sv.TTFT == nil {
		sv.TTFT = deltaDistribution("nv_inference_first_response_histogram_ms", before, after, modelLabels(model), 0.001)
	}
	sv.ITL = deltaDistribution("vllm:inter_token_latency_seconds", before, after, nil, 1)
	if sv.ITL == nil {
		sv.ITL = deltaDistribution("vllm:time_per_output_token_seconds", before, after, nil, 1)
	}
	sv.E2E = deltaDistribution("vllm:e2e_request_latency_seconds", before, after, nil, 1)
	rate := func(name string, want map[string]string) (float64, bool) {
		a, ok := after.page().Sum(name, want)
		if !ok || secs <= 0 {
			return 0, false
		}
		b, _ := before.page().Sum(name, want)
		return counterDelta(b, a) / secs, true
	}
	if r, ok := rate("vllm:request_success_total", nil); ok {
		sv.RequestsPerSecond = num(r)
	}
	ml := modelLabels(model)
	if hasFamily(after, "nv_inference_request_success") {
		t := &Triton{Model: model}
		succ, _ := rate("nv_inference_request_success", ml)
		fail, _ := rate("nv_inference_request_failure", ml)
		t.RequestsPerSecond, t.FailuresPerSecond = succ, fail
		per := func(name string) *float64 {
			d, ok := rate(name, ml)
			if !ok || succ <= 0 {
				return nil
			}
			return num(d / succ)
		}
		t.AvgQueueUs = per("nv_inference_queue_duration_us")
		t.AvgComputeInferUs = per("nv_inference_compute_infer_duration_us")
		t.AvgRequestUs = per("nv_inference_request_duration_us")
		sv.Triton = t
		if sv.RequestsPerSecond == nil {
			sv.RequestsPerSecond = num(succ)
		}
	}
	return sv
}

func modelLabels(model string) map[string]string {
	if model == "" {
		return nil
	}
	return map[string]string{"model": model}
}

func hasFamily(s *Snapshot, name string) bool {
	_, ok := s.Families[name]
	return ok
}

// serverWatch scrapes a server during one step: a baseline after the
// warm-up, gauge samples every interval, and the final scrape at stop.
type serverWatch struct {
	url    string
	client *http.Client
	model  string
	smp    *sampler
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	before  *Snapshot
	lastErr error
}

func startWatch(ctx context.Context, client *http.Client, url, model string, warmup, every time.Duration) *serverWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &serverWatch{url: url, client: client, model: model, smp: newSampler(model), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		if warmup > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(warmup):
			}
		}
		s, err := Scrape(ctx, client, url)
		w.mu.Lock()
		w.before, w.lastErr = s, err
		w.mu.Unlock()
		if s != nil {
			w.smp.add(s)
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if s, err := Scrape(ctx, client, url); err == nil {
					w.smp.add(s)
				} else if ctx.Err() == nil {
					w.mu.Lock()
					w.lastErr = err
					w.mu.Unlock()
				}
			}
		}
	}()
	return w
}

// stop ends the sampling, scrapes once more and computes the figures.
func (w *serverWatch) stop(ctx context.Context) *Server {
	w.cancel()
	<-w.done
	sctx := context.WithoutCancel(ctx)
	if ctx.Err() != nil {
		// Ctrl+C: Mage allows 5 s of cleanup and the results must still be
		// written, so a slow /metrics gets 2 s.
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeout(sctx, 2*time.Second)
		defer cancel()
	}
	after, err := Scrape(sctx, w.client, w.url)
	w.mu.Lock()
	before, lastErr := w.before, w.lastErr
	w.mu.Unlock()
	if after != nil {
		w.smp.add(after)
	}
	var sv *Server
	switch {
	case err != nil:
		sv = &Server{Error: err.Error()}
	case before == nil:
		msg := "no scrape after the warm-up (the step ended first)"
		if lastErr != nil {
			msg = lastErr.Error()
		}
		sv = &Server{Error: msg}
	default:
		sv = ServerStats(before, after, w.model)
	}
	sv.MetricsURL = w.url
	sv.Gauges = w.smp.gauges()
	return sv
}
