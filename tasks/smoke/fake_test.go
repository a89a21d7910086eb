package smoke

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
)

// A fake server answers well on every route unless a test replaces a route
// ("METHOD /path") with one that answers badly. Good handlers check the
// request they get, so the tests also pin what the smoke steps send.

func jsonReply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func sse(w http.ResponseWriter, events ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
	for _, e := range events {
		io.WriteString(w, e)
		w.(http.Flusher).Flush()
	}
}

func decodeBody(t *testing.T, r *http.Request) map[string]any {
	var m map[string]any
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		t.Errorf("%s %s: body is not JSON: %v", r.Method, r.URL.Path, err)
	}
	return m
}

const (
	oaChunk  = `data: {"choices":[{"index":0,"delta":{"content":"one"},"finish_reason":null}]}` + "\n\n"
	oaUsage  = `data: {"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}` + "\n\n"
	oaDone   = "data: [DONE]\n\n"
	trtEvent = `data: {"model_name":"m","text_output":" two"}` + "\n\n"
)

func goodOpenAI(t *testing.T) map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /health": func(w http.ResponseWriter, r *http.Request) {},
		"GET /v1/models": func(w http.ResponseWriter, r *http.Request) {
			jsonReply(w, 200, `{"object":"list","data":[{"id":"qwen","root":"Qwen/Qwen2.5"}]}`)
		},
		"GET /version": func(w http.ResponseWriter, r *http.Request) { jsonReply(w, 200, `{"version":"0.20.0"}`) },
		"POST /v1/completions": func(w http.ResponseWriter, r *http.Request) {
			m := decodeBody(t, r)
			if m["model"] != "qwen" || m["max_tokens"] != float64(ShortMaxTokens) || m["prompt"] != ShortPrompt {
				t.Errorf("completion request %v", m)
			}
			jsonReply(w, 200, `{"choices":[{"text":" Paris","finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":16,"total_tokens":21}}`)
		},
		"POST /v1/chat/completions": goodOpenAIChat(t),
		"GET /metrics": func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "# HELP vllm:num_requests_running x\n# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{model_name=\"qwen\"} 0\n"+
				"vllm:generation_tokens_total{engine=\"0\",model_name=\"qwen\"} 42\nvllm:time_to_first_token_seconds_count{engine=\"0\",model_name=\"qwen\"} 3\n")
		},
	}
}

func goodOpenAIChat(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var m map[string]any
		json.Unmarshal(body, &m)
		want := float64(LongMaxTokens)
		if m["stream"] == true {
			want = StreamMaxTokens
		}
		if m["model"] != "qwen" || m["max_tokens"] != want {
			t.Errorf("chat: model %v max_tokens %v (want %v)", m["model"], m["max_tokens"], want)
		}
		if m["stream"] == true {
			so, _ := m["stream_options"].(map[string]any)
			if so["include_usage"] != true {
				t.Errorf("stream without stream_options.include_usage: %v", m)
			}
			sse(w, oaChunk, oaChunk, oaChunk, oaUsage, oaDone)
			return
		}
		jsonReply(w, 200, `{"choices":[{"message":{"role":"assistant","content":"a long answer"},"finish_reason":"stop"}],"usage":{"prompt_tokens":30,"completion_tokens":200,"total_tokens":230}}`)
	}
}

