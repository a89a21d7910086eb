package stack

import (
	"slices"
	"testing"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/env"
)

// The whole URL table of every profile, and of the simulator in each
// personality; a wildcard BIND_ADDRESS shows localhost.
func TestURLTables(t *testing.T) {
	common := []URL{{"Prometheus", "http://localhost:9090"}, {"Alertmanager", "http://localhost:9093"}, {"Grafana", "http://localhost:3000 (user admin, password in deploy/.env)"}}
	gpu := URL{"GPU metrics (dcgm-exporter)", "http://localhost:9400/metrics"}
	simGPU := URL{"GPU metrics (simulated)", "http://localhost:9400/metrics"}
	for _, c := range []struct {
		profile, personality string
		want                 []URL
	}{
		{"vllm", "vllm", []URL{{"vLLM API", "http://localhost:8000/v1"}, {"vLLM docs", "http://localhost:8000/docs"},
			{"vLLM metrics", "http://localhost:8000/metrics"}, gpu}},
		{"triton", "vllm", []URL{{"Triton HTTP API", "http://localhost:8000/v2"}, {"Triton gRPC API", "grpc://localhost:8001"},
			{"Triton metrics", "http://localhost:8002/metrics"}, gpu}},
		{"triton-trt", "vllm", []URL{{"Triton TRT-LLM HTTP API", "http://localhost:8000/v2"}, {"Triton TRT-LLM gRPC API", "grpc://localhost:8001"},
			{"Triton TRT-LLM metrics", "http://localhost:8002/metrics"}, gpu}},
		{"sim", "vllm", []URL{{"simulator (vLLM) API", "http://localhost:8000/v1"}, {"simulator metrics", "http://localhost:8000/metrics"}, simGPU}},
		{"sim", "triton-vllm", []URL{{"simulator (triton-vllm) HTTP API", "http://localhost:8000/v2"},
			{"simulator (triton-vllm) metrics", "http://localhost:8002/metrics"}, simGPU}},
		{"sim", "triton-trt", []URL{{"simulator (triton-trt) HTTP API", "http://localhost:8000/v2"},
			{"simulator (triton-trt) metrics", "http://localhost:8002/metrics"}, simGPU}},
	} {
		cfg := env.NewConfig("x", map[string]string{"BIND_ADDRESS": "0.0.0.0", "API_PORT": "8000", "GRPC_PORT": "8001",
			"METRICS_PORT": "8002", "PROMETHEUS_PORT": "9090", "GRAFANA_PORT": "3000", "DCGM_PORT": "9400",
			"ALERTMANAGER_PORT": "9093", "GRAFANA_ADMIN_USER": "admin", "SIM_PERSONALITY": c.personality})
		p, err := ProfileByName(c.profile)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := p.URLs(cfg), append(c.want, common...); !slices.Equal(got, want) {
			t.Errorf("%s (%s):\n got %v\nwant %v", c.profile, c.personality, got, want)
		}
	}
}

func TestProfileByNameUnknown(t *testing.T) {
	if _, err := ProfileByName("trt"); err == nil || err.Error() != `unknown profile "trt"; expected one of vllm, triton, triton-trt, sim` {
		t.Errorf("ProfileByName(trt): %v", err)
	}
}
