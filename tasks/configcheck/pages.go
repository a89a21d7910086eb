package configcheck

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/sim"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/wire/promtext"
)

// Page is the set of series names a metrics page exposes, as Prometheus
// stores them (histogram families as name_bucket, name_sum, name_count).
type Page map[string]bool

// Names returns the page's names, sorted.
func (p Page) Names() []string {
	out := make([]string, 0, len(p))
	for k := range p {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ParseExposition reads a Prometheus text exposition and returns the names of
// its series (promtext.Page.Series).
func ParseExposition(r io.Reader) (Page, error) {
	p, err := promtext.Parse(r)
	if err != nil {
		return nil, err
	}
	return seriesPage(p), nil
}

// seriesPage is the set of a page's series names.
func seriesPage(p *promtext.Page) Page {
	out := Page{}
	for _, n := range p.Series() {
		out[n] = true
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Pages are the metrics pages the dashboards are checked against.
type Pages struct {
	Sim     map[string]Page // personality -> metrics page after a few requests
	DCGM    Page            // the simulator's dcgm-exporter look-alike
	Loadgen Page            // the load generator's /metrics
}

// SimConfig is the simulator configuration the checks use: the personality's
// defaults with Triton's histogram_latencies on, as deploy/compose.yaml
// starts the real Triton (--metrics-config histogram_latencies=true).
func SimConfig(personality string) sim.Config {
	cfg := sim.DefaultConfig(personality)
	cfg.Addr, cfg.MetricsAddr, cfg.DCGMAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.TritonHistLatencies = true
	cfg.OutputTokensMean = 8
	return cfg
}

// LoadOptions returns load generator options that drive a simulator of the
// given personality: the protocol and model of the backend it imitates
// (an unknown personality is taken for triton-trt, the simulator's
// default branch).
func LoadOptions(personality string, cfg sim.Config, apiURL string) load.Options {
	o := load.Options{Backend: "sim-" + personality, URL: apiURL, Stream: true, MaxTokens: 16, Concurrency: 2}
	like, err := backend.ByPersonality(personality)
	if err != nil {
		like, _ = backend.ByPersonality(string(backend.PersonalityTritonTRT))
	}
	o.Protocol = like.Protocol
	o.Model = like.ModelName(func(string) string { return cfg.ServedModelName })
	if o.Model == "" {
		o.Model = cfg.ServedModelName // an OpenAI server's --served-model-name
	}
	return o
}

// dashboards lists the dashboards of the named backends.
func dashboards(names ...backend.Name) []string {
	d := make([]string, len(names))
	for i, n := range names {
		b, _ := backend.Lookup(string(n))
		d[i] = b.Dashboard
	}
	return d
}

// CollectPages starts the simulator in each personality, sends a few
// streamed requests through the load generator and reads the pages.
func CollectPages(ctx context.Context) (*Pages, error) {
	ps := &Pages{Sim: map[string]Page{}}
	for _, pers := range sim.Personalities {
		cfg := SimConfig(pers)
		srv, err := sim.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("simulator %s: %w", pers, err)
		}
		rctx, cancel := context.WithCancel(ctx)
		run, err := srv.Start(rctx)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("simulator %s: %w", pers, err)
		}
		reg := prometheus.NewRegistry()
		o := LoadOptions(pers, cfg, run.APIURL)
		o.Requests, o.Registry, o.DrainTimeout = 4, reg, 10*time.Second
		_, lerr := load.Run(rctx, o)
		page, perr := fetchPage(rctx, run.MetricsURL)
		dcgm, derr := fetchPage(rctx, run.DCGMURL)
		cancel()
		<-run.Done
		if lerr != nil {
			return nil, fmt.Errorf("load generator against the %s simulator: %w", pers, lerr)
		}
		if perr != nil {
			return nil, fmt.Errorf("simulator %s metrics: %w", pers, perr)
		}
		if derr != nil {
			return nil, fmt.Errorf("simulator %s dcgm metrics: %w", pers, derr)
		}
		ps.Sim[pers] = page
		ps.DCGM = dcgm
		if ps.Loadgen == nil {
			mfs, err := reg.Gather()
			if err != nil {
				return nil, fmt.Errorf("load generator metrics: %w", err)
			}
			ps.Loadgen = seriesPage(promtext.FromFamilies(mfs))
		}
	}
	return ps, nil
}

func fetchPage(ctx context.Context, url string) (Page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return ParseExposition(bytes.NewReader(b))
}

// Capture is a real server's /metrics page saved in the shared fixtures.
type Capture struct {
	Name string
	Page Page
	// Covers reports whether the capture is authoritative for a metric: the
	// families of the server (and version) it was taken from.
	Covers func(name string) bool
	// Newer lists covered metrics that appeared after the captured version,
	// with the reason; their absence from the capture is expected.
	Newer map[string]string
	// Dashboards are the backends whose dashboards the capture applies to.
	Dashboards []string
}

func prefixes(ps ...string) func(string) bool {
	return func(name string) bool {
		for _, p := range ps {
			if strings.HasPrefix(name, p) {
				return true
			}
		}
		return false
	}
}

// knownCaptures describes the captures in /work/shared/fixtures/metrics (see
// server-metrics.md §8).
var knownCaptures = []struct {
	file string
	cap  Capture
}{
	{"vllm-0.10-ngc-25.09-qwen3-4b.metrics.txt", Capture{
		Covers:     prefixes("vllm:", "http_request"),
		Dashboards: dashboards(backend.VLLM),
		Newer: map[string]string{
			"vllm:inter_token_latency_seconds_bucket": "added in vLLM 0.10.2 (the capture is 0.10.1.x)",
			"vllm:inter_token_latency_seconds_sum":    "added in vLLM 0.10.2 (the capture is 0.10.1.x)",
			"vllm:inter_token_latency_seconds_count":  "added in vLLM 0.10.2 (the capture is 0.10.1.x)",
		},
	}},
	{"triton-22.07.metrics.txt", Capture{
		Covers:     prefixes("nv_inference_", "nv_gpu_", "nv_energy_", "nv_cpu_"),
		Dashboards: dashboards(backend.Triton, backend.TRT),
		Newer: map[string]string{
			"nv_inference_pending_request_count":              "added after Triton 22.07",
			"nv_inference_first_response_histogram_ms_bucket": "added after Triton 22.07 (histogram_latencies, 23.x+)",
			"nv_inference_first_response_histogram_ms_sum":    "added after Triton 22.07 (histogram_latencies, 23.x+)",
			"nv_inference_first_response_histogram_ms_count":  "added after Triton 22.07 (histogram_latencies, 23.x+)",
		},
	}},
}
