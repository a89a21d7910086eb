package configcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/testio"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/needs"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/sim"
)

// e2eErrorRate is the share of requests the simulators answer with HTTP 500:
// far over the 1.44 % of the fast-burn page, so the availability alert must
// fire for every backend.
const e2eErrorRate = 0.2

// e2eRateInterval stands in for Grafana's $__rate_interval with a 1 s scrape.
const e2eRateInterval = "10s"

// TestEndToEnd runs the three simulator personalities in-process, a load
// generator against each, and a real Prometheus (/usr/bin/prometheus) that
// scrapes them every second and evaluates the repository's rules (group
// intervals shortened to 1 s). Then every dashboard query, with Grafana's
// variables substituted and restricted to the backend's own jobs, and every
// recording rule must return non-empty, finite data, and the availability
// alert must fire for each backend from the injected error rate.
//
// What it proves: the queries and rules select series that the simulator (a
// model of the real servers' pages, checked against real captures by Run)
// really exposes, with the labels the queries join on, and the alert
// expressions fire on a burn. It does not prove Grafana renders the panels.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test with a real Prometheus: skipped in -short mode")
	}
	promBin := needs.Tool(t, "prometheus")
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()

	type backend struct {
		pers                   string
		metrics, dcgm, loadgen string // host:port
	}
	var backends []backend
	for _, pers := range sim.Personalities {
		cfg := SimConfig(pers)
		cfg.ErrorRate = e2eErrorRate
		srv, err := sim.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		run, err := srv.Start(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		o := LoadOptions(pers, cfg, run.APIURL)
		o.MetricsListener, o.Concurrency, o.MaxTokens = ln, 4, 12
		o.Seed = 7
		lctx, lcancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = load.Run(lctx, o) // runs until canceled; errors show as missing data below
		}()
		t.Cleanup(func() { lcancel(); <-done })
		backends = append(backends, backend{pers, hostPort(t, run.MetricsURL), hostPort(t, run.DCGMURL), ln.Addr().String()})
	}

	// Prometheus configuration: the repository's rules, every group every second.
	dir := t.TempDir()
	ruleFiles, err := RuleFiles(filepath.Join(repoRoot, "deploy", "prometheus", "rules"))
	if err != nil || len(ruleFiles) == 0 {
		t.Fatalf("rules: %v (found %d files)", err, len(ruleFiles))
	}
	var ruleGlobs []string
	for _, f := range ruleFiles {
		out := filepath.Join(dir, "rules-"+filepath.Base(f))
		if err := shortenIntervals(f, out); err != nil {
			t.Fatal(err)
		}
		ruleGlobs = append(ruleGlobs, out)
	}
	var sc bytes.Buffer
	fmt.Fprintf(&sc, "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n")
	for _, g := range ruleGlobs {
		fmt.Fprintf(&sc, "  - %q\n", g)
	}
	fmt.Fprintf(&sc, "scrape_configs:\n")
	for _, b := range backends {
		// Job names and the backend label as deploy/prometheus/prometheus.yml
		// has them, one set per personality.
		fmt.Fprintf(&sc, "  - job_name: %q\n    static_configs:\n      - targets: [%q]\n        labels: {backend: %q}\n", b.pers, b.metrics, b.pers)
		fmt.Fprintf(&sc, "  - job_name: %q\n    static_configs:\n      - targets: [%q]\n", "dcgm-"+b.pers, b.dcgm)
		fmt.Fprintf(&sc, "  - job_name: %q\n    static_configs:\n      - targets: [%q]\n", "loadgen-"+b.pers, b.loadgen)
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, sc.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := testio.FreeAddr(t)
	var plog bytes.Buffer
	cmd := exec.CommandContext(ctx, promBin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn")
	cmd.Stdout, cmd.Stderr = &plog, &plog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", plog.String())
		}
	})
	api := "http://" + addr
	waitReady(ctx, t, api)

	// Traffic for long enough that every rate window (10 s) holds samples and
	// the rules have run a few times on them.
	deadline := time.Now().Add(14 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}

	dashboards, err := ReadDashboards(filepath.Join(repoRoot, "dashboards"))
	if err != nil {
		t.Fatal(err)
	}
	builtins := map[string]string{"__rate_interval": e2eRateInterval, "__interval": "1s", "__range": "1m"}
	checked := 0
	for _, d := range dashboards {
		for _, b := range backends {
			jobs := []string{b.pers, "dcgm-" + b.pers}
			switch d.Backend {
			case b.pers:
			case "loadgen":
				jobs = append(jobs, "loadgen-"+b.pers)
			case "slo":
			default:
				continue // another backend's dashboard
			}
			for _, q := range d.Queries {
				if d.Backend == "slo" && b.pers == sim.PersonalityTritonTRT && strings.Contains(q.Expr, `slo="itl"`) {
					continue // TensorRT-LLM exports no inter-token histogram: no ITL SLI (documented)
				}
				expr, err := Substitute(q.Expr, d.Vars, builtins)
				if err != nil {
					t.Fatalf("%s %s: %v", d.File, q.Where, err)
				}
				restricted, err := restrictJobs(expr, jobs)
				if err != nil {
					t.Fatalf("%s %s: %v", d.File, q.Where, err)
				}
				if strings.HasPrefix(q.Where, "variable ") {
					restricted = "count(" + restricted + ")"
				}
				res, err := instantQuery(ctx, api, restricted)
				if err != nil {
					t.Errorf("%s %s [%s]: %v\n  query: %s", d.File, q.Where, b.pers, err, restricted)
					continue
				}
				if msg := badResult(res); msg != "" {
					t.Errorf("%s %s [%s]: %s\n  query: %s", d.File, q.Where, b.pers, msg, restricted)
				}
				checked++
			}
		}
	}

	// Every recording rule has finite data for each backend whose metrics it
	// reads, queried both as the recorded series and as its expression.
	rules, _, err := ReadRules(filepath.Join(repoRoot, "deploy", "prometheus", "rules"))
	if err != nil {
		t.Fatal(err)
	}
	for _, rl := range rules {
		if rl.Record == "" {
			continue
		}
		want := []string{""}
		if rl.Record != "slo:objective:ratio" {
			want = []string{sim.PersonalityVLLM, sim.PersonalityTritonVLLM, sim.PersonalityTritonTRT}
			if rl.Labels["slo"] == "itl" {
				want = want[:2]
			}
		}
		for _, q := range []string{fmt.Sprintf(`%s{slo=%q}`, rl.Record, rl.Labels["slo"]), rl.Expr} {
			res, err := instantQuery(ctx, api, q)
			if err != nil {
				t.Errorf("rule %s: %v", rl.Name(), err)
				continue
			}
			byJob := map[string]float64{}
			for _, s := range res {
				v := s.value()
				byJob[s.Metric["job"]] = v
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Errorf("rule %s: %v has value %v", rl.Name(), s.Metric, v)
				}
			}
			for _, job := range want {
				if _, ok := byJob[job]; !ok {
					t.Errorf("rule %s: no series for job %q (query %.80s...; got jobs %v)", rl.Name(), job, q, keys(byJob))
				}
			}
			checked++
		}
	}

	// The injected errors burn the availability budget: the page alert fires
	// for every backend. For vLLM the SLI is the share of HTTP 5xx; it must be
	// near the injected rate.
	res, err := instantQuery(ctx, api, `ALERTS{alertname="LLMAvailabilityBudgetBurn",alertstate="firing",severity="page"}`)
	if err != nil {
		t.Fatal(err)
	}
	firing := map[string]bool{}
	for _, s := range res {
		firing[s.Metric["job"]] = true
	}
	for _, b := range backends {
		if !firing[b.pers] {
			t.Errorf("availability page alert not firing for %s with %g %% errors injected (firing: %v)", b.pers, e2eErrorRate*100, firing)
		}
	}
	res, err = instantQuery(ctx, api, `slo:sli_error:ratio_rate5m{slo="availability",job="vllm"}`)
	if err != nil || len(res) != 1 {
		t.Fatalf("vLLM availability SLI: %v %v", res, err)
	}
	if v := res[0].value(); v < e2eErrorRate/3 || v > e2eErrorRate*2 {
		t.Errorf("vLLM error ratio %g, injected %g", v, e2eErrorRate)
	}
	// Latency is low in the simulator: the TTFT and ITL alerts stay silent.
	res, err = instantQuery(ctx, api, `ALERTS{alertname=~"LLMTTFTBudgetBurn|LLMITLBudgetBurn"}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) > 0 {
		t.Errorf("latency alerts fire on a fast simulator: %v", res)
	}
	t.Logf("%d queries returned finite data", checked)
}

func keys(m map[string]float64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func hostPort(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		t.Fatalf("bad URL %q: %v", raw, err)
	}
	if u.Path != "/metrics" {
		t.Fatalf("metrics URL %q does not end in /metrics", raw)
	}
	return u.Host
}

// shortenIntervals copies a rules file with every group evaluated each second.
func shortenIntervals(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	groups, _ := doc["groups"].([]any)
	for _, g := range groups {
		if m, ok := g.(map[string]any); ok {
			m["interval"] = "1s"
		}
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, out, 0o644)
}

func waitReady(ctx context.Context, t *testing.T, api string) {
	t.Helper()
	for {
		resp, err := http.Get(api + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("prometheus did not become ready: %v", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// restrictJobs adds job=~"<jobs>|" to every selector: each backend's
// dashboard is checked against that backend's own targets only (series
// without a job label, such as slo:objective:ratio, still match).
func restrictJobs(expr string, jobs []string) (string, error) {
	e, err := ParsePromQL(expr)
	if err != nil {
		return "", err
	}
	quoted := make([]string, len(jobs))
	for i, j := range jobs {
		quoted[i] = regexp.QuoteMeta(j)
	}
	m, err := labels.NewMatcher(labels.MatchRegexp, "job", strings.Join(quoted, "|")+"|")
	if err != nil {
		return "", err
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			vs.LabelMatchers = append(vs.LabelMatchers, m)
		}
		return nil
	})
	return e.String(), nil
}

type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s sample) value() float64 {
	str, _ := s.Value[1].(string)
	v, err := strconv.ParseFloat(str, 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

func instantQuery(ctx context.Context, api, q string) ([]sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api+"/api/v1/query?query="+url.QueryEscape(q), nil)
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
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("bad answer %q: %w", truncate(string(b), 200), err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("prometheus: %s", r.Error)
	}
	switch r.Data.ResultType {
	case "vector":
		var v []sample
		err := json.Unmarshal(r.Data.Result, &v)
		return v, err
	case "scalar":
		var s [2]any
		if err := json.Unmarshal(r.Data.Result, &s); err != nil {
			return nil, err
		}
		return []sample{{Metric: map[string]string{}, Value: s}}, nil
	default:
		return nil, fmt.Errorf("result type %s", r.Data.ResultType)
	}
}

func badResult(res []sample) string {
	if len(res) == 0 {
		return "no data"
	}
	for _, s := range res {
		if v := s.value(); math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Sprintf("value %v for %v", s.Value[1], s.Metric)
		}
	}
	return ""
}