func goodTriton(t *testing.T, trt bool) map[string]http.HandlerFunc {
	model := "qwen"
	meta := `{"name":"qwen","versions":["1"],"platform":"vllm","inputs":[{"name":"text_input","datatype":"BYTES","shape":[1]},{"name":"stream","datatype":"BOOL","shape":[1]}],"outputs":[{"name":"text_output","datatype":"BYTES","shape":[-1]}]}`
	if trt {
		model = "ensemble"
		meta = `{"name":"ensemble","versions":["1"],"platform":"ensemble","inputs":[{"name":"text_input","datatype":"BYTES","shape":[-1,1]},{"name":"max_tokens","datatype":"INT32","shape":[-1,1]},{"name":"bad_words","datatype":"BYTES","shape":[-1,-1]},{"name":"stop_words","datatype":"BYTES","shape":[-1,-1]}],"outputs":[{"name":"text_output","datatype":"BYTES","shape":[-1,-1]}]}`
	}
	// checkGen verifies the request and returns the prompt and whether it streams.
	checkGen := func(r *http.Request, wantStream bool) string {
		m := decodeBody(t, r)
		prompt, _ := m["text_input"].(string)
		if m["stream"] != wantStream {
			t.Errorf("%s: stream %v, want %v", r.URL.Path, m["stream"], wantStream)
		}
		var maxTok float64
		if trt {
			maxTok, _ = m["max_tokens"].(float64)
			if m["bad_words"] != "" || m["stop_words"] != "" {
				t.Errorf("ensemble request without empty bad_words/stop_words: %v", m)
			}
		} else {
			s, ok := m["sampling_parameters"].(string)
			var sp map[string]float64
			if !ok || json.Unmarshal([]byte(s), &sp) != nil {
				t.Errorf("sampling_parameters is not a JSON string: %v", m["sampling_parameters"])
			}
			maxTok = sp["max_tokens"]
			if _, bad := m["max_tokens"]; bad {
				t.Errorf("vLLM backend request with a max_tokens input: %v", m)
			}
		}
		want := map[string]float64{ShortPrompt: ShortMaxTokens, LongPrompt: LongMaxTokens, StreamPrompt: StreamMaxTokens}[prompt]
		if want == 0 || maxTok != want {
			t.Errorf("%s: prompt %q max_tokens %v, want %v", r.URL.Path, prompt, maxTok, want)
		}
		return prompt
	}
	base := "/v2/models/" + model
	return map[string]http.HandlerFunc{
		"GET /v2/health/ready":   func(w http.ResponseWriter, r *http.Request) {},
		"GET " + base:            func(w http.ResponseWriter, r *http.Request) { jsonReply(w, 200, meta) },
		"GET " + base + "/ready": func(w http.ResponseWriter, r *http.Request) {},
		"POST " + base + "/generate": func(w http.ResponseWriter, r *http.Request) {
			p := checkGen(r, false)
			b, _ := json.Marshal(map[string]string{"model_name": model, "text_output": p + " and more"})
			jsonReply(w, 200, string(b))
		},
		"POST " + base + "/generate_stream": func(w http.ResponseWriter, r *http.Request) {
			checkGen(r, true)
			sse(w, trtEvent, trtEvent, trtEvent)
		},
		"GET /metrics": func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "nv_inference_request_success{model=\"qwen\",version=\"1\"} 3\n"+
				"nv_inference_request_success{model=\"ensemble\",version=\"1\"} 3\n"+
				"vllm:time_to_first_token_seconds_count{model=\"m\",version=\"1\"} 3\n"+
				"nv_trt_llm_request_metrics{model=\"tensorrt_llm\",request_type=\"active\",version=\"1\"} 0\n")
		},
	}
}

