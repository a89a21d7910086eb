package backend

import (
	"strings"
	"testing"
)

func settings(m map[string]string) Get { return func(k string) string { return m[k] } }

func TestTableIsConsistent(t *testing.T) {
	seen := map[string]bool{}
	for _, b := range Table {
		for _, k := range []string{"name:" + string(b.Name), "profile:" + b.Profile, "personality:" + string(b.Personality)} {
			if seen[k] && k != "personality:" {
				t.Errorf("%s appears twice in Table", k)
			}
			seen[k] = true
		}
		if b.Name != Sim && (b.Protocol == "" || b.Personality == "" || b.Dashboard == "" || !b.GPU) {
			t.Errorf("%s: a GPU backend needs a protocol, a personality and a dashboard: %+v", b.Name, b)
		}
		if b.Protocol.Triton() && b.Model == "" {
			t.Errorf("%s: protocol %s needs a model name", b.Name, b.Protocol)
		}
		if _, ok := ByService(b.Services[0]); !ok {
			t.Errorf("%s: ByService(%s) finds nothing", b.Name, b.Services[0])
		}
	}
	for _, p := range Personalities {
		if _, err := ByPersonality(string(p)); err != nil {
			t.Errorf("personality %s imitates no backend: %v", p, err)
		}
	}
}

func TestLookups(t *testing.T) {
	if b, err := Lookup("trt"); err != nil || b.Profile != "triton-trt" || b.Protocol != TritonTRT || b.Model != "ensemble" {
		t.Errorf("Lookup(trt) = %+v, %v", b, err)
	}
	if _, err := Lookup("tgi"); err == nil || !strings.Contains(err.Error(), "expected one of vllm, triton, trt or sim") {
		t.Errorf("Lookup(tgi) error = %v", err)
	}
	if b, err := ByProfile("triton-trt"); err != nil || b.Name != TRT {
		t.Errorf("ByProfile(triton-trt) = %+v, %v", b, err)
	}
	if _, err := ByProfile("trt"); err == nil || !strings.Contains(err.Error(), "vllm, triton, triton-trt, sim") {
		t.Errorf("ByProfile(trt) error = %v", err)
	}
	if _, err := ParseProtocol("grpc"); err == nil || !strings.Contains(err.Error(), "openai-chat, openai-completions, triton-generate or triton-trt") {
		t.Errorf("ParseProtocol(grpc) error = %v", err)
	}
}

func TestSimSpeaksItsPersonality(t *testing.T) {
	sim, _ := Lookup("sim")
	for _, tc := range []struct {
		personality string
		protocol    Protocol
		model       string
		metrics     string
	}{
		{"vllm", OpenAIChat, "", "http://127.0.0.1:8000/metrics"},
		{"triton-vllm", TritonGenerate, "qwen", "http://127.0.0.1:8002/metrics"},
		{"triton-trt", TritonTRT, "ensemble", "http://127.0.0.1:8002/metrics"},
	} {
		get := settings(map[string]string{KeyPersonality: tc.personality, KeyAPIPort: "8000", KeyMetricsPort: "8002", KeyServedModel: "qwen"})
		s, err := sim.Speaks(get)
		if err != nil {
			t.Fatal(err)
		}
		if s.Name != Sim || s.Profile != "sim" || s.Protocol != tc.protocol || s.ModelName(get) != tc.model {
			t.Errorf("%s: speaks %+v, model %q", tc.personality, s, s.ModelName(get))
		}
		m, err := s.MetricsURL(get, s.APIURL(get))
		if err != nil || m != tc.metrics {
			t.Errorf("%s: metrics %q, %v; want %q", tc.personality, m, err, tc.metrics)
		}
	}
	if _, err := sim.Speaks(settings(map[string]string{KeyPersonality: "tgi"})); err == nil || !strings.Contains(err.Error(), "SIM_PERSONALITY \"tgi\": expected one of vllm, triton-vllm or triton-trt") {
		t.Errorf("unknown personality: %v", err)
	}
}

func TestURLs(t *testing.T) {
	for bind, want := range map[string]string{"0.0.0.0": "127.0.0.1", "::": "127.0.0.1", "": "127.0.0.1", "127.0.0.1": "127.0.0.1", "10.1.2.3": "10.1.2.3", "::1": "::1"} {
		if got := ClientHost(bind); got != want {
			t.Errorf("ClientHost(%q) = %q, want %q", bind, got, want)
		}
	}
	get := settings(map[string]string{KeyBindAddress: "::1", KeyAPIPort: "9000", KeyMetricsPort: "9002"})
	tr, _ := Lookup("triton")
	if u := tr.APIURL(get); u != "http://[::1]:9000" {
		t.Errorf("APIURL = %q", u)
	}
	if m, err := tr.MetricsURL(get, "https://gpu-box:8000/"); err != nil || m != "https://gpu-box:9002/metrics" {
		t.Errorf("MetricsURL = %q, %v", m, err)
	}
	if _, err := tr.MetricsURL(settings(nil), "http://h:1"); err == nil || !strings.Contains(err.Error(), "METRICS_PORT is empty") {
		t.Errorf("empty METRICS_PORT: %v", err)
	}
	if _, err := tr.MetricsURL(get, "gpu-box:8000"); err == nil || !strings.Contains(err.Error(), "expected http://HOST:PORT") {
		t.Errorf("bad URL: %v", err)
	}
	v, _ := Lookup("vllm")
	if m, _ := v.MetricsURL(get, "http://h:8000/"); m != "http://h:8000/metrics" {
		t.Errorf("vLLM metrics = %q", m)
	}
}

func TestBrowserHost(t *testing.T) {
	for bind, want := range map[string]string{"0.0.0.0": "localhost", "::": "localhost", "[::]": "localhost", "": "localhost",
		"127.0.0.1": "127.0.0.1", "192.168.1.5": "192.168.1.5", "[::1]": "::1"} {
		if got := BrowserHost(bind); got != want {
			t.Errorf("BrowserHost(%q) = %q, want %q", bind, got, want)
		}
	}
}
