package configcheck

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/needs"
)

const repoRoot = "../.."

var (
	pagesOnce sync.Once
	pagesVal  *Pages
	pagesErr  error
)

// testPages runs the simulators once per test binary.
func testPages(t *testing.T) *Pages {
	t.Helper()
	pagesOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		pagesVal, pagesErr = CollectPages(ctx)
	})
	if pagesErr != nil {
		t.Fatalf("simulator pages: %v", pagesErr)
	}
	return pagesVal
}

func TestCollectPages(t *testing.T) {
	p := testPages(t)
	for pers, want := range map[string][]string{
		"vllm":        {"vllm:time_to_first_token_seconds_bucket", "vllm:inter_token_latency_seconds_bucket", "http_requests_total", "vllm:kv_cache_usage_perc"},
		"triton-vllm": {"nv_inference_request_success", "vllm:time_per_output_token_seconds_bucket", "nv_inference_first_response_histogram_ms_bucket"},
		"triton-trt":  {"nv_trt_llm_kv_cache_block_metrics", "nv_llm_output_token_len_sum", "nv_inference_first_response_histogram_ms_count"},
	} {
		for _, n := range want {
			if !p.Sim[pers][n] {
				t.Errorf("simulator %s page lacks %s", pers, n)
			}
		}
	}
	for _, n := range []string{"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_SM_CLOCK"} {
		if !p.DCGM[n] {
			t.Errorf("dcgm page lacks %s", n)
		}
	}
	for _, n := range []string{"loadgen_ttft_seconds_bucket", "loadgen_itl_seconds_count", "loadgen_requests_total"} {
		if !p.Loadgen[n] {
			t.Errorf("load generator page lacks %s", n)
		}
	}
}

func TestRunOnTheRepository(t *testing.T) {
	var out bytes.Buffer
	o := Options{Pages: testPages(t), NoPromtool: true} // TestPromtool runs promtool
	err := RunWith(context.Background(), repoRoot, &out, o)
	if err != nil {
		t.Fatalf("%v\n%s", err, failLines(out.String()))
	}
	s := out.String()
	if testing.Verbose() {
		t.Log("\n" + s)
	}
	for _, want := range []string{
		"PASS compose: profile vllm:", "PASS compose: profile triton:", "PASS compose: profile triton-trt:", "PASS compose: profile sim:",
		`PASS dashboard vllm.json "Inter-token latency"/A`, `PASS prometheus rule slo:sli_error:ratio_rate5m{slo="itl"}`,
		"in capture vllm-0.10-ngc-25.09-qwen3-4b.metrics.txt",
	} {
		if !strings.Contains(s, want) {
			if strings.Contains(want, "capture") {
				if _, err := os.Stat(filepath.Join(repoRoot, "..", "shared", "fixtures", "metrics")); err != nil {
					continue
				}
			}
			t.Errorf("output lacks %q", want)
		}
	}
	if !strings.Contains(s, "SKIP promtool check config: skipped: promtool not found") {
		t.Error("no skip line for promtool")
	}
}

