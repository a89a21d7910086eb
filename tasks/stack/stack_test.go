package stack

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/compose"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/engine"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/env"
)

// The profile table in Go matches deploy/compose.yaml: the services of each
// profile, and the ports bound to ${BIND_ADDRESS}.
func TestProfilesMatchComposeFile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", compose.File))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Profiles []string `yaml:"profiles"`
			Ports    []string `yaml:"ports"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, p := range Profiles {
		var want []string
		for name, s := range doc.Services {
			if len(s.Profiles) == 0 || slices.Contains(s.Profiles, p.Name) {
				want = append(want, name)
			}
		}
		got := p.Services()
		sort.Strings(want)
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("profile %s: Go table %v, compose.yaml %v", p.Name, got, want)
		}
	}
	if !slices.Equal(compose.Profiles, []string{"vllm", "triton", "triton-trt", "sim"}) {
		t.Fatal("compose.Profiles changed")
	}
	for name, s := range doc.Services {
		for _, port := range s.Ports {
			if len(port) < 16 || port[:16] != "${BIND_ADDRESS}:" {
				t.Errorf("service %s publishes %q without binding it to ${BIND_ADDRESS}", name, port)
			}
		}
	}
}

func TestToStop(t *testing.T) {
	run := func(svcs ...string) []engine.Container {
		var cs []engine.Container
		for _, s := range svcs {
			cs = append(cs, engine.Container{Service: s, State: "running"})
		}
		return cs
	}
	sim, _ := ProfileByName("sim")
	triton, _ := ProfileByName("triton")
	vllm, _ := ProfileByName("vllm")
	for _, tc := range []struct {
		name string
		p    Profile
		cs   []engine.Container
		want []stopSet
	}{
		{"nothing running", sim, nil, nil},
		{"same profile", vllm, run("vllm", "dcgm-exporter", "prometheus"), nil},
		{"gpu to sim drops exporter", sim, run("vllm", "dcgm-exporter", "prometheus", "grafana"), []stopSet{{"vllm", []string{"dcgm-exporter", "vllm"}}}},
		{"gpu to gpu keeps exporter", triton, run("vllm", "dcgm-exporter", "prometheus"), []stopSet{{"vllm", []string{"vllm"}}}},
		{"sim to gpu", vllm, run("sim", "prometheus"), []stopSet{{"sim", []string{"sim"}}}},
	} {
		got := toStop(tc.p, tc.cs)
		if len(got) != len(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if got[i].profile != tc.want[i].profile || !slices.Equal(got[i].services, tc.want[i].services) {
				t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
			}
		}
	}
}

func TestURLs(t *testing.T) {
	cfg := env.NewConfig("x", map[string]string{"BIND_ADDRESS": "127.0.0.1", "API_PORT": "8000", "GRPC_PORT": "8001",
		"METRICS_PORT": "8002", "PROMETHEUS_PORT": "9090", "GRAFANA_PORT": "3000", "DCGM_PORT": "9400",
		"GRAFANA_ADMIN_USER": "admin", "GRAFANA_ADMIN_PASSWORD": "topsecret", "SIM_PERSONALITY": "triton-trt"})
	for _, p := range Profiles {
		for _, u := range p.URLs(cfg) {
			if u.URL == "" || slices.Contains([]string{u.URL, u.Name}, "topsecret") {
				t.Errorf("%s: bad row %+v", p.Name, u)
			}
		}
	}
	sim, _ := ProfileByName("sim")
	names := map[string]string{}
	for _, u := range sim.URLs(cfg) {
		names[u.Name] = u.URL
	}
	if names["simulator (triton-trt) metrics"] != "http://127.0.0.1:8002/metrics" {
		t.Errorf("sim in a Triton personality: %v", names)
	}
}

func TestContainerStates(t *testing.T) {
	for _, tc := range []struct {
		c             engine.Container
		ready, failed bool
	}{
		{engine.Container{State: "running", Health: "healthy"}, true, false},
		{engine.Container{State: "running"}, true, false},
		{engine.Container{State: "running", Health: "starting"}, false, false},
		{engine.Container{State: "running", Health: "unhealthy"}, false, true},
		{engine.Container{State: "exited", ExitCode: 0}, false, true},
		{engine.Container{State: "created"}, false, false},
	} {
		if tc.c.Ready() != tc.ready || tc.c.Failed() != tc.failed {
			t.Errorf("%+v: ready %v failed %v", tc.c, tc.c.Ready(), tc.c.Failed())
		}
	}
}
