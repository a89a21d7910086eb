package load

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/testio"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const ms1 = time.Millisecond

// The OpenAI chat stream of the exact-latency test (times after the send):
// role-only chunk at 30 ms (not content), content at 40, 50, 70 and 100 ms,
// usage (6 tokens for 4 chunks) at 105 ms, [DONE] at 110 ms.
func chatEvents() []sseEvent {
	return []sseEvent{
		{30 * ms1, `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}`},
		{10 * ms1, chatChunk("Hello")},  // TTFT = 40 ms
		{10 * ms1, chatChunk(" big")},   // gap 10 ms
		{20 * ms1, chatChunk(" wide")},  // gap 20 ms
		{30 * ms1, chatChunk(" world")}, // gap 30 ms
		{5 * ms1, usageChunk(17, 6)},    // usage says 6 tokens (4 chunks)
		{5 * ms1, "[DONE]"},             // E2E = 110 ms
	}
}

func TestRunOpenAIChatExactLatencies(t *testing.T) {
	clock := newLockstep()
	var log requestLog
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		body := log.add(t, r)
		if r.URL.Path != "/v1/chat/completions" || r.Method != http.MethodPost {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		if r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("content type %q", r.Header.Get("Content-Type"))
		}
		if body["model"] != "test-model" || body["stream"] != true || body["max_tokens"] != float64(128) {
			t.Errorf("body %v", body)
		}
		so, _ := body["stream_options"].(map[string]any)
		if so["include_usage"] != true {
			t.Errorf("stream_options %v", body["stream_options"])
		}
		msgs, _ := body["messages"].([]any)
		if len(msgs) != 1 || msgs[0].(map[string]any)["role"] != "user" || msgs[0].(map[string]any)["content"] == "" {
			t.Errorf("messages %v", body["messages"])
		}
		serveLockstep(w, clock, chatEvents())
	})
	out := filepath.Join(t.TempDir(), "res", "out.json")
	var status bytes.Buffer
	res, err := runReport(context.Background(), Options{Backend: "vllm", URL: srv.URL, Protocol: ProtocolOpenAIChat, Stream: true,
		Concurrency: 1, Requests: 3, Out: out, Status: &status, clock: clock.now,
		SLO: SLO{TTFTP95: time.Second, ITLP95: 100 * ms1}})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, status.String())
	}
	if res.Model != "test-model" {
		t.Errorf("model %q, want discovered test-model", res.Model)
	}
	if res.Requests.OK != 3 || res.Requests.Failed != 0 || log.count() != 3 {
		t.Fatalf("requests %+v, server saw %d", res.Requests, log.count())
	}
	// HDR values are within 0.1%.
	near := func(name string, got, want float64) {
		t.Helper()
		if d := got - want; d > want*0.001+1e-6 || d < -want*0.001-1e-6 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	near("ttft p50", res.TTFT.P50, 0.040)
	near("ttft max", res.TTFT.Max, 0.040)
	near("ttft from intended p95", res.TTFTFromIntended.P95, 0.040)
	near("itl p50", res.ITL.P50, 0.020)
	near("itl max", res.ITL.Max, 0.030)
	near("itl mean", res.ITL.Mean, 0.020)
	if res.ITL.Count != 9 {
		t.Errorf("itl count %d, want 3 gaps x 3 requests", res.ITL.Count)
	}
	near("e2e", res.E2E.P99, 0.110)
	near("tpot", res.TPOT.P50, (0.110-0.040)/5) // usage: 6 tokens
	if res.OutputTokensSource != SourceUsage || res.Tokens.Output != 18 || res.Tokens.Prompt != 51 || res.Tokens.PromptSource != SourceUsage {
		t.Errorf("tokens %+v source %s", res.Tokens, res.OutputTokensSource)
	}
	// Three back-to-back requests of 110 ms each.
	near("duration", res.DurationSeconds, 0.330)
	near("req/s", res.Throughput.RequestsPerSecond, 3/0.330)
	near("output tok/s", res.Throughput.OutputTokensPerSecond, 18/0.330)
	near("total tok/s", res.Throughput.TotalTokensPerSecond, (18+51)/0.330)
	near("goodput", res.Throughput.GoodputRequestsPerSec, 3/0.330)
	if !res.SLOOK || len(res.SLO) != 3 {
		t.Errorf("SLO %+v", res.SLO)
	}
	// The results file round-trips and has the documented keys.
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"backend", "model", "started", "duration_seconds", "requests", "ttft_seconds", "itl_seconds",
		"tpot_seconds", "e2e_seconds", "throughput", "slo", "config", "output_tokens_source", "scheduling_lag_seconds"} {
		if _, ok := m[k]; !ok {
			t.Errorf("results file lacks %q", k)
		}
	}
	if _, err := time.Parse(time.RFC3339, m["started"].(string)); err != nil {
		t.Errorf("started: %v", err)
	}
	q := m["ttft_seconds"].(map[string]any)
	for _, k := range []string{"p50", "p90", "p95", "p99", "p999", "mean"} {
		if _, ok := q[k]; !ok {
			t.Errorf("ttft_seconds lacks %q", k)
		}
	}
	back, err := ReadResult(out)
	if err != nil || back.Requests.OK != 3 || back.TTFT != res.TTFT {
		t.Errorf("ReadResult: %v %+v", err, back)
	}
	mustContain(t, status.String(), "TTFT", "ITL", "SLO availability", "PASS", "results written to")
}

