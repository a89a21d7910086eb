package sim

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func post(t *testing.T, url, body string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// sseEvents splits an SSE body into its data payloads, checking the framing
// ("data: <json>" lines, each followed by a blank line).
func sseEvents(t *testing.T, body []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	expectBlank := false
	for sc.Scan() {
		line := sc.Text()
		if expectBlank {
			if line != "" {
				t.Fatalf("event not followed by a blank line: %q", line)
			}
			expectBlank = false
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("not an SSE data line: %q", line)
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("event %q: %v", data, err)
		}
		out = append(out, ev)
		expectBlank = true
	}
	return out
}

func errorOf(t *testing.T, body []byte) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		t.Fatalf("want Triton's error body {\"error\": ...}, got %q", body)
	}
	return e.Error
}

func TestTritonVLLMGenerate(t *testing.T) {
	_, run := startServer(t, fastConfig(PersonalityTritonVLLM))
	base := run.APIURL + "/v2/models/qwen"
	code, h, body := post(t, base+"/generate", `{"text_input":"What is AI?","parameters":{"max_tokens":7,"ignore_eos":true},"return_num_output_tokens":true}`)
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Fatalf("generate: %d %s %s", code, h.Get("Content-Type"), body)
	}
	var r struct {
		ModelName    string `json:"model_name"`
		ModelVersion string `json:"model_version"`
		TextOutput   string `json:"text_output"`
		NumOut       int    `json:"num_output_tokens"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	if r.ModelName != "qwen" || r.ModelVersion != "1" || !strings.HasPrefix(r.TextOutput, "What is AI?") || r.NumOut != 7 {
		t.Errorf("generate response %+v", r)
	}
	if got := CountTokens(strings.TrimPrefix(r.TextOutput, "What is AI?")); got != 7 {
		t.Errorf("generated text has %d tokens, want 7", got)
	}
	// vLLM's default max_tokens is 16.
	_, _, body = post(t, base+"/generate", `{"text_input":"x","parameters":{"ignore_eos":true},"exclude_input_in_output":true}`)
	_ = json.Unmarshal(body, &r)
	if CountTokens(r.TextOutput) != 16 {
		t.Errorf("default max_tokens: %d tokens, want 16", CountTokens(r.TextOutput))
	}

	code, h, body = post(t, base+"/generate_stream", `{"text_input":"What is AI?","stream":true,"parameters":{"max_tokens":30,"ignore_eos":true}}`)
	if code != 200 || h.Get("Content-Type") != "text/event-stream; charset=utf-8" {
		t.Fatalf("generate_stream: %d %q", code, h.Get("Content-Type"))
	}
	evs := sseEvents(t, body)
	var text strings.Builder
	for _, ev := range evs {
		if ev["model_name"] != "qwen" {
			t.Errorf("event %v", ev)
		}
		text.WriteString(ev["text_output"].(string))
	}
	if len(evs) < 1 || CountTokens(text.String()) != 30 {
		t.Errorf("%d events with %d tokens, want 30 tokens", len(evs), CountTokens(text.String()))
	}
	if strings.Contains(string(body), "[DONE]") {
		t.Error("Triton streams have no [DONE] sentinel")
	}

	// errors
	code, _, body = post(t, run.APIURL+"/v2/models/nope/generate", `{"text_input":"x"}`)
	if code != 400 || !strings.Contains(errorOf(t, body), "unknown model: 'nope'") {
		t.Errorf("unknown model: %d %s", code, body)
	}
	code, _, body = post(t, base+"/generate", `{"parameters":{}}`)
	if code != 400 || !strings.Contains(errorOf(t, body), "missing required input(s) ['text_input']") {
		t.Errorf("missing input: %d %s", code, body)
	}
	code, _, body = post(t, base+"/generate", `{"text_input":"`+strings.Repeat("abcd ", 5000)+`"}`)
	if code != 400 || !strings.Contains(errorOf(t, body), "longer than the maximum model length of 4096") {
		t.Errorf("too long: %d %s", code, body)
	}
	code, _, body = post(t, base+"/generate", `{"text_input":`)
	if code != 400 {
		t.Errorf("bad JSON: %d %s", code, errorOf(t, body))
	}
	// metadata, config, health
	resp, err := http.Get(base)
	if err != nil {
		t.Fatal(err)
	}
	var md struct {
		Name     string   `json:"name"`
		Versions []string `json:"versions"`
		Inputs   []struct{ Name string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&md)
	_ = resp.Body.Close()
	if md.Name != "qwen" || len(md.Versions) != 1 || md.Inputs[0].Name != "text_input" {
		t.Errorf("metadata %+v", md)
	}
	for _, p := range []string{"/v2/health/live", "/v2/health/ready", "/v2/models/qwen/ready", "/v2/models/qwen/versions/1/ready", "/v2/models/qwen/config", "/v2"} {
		resp, err := http.Get(run.APIURL + p)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		}
	}
}

func TestTritonMidstreamError(t *testing.T) {
	cfg := fastConfig(PersonalityTritonVLLM)
	cfg.MidstreamFailRate = 1
	_, run := startServer(t, cfg)
	code, _, body := post(t, run.APIURL+"/v2/models/qwen/generate_stream", `{"text_input":"x","stream":true,"parameters":{"max_tokens":40,"ignore_eos":true}}`)
	if code != 200 {
		t.Fatalf("status %d: the error comes after the stream began", code)
	}
	evs := sseEvents(t, body)
	last := evs[len(evs)-1]
	if len(evs) < 2 || last["error"] == nil || last["text_output"] != nil {
		t.Errorf("want text events then an {\"error\"} event, got %v", evs)
	}
	code, _, body = post(t, run.APIURL+"/v2/models/qwen/generate", `{"text_input":"x","parameters":{"max_tokens":40,"ignore_eos":true}}`)
	if code != 500 {
		t.Errorf("non-streaming failure: %d %s", code, body)
	}
	f := scrape(t, run.MetricsURL)
	if v := value(t, f, "nv_inference_request_failure", map[string]string{"model": "qwen", "reason": "BACKEND"}); v != 2 {
		t.Errorf("failures{BACKEND} = %v, want 2", v)
	}
}

func TestTritonTRT(t *testing.T) {
	cfg := fastConfig(PersonalityTritonTRT)
	_, run := startServer(t, cfg)
	code, _, body := post(t, run.APIURL+"/v2/models/ensemble/generate_stream", `{"text_input":"hi","max_tokens":12,"min_tokens":12,"stream":true}`)
	if code != 200 {
		t.Fatalf("ensemble stream: %d %s", code, body)
	}
	var text strings.Builder
	for _, ev := range sseEvents(t, body) {
		if ev["model_name"] != "ensemble" {
			t.Errorf("event %v", ev)
		}
		text.WriteString(ev["text_output"].(string))
	}
	if CountTokens(text.String()) != 12 {
		t.Errorf("ensemble stream: %d tokens, want 12", CountTokens(text.String()))
	}
	code, _, body = post(t, run.APIURL+"/v2/models/ensemble/generate", `{"text_input":"hi"}`)
	if code != 400 || !strings.Contains(errorOf(t, body), "['max_tokens']") {
		t.Errorf("missing max_tokens: %d %s", code, body)
	}
	infer := `{"inputs":[{"name":"input_ids","shape":[1,4],"datatype":"INT32","data":[[9,8,7,6]]},` +
		`{"name":"input_lengths","shape":[1,1],"datatype":"INT32","data":[[4]]},` +
		`{"name":"request_output_len","shape":[1,1],"datatype":"INT32","data":[[5]]},{"name":"min_tokens","shape":[1,1],"datatype":"INT32","data":[[5]]}]}`
	code, _, body = post(t, run.APIURL+"/v2/models/tensorrt_llm/infer", infer)
	if code != 400 || !strings.Contains(errorOf(t, body), "decoupled") {
		t.Errorf("infer on a decoupled model: %d %s; Triton refuses it", code, body)
	}

	cfg = fastConfig(PersonalityTritonTRT)
	cfg.TRTDecoupled = false
	_, run = startServer(t, cfg)
	code, _, body = post(t, run.APIURL+"/v2/models/tensorrt_llm/infer", infer)
	if code != 200 {
		t.Fatalf("infer: %d %s", code, body)
	}
	var r struct {
		ModelName string `json:"model_name"`
		Outputs   []struct {
			Name  string  `json:"name"`
			Shape []int   `json:"shape"`
			Data  []int64 `json:"data"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	got := map[string][]int64{}
	for _, o := range r.Outputs {
		if o.Name == "output_ids" || o.Name == "sequence_length" {
			got[o.Name] = o.Data
		}
	}
	ids := got["output_ids"]
	if len(ids) != 9 || ids[0] != 9 || ids[3] != 6 || len(got["sequence_length"]) != 1 || got["sequence_length"][0] != 9 {
		t.Errorf("infer outputs %s", body)
	}
	code, _, body = post(t, run.APIURL+"/v2/models/ensemble/generate_stream", `{"text_input":"hi","max_tokens":3,"stream":true}`)
	if code != 400 || !strings.Contains(errorOf(t, body), "decoupled") {
		t.Errorf("streaming on a non-decoupled model: %d %s", code, body)
	}
	code, _, body = post(t, run.APIURL+"/v2/models/tensorrt_llm/infer", `{"inputs":[{"name":"input_ids","shape":[1,2],"datatype":"INT32","data":[1,2]}]}`)
	if code != 400 || !strings.Contains(errorOf(t, body), "missing required input(s) ['input_lengths','request_output_len']") {
		t.Errorf("infer missing inputs: %d %s", code, body)
	}
}

func TestTritonQueueFullAndStartup(t *testing.T) {
	cfg := fastConfig(PersonalityTritonVLLM)
	cfg.MaxNumSeqs = 1
	cfg.MaxWaiting = 1
	cfg.PrefillBase = time.Hour // the first request holds the only slot
	s, run := startServer(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // runs before the server stops
	send := func() {
		req, _ := http.NewRequestWithContext(ctx, "POST", run.APIURL+"/v2/models/qwen/generate", strings.NewReader(`{"text_input":"x"}`))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
		}
	}
	go send()
	waitFor(t, func() bool { return s.eng.snapRunning.Load() == 1 })
	go send()
	waitFor(t, func() bool { return s.eng.waitingNow() == 1 })
	code, _, body := post(t, run.APIURL+"/v2/models/qwen/generate", `{"text_input":"x"}`)
	if code != 503 || errorOf(t, body) != "Exceeds maximum queue size" {
		t.Errorf("queue full: %d %s", code, body)
	}
	f := scrape(t, run.MetricsURL)
	if v := value(t, f, "nv_inference_request_failure", map[string]string{"reason": "REJECTED"}); v != 1 {
		t.Errorf("failure{REJECTED} = %v", v)
	}
	if v := value(t, f, "nv_inference_pending_request_count", nil); v != 1 {
		t.Errorf("pending = %v, want 1", v)
	}

	cfg = fastConfig(PersonalityTritonTRT)
	cfg.StartupDelay = time.Hour
	_, run = startServer(t, cfg)
	for _, p := range []string{"/v2/health/ready", "/v2/models/ensemble/ready"} {
		resp, err := http.Get(run.APIURL + p)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("GET %s during startup: %d, want 400", p, resp.StatusCode)
		}
	}
	if err := Healthcheck(context.Background(), run.APIURL, PersonalityTritonTRT); err == nil {
		t.Error("Healthcheck passed during startup")
	}
}

// waitFor polls cond until it holds (an event, not a timing assertion).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(2 * time.Millisecond)
	}
}