// serve starts a fake server from routes; metrics are on the same server.
func serve(t *testing.T, routes map[string]http.HandlerFunc) *httptest.Server {
	mux := http.NewServeMux()
	for pattern, h := range routes {
		if h != nil {
			mux.HandleFunc(pattern, h)
		}
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// cut answers with a partial body and then breaks the connection.
func cut(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Content-Length", fmt.Sprint(len(body)+100))
		w.WriteHeader(200)
		io.WriteString(w, body)
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}
}

type badCase struct {
	name   string
	routes map[string]http.HandlerFunc // replaced routes
	opts   func(*Options)
	fail   map[string][]string // failing step -> substrings of its error
	skip   []string            // steps skipped
	pass   map[string]string   // steps that must pass, with a substring of their detail
}

func runCase(t *testing.T, c badCase, good map[string]http.HandlerFunc, o Options) {
	routes := map[string]http.HandlerFunc{}
	for k, v := range good {
		routes[k] = v
	}
	for k, v := range c.routes {
		routes[k] = v
	}
	srv := serve(t, routes)
	o.URL = srv.URL
	o.MetricsURL = srv.URL + "/metrics"
	if c.opts != nil {
		c.opts(&o)
	}
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	failed := map[string]bool{}
	for name, subs := range c.fail {
		failed[name] = true
		s := step(t, rep, name)
		if s.OK {
			t.Errorf("step %s passed, want a failure", name)
			continue
		}
		for _, sub := range subs {
			if !strings.Contains(s.Error, sub) {
				t.Errorf("step %s: error %q lacks %q", name, s.Error, sub)
			}
		}
		if line := FormatStep(s); !strings.HasPrefix(line, "FAIL  "+name) || !strings.Contains(line, s.Error) {
			t.Errorf("FAIL line %q", line)
		}
	}
	for _, name := range c.skip {
		failed[name] = true
		if s := step(t, rep, name); s.OK || !s.Skipped || !strings.HasPrefix(s.Error, "skipped: no model") {
			t.Errorf("step %s: %+v, want skipped", name, s)
		}
	}
	for _, s := range rep.Steps {
		if !failed[s.Name] && !s.OK {
			t.Errorf("step %s failed: %s", s.Name, s.Error)
		}
		if sub, ok := c.pass[s.Name]; ok && !strings.Contains(s.Detail, sub) {
			t.Errorf("step %s: detail %q lacks %q", s.Name, s.Detail, sub)
		}
	}
	if rep.OK != (len(failed) == 0) || rep.Failed() != len(failed) {
		t.Errorf("ok %v, %d failed, want %d", rep.OK, rep.Failed(), len(failed))
	}
}

func status(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { jsonReply(w, code, body) }
}

func TestOpenAIChecks(t *testing.T) {
	long := strings.Repeat("x", 300)
	cases := []badCase{
		{name: "all good", pass: map[string]string{"models": "model qwen (Qwen/Qwen2.5)", "version": "0.20.0",
			"completion short": "5 prompt + 16 completion tokens", "chat stream": "3 chunks, 3 completion tokens, [DONE]",
			"metrics": "vllm:generation_tokens_total = 42; vllm:num_requests_running, vllm:time_to_first_token_seconds present"}},
		{name: "health 503", routes: map[string]http.HandlerFunc{"GET /health": status(503, "engine is starting\nplease wait")},
			fail: map[string][]string{"health": {"GET /health: expected 200, got 503 Service Unavailable: engine is starting please wait"}}},
		{name: "body cut to 200 bytes", routes: map[string]http.HandlerFunc{"GET /health": status(500, long)},
			fail: map[string][]string{"health": {"got 500 Internal Server Error: " + strings.Repeat("x", 200) + "..."}}},
		{name: "no models", routes: map[string]http.HandlerFunc{"GET /v1/models": status(200, `{"data":[]}`)},
			fail: map[string][]string{"models": {"expected at least one model", `{"data":[]}`}},
			skip: []string{"completion short", "chat long", "chat stream"}},
		{name: "models not JSON", routes: map[string]http.HandlerFunc{"GET /v1/models": status(200, `<html>`)},
			fail: map[string][]string{"models": {"expected JSON", "<html>"}},
			skip: []string{"completion short", "chat long", "chat stream"}},
		{name: "models 404", routes: map[string]http.HandlerFunc{"GET /v1/models": status(404, `{"detail":"Not Found"}`)},
			fail: map[string][]string{"models": {"expected 200, got 404"}},
			skip: []string{"completion short", "chat long", "chat stream"}},
		{name: "version absent is fine", routes: map[string]http.HandlerFunc{"GET /version": status(404, `{"detail":"Not Found"}`)},
			pass: map[string]string{"version": "not served (optional)"}},
		{name: "version broken", routes: map[string]http.HandlerFunc{"GET /version": status(500, `boom`)},
			fail: map[string][]string{"version": {"expected 200, got 500", "boom"}}},
		{name: "completion 500", routes: map[string]http.HandlerFunc{"POST /v1/completions": status(500, `{"error":{"message":"CUDA out of memory"}}`)},
			fail: map[string][]string{"completion short": {"POST /v1/completions: expected 200, got 500", "CUDA out of memory"}}},
		{name: "completion without usage", routes: map[string]http.HandlerFunc{"POST /v1/completions": status(200, `{"choices":[{"text":" Paris"}]}`)},
			fail: map[string][]string{"completion short": {`expected "usage"`}}},
		{name: "completion over max_tokens", routes: map[string]http.HandlerFunc{"POST /v1/completions": status(200,
			`{"choices":[{"text":" Paris"}],"usage":{"prompt_tokens":5,"completion_tokens":17,"total_tokens":22}}`)},
			fail: map[string][]string{"completion short": {"expected 1 <= usage.completion_tokens <= max_tokens 16, got 17"}}},
		{name: "completion usage inconsistent", routes: map[string]http.HandlerFunc{"POST /v1/completions": status(200,
			`{"choices":[{"text":" Paris"}],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":3}}`)},
			fail: map[string][]string{"completion short": {"total_tokens = prompt_tokens + completion_tokens = 8, got 3"}}},
		{name: "completion empty text", routes: map[string]http.HandlerFunc{"POST /v1/completions": status(200,
			`{"choices":[{"text":""}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}`)},
			fail: map[string][]string{"completion short": {"expected generated text"}}},
		{name: "completion error object with 200", routes: map[string]http.HandlerFunc{"POST /v1/completions": status(200,
			`{"object":"error","message":"bad things"}`)},
			fail: map[string][]string{"completion short": {"server error", "bad things"}}},
		{name: "stream empty", routes: map[string]http.HandlerFunc{"POST /v1/chat/completions": streamOnly(t, func(w http.ResponseWriter) { sse(w) })},
			fail: map[string][]string{"chat stream": {"after 0 content chunks", "stream truncated"}}},
		{name: "stream error event", routes: map[string]http.HandlerFunc{"POST /v1/chat/completions": streamOnly(t, func(w http.ResponseWriter) {
			sse(w, oaChunk, oaChunk, "event: error\ndata: {\"error\":{\"message\":\"engine died\"}}\n\n")
		})}, fail: map[string][]string{"chat stream": {"after 2 content chunks", "server error in stream: engine died"}}},
		{name: "stream error chunk", routes: map[string]http.HandlerFunc{"POST /v1/chat/completions": streamOnly(t, func(w http.ResponseWriter) {
			sse(w, oaChunk, `data: {"error":{"message":"overloaded","code":503}}`+"\n\n")
		})}, fail: map[string][]string{"chat stream": {"after 1 content chunks", "overloaded"}}},
		{name: "stream without DONE", routes: map[string]http.HandlerFunc{"POST /v1/chat/completions": streamOnly(t, func(w http.ResponseWriter) {
			sse(w, oaChunk, oaChunk, oaUsage)
		})}, fail: map[string][]string{"chat stream": {"after 2 content chunks", "stream truncated"}}},
		{name: "stream cut inside an event", routes: map[string]http.HandlerFunc{"POST /v1/chat/completions": streamOnly(t, func(w http.ResponseWriter) {
			cut(oaChunk+oaChunk+`data: {"choices":[{"delta":{"cont`)(w, nil)
		})}, fail: map[string][]string{"chat stream": {"after 2 content chunks", "stream truncated"}}},
		{name: "stream one chunk", routes: map[string]http.HandlerFunc{"POST /v1/chat/completions": streamOnly(t, func(w http.ResponseWriter) {
			sse(w, oaChunk, `data: {"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}`+"\n\n", oaDone)
		})}, fail: map[string][]string{"chat stream": {"expected at least 2 chunks with content before [DONE], got 1"}}},
		{name: "stream without usage", routes: map[string]http.HandlerFunc{"POST /v1/chat/completions": streamOnly(t, func(w http.ResponseWriter) {
			sse(w, oaChunk, oaChunk, oaDone)
		})}, fail: map[string][]string{"chat stream": {`expected "usage" in the final chunk`}}},
		{name: "stream usage not last", routes: map[string]http.HandlerFunc{"POST /v1/chat/completions": streamOnly(t, func(w http.ResponseWriter) {
			sse(w, oaChunk, oaUsage, oaChunk, oaDone)
		})}, fail: map[string][]string{"chat stream": {`expected "usage" in the final chunk`}}},
		{name: "stream usage over max_tokens", routes: map[string]http.HandlerFunc{"POST /v1/chat/completions": streamOnly(t, func(w http.ResponseWriter) {
			sse(w, oaChunk, oaChunk, `data: {"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":65,"total_tokens":74}}`+"\n\n", oaDone)
		})}, fail: map[string][]string{"chat stream": {"final chunk", "max_tokens 64, got 65"}}},
		{name: "stream 429", routes: map[string]http.HandlerFunc{"POST /v1/chat/completions": streamOnly(t, func(w http.ResponseWriter) {
			jsonReply(w, 429, `{"error":{"message":"slow down"}}`)
		})}, fail: map[string][]string{"chat stream": {"expected 200, got 429 Too Many Requests", "slow down"}}},
		{name: "metrics without the family", routes: map[string]http.HandlerFunc{"GET /metrics": func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "vllm:num_requests_running_other 1\nprocess_cpu_seconds_total 2\n")
		}}, fail: map[string][]string{"metrics": {"expected the metric family vllm:num_requests_running, not found", "process_cpu_seconds_total"}}},
		{name: "metrics 404", routes: map[string]http.HandlerFunc{"GET /metrics": status(404, "no")},
			fail: map[string][]string{"metrics": {"/metrics: expected 200, got 404"}}},
		{name: "served model not listed", opts: func(o *Options) { o.Model = "llama" },
			fail: map[string][]string{"models": {`expected the served model "llama"`, "got [qwen]", `the next steps use "qwen"`}}},
		{name: "health hangs", opts: func(o *Options) { o.QuickTimeout = 50 * time.Millisecond },
			routes: map[string]http.HandlerFunc{"GET /health": func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }},
			fail:   map[string][]string{"health": {"no complete answer within the step's timeout of 50ms"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runCase(t, c, goodOpenAI(t), Options{Backend: "vllm", Protocol: load.ProtocolOpenAIChat})
		})
	}
}