func TestRunOpenAICompletionsCountedChunks(t *testing.T) {
	clock := newLockstep()
	var log requestLog
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		body := log.add(t, r)
		if r.URL.Path != "/v1/completions" || body["prompt"] == nil || body["model"] != "my-model" || body["max_tokens"] != float64(7) {
			t.Errorf("%s %v", r.URL.Path, body)
		}
		// No usage chunk: tokens are counted chunks.
		serveLockstep(w, clock, []sseEvent{{50 * ms1, completionChunk("A")}, {25 * ms1, completionChunk("B")},
			{25 * ms1, completionChunk("C")}, {0, "[DONE]"}})
	})
	res, err := runReport(context.Background(), Options{URL: srv.URL + "/", Model: "my-model", Protocol: ProtocolOpenAICompletions,
		Stream: true, Concurrency: 1, Requests: 2, MaxTokens: 7, clock: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	if res.OutputTokensSource != SourceChunks || res.Tokens.Output != 6 || res.Tokens.PromptSource != SourceWords {
		t.Fatalf("tokens %+v %s", res.Tokens, res.OutputTokensSource)
	}
	if !hdrNear(res.TTFT.P50, 0.05) || !hdrNear(res.ITL.P50, 0.025) || res.ITL.Count != 4 || !hdrNear(res.E2E.Max, 0.1) {
		t.Fatalf("ttft %+v itl %+v e2e %+v", res.TTFT, res.ITL, res.E2E)
	}
	if want := (0.1 - 0.05) / 2; !hdrNear(res.TPOT.P50, want) {
		t.Fatalf("tpot %v want %v", res.TPOT.P50, want)
	}
}

func TestRunTritonGenerate(t *testing.T) {
	clock := newLockstep()
	var log requestLog
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		body := log.add(t, r)
		if r.URL.Path != "/v2/models/vllm_model/generate_stream" {
			t.Errorf("path %s", r.URL.Path)
		}
		// vLLM backend inputs: text_input, stream (input tensor), sampling_parameters (a JSON string).
		sp, ok := body["sampling_parameters"].(string)
		var params map[string]any
		if !ok || json.Unmarshal([]byte(sp), &params) != nil || params["max_tokens"] != float64(16) {
			t.Errorf("sampling_parameters %#v", body["sampling_parameters"])
		}
		if body["stream"] != true || body["text_input"] == "" || len(body) != 3 {
			t.Errorf("body %v", body)
		}
		serveLockstep(w, clock, []sseEvent{{80 * ms1, tritonChunk("vllm_model", "The")},
			{40 * ms1, tritonChunk("vllm_model", " cat")}, {40 * ms1, tritonChunk("vllm_model", " sat")}})
	})
	o, err := Preset("triton", 1)
	if err != nil {
		t.Fatal(err)
	}
	o.URL, o.Requests, o.MaxTokens, o.clock = srv.URL, 2, 16, clock.now
	res, err := runReport(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests.OK != 2 || !hdrNear(res.TTFT.P50, 0.08) || !hdrNear(res.ITL.P50, 0.04) || res.ITL.Count != 4 || res.OutputTokensSource != SourceChunks || res.Tokens.Output != 6 {
		t.Fatalf("%+v\nttft %+v itl %+v", res.Requests, res.TTFT, res.ITL)
	}
	// A stream's end is its last event for Triton (no [DONE]).
	if !hdrNear(res.E2E.P50, 0.16) {
		t.Fatalf("e2e %+v", res.E2E)
	}
}

