package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/sim"
)

func TestHealthcheckMode(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			w.WriteHeader(404)
		}
	}))
	defer ok.Close()
	if got := run([]string{"-healthcheck", ok.URL}); got != 0 {
		t.Errorf("healthy server (path-less URL gets /health): exit %d, want 0", got)
	}
	if got := run([]string{"-personality=triton-vllm", "-healthcheck", ok.URL}); got != 1 {
		t.Errorf("triton readiness path is /v2/health/ready, answered 404: exit %d, want 1", got)
	}
	if got := run([]string{"-healthcheck", "http://127.0.0.1:1/health"}); got != 1 {
		t.Errorf("nothing listening: exit %d, want 1", got)
	}
	if got := run([]string{"-max-num-seqs=0"}); got != 2 {
		t.Errorf("invalid config: exit %d, want 2", got)
	}
}

func TestFDWarning(t *testing.T) {
	if w := fdWarning(1024, 960); !strings.Contains(w, "open-files limit is 1024") || !strings.Contains(w, "at most 960 connections") || !strings.Contains(w, "--ulimit nofile=") {
		t.Errorf("low limit: %q", w)
	}
	if w := fdWarning(1048576, 983040); w != "" {
		t.Errorf("high limit warned: %q", w)
	}
}

func TestCPUProfileFlag(t *testing.T) {
	if got := run([]string{"-addr", "127.0.0.1:0", "-cpuprofile", t.TempDir() + "/no/such/dir/cpu.pprof"}); got != 2 {
		t.Errorf("-cpuprofile in a missing folder: exit %d, want 2 before the server starts", got)
	}
	path := t.TempDir() + "/cpu.pprof"
	stop, err := startCPUProfile(path)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		t.Errorf("profile %s after stop: %v, %v; want a non-empty file", path, st, err)
	}
}

func TestSpareProc(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(before)
	procs, writers := sim.SpareProc()
	if writers != before || procs != before+1 || runtime.GOMAXPROCS(0) != before+1 {
		t.Errorf("SpareProc from GOMAXPROCS %d: %d Ps (now %d), %d writers; want %d and %d", before, procs, runtime.GOMAXPROCS(0), writers, before+1, before)
	}
}
