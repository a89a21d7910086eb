// Package stack starts, stops and inspects the compose stack: one backend
// profile at a time, with Prometheus and Grafana.
package stack

import (
	"fmt"
	"net"
	"slices"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/env"
)

// Profile is one backend profile of deploy/compose.yaml.
type Profile struct {
	Name    string   // compose profile name
	Title   string   // for people
	Backend []string // services only this profile runs
	GPU     bool     // needs an NVIDIA GPU (and runs dcgm-exporter)
}

// Shared services run in every profile.
var Shared = []string{"prometheus", "grafana"}

// GPUServices run in every GPU profile.
var GPUServices = []string{"dcgm-exporter"}

// Profiles in the order of compose.Profiles.
var Profiles = []Profile{
	{Name: "vllm", Title: "vLLM", Backend: []string{"vllm"}, GPU: true},
	{Name: "triton", Title: "Triton (vLLM backend)", Backend: []string{"triton"}, GPU: true},
	{Name: "triton-trt", Title: "Triton (TensorRT-LLM backend)", Backend: []string{"triton-trt"}, GPU: true},
	{Name: "sim", Title: "simulator", Backend: []string{"sim"}},
}

// ProfileByName returns the profile called name.
func ProfileByName(name string) (Profile, error) {
	for _, p := range Profiles {
		if p.Name == name {
			return p, nil
		}
	}
	return Profile{}, fmt.Errorf("unknown profile %q; expected one of vllm, triton, triton-trt, sim", name)
}

// Services returns every service the profile starts.
func (p Profile) Services() []string {
	s := append([]string{}, p.Backend...)
	if p.GPU {
		s = append(s, GPUServices...)
	}
	return append(s, Shared...)
}

// Owns reports whether service belongs to the profile and not to every profile.
func (p Profile) Owns(service string) bool {
	return slices.Contains(p.Backend, service) || (p.GPU && slices.Contains(GPUServices, service))
}

// profileOf returns the backend profile that runs service, if any.
func profileOf(service string) (Profile, bool) {
	for _, p := range Profiles {
		if slices.Contains(p.Backend, service) {
			return p, true
		}
	}
	return Profile{}, false
}

// URL is one row of the table printed after `up`.
type URL struct{ Name, URL string }

// URLs returns what a user opens once the profile is up.
func (p Profile) URLs(cfg *env.Config) []URL {
	host := cfg.Get("BIND_ADDRESS")
	if host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	at := func(scheme, key, path string) string {
		return scheme + "://" + net.JoinHostPort(host, cfg.Get(key)) + path
	}
	var u []URL
	triton := func(title string, grpc bool) {
		u = append(u, URL{title + " HTTP API", at("http", "API_PORT", "/v2")})
		if grpc {
			u = append(u, URL{title + " gRPC API", at("grpc", "GRPC_PORT", "")})
		}
		u = append(u, URL{title + " metrics", at("http", "METRICS_PORT", "/metrics")})
	}
	switch p.Name {
	case "vllm":
		u = append(u,
			URL{"vLLM API", at("http", "API_PORT", "/v1")},
			URL{"vLLM docs", at("http", "API_PORT", "/docs")},
			URL{"vLLM metrics", at("http", "API_PORT", "/metrics")})
	case "triton":
		triton("Triton", true)
	case "triton-trt":
		triton("Triton TRT-LLM", true)
	case "sim":
		switch cfg.Get("SIM_PERSONALITY") {
		case "vllm":
			u = append(u,
				URL{"simulator (vLLM) API", at("http", "API_PORT", "/v1")},
				URL{"simulator metrics", at("http", "API_PORT", "/metrics")})
		default:
			triton("simulator ("+cfg.Get("SIM_PERSONALITY")+")", false)
		}
		u = append(u, URL{"GPU metrics (simulated)", at("http", "DCGM_PORT", "/metrics")})
	}
	if p.GPU {
		u = append(u, URL{"GPU metrics (dcgm-exporter)", at("http", "DCGM_PORT", "/metrics")})
	}
	u = append(u,
		URL{"Prometheus", at("http", "PROMETHEUS_PORT", "")},
		URL{"Grafana", at("http", "GRAFANA_PORT", "") + " (user " + cfg.Get("GRAFANA_ADMIN_USER") + ", password in deploy/.env)"})
	return u
}