func TestRunTritonTRTEnsemble(t *testing.T) {
	clock := newLockstep()
	var log requestLog
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		body := log.add(t, r)
		if r.URL.Path != "/v2/models/ensemble/generate_stream" {
			t.Errorf("path %s", r.URL.Path)
		}
		if body["text_input"] == "" || body["max_tokens"] != float64(128) || body["stream"] != true ||
			body["bad_words"] != "" || body["stop_words"] != "" {
			t.Errorf("body %v", body)
		}
		serveLockstep(w, clock, []sseEvent{{100 * ms1, tritonChunk("ensemble", "x")}, {15 * ms1, tritonChunk("ensemble", "y")}})
	})
	o, _ := Preset("trt", 1)
	o.URL, o.Requests, o.clock = srv.URL, 1, clock.now
	res, err := runReport(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Backend != "trt" || res.Model != "ensemble" || !hdrNear(res.TTFT.P50, 0.1) || !hdrNear(res.ITL.P50, 0.015) || res.Tokens.Output != 2 {
		t.Fatalf("%+v ttft %+v itl %+v", res, res.TTFT, res.ITL)
	}
}

func TestRunTritonTokenCountsAndNonStreamed(t *testing.T) {
	clock := newLockstep()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		switch r.URL.Path {
		case "/v2/models/vllm_model/generate_stream":
			if body["return_num_output_tokens"] != true || body["return_num_input_tokens"] != true {
				t.Errorf("body %v", body)
			}
			serveLockstep(w, clock, []sseEvent{
				{10 * ms1, `{"text_output":"ab","num_input_tokens":9,"num_output_tokens":2}`},
				{10 * ms1, `{"text_output":"c","num_input_tokens":9,"num_output_tokens":1}`}})
		case "/v2/models/vllm_model/generate":
			if body["stream"] != false {
				t.Errorf("body %v", body)
			}
			// As the vLLM backend does for a non-streamed request, the
			// answer begins with the prompt; it is not output.
			w.Header().Set("Content-Type", "application/json")
			out, _ := json.Marshal(map[string]any{"model_name": "vllm_model", "model_version": "1",
				"text_output": body["text_input"].(string) + " one two three four"})
			w.Write(out)
		default:
			http.NotFound(w, r)
		}
	})
	o, _ := Preset("triton", 1)
	o.URL, o.Requests, o.TritonTokenCounts, o.clock = srv.URL, 1, true, clock.now
	res, err := runReport(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.OutputTokensSource != SourceUsage || res.Tokens.Output != 3 || res.Tokens.Prompt != 9 {
		t.Fatalf("tokens %+v %s", res.Tokens, res.OutputTokensSource)
	}
	o.Stream, o.TritonTokenCounts, o.clock = false, false, nil
	res, err = runReport(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests.OK != 1 || res.OutputTokensSource != SourceWords || res.Tokens.Output != 4 || res.ITL.Count != 0 ||
		res.TTFT.P50 != res.E2E.P50 || res.TPOT.Count != 0 {
		t.Fatalf("non-streamed: %+v tokens %+v ttft %+v e2e %+v", res.Requests, res.Tokens, res.TTFT, res.E2E)
	}
}

func TestRunNonStreamedOpenAI(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		if body["stream"] != false || body["stream_options"] != nil {
			t.Errorf("body %v", body)
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":4,"completion_tokens":11,"total_tokens":15}}`)
	})
	res, err := runReport(context.Background(), Options{URL: srv.URL, Concurrency: 2, Requests: 4})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests.OK != 4 || res.Tokens.Output != 44 || res.OutputTokensSource != SourceUsage {
		t.Fatalf("%+v %+v", res.Requests, res.Tokens)
	}
}

