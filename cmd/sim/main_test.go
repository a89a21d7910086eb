package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
