package main

import (
	"net/http"
	"net/http/httptest"
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