// TestRunCanceledWritesResults: Ctrl+C (ctx cancel) mid-run returns the result
// with a nil error, counts the cut requests as canceled (not failed) and
// still writes the results file.
func TestRunCanceledWritesResults(t *testing.T) {
	var served atomic.Int64
	reached := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		n := served.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		if n <= 4 {
			fmt.Fprintf(w, "data: %s\n\ndata: %s\n\ndata: [DONE]\n\n", chatChunk("a"), chatChunk("b"))
			return
		}
		// Later requests hang mid-stream until the client goes away.
		fmt.Fprintf(w, "data: %s\n\n", chatChunk("partial"))
		w.(http.Flusher).Flush()
		if n == 6 {
			close(reached)
		}
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-reached; cancel() }()
	out := filepath.Join(t.TempDir(), "canceled.json")
	var status bytes.Buffer
	res, err := runReport(ctx, Options{URL: srv.URL, Model: "m", Stream: true, Concurrency: 2, Duration: time.Hour,
		Out: out, Status: &status})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.StoppedBy != "canceled" || res.Requests.OK != 4 || res.Requests.Canceled != 2 || res.Requests.Failed != 0 {
		t.Fatalf("stopped %q requests %+v", res.StoppedBy, res.Requests)
	}
	if res.Requests.ByError[string(ErrCanceled)] != 2 || *res.Requests.Availability != 1 {
		t.Fatalf("by_error %v", res.Requests.ByError)
	}
	back, err := ReadResult(out)
	if err != nil || back.Requests.Canceled != 2 || back.StoppedBy != "canceled" {
		t.Fatalf("results file: %v %+v", err, back)
	}
	mustContain(t, status.String(), "canceled 2", "results written to "+out)
}

