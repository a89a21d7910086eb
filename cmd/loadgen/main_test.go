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
	"sync/atomic"
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

// -stages replaces the default -duration and, without -concurrency,
// leaves the open stages uncapped; the records file gets a line a request.
func TestStagesAndRecords(t *testing.T) {
	srv := fakeVLLM(t, "hi")
	dir := t.TempDir()
	out, recs := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.jsonl")
	var stdout, stderr bytes.Buffer
	args := []string{"-url", srv.URL, "-stages", "200ms@20,200ms@c2", "-max-tokens", "9", "-out", out, "-records", recs}
	if code := run(context.Background(), args, &stdout, &stderr, false); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	b, _ := os.ReadFile(out)
	var res struct {
		Config struct {
			Concurrency int    `json:"concurrency"`
			Stages      string `json:"stages"`
		} `json:"config"`
		Requests struct {
			OK int `json:"ok"`
		} `json:"requests"`
		Stages []struct {
			OK int `json:"ok"`
		} `json:"stages"`
	}
	if err := json.Unmarshal(b, &res); err != nil || res.Config.Concurrency != 0 || res.Config.Stages != "200ms@20,200ms@c2" ||
		len(res.Stages) != 2 || res.Stages[0].OK+res.Stages[1].OK != res.Requests.OK {
		t.Fatalf("results %+v (%v)\n%s", res, err, b)
	}
	lines, _ := os.ReadFile(recs)
	if n := bytes.Count(lines, []byte("\n")); n != res.Requests.OK {
		t.Fatalf("%d records, %d ok", n, res.Requests.OK)
	}
	if !strings.Contains(stdout.String(), "stage 2:     200ms@c2: ") {
		t.Fatalf("summary:\n%s", stdout.String())
	}
}

// Flags that cannot mean anything are refused with exit 2 and the fix.
func TestRunRefusesBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-concurrency", "0"}, "a closed loop needs at least 1 worker"},
		{[]string{"-concurrency", "-2", "-rate", "5"}, "0 for no cap or a positive cap"},
		{[]string{"-inflight-at-end", "drop"}, "expected fail"},
		{[]string{"-timeout-stall", "-1s"}, "-timeout-stall: timeout -1s: expected a duration >= 0"},
		{[]string{"-max-event-bytes", "0"}, "expected a positive number of bytes"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), append(c.args, "-out", ""), &stdout, &stderr, false); code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", c.args, code, stderr.String(), c.want)
		}
	}
}

// The timeout flags reach the run: a server that never answers fails the
// run (exit 1) with timeouts, recorded in the results file.
func TestTimeoutFlags(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // then the server notices the client leaving
		<-r.Context().Done()        // accepted, never answered
	}))
	t.Cleanup(srv.Close)
	for _, c := range []struct {
		args     []string
		msg      string
		firstTok float64
	}{
		{[]string{"-timeout-first-byte", "100ms"}, "first-byte timeout", 60},
		{[]string{"-timeout-first-byte", "0", "-timeout-first-token", "150ms"}, "first-token timeout", 0.15},
	} {
		out := filepath.Join(t.TempDir(), "r.json")
		var stdout, stderr bytes.Buffer
		args := append([]string{"-url", srv.URL, "-model", "m", "-requests", "2", "-duration", "10s", "-drain-timeout", "5s", "-out", out}, c.args...)
		if code := run(context.Background(), args, &stdout, &stderr, false); code != 1 || !strings.Contains(stderr.String(), "availability") {
			t.Fatalf("%v: exit %d, stderr %s", c.args, code, stderr.String())
		}
		var res struct {
			Requests struct {
				ByError map[string]int `json:"by_error"`
			} `json:"requests"`
			Config struct {
				FirstByte  float64 `json:"timeout_first_byte_seconds"`
				FirstToken float64 `json:"timeout_first_token_seconds"`
			} `json:"config"`
		}
		b, _ := os.ReadFile(out)
		if err := json.Unmarshal(b, &res); err != nil || res.Requests.ByError["timeout"] != 2 || res.Config.FirstToken != c.firstTok {
			t.Fatalf("%v: %v %+v", c.args, err, res)
		}
		if !strings.Contains(stdout.String(), c.msg) {
			t.Errorf("%v: summary lacks %q:\n%s", c.args, c.msg, stdout.String())
		}
	}
}

// -inflight-at-end=ignore leaves requests cut at the end out of availability.
func TestInFlightAtEndFlag(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `data: {"choices":[{"index":0,"delta":{"content":"x"}}]}`+"\n\n")
		if n.Add(1) > 2 {
			w.(http.Flusher).Flush()
			<-r.Context().Done() // one token, then never the end
			return
		}
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(srv.Close)
	for _, c := range []struct {
		policy string
		code   int
	}{{"fail", 1}, {"ignore", 0}} {
		n.Store(0)
		out := filepath.Join(t.TempDir(), "r.json")
		var stdout, stderr bytes.Buffer
		args := []string{"-url", srv.URL, "-model", "m", "-concurrency", "2", "-duration", "300ms", "-timeout-stall", "0",
			"-drain-timeout", "200ms", "-inflight-at-end", c.policy, "-out", out}
		if code := run(context.Background(), args, &stdout, &stderr, false); code != c.code {
			t.Fatalf("%s: exit %d, want %d\n%s\n%s", c.policy, code, c.code, stdout.String(), stderr.String())
		}
		b, _ := os.ReadFile(out)
		if !strings.Contains(string(b), `"in_flight_at_end": 2`) || !strings.Contains(string(b), `"in_flight_at_end": "`+c.policy+`"`) {
			t.Fatalf("%s: results file:\n%s", c.policy, b)
		}
	}
}