// streamOnly replaces the streamed chat request and keeps the good
// non-streamed one.
func streamOnly(t *testing.T, bad func(w http.ResponseWriter)) http.HandlerFunc {
	good := goodOpenAIChat(t)
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(body), `"stream":true`) {
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			good(w, r)
			return
		}
		bad(w)
	}
}

func TestTritonChecks(t *testing.T) {
	for _, trt := range []bool{false, true} {
		model, proto := "qwen", load.ProtocolTritonGenerate
		if trt {
			model, proto = "ensemble", load.ProtocolTritonTRT
		}
		base := "/v2/models/" + model
		cases := []badCase{
			{name: "all good", pass: map[string]string{"model metadata": model + " (platform ", "generate short": "9 characters generated",
				"generate stream": "3 events, 12 characters", "metrics": "nv_inference_request_success{model="}},
			{name: "not ready", routes: map[string]http.HandlerFunc{"GET /v2/health/ready": status(400, "")},
				fail: map[string][]string{"health": {"GET /v2/health/ready: expected 200, got 400 Bad Request: (empty body)"}}},
			{name: "unknown model", routes: map[string]http.HandlerFunc{
				"GET " + base:            status(400, `{"error":"Request for unknown model"}`),
				"GET " + base + "/ready": status(400, `{"error":"Request for unknown model"}`)},
				fail: map[string][]string{"model metadata": {"GET " + base + ": expected 200, got 400", "unknown model"},
					"model ready": {"GET " + base + "/ready: expected 200, got 400"}}},
			{name: "metadata without text_input", routes: map[string]http.HandlerFunc{"GET " + base: status(200,
				`{"name":"x","inputs":[{"name":"input_ids"},{"name":"max_tokens"}],"outputs":[{"name":"text_output"}]}`)},
				fail: map[string][]string{"model metadata": {"missing input text_input"}}},
			{name: "metadata without text_output", routes: map[string]http.HandlerFunc{"GET " + base: status(200,
				`{"name":"x","inputs":[{"name":"text_input"},{"name":"max_tokens"}],"outputs":[{"name":"output_ids"}]}`)},
				fail: map[string][]string{"model metadata": {"missing output text_output"}}},
			{name: "generate echoes the prompt only", routes: map[string]http.HandlerFunc{"POST " + base + "/generate": func(w http.ResponseWriter, r *http.Request) {
				m := decodeBody(t, r)
				b, _ := json.Marshal(map[string]any{"text_output": m["text_input"]})
				jsonReply(w, 200, string(b))
			}}, fail: map[string][]string{"generate short": {"expected generated text in text_output, got only the prompt"},
				"generate long": {"got only the prompt"}}},
			{name: "generate empty", routes: map[string]http.HandlerFunc{"POST " + base + "/generate": status(200, `{"text_output":""}`)},
				fail: map[string][]string{"generate short": {"got an empty text_output"}, "generate long": {"empty"}}},
			{name: "generate error 200", routes: map[string]http.HandlerFunc{"POST " + base + "/generate": status(200, `{"error":"model crashed"}`)},
				fail: map[string][]string{"generate short": {"server error in stream: model crashed"}, "generate long": {"model crashed"}}},
			{name: "generate 500", routes: map[string]http.HandlerFunc{"POST " + base + "/generate": status(500, `{"error":"boom"}`)},
				fail: map[string][]string{"generate short": {"POST " + base + "/generate: expected 200, got 500", `{"error":"boom"}`},
					"generate long": {"got 500"}}},
			{name: "stream empty", routes: map[string]http.HandlerFunc{"POST " + base + "/generate_stream": func(w http.ResponseWriter, r *http.Request) { sse(w) }},
				fail: map[string][]string{"generate stream": {"expected at least 2 events with text_output", "got 0"}}},
			{name: "stream error mid-stream", routes: map[string]http.HandlerFunc{"POST " + base + "/generate_stream": func(w http.ResponseWriter, r *http.Request) {
				sse(w, trtEvent, `data: {"error":"Simulated backend failure"}`+"\n\n")
			}}, fail: map[string][]string{"generate stream": {"after 1 events with text", "server error in stream: Simulated backend failure"}}},
			{name: "stream cut inside an event", routes: map[string]http.HandlerFunc{"POST " + base + "/generate_stream": cut(trtEvent + trtEvent + `data: {"text_out`)},
				fail: map[string][]string{"generate stream": {"after 2 events with text", "stream truncated"}}},
			{name: "stream one event", routes: map[string]http.HandlerFunc{"POST " + base + "/generate_stream": func(w http.ResponseWriter, r *http.Request) { sse(w, trtEvent) }},
				fail: map[string][]string{"generate stream": {"got 1"}}},
			{name: "stream not decoupled", routes: map[string]http.HandlerFunc{"POST " + base + "/generate_stream": status(400,
				`{"error":"Streaming is only supported if model is deployed using decoupled mode."}`)},
				fail: map[string][]string{"generate stream": {"expected 200, got 400", "decoupled mode"}}},
			{name: "metrics without the family", routes: map[string]http.HandlerFunc{"GET /metrics": func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "# TYPE nv_inference_request_failure counter\nnv_inference_request_failure 0\n")
			}}, fail: map[string][]string{"metrics": {"expected the metric family nv_inference_request_success, not found"}}},
		}
		for _, c := range cases {
			t.Run(model+"/"+c.name, func(t *testing.T) {
				runCase(t, c, goodTriton(t, trt), Options{Backend: "triton", Protocol: proto, Model: model})
			})
		}
	}
}

func TestServerDown(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	rep, err := Run(context.Background(), Options{Backend: "vllm", URL: url, Protocol: load.ProtocolOpenAIChat})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.Failed() != 7 {
		t.Fatalf("ok %v failed %d", rep.OK, rep.Failed())
	}
	if s := step(t, rep, "health"); !strings.Contains(s.Error, "GET "+url+"/health") || !strings.Contains(s.Error, "mage up:vllm starts it") {
		t.Errorf("health: %s", s.Error)
	}
	for _, name := range []string{"completion short", "chat long", "chat stream"} {
		if s := step(t, rep, name); !s.Skipped || FormatStep(s) != fmt.Sprintf("FAIL  %-16s %9s  skipped: no model (the models step found none)", name, "-") {
			t.Errorf("%q", FormatStep(s))
		}
	}
}