func TestErrorKinds(t *testing.T) {
	// A closed port for "connect".
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + ln.Addr().String()
	ln.Close()

	flushWrite := func(w http.ResponseWriter, s string) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, s)
		w.(http.Flusher).Flush()
	}
	cases := []struct {
		kind    ErrorKind
		proto   Protocol
		handler http.HandlerFunc
		url     string
		timeout time.Duration
	}{
		{ErrHTTP4xx, ProtocolOpenAIChat, func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"object":"error","message":"max_tokens too large","type":"BadRequestError","code":400}`, 400)
		}, "", 0},
		{ErrHTTP5xx, ProtocolOpenAIChat, func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "engine dead", http.StatusServiceUnavailable)
		}, "", 0},
		{ErrHTTP4xx, ProtocolTritonGenerate, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			io.WriteString(w, `{"error":"unexpected inference input 'foo'"}`)
		}, "", 0},
		{ErrConnect, ProtocolOpenAIChat, nil, closedURL, 0},
		{ErrStreamError, ProtocolOpenAIChat, func(w http.ResponseWriter, r *http.Request) {
			flushWrite(w, "data: "+chatChunk("a")+"\n\n"+`data: {"error":{"object":"error","message":"CUDA OOM","type":"InternalServerError","code":500}}`+"\n\n")
		}, "", 0},
		{ErrStreamError, ProtocolTritonTRT, func(w http.ResponseWriter, r *http.Request) {
			flushWrite(w, "data: "+tritonChunk("ensemble", "a")+"\n\n"+`data: {"error":"Encountered an error in forward"}`+"\n\n")
		}, "", 0},
		{ErrStreamTruncated, ProtocolOpenAIChat, func(w http.ResponseWriter, r *http.Request) {
			// A clean end of the body without [DONE].
			flushWrite(w, "data: "+chatChunk("a")+"\n\n")
		}, "", 0},
		{ErrStreamTruncated, ProtocolTritonGenerate, func(w http.ResponseWriter, r *http.Request) {
			// The connection dies inside an event (no terminating chunk).
			flushWrite(w, "data: "+tritonChunk("vllm_model", "a")+"\n\ndata: {\"text_out")
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err == nil {
				buf.Flush()
				conn.Close()
			}
		}, "", 0},
		{ErrEmptyOutput, ProtocolOpenAIChat, func(w http.ResponseWriter, r *http.Request) {
			flushWrite(w, "data: "+chatChunk("")+"\n\ndata: "+usageChunk(3, 0)+"\n\ndata: [DONE]\n\n")
		}, "", 0},
		{ErrTimeout, ProtocolOpenAIChat, func(w http.ResponseWriter, r *http.Request) {
			flushWrite(w, "data: "+chatChunk("a")+"\n\n")
			<-r.Context().Done()
		}, "", 50 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(string(c.kind)+"/"+string(c.proto), func(t *testing.T) {
			u := c.url
			if c.handler != nil {
				u = newServer(t, c.handler).URL
			}
			reg := prometheus.NewRegistry()
			res, err := runReport(context.Background(), Options{URL: u, Model: "vllm_model", Protocol: c.proto, Stream: true,
				Concurrency: 1, Requests: 3, RequestTimeout: c.timeout, Registry: reg})
			if !errors.Is(err, ErrSLO) {
				t.Fatalf("err = %v, want the availability SLO broken", err)
			}
			// Every request failed with the kind, and the worker kept going.
			if res.Requests.Failed != 3 || res.Requests.OK != 0 || res.Requests.ByError[string(c.kind)] != 3 || len(res.Requests.ByError) != 1 {
				t.Fatalf("requests %+v samples %+v", res.Requests, res.ErrorSamples)
			}
			if len(res.ErrorSamples) == 0 || res.ErrorSamples[0].Kind != c.kind {
				t.Fatalf("samples %+v", res.ErrorSamples)
			}
			if *res.Requests.Availability != 0 || res.SLOOK {
				t.Fatalf("availability %v", *res.Requests.Availability)
			}
			if got := testutil.ToFloat64(metricVec(t, reg, "loadgen_errors_total", "kind", string(c.kind))); got != 3 {
				t.Fatalf("loadgen_errors_total{kind=%s} = %v", c.kind, got)
			}
		})
	}
}

// metricVec finds one counter series in a registry.
func metricVec(t *testing.T, reg *prometheus.Registry, name, label, value string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x"}, func() float64 { return m.GetCounter().GetValue() })
				}
			}
		}
	}
	t.Fatalf("no series %s{%s=%q}", name, label, value)
	return nil
}

func TestSLOVerdictsAndBoundedError(t *testing.T) {
	// TTFT of 3 s breaks the default 2 s objective; ITL 0.2 s breaks 150 ms.
	clock := newLockstep()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		serveLockstep(w, clock, []sseEvent{{3 * time.Second, chatChunk("a")}, {200 * ms1, chatChunk("b")},
			{0, usageChunk(1, 2)}, {0, "[DONE]"}})
	})
	var status bytes.Buffer
	res, err := runReport(context.Background(), Options{URL: srv.URL, Stream: true, Requests: 2, clock: clock.now, Status: &status})
	if !errors.Is(err, ErrSLO) {
		t.Fatalf("err = %v", err)
	}
	mustContain(t, err.Error(), "ttft_p95_seconds = 3", "itl_p95_seconds = 0.2")
	if strings.Contains(err.Error(), "availability") {
		t.Errorf("availability reported broken: %v", err)
	}
	if res.Throughput.GoodputRequestsPerSec != 0 || res.Throughput.RequestsPerSecond == 0 {
		t.Errorf("goodput %+v", res.Throughput)
	}
	verdicts := map[string]bool{}
	for _, v := range res.SLO {
		verdicts[v.Name] = v.OK
	}
	if !verdicts["availability"] || verdicts["ttft_p95_seconds"] || verdicts["itl_p95_seconds"] {
		t.Errorf("verdicts %+v", verdicts)
	}
	mustContain(t, status.String(), "SLO availability", "PASS", "SLO ttft_p95_seconds", "FAIL")

	// Relaxed objectives pass; a disabled objective (negative) is not evaluated.
	res, err = runReport(context.Background(), Options{URL: srv.URL, Stream: true, Requests: 1, clock: clock.now,
		SLO: SLO{TTFTP95: 5 * time.Second, ITLP95: -1}})
	if err != nil || len(res.SLO) != 2 || !res.SLOOK {
		t.Fatalf("relaxed: %v %+v", err, res.SLO)
	}
	if res.Throughput.GoodputRequestsPerSec != res.Throughput.RequestsPerSecond {
		t.Errorf("goodput %+v", res.Throughput)
	}
}

func TestSLOEval(t *testing.T) {
	s := newStats()
	got := evalSLO(DefaultSLO(), &s)
	for _, v := range got {
		if v.OK || !v.NoData || v.Value != nil {
			t.Errorf("no data: %+v", v)
		}
	}
	r := &Result{SLO: got}
	if err := r.SLOError(); !errors.Is(err, ErrSLO) || !strings.Contains(err.Error(), "no data") {
		t.Errorf("SLOError %v", err)
	}
	s.ok, s.failed = 999, 1
	for i := 0; i < 100; i++ {
		recordDur(s.ttftSched, time.Duration(i+1)*20*ms1) // p95 = 1.9 s
		recordDur(s.itl, time.Duration(i+1)*1500*time.Microsecond)
	}
	got = evalSLO(DefaultSLO(), &s)
	want := map[string]bool{"availability": true, "ttft_p95_seconds": true, "itl_p95_seconds": true}
	for _, v := range got {
		if v.OK != want[v.Name] {
			t.Errorf("%s: %+v", v.Name, v)
		}
	}
	if err := (&Result{SLO: got}).SLOError(); err != nil {
		t.Errorf("SLOError = %v", err)
	}
	s.failed = 2 // 99.8%
	got = evalSLO(DefaultSLO(), &s)
	if got[0].OK || *got[0].Value != 999.0/1001 {
		t.Errorf("availability %+v", got[0])
	}
}

// TestOpenLoopIntendedTime: with a concurrency cap of 1 and a server slower
// than the arrival rate, requests queue in the client; the intended-time
// latencies and the scheduling lag show the queue.
func TestOpenLoopIntendedTime(t *testing.T) {
	const service = 20 * ms1
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		time.Sleep(service)
		io.WriteString(w, "data: "+chatChunk("a")+"\n\ndata: [DONE]\n\n")
	})
	res, err := runReport(context.Background(), Options{URL: srv.URL, Stream: true, Rate: 200, Shape: ShapeConstant, Concurrency: 1,
		Requests: 10, SLO: SLO{TTFTP95: time.Hour, ITLP95: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests.OK != 10 || res.Config.Shape != ShapeConstant || res.Config.Rate != 200 {
		t.Fatalf("%+v %+v", res.Requests, res.Config)
	}
	// Request i is intended at (i+1)*5 ms but cannot start before i*20 ms:
	// the last waits at least 9*20 - 10*5 = 130 ms.
	if res.SchedulingLag.Max < 0.130 {
		t.Errorf("lag max %v, want >= 130 ms", res.SchedulingLag.Max)
	}
	if res.E2EFromIntended.Max < res.E2E.Max || res.E2EFromIntended.Max < 0.130+service.Seconds() {
		t.Errorf("e2e from intended %+v vs e2e %+v", res.E2EFromIntended, res.E2E)
	}
	if res.TTFTFromIntended.P99 < res.TTFT.P99 {
		t.Errorf("ttft from intended %+v < ttft %+v", res.TTFTFromIntended, res.TTFT)
	}
}

func TestWarmupExcluded(t *testing.T) {
	var n atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if n.Add(1) <= 2 {
			http.Error(w, "cold", 503) // only the warm-up requests fail
			return
		}
		io.WriteString(w, "data: "+chatChunk("a")+"\n\ndata: [DONE]\n\n")
	})
	res, err := runReport(context.Background(), Options{URL: srv.URL, Stream: true, Concurrency: 1, WarmupRequests: 2, Requests: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests.Warmup != 2 || res.Requests.OK != 3 || res.Requests.Failed != 0 || n.Load() != 5 {
		t.Fatalf("%+v server saw %d", res.Requests, n.Load())
	}
}

func TestMetricsEndpoint(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	var once atomic.Bool
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		if once.CompareAndSwap(false, true) {
			close(entered)
			<-release
		}
		io.WriteString(w, "data: "+chatChunk("a")+"\n\ndata: "+chatChunk("b")+"\n\ndata: "+usageChunk(2, 5)+"\n\ndata: [DONE]\n\n")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	done := make(chan *Result)
	go func() {
		res, err := runReport(context.Background(), Options{Backend: "sim", URL: srv.URL, Stream: true, Requests: 2, MetricsListener: ln, Registry: reg})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	<-entered
	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	close(release)
	<-done
	text := string(body)
	mustContain(t, text, `loadgen_in_flight_requests{backend="sim",model="test-model"} 1`,
		`loadgen_ttft_seconds_bucket{backend="sim",model="test-model",le="2560"} 0`,
		`loadgen_itl_seconds_bucket{backend="sim",model="test-model",le="80"} 0`,
		`loadgen_errors_total{backend="sim",kind="stream_truncated",model="test-model"} 0`,
		"loadgen_scheduling_lag_seconds_bucket")
	// After the run: two requests of 5 usage tokens, 1 gap each.
	expected := `
# HELP loadgen_output_tokens_total Output tokens of successful requests.
# TYPE loadgen_output_tokens_total counter
loadgen_output_tokens_total{backend="sim",model="test-model"} 10
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expected), "loadgen_output_tokens_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "loadgen_itl_seconds"); n != 1 {
		t.Errorf("itl series %d", n)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "loadgen_itl_seconds" && mf.GetMetric()[0].GetHistogram().GetSampleCount() != 2 {
			t.Errorf("itl samples %d", mf.GetMetric()[0].GetHistogram().GetSampleCount())
		}
		if mf.GetName() == "loadgen_requests_total" {
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[1].GetValue() == "ok" && m.GetCounter().GetValue() != 2 {
					t.Errorf("ok %v", m.GetCounter().GetValue())
				}
			}
		}
	}
}

