// Package backend is the one table of the inference servers the pack
// runs: for each backend, the names it goes by (the target suffix of
// `mage up:X` and `mage load:X`, the compose profile, the simulator
// personality that imitates it), the wire protocol its load and smoke
// tests speak, its default model, the deploy/.env keys of its ports and
// image, and how its API and metrics URLs are built from those settings.
//
// Every other package asks this one; no profile, personality or protocol
// name is spelled anywhere else.
package backend

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Name is what a backend is called in target names (up:vllm, load:trt),
// results files and metrics labels.
type Name string

// The backends.
const (
	VLLM   Name = "vllm"   // vLLM's OpenAI-compatible server
	Triton Name = "triton" // Triton Inference Server with the vLLM backend
	TRT    Name = "trt"    // Triton with the TensorRT-LLM backend
	Sim    Name = "sim"    // the pack's simulator, imitating one of the above
)

// Protocol is how a client talks to a server's generation API.
type Protocol string

// The protocols.
const (
	// OpenAIChat: POST {URL}/v1/chat/completions.
	OpenAIChat Protocol = "openai-chat"
	// OpenAICompletions: POST {URL}/v1/completions.
	OpenAICompletions Protocol = "openai-completions"
	// TritonGenerate: POST {URL}/v2/models/{model}/generate_stream (and
	// /generate), with the vLLM backend's inputs (text_input, stream,
	// sampling_parameters as JSON text, exclude_input_in_output).
	TritonGenerate Protocol = "triton-generate"
	// TritonTRT: the same endpoints with a TensorRT-LLM ensemble's inputs
	// (text_input, max_tokens, stream) and outputs.
	TritonTRT Protocol = "triton-trt"
)

// Protocols lists every protocol, in the order help texts give them.
var Protocols = []Protocol{OpenAIChat, OpenAICompletions, TritonGenerate, TritonTRT}

// Triton reports whether p speaks Triton's generate extension (and so
// needs a model name in the URL).
func (p Protocol) Triton() bool { return p == TritonGenerate || p == TritonTRT }

