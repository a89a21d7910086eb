// Package stack starts, stops and inspects the compose stack: one backend
// profile at a time, with Prometheus and Grafana.
package stack

import (
	"net"
	"slices"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/alerts"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
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
var Shared = []string{"prometheus", "alertmanager", "grafana"}

// GPUServices run in every GPU profile.
var GPUServices = []string{"dcgm-exporter"}

// Profiles are the backend table's, in its order (that of compose.Profiles).
var Profiles = profiles()

func profiles() []Profile {
	p := make([]Profile, len(backend.Table))
	for i, b := range backend.Table {
		p[i] = Profile{Name: b.Profile, Title: b.Title, Backend: b.Services, GPU: b.GPU}
	}
	return p
}

// ProfileByName returns the profile called name.
func ProfileByName(name string) (Profile, error) {
	for _, p := range Profiles {
		if p.Name == name {
			return p, nil
		}
	}
	_, err := backend.ByProfile(name) // the table's error, which lists the profiles
	return Profile{}, err
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

// tritonTitles name the Triton servers in the URL table.
var tritonTitles = map[backend.Name]string{backend.Triton: "Triton", backend.TRT: "Triton TRT-LLM"}

// URLs returns what a user opens once the profile is up.
func (p Profile) URLs(cfg *env.Config) []URL {
	host := backend.BrowserHost(cfg.Get(backend.KeyBindAddress))
	at := func(scheme, key, path string) string {
		return scheme + "://" + net.JoinHostPort(host, cfg.Get(key)) + path
	}
	b, _ := backend.ByProfile(p.Name)
	// The simulator's rows are those of the server it imitates (with an
	// unknown personality, Speaks keeps the simulator's row: Triton's).
	s, _ := b.Speaks(cfg.Get)
	sim := b.Name == backend.Sim
	var u []URL
	switch {
	case s.MetricsOnAPIPort && sim:
		u = append(u,
			URL{"simulator (vLLM) API", at("http", backend.KeyAPIPort, "/v1")},
			URL{"simulator metrics", at("http", backend.KeyAPIPort, "/metrics")})
	case s.MetricsOnAPIPort:
		u = append(u,
			URL{"vLLM API", at("http", backend.KeyAPIPort, "/v1")},
			URL{"vLLM docs", at("http", backend.KeyAPIPort, "/docs")},
			URL{"vLLM metrics", at("http", backend.KeyAPIPort, "/metrics")})
	default:
		title := tritonTitles[b.Name]
		if sim {
			title = "simulator (" + cfg.Get(backend.KeyPersonality) + ")"
		}
		u = append(u, URL{title + " HTTP API", at("http", backend.KeyAPIPort, "/v2")})
		if b.GRPC {
			u = append(u, URL{title + " gRPC API", at("grpc", backend.KeyGRPCPort, "")})
		}
		u = append(u, URL{title + " metrics", at("http", backend.KeyMetricsPort, "/metrics")})
	}
	if sim {
		u = append(u, URL{"GPU metrics (simulated)", at("http", backend.KeyDCGMPort, "/metrics")})
	}
	if p.GPU {
		u = append(u, URL{"GPU metrics (dcgm-exporter)", at("http", backend.KeyDCGMPort, "/metrics")})
	}
	u = append(u,
		URL{"Prometheus", at("http", backend.KeyPromPort, "")},
		URL{"Alertmanager", at("http", alerts.KeyPort, "")},
		URL{"Grafana", at("http", backend.KeyGrafanaPort, "") + " (user " + cfg.Get(backend.KeyGrafanaAdmin) + ", password in deploy/.env)"})
	return u
}