func TestStatusLine(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "data: "+chatChunk("a")+"\n\ndata: "+chatChunk("b")+"\n\ndata: [DONE]\n\n")
	})
	for _, term := range []bool{true, false} {
		var buf testio.SyncBuffer
		_, err := runReport(context.Background(), Options{URL: srv.URL, Stream: true, Concurrency: 2, Duration: 120 * ms1,
			Status: &buf, IsTerminal: term, StatusInterval: 20 * ms1})
		if err != nil {
			t.Fatal(err)
		}
		s := buf.String()
		mustContain(t, s, "ok ", "req/s", "tok/s", "TTFT p50", "ITL p50", "SLO ok", "==== load test")
		if term != strings.Contains(s, "\r") || term != strings.Contains(s, "\x1b[K") {
			t.Errorf("terminal=%v output %q", term, s)
		}
	}
}

func TestValidation(t *testing.T) {
	cases := []struct {
		o    Options
		want string
	}{
		{Options{URL: "localhost:8000"}, "base URL"},
		{Options{URL: "http://x", Protocol: "grpc"}, "protocol"},
		{Options{URL: "http://x", Protocol: ProtocolTritonGenerate}, "needs Model"},
		{Options{URL: "http://x", Rate: -1}, "rate"},
		{Options{URL: "http://x", Shape: "gamma"}, "needs a rate"},
		{Options{URL: "http://x", Model: "m", Rate: 1, Shape: "zipf"}, "poisson, gamma or constant"},
		{Options{URL: "http://x", Model: "m", Prompts: PromptSource{Dataset: "/nonexistent.jsonl"}}, "open dataset"},
	}
	for _, c := range cases {
		_, err := runReport(context.Background(), c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want %q", c.o, err, c.want)
		}
	}
	if _, err := Preset("tgi", 1); err == nil {
		t.Error("Preset(tgi) accepted")
	}
}

func TestPrintSummaryNoData(t *testing.T) {
	var b bytes.Buffer
	r := &Result{Backend: "vllm", SLO: evalSLO(DefaultSLO(), func() *stats { s := newStats(); return &s }())}
	r.PrintSummary(&b)
	sc := bufio.NewScanner(&b)
	n := 0
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "SLO ") {
			n++
			mustContain(t, sc.Text(), "no data", "FAIL")
		}
	}
	if n != 3 {
		t.Errorf("%d SLO lines", n)
	}
}
