package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fakeVLLM(t *testing.T, content string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/models" {
			io.WriteString(w, `{"data":[{"id":"served-model"}]}`)
			return
		}
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		if body["model"] != "served-model" || body["max_tokens"] != float64(9) {
			t.Errorf("body %v", body)
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `data: {"choices":[{"index":0,"delta":{"content":"`+content+`"}}]}`+"\n\n")
		io.WriteString(w, `data: {"choices":[{"index":0,"delta":{"content":"!"}}]}`+"\n\n")
		io.WriteString(w, `data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`+"\n\ndata: [DONE]\n\n")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRunFlags(t *testing.T) {
	srv := fakeVLLM(t, "hi")
	out := filepath.Join(t.TempDir(), "r.json")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-url", srv.URL, "-requests", "3", "-concurrency", "2", "-max-tokens", "9",
		"-out", out, "-duration", "0"}, &stdout, &stderr, false)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Backend  string `json:"backend"`
		Model    string `json:"model"`
		Requests struct {
			OK int `json:"ok"`
		} `json:"requests"`
		Config struct {
			Concurrency int `json:"concurrency"`
		} `json:"config"`
	}
	if err := json.Unmarshal(b, &res); err != nil || res.Backend != "vllm" || res.Model != "served-model" || res.Requests.OK != 3 || res.Config.Concurrency != 2 {
		t.Fatalf("%v %+v", err, res)
	}
	if !strings.Contains(stdout.String(), "SLO availability") {
		t.Errorf("no summary:\n%s", stdout.String())
	}
}

func TestRunExitCodes(t *testing.T) {
	srv := fakeVLLM(t, "x")
	var stdout, stderr bytes.Buffer
	// An impossible ITL objective breaks the SLO: exit 1.
	code := run(context.Background(), []string{"-url", srv.URL, "-requests", "2", "-max-tokens", "9", "-out", "",
		"-slo-ttft-p95", "1ns"}, &stdout, &stderr, false)
	if code != 1 || !strings.Contains(stderr.String(), "SLO broken: ttft_p95_seconds") {
		t.Fatalf("exit %d stderr %s", code, stderr.String())
	}
	for _, args := range [][]string{{"-backend", "tgi"}, {"-nope"}, {"extra"}} {
		stderr.Reset()
		if code := run(context.Background(), args, &stdout, &stderr, false); code != 2 {
			t.Errorf("%v: exit %d", args, code)
		}
	}
	// A configuration error (bad protocol) exits 1 with a message.
	stderr.Reset()
	if code := run(context.Background(), []string{"-url", srv.URL, "-protocol", "grpc", "-out", ""}, &stdout, &stderr, false); code != 1 ||
		!strings.Contains(stderr.String(), "protocol") {
		t.Errorf("exit %d %s", code, stderr.String())
	}
}

// -rate without -concurrency is an open loop with no in-flight cap; with
// -concurrency it is capped.
func TestRateHasNoCapByDefault(t *testing.T) {
	srv := fakeVLLM(t, "hi")
	for _, tc := range []struct {
		extra []string
		want  int
	}{{nil, 0}, {[]string{"-concurrency", "3"}, 3}} {
		out := filepath.Join(t.TempDir(), "r.json")
		var stdout, stderr bytes.Buffer
		args := append([]string{"-url", srv.URL, "-rate", "200", "-requests", "4", "-max-tokens", "9", "-out", out, "-duration", "0"}, tc.extra...)
		if code := run(context.Background(), args, &stdout, &stderr, false); code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr.String())
		}
		b, _ := os.ReadFile(out)
		var res struct {
			Config struct {
				Concurrency int `json:"concurrency"`
			} `json:"config"`
		}
		if err := json.Unmarshal(b, &res); err != nil || res.Config.Concurrency != tc.want {
			t.Errorf("%v: concurrency %d, want %d (%v)", tc.extra, res.Config.Concurrency, tc.want, err)
		}
	}
}
