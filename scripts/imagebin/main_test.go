package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/testio"
)

func call(ctx context.Context, getenv func(string) string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	code := run(ctx, args, getenv, &out, &errb)
	return code, out.String(), errb.String()
}

// The health checks' form, `wget -q -O /dev/null URL`: exit 0 on a 2xx,
// 1 otherwise; the body goes to -O's file.
func TestWget(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/-/ready" {
			fmt.Fprint(w, "Prometheus Server is Ready.")
			return
		}
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	ctx := context.Background()

	if code, _, stderr := call(ctx, nil, "/bin/wget", "-q", "-O", "/dev/null", srv.URL+"/-/ready"); code != 0 {
		t.Errorf("ready: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr := call(ctx, nil, "/bin/wget", "-q", "-O", "/dev/null", srv.URL+"/api/health")
	if code != 1 || !strings.Contains(stderr, "server returned error") || !strings.Contains(stderr, "503") {
		t.Errorf("503: exit %d, stderr %q", code, stderr)
	}
	if code, out, _ := call(ctx, nil, "imagebin", "wget", "-q", "-O", "-", srv.URL+"/-/ready"); code != 0 || out != "Prometheus Server is Ready." {
		t.Errorf("-O -: exit %d, stdout %q", code, out)
	}
	file := filepath.Join(t.TempDir(), "body")
	if code, _, _ := call(ctx, nil, "wget", "-O", file, srv.URL+"/-/ready"); code != 0 {
		t.Errorf("-O FILE: exit %d", code)
	}
	if b, _ := os.ReadFile(file); string(b) != "Prometheus Server is Ready." {
		t.Errorf("-O FILE wrote %q", b)
	}
	// Nothing listens: exit 1.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	if code, _, stderr := call(ctx, nil, "wget", "-q", "-O", "/dev/null", "http://"+addr+"/"); code != 1 || stderr == "" {
		t.Errorf("refused: exit %d, stderr %q", code, stderr)
	}
	if code, _, _ := call(ctx, nil, "wget", "-q"); code != 2 {
		t.Errorf("no URL: exit %d, want 2", code)
	}
}

// serve: the Grafana stand-in answers /api/health from its directory, and
// the probe of its health check passes against it; it stops when told to.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "api"), 0o755)
	os.WriteFile(filepath.Join(dir, "api", "health"), []byte(`{"database":"ok"}`), 0o644)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()

	ctx, cancel := context.WithCancel(context.Background())
	var out, errb testio.SyncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"/bin/serve", addr, dir, "--config.file=/etc/prometheus/prometheus.yml"}, os.Getenv, &out, &errb)
	}()

	url := "http://" + addr + "/api/health"
	var resp *http.Response
	var err error
	for range 200 {
		if resp, err = http.Get(url); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("serve never answered: %v (stderr %q)", err, errb.String())
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /api/health: %d", resp.StatusCode)
	}
	if code, _, stderr := call(context.Background(), nil, "wget", "-q", "-O", "/dev/null", url); code != 0 {
		t.Errorf("the health check's probe failed: %d %q", code, stderr)
	}
	if code, _, _ := call(context.Background(), nil, "wget", "-q", "-O", "/dev/null", "http://"+addr+"/nothing"); code != 1 {
		t.Errorf("a missing file: exit %d, want 1", code)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("serve exited %d after cancel; stderr %q", code, errb.String())
	}
	if !strings.Contains(out.String(), "GET /api/health") {
		t.Errorf("no request log: %q", out.String())
	}
	if code, _, _ := call(context.Background(), nil, "serve", addr); code != 2 {
		t.Errorf("serve without DIR: exit %d, want 2", code)
	}
}

// The two broken simulators print what real_up_failures asserts.
func TestSim(t *testing.T) {
	env := func(mode string) func(string) string {
		return func(k string) string {
			if k == "IMAGEBIN_SIM" {
				return mode
			}
			return ""
		}
	}
	ctx := context.Background()
	code, out, stderr := call(ctx, env("exit3"), "/sim", "-personality=vllm", "-addr=0.0.0.0:8000")
	if code != 3 || !strings.Contains(out, "loading model qwen") ||
		!strings.Contains(stderr, "RuntimeError: CUDA error: no kernel image is available for execution on the device") {
		t.Errorf("exit3: exit %d, stdout %q, stderr %q", code, out, stderr)
	}

	code, out, _ = call(ctx, env("never-ready"), "/sim", "-personality=vllm", "-healthcheck=http://127.0.0.1:8000")
	if code != 1 || !strings.Contains(out, "not ready: model still loading") {
		t.Errorf("health check: exit %d, stdout %q", code, out)
	}

	cctx, cancel := context.WithCancel(ctx)
	var o, e testio.SyncBuffer
	done := make(chan int)
	go func() { done <- run(cctx, []string{"/sim", "-personality=vllm"}, env("never-ready"), &o, &e) }()
	for !strings.Contains(o.String(), "simulator starting") {
		time.Sleep(10 * time.Millisecond) // bounded by the test's -timeout
	}
	select {
	case code := <-done:
		t.Fatalf("never-ready exited %d before it was stopped", code)
	default:
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("never-ready exited %d when stopped", code)
	}
	if !strings.Contains(o.String(), "simulator starting; it never becomes ready") {
		t.Errorf("never-ready stdout %q", o.String())
	}

	if code, _, stderr := call(ctx, nil, "/sim"); code != 2 || !strings.Contains(stderr, "IMAGEBIN_SIM") {
		t.Errorf("no mode: exit %d, stderr %q", code, stderr)
	}
	if code, _, _ := call(ctx, nil, "/bin/nothing"); code != 2 {
		t.Errorf("unknown name: exit %d", code)
	}
}