// promtool check config, check rules and test rules (the unit tests in
// deploy/prometheus/tests) through Run's Prometheus checks.
func TestPromtool(t *testing.T) {
	if FindPromtool("") == "" {
		needs.Skip(t, "promtool not found on PATH: it runs check config, check rules and test rules", "prometheus")
	}
	var out bytes.Buffer
	r := &reporter{w: &out}
	root, _ := filepath.Abs(repoRoot)
	rules := checkPrometheus(context.Background(), root, Options{}, r)
	if r.failed > 0 || len(rules) == 0 {
		t.Fatalf("%d failed, %d rules:\n%s", r.failed, len(rules), out.String())
	}
	for _, want := range []string{"PASS promtool check config", "PASS promtool check rules", "PASS promtool test rules deploy/prometheus/tests/slo_test.yml"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// A failing promtool unit test fails the check.
func TestPromtoolTestFailureIsReported(t *testing.T) {
	if testing.Short() {
		t.Skip("runs promtool test rules: skipped in -short mode")
	}
	if FindPromtool("") == "" {
		needs.Skip(t, "promtool not found on PATH", "prometheus")
	}
	root := t.TempDir()
	copyTree(t, root)
	p := filepath.Join(root, "deploy", "prometheus", "tests", "slo_test.yml")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	// The vLLM error ratio is 1 %; claim 2 %.
	b = bytes.Replace(b, []byte("value: 0.01\n"), []byte("value: 0.02\n"), 1)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r := &reporter{w: &out}
	checkPrometheus(context.Background(), root, Options{}, r)
	if r.failed != 1 || !strings.Contains(out.String(), "FAIL promtool test rules deploy/prometheus/tests/slo_test.yml") {
		t.Errorf("want exactly the unit test to fail:\n%s", out.String())
	}
}

func failLines(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "FAIL") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// copyTree copies the files Run reads into a temporary root.
func copyTree(t *testing.T, dst string) {
	t.Helper()
	for _, dir := range []string{"deploy", "dashboards"} {
		src := filepath.Join(repoRoot, dir)
		err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(repoRoot, p)
			if info.IsDir() {
				return os.MkdirAll(filepath.Join(dst, rel), 0o755)
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestRunFindsBrokenConfiguration(t *testing.T) {
	capDir, _ := filepath.Abs(filepath.Join(repoRoot, "..", "shared", "fixtures", "metrics"))
	cases := []struct {
		name   string
		file   string
		old    string
		new    string
		expect string
	}{
		{"invented metric", "dashboards/vllm.json", "vllm:generation_tokens_total", "vllm:request_failure_total",
			"vllm:request_failure_total not in the simulator vllm and dcgm pages"},
		{"metric newer than the capture", "dashboards/vllm.json", "vllm:prefix_cache_hits_total", "vllm:prompt_tokens_cached_total",
			"vllm:prompt_tokens_cached_total not in the real capture vllm-0.10-ngc-25.09-qwen3-4b.metrics.txt"},
		{"bad PromQL", "dashboards/triton-trt.json", `sum by (memory_type) (`, `sum by (memory_type (`,
			"does not parse"},
		{"unknown variable", "dashboards/slo.json", `model=~\"$model\"`, `model=~\"$modle\"`,
			"unknown Grafana variable $modle"},
		{"rule on a missing metric", "deploy/prometheus/rules/slo.yml", "nv_inference_request_success", "nv_inference_request_succes",
			"prometheus rule metrics slo:sli_error:ratio_rate5m{slo=\"availability\"}"},
		{"compose variable missing from env.example", "deploy/env.example", "DCGM_PORT=9400\n", "",
			"FAIL compose: variables: deploy/compose.yaml uses DCGM_PORT"},
		{"grafana does not mount the dashboards", "deploy/compose.yaml", "../dashboards:/etc/grafana/dashboards:ro", "../dash:/etc/grafana/dashboards:ro",
			"service grafana mounts "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if strings.Contains(c.expect, "capture") {
				if _, err := os.Stat(capDir); err != nil {
					t.Skip("captures not available")
				}
			}
			root := t.TempDir()
			copyTree(t, root)
			p := filepath.Join(root, c.file)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(b, []byte(c.old)) {
				t.Fatalf("%s does not contain %q", c.file, c.old)
			}
			if err := os.WriteFile(p, bytes.Replace(b, []byte(c.old), []byte(c.new), 1), 0o644); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err = RunWith(context.Background(), root, &out, Options{Pages: testPages(t), NoPromtool: true, CaptureDir: capDir})
			if err == nil {
				t.Fatalf("Run passed a broken %s\n%s", c.file, out.String())
			}
			fails := failLines(out.String())
			if !strings.Contains(fails, c.expect) {
				t.Errorf("FAIL lines do not mention %q:\n%s", c.expect, fails)
			}
		})
	}
}

// A user's deploy/.env is validated and the compose file loaded with it.
func TestRunChecksTheUserEnv(t *testing.T) {
	root := t.TempDir()
	copyTree(t, root)
	ex, err := os.ReadFile(filepath.Join(root, "deploy", "env.example"))
	if err != nil {
		t.Fatal(err)
	}
	good := bytes.Replace(ex, []byte("GRAFANA_ADMIN_PASSWORD=\n"), []byte("GRAFANA_ADMIN_PASSWORD=s3cret-enough\n"), 1)
	dotenv := filepath.Join(root, "deploy", ".env")
	os.WriteFile(dotenv, good, 0o600)
	var out bytes.Buffer
	opts := Options{Pages: testPages(t), NoPromtool: true}
	if err := RunWith(context.Background(), root, &out, opts); err != nil {
		t.Fatalf("a valid .env fails:\n%s", failLines(out.String()))
	}
	if !strings.Contains(out.String(), "PASS compose: profile vllm with deploy/.env") {
		t.Fatalf("the .env was not loaded:\n%s", out.String())
	}
	os.WriteFile(dotenv, bytes.Replace(good, []byte("API_PORT=8000"), []byte("API_PORT=+8000"), 1), 0o600)
	out.Reset()
	if err := RunWith(context.Background(), root, &out, opts); err == nil || !strings.Contains(failLines(out.String()), `key API_PORT: "+8000" is not a port`) {
		t.Fatalf("a bad .env passed (%v):\n%s", err, failLines(out.String()))
	}
}
