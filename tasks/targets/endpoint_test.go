package targets

import (
	"strings"
	"testing"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/env"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
)

// testConfig is deploy/.env's values as the tests need them, with over
// replacing or adding keys.
func testConfig(over map[string]string) *env.Config {
	v := map[string]string{
		"BIND_ADDRESS": "127.0.0.1", "API_PORT": "8000", "METRICS_PORT": "8002",
		"SERVED_MODEL_NAME": "qwen", "SIM_PERSONALITY": "vllm",
	}
	for k, x := range over {
		v[k] = x
	}
	return env.NewConfig("test.env", v)
}

// The protocol and model of every backend, and of the simulator in each of
// its personalities.
func TestEndpointForEveryBackend(t *testing.T) {
	for _, c := range []struct {
		backend, personality string
		protocol             load.Protocol
		model                string
	}{
		{"vllm", "", "openai-chat", ""},
		{"triton", "", "triton-generate", "qwen"},
		{"trt", "", "triton-trt", "ensemble"},
		{"sim", "vllm", "openai-chat", ""},
		{"sim", "triton-vllm", "triton-generate", "qwen"},
		{"sim", "triton-trt", "triton-trt", "ensemble"},
	} {
		over := map[string]string{}
		if c.personality != "" {
			over["SIM_PERSONALITY"] = c.personality
		}
		ep, err := EndpointFor(c.backend, testConfig(over))
		if err != nil {
			t.Errorf("EndpointFor(%s, %q): %v", c.backend, c.personality, err)
			continue
		}
		want := Endpoint{Backend: c.backend, URL: "http://127.0.0.1:8000", Protocol: c.protocol, Model: c.model}
		if ep != want {
			t.Errorf("EndpointFor(%s, %q) = %+v, want %+v", c.backend, c.personality, ep, want)
		}
	}
}

// A personality other than the simulator's does not change a real backend.
func TestEndpointForIgnoresPersonalityOfRealBackends(t *testing.T) {
	ep, err := EndpointFor("vllm", testConfig(map[string]string{"SIM_PERSONALITY": "triton-trt"}))
	if err != nil || ep.Protocol != "openai-chat" || ep.Model != "" {
		t.Errorf("vllm with SIM_PERSONALITY=triton-trt: %+v, %v", ep, err)
	}
}

// Clients dial 127.0.0.1 for a wildcard BIND_ADDRESS ("localhost" may be
// ::1, where a port published on 0.0.0.0 does not listen), else the address.
func TestEndpointForBindAddress(t *testing.T) {
	for bind, want := range map[string]string{
		"0.0.0.0":     "http://127.0.0.1:9000",
		"::":          "http://127.0.0.1:9000",
		"127.0.0.1":   "http://127.0.0.1:9000",
		"192.168.1.7": "http://192.168.1.7:9000",
		"::1":         "http://[::1]:9000",
	} {
		ep, err := EndpointFor("triton", testConfig(map[string]string{"BIND_ADDRESS": bind, "API_PORT": "9000"}))
		if err != nil || ep.URL != want {
			t.Errorf("BIND_ADDRESS=%s: URL %q, %v; want %q", bind, ep.URL, err, want)
		}
	}
}

func TestEndpointForErrors(t *testing.T) {
	for _, c := range []struct {
		backend, personality string
		want                 []string
	}{
		{"tgi", "vllm", []string{`unknown backend "tgi"`, "vllm, triton, trt or sim"}},
		{"", "vllm", []string{`unknown backend ""`}},
		{"triton-trt", "vllm", []string{`unknown backend "triton-trt"`}}, // a profile, not a backend name
		{"sim", "tgi", []string{`SIM_PERSONALITY "tgi"`, "vllm, triton-vllm or triton-trt"}},
		{"sim", "", []string{`SIM_PERSONALITY ""`}},
	} {
		_, err := EndpointFor(c.backend, testConfig(map[string]string{"SIM_PERSONALITY": c.personality}))
		if err == nil {
			t.Errorf("EndpointFor(%q, SIM_PERSONALITY=%q): no error", c.backend, c.personality)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("EndpointFor(%q, SIM_PERSONALITY=%q): %v; want it to say %s", c.backend, c.personality, err, w)
			}
		}
	}
}

// vLLM serves /metrics on its API port; Triton on METRICS_PORT, of the
// API URL's host (a -url elsewhere moves both).
func TestMetricsURLFor(t *testing.T) {
	for _, c := range []struct {
		backend, personality, api, want string
	}{
		{"vllm", "", "http://127.0.0.1:8000", "http://127.0.0.1:8000/metrics"},
		{"vllm", "", "http://gpu-box:9000/", "http://gpu-box:9000/metrics"},
		{"triton", "", "http://127.0.0.1:8000", "http://127.0.0.1:8002/metrics"},
		{"triton", "", "https://gpu-box:9000/", "https://gpu-box:8002/metrics"},
		{"trt", "", "http://[::1]:8000", "http://[::1]:8002/metrics"},
		{"sim", "vllm", "http://127.0.0.1:8000", "http://127.0.0.1:8000/metrics"},
		{"sim", "triton-vllm", "http://127.0.0.1:8000", "http://127.0.0.1:8002/metrics"},
		{"sim", "triton-trt", "http://127.0.0.1:8000", "http://127.0.0.1:8002/metrics"},
	} {
		over := map[string]string{}
		if c.personality != "" {
			over["SIM_PERSONALITY"] = c.personality
		}
		got, err := MetricsURLFor(c.backend, testConfig(over), c.api)
		if err != nil || got != c.want {
			t.Errorf("MetricsURLFor(%s, %q, %q) = %q, %v; want %q", c.backend, c.personality, c.api, got, err, c.want)
		}
	}
}

func TestMetricsURLForErrors(t *testing.T) {
	for _, c := range []struct {
		backend string
		over    map[string]string
		api     string
		want    string
	}{
		{"tgi", nil, "http://127.0.0.1:8000", `unknown backend "tgi"`},
		{"sim", map[string]string{"SIM_PERSONALITY": "tgi"}, "http://127.0.0.1:8000", `SIM_PERSONALITY "tgi"`},
		{"triton", map[string]string{"METRICS_PORT": ""}, "http://127.0.0.1:8000", "METRICS_PORT is empty"},
		{"triton", nil, "127.0.0.1:8000", "expected http://HOST:PORT"},
		{"trt", nil, "http://", "expected http://HOST:PORT"},
		{"vllm", nil, "ftp://gpu-box:8000", "expected http://HOST:PORT"},
	} {
		got, err := MetricsURLFor(c.backend, testConfig(c.over), c.api)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("MetricsURLFor(%s, %v, %q) = %q, %v; want an error with %q", c.backend, c.over, c.api, got, err, c.want)
		}
	}
}