// ParseProtocol returns the protocol called s, or an error that lists them.
func ParseProtocol(s string) (Protocol, error) {
	for _, p := range Protocols {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("protocol %q: expected one of %s", s, join(Protocols))
}

// Personality is a simulator personality: the server it imitates.
type Personality string

// The personalities (SIM_PERSONALITY, sim -personality).
const (
	PersonalityVLLM       Personality = "vllm"
	PersonalityTritonVLLM Personality = "triton-vllm"
	PersonalityTritonTRT  Personality = "triton-trt"
)

// Personalities lists every personality, in table order.
var Personalities = []Personality{PersonalityVLLM, PersonalityTritonVLLM, PersonalityTritonTRT}

// Settings keys of deploy/.env that the table refers to.
const (
	KeyBindAddress  = "BIND_ADDRESS"
	KeyAPIPort      = "API_PORT"
	KeyGRPCPort     = "GRPC_PORT"
	KeyMetricsPort  = "METRICS_PORT"
	KeyDCGMPort     = "DCGM_PORT"
	KeyServedModel  = "SERVED_MODEL_NAME"
	KeyPersonality  = "SIM_PERSONALITY"
	KeyVLLMImage    = "VLLM_IMAGE"
	KeyTritonImage  = "TRITON_VLLM_IMAGE"
	KeyTRTImage     = "TRITON_TRTLLM_IMAGE"
	KeySimImage     = "SIM_IMAGE"
	KeyPromPort     = "PROMETHEUS_PORT"
	KeyGrafanaPort  = "GRAFANA_PORT"
	KeyGrafanaAdmin = "GRAFANA_ADMIN_USER"
)

// Backend is one row of the table.
type Backend struct {
	Name  Name
	Title string // for people: "Triton (vLLM backend)"

	// Profile is the compose profile of deploy/compose.yaml that runs it,
	// Services the services only that profile starts.
	Profile  string
	Services []string
	// GPU: the profile needs an NVIDIA GPU (and runs dcgm-exporter).
	GPU bool

	// Personality is the simulator personality that imitates this
	// backend ("" for the simulator itself).
	Personality Personality
	// Dashboard is the Grafana dashboard of its metrics (dashboards/NAME.json).
	Dashboard string

	Protocol Protocol
	// Model is the model name the protocol needs: a fixed Triton model
	// ("ensemble"), or ModelKey's setting; "" with no ModelKey means the
	// OpenAI server's /v1/models lists it.
	Model    string
	ModelKey string

	// ImageKey is the .env key of its container image.
	ImageKey string
	// MetricsOnAPIPort: /metrics is served on the API port (vLLM); else on
	// METRICS_PORT (Triton).
	MetricsOnAPIPort bool
	// GRPC: the server also serves gRPC on GRPC_PORT.
	GRPC bool
}

// Table lists the backends in the order of the targets (up:vllm,
// up:triton, up:trt, up:sim).
var Table = []Backend{
	{
		Name: VLLM, Title: "vLLM", Profile: "vllm", Services: []string{"vllm"}, GPU: true,
		Personality: PersonalityVLLM, Dashboard: "vllm",
		Protocol: OpenAIChat, ImageKey: KeyVLLMImage, MetricsOnAPIPort: true,
	},
	{
		Name: Triton, Title: "Triton (vLLM backend)", Profile: "triton", Services: []string{"triton"}, GPU: true,
		Personality: PersonalityTritonVLLM, Dashboard: "triton-vllm",
		Protocol: TritonGenerate, Model: "vllm_model", ModelKey: KeyServedModel, ImageKey: KeyTritonImage, GRPC: true,
	},
	{
		Name: TRT, Title: "Triton (TensorRT-LLM backend)", Profile: "triton-trt", Services: []string{"triton-trt"}, GPU: true,
		Personality: PersonalityTritonTRT, Dashboard: "triton-trt",
		Protocol: TritonTRT, Model: "ensemble", ImageKey: KeyTRTImage, GRPC: true,
	},
	{
		Name: Sim, Title: "simulator", Profile: "sim", Services: []string{"sim"},
		ImageKey: KeySimImage,
	},
}

// Names lists every backend name, in table order.
func Names() []Name {
	n := make([]Name, len(Table))
	for i, b := range Table {
		n[i] = b.Name
	}
	return n
}

// Profiles lists every compose profile, in table order.
func Profiles() []string {
	p := make([]string, len(Table))
	for i, b := range Table {
		p[i] = b.Profile
	}
	return p
}

// GPUs lists the backends that need a GPU (all but the simulator).
func GPUs() []Backend {
	var g []Backend
	for _, b := range Table {
		if b.GPU {
			g = append(g, b)
		}
	}
	return g
}

// Lookup returns the backend called name (vllm, triton, trt, sim).
func Lookup(name string) (Backend, error) {
	for _, b := range Table {
		if string(b.Name) == name {
			return b, nil
		}
	}
	return Backend{}, fmt.Errorf("unknown backend %q; expected one of %s", name, join(Names()))
}

// ByProfile returns the backend that the compose profile runs.
func ByProfile(profile string) (Backend, error) {
	for _, b := range Table {
		if b.Profile == profile {
			return b, nil
		}
	}
	return Backend{}, fmt.Errorf("unknown profile %q; expected one of %s", profile, strings.Join(Profiles(), ", "))
}

// ByPersonality returns the backend that a simulator personality imitates.
func ByPersonality(p string) (Backend, error) {
	for _, b := range Table {
		if b.Personality != "" && string(b.Personality) == p {
			return b, nil
		}
	}
	return Backend{}, fmt.Errorf("%s %q: expected one of %s", KeyPersonality, p, join(Personalities))
}

// ByService returns the backend whose profile alone runs service.
func ByService(service string) (Backend, bool) {
	for _, b := range Table {
		for _, s := range b.Services {
			if s == service {
				return b, true
			}
		}
	}
	return Backend{}, false
}

// Get reads one setting (env.Config.Get, os.Getenv, a map lookup).
type Get func(key string) string

// Speaks returns what a client of b talks to: b itself, or for the
// simulator the backend its SIM_PERSONALITY imitates. The result keeps
// the simulator's Name, Title and Profile and takes the imitated
// backend's protocol, model, dashboard and metrics port.
func (b Backend) Speaks(get Get) (Backend, error) {
	if b.Name != Sim {
		return b, nil
	}
	like, err := ByPersonality(get(KeyPersonality))
	if err != nil {
		return b, err
	}
	s := b
	s.Personality = like.Personality
	s.Dashboard = like.Dashboard
	s.Protocol, s.Model, s.ModelKey = like.Protocol, like.Model, like.ModelKey
	s.MetricsOnAPIPort = like.MetricsOnAPIPort
	return s, nil
}

// ModelName is the model a client names: ModelKey's setting, else Model.
func (b Backend) ModelName(get Get) string {
	if b.ModelKey != "" {
		if v := get(b.ModelKey); v != "" {
			return v
		}
	}
	return b.Model
}

// ClientHost is the host a client on this machine dials for ports bound
// to bind (BIND_ADDRESS): the address itself, or 127.0.0.1 for the
// wildcard addresses ("localhost" may resolve to ::1 first, where a port
// published on 0.0.0.0 does not listen).
func ClientHost(bind string) string {
	if wildcard(bind) {
		return "127.0.0.1"
	}
	return strings.Trim(bind, "[]")
}

// wildcard reports whether bind publishes ports on every address.
func wildcard(bind string) bool {
	switch bind {
	case "", "0.0.0.0", "::", "[::]":
		return true
	}
	return false
}

// HostURL is scheme://host:port for the port setting key, on the host
// that BIND_ADDRESS publishes it to.
func HostURL(get Get, scheme, key string) string {
	return scheme + "://" + net.JoinHostPort(ClientHost(get(KeyBindAddress)), get(key))
}

// APIURL is the base URL of b's HTTP API from the settings.
func (b Backend) APIURL(get Get) string { return HostURL(get, "http", KeyAPIPort) }

// MetricsURL is where b's server metrics are, for a server whose API is
// at apiURL: the API port's /metrics for vLLM, else the same host on
// METRICS_PORT.
func (b Backend) MetricsURL(get Get, apiURL string) (string, error) {
	apiURL = strings.TrimRight(apiURL, "/")
	u, err := url.Parse(apiURL)
	if err != nil || u.Hostname() == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("server URL %q: expected http://HOST:PORT", apiURL)
	}
	if b.MetricsOnAPIPort {
		return apiURL + "/metrics", nil
	}
	port := get(KeyMetricsPort)
	if port == "" {
		return "", fmt.Errorf("deploy/.env: %s is empty (Triton's metrics port, e.g. 8002); or give -scrape=URL", KeyMetricsPort)
	}
	return u.Scheme + "://" + net.JoinHostPort(u.Hostname(), port) + "/metrics", nil
}

func join[T ~string](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = string(x)
	}
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// BrowserHost is the host of the URLs printed for people (the table after
// `mage up`) for ports bound to bind: ClientHost's, except "localhost" for
// the wildcard addresses, which a browser tries on both address families.
// Clients the pack runs itself dial ClientHost.
func BrowserHost(bind string) string {
	if wildcard(bind) {
		return "localhost"
	}
	return ClientHost(bind)
}
