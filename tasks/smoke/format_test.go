package smoke

import (
	"context"
	"strings"
	"testing"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
)

func TestFormatStep(t *testing.T) {
	for _, c := range []struct {
		s    Step
		want string
	}{
		{Step{Name: "health", OK: true, LatencyMS: 3.4}, "PASS  health                3 ms"},
		{Step{Name: "models", OK: true, LatencyMS: 0.2, Detail: "model qwen"}, "PASS  models                0 ms  model qwen"},
		{Step{Name: "completion short", LatencyMS: 1234.5, Error: "POST /v1/completions: expected 200, got 500"},
			"FAIL  completion short   1235 ms  POST /v1/completions: expected 200, got 500"},
		{Step{Name: "chat stream", Skipped: true, Error: "skipped: no model"}, "FAIL  chat stream              -  skipped: no model"},
	} {
		if got := FormatStep(c.s); got != c.want {
			t.Errorf("FormatStep(%+v)\n got %q\nwant %q", c.s, got, c.want)
		}
	}
	// The latency column lines up whatever the name.
	a, b := FormatStep(Step{Name: "health", OK: true, LatencyMS: 7}), FormatStep(Step{Name: "generate stream", OK: true, LatencyMS: 70})
	if strings.Index(a, " ms") != strings.Index(b, " ms") {
		t.Errorf("misaligned:\n%s\n%s", a, b)
	}
}

func TestReportText(t *testing.T) {
	r := &Report{Steps: []Step{{Name: "health", OK: true, LatencyMS: 1}, {Name: "metrics", Error: "GET /metrics: expected 200, got 404"}}}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := "PASS  health                1 ms\nFAIL  metrics               0 ms  GET /metrics: expected 200, got 404\nsmoke: 1 passed, 1 failed\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestSnippet(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "(empty body)"},
		{"  \n", "(empty body)"},
		{"line one\nline\ttwo\r\n", "line one line two"},
		{"bell\x07", "bell"},
		{strings.Repeat("é", 150), strings.Repeat("é", 100) + "..."},       // 300 bytes, cut on a rune boundary
		{strings.Repeat("a", 199) + "é", strings.Repeat("a", 199) + "..."}, // a rune across byte 200 is dropped
		{"\xff\xfeok", "\uFFFDok"},
	} {
		if got := Snippet([]byte(c.in)); got != c.want {
			t.Errorf("Snippet(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestTritonMetricsURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8000":  "http://127.0.0.1:8002/metrics",
		"http://gpu-box:8000/":   "http://gpu-box:8002/metrics",
		"https://[::1]:8000":     "https://[::1]:8002/metrics",
		"http://triton.internal": "http://triton.internal:8002/metrics",
	} {
		got, err := tritonMetricsURL(in, tritonDefaultMetricsPort)
		if err != nil || got != want {
			t.Errorf("tritonMetricsURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"127.0.0.1:8000", "ftp://x:1", "http://"} {
		if _, err := tritonMetricsURL(bad, tritonDefaultMetricsPort); err == nil || !strings.Contains(err.Error(), "expected http://HOST:PORT") {
			t.Errorf("tritonMetricsURL(%q): err %v", bad, err)
		}
	}
}

func TestOptionsRefused(t *testing.T) {
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{URL: "localhost:8000", Protocol: load.ProtocolOpenAIChat}, "expected http://HOST:PORT"},
		{Options{URL: "http://x:1", Protocol: "grpc"}, `protocol "grpc": expected one of`},
		{Options{URL: "http://x:1", Protocol: load.ProtocolTritonGenerate}, "needs the Triton model name"},
	} {
		if _, err := Run(context.Background(), c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Run(%+v): err %v, want %q", c.o, err, c.want)
		}
	}
}
