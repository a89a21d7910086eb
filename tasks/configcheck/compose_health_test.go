package configcheck

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

func loadGPUProfile(t *testing.T, profile string) *types.Project {
	t.Helper()
	root := filepath.Join("..", "..")
	env, err := ExampleEnv(filepath.Join(root, "deploy", "env.example"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := LoadCompose(context.Background(), filepath.Join(root, "deploy", "compose.yaml"), env, profile)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTritonTRTUlimits: triton-trt runs with the limits TensorRT-LLM's
// containers get (docker/Makefile of NVIDIA/TensorRT-LLM:
// --ulimit stack=67108864 --ulimit memlock=-1).
func TestTritonTRTUlimits(t *testing.T) {
	svc, err := loadGPUProfile(t, "triton-trt").GetService("triton-trt")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"memlock": -1, "stack": 67108864}
	for name, v := range want {
		u := svc.Ulimits[name]
		if u == nil {
			t.Errorf("triton-trt: no ulimit %s (ulimits %v)", name, svc.Ulimits)
			continue
		}
		soft, hard := u.Soft, u.Hard
		if u.Single != 0 {
			soft, hard = u.Single, u.Single
		}
		if soft != v || hard != v {
			t.Errorf("triton-trt ulimit %s = %+v, want %d", name, *u, v)
		}
	}
}

// TestDCGMExporterHealthcheck: dcgm-exporter has a health check in every
// GPU profile, it runs a program the -distroless image ships (bash, not curl
// or wget), and it passes against a page with DCGM series and fails
// against one without them, an error status, or no listener: the command is
// run here with the host's bash against a test server on the port it names.
func TestDCGMExporterHealthcheck(t *testing.T) {
	var test types.HealthCheckTest
	for _, profile := range []string{"vllm", "triton", "triton-trt"} {
		svc, err := loadGPUProfile(t, profile).GetService("dcgm-exporter")
		if err != nil {
			t.Fatal(err)
		}
		hc := svc.HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) == 0 {
			t.Fatalf("%s: dcgm-exporter has no health check: %+v", profile, hc)
		}
		if hc.Interval == nil || hc.Timeout == nil || hc.Retries == nil {
			t.Errorf("%s: health check without interval, timeout or retries: %+v", profile, hc)
		}
		test = hc.Test
	}
	if len(test) != 4 || test[0] != "CMD" || test[1] != "/usr/bin/bash" || test[2] != "-c" {
		t.Fatalf("health check %q: want [CMD /usr/bin/bash -c SCRIPT] (the distroless image has bash, no shell tools)", test)
	}
	script := test[3]
	for _, tool := range []string{"curl", "wget", "grep", "nc "} {
		if strings.Contains(script, tool) {
			t.Errorf("the script uses %s, which the -distroless image does not have: %s", tool, script)
		}
	}
	if !strings.Contains(script, "/dev/tcp/127.0.0.1/9400") || !strings.Contains(script, "$code") {
		t.Fatalf("script %q: want a probe of 127.0.0.1:9400 ($$ unescaped to $ by Compose)", script)
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not on PATH to run the health check script")
	}

	run := func(port string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s := strings.Replace(script, "/dev/tcp/127.0.0.1/9400", "/dev/tcp/127.0.0.1/"+port, 1)
		return exec.CommandContext(ctx, bash, "-c", s).Run()
	}
	serve := func(status int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/metrics" {
				http.NotFound(w, r)
				return
			}
			w.WriteHeader(status)
			fmt.Fprint(w, body)
		}))
		t.Cleanup(srv.Close)
		_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
		return port
	}
	page := "# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).\n# TYPE DCGM_FI_DEV_GPU_UTIL gauge\n" +
		`DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-1"} 3` + "\n"
	if err := run(serve(200, page)); err != nil {
		t.Errorf("healthy exporter: %v", err)
	}
	if err := run(serve(200, "# no GPUs watched\n")); err == nil {
		t.Error("a page without DCGM series passed")
	}
	if err := run(serve(500, page)); err == nil {
		t.Error("status 500 passed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, closed, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	if err := run(closed); err == nil {
		t.Error("no listener passed")
	}
}
