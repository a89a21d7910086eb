package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Triton's HTTP front: the /v2 routes, Triton's error bodies, reading a
// request body and admitting a request to the engine.

// tritonError writes Triton's error body {"error": "..."}.
func tritonError(w http.ResponseWriter, status int, format string, a ...any) {
	b, _ := json.Marshal(map[string]string{"error": fmt.Sprintf(format, a...)})
	writeJSON(w, status, b)
}

func (s *Server) tritonRoutes() http.Handler { return http.HandlerFunc(s.serveTriton) }

func (s *Server) serveTriton(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	get, post := r.Method == http.MethodGet, r.Method == http.MethodPost
	switch {
	case p == "/v2/health/live" && get:
		w.WriteHeader(200)
	case p == "/v2/health/ready" && get:
		if s.ready() {
			w.WriteHeader(200)
		} else {
			w.WriteHeader(400)
		}
	case (p == "/v2" || p == "/v2/") && get:
		b, _ := json.Marshal(map[string]any{"name": "triton", "version": s.cfg.TritonVersion,
			"extensions": []string{"classification", "sequence", "model_repository", "model_repository(unload_dependents)",
				"schedule_policy", "model_configuration", "system_shared_memory", "cuda_shared_memory",
				"binary_tensor_data", "parameters", "statistics", "trace", "logging"}})
		writeJSON(w, 200, b)
	case p == "/v2/repository/index" && post:
		var idx []any
		for _, m := range s.tritonModels() {
			st := "READY"
			if !s.ready() {
				st = "LOADING"
			}
			idx = append(idx, map[string]string{"name": m.name, "version": "1", "state": st})
		}
		b, _ := json.Marshal(idx)
		writeJSON(w, 200, b)
	case strings.HasPrefix(p, "/v2/models/"):
		s.serveTritonModel(w, r, strings.Split(p[len("/v2/models/"):], "/"), get, post)
	default:
		tritonError(w, http.StatusNotFound, "Not Found")
	}
}

func (s *Server) serveTritonModel(w http.ResponseWriter, r *http.Request, parts []string, get, post bool) {
	name := parts[0]
	parts = parts[1:]
	version := ""
	if len(parts) >= 2 && parts[0] == "versions" {
		version = parts[1]
		parts = parts[2:]
	}
	if len(parts) > 1 {
		tritonError(w, http.StatusNotFound, "Not Found")
		return
	}
	action := ""
	if len(parts) == 1 {
		action = parts[0]
	}
	m := s.findTritonModel(name)
	if m == nil {
		tritonError(w, http.StatusBadRequest, "Request for unknown model: '%s' is not found", name)
		return
	}
	if version != "" && version != "1" {
		tritonError(w, http.StatusBadRequest, "Request for unknown model: '%s' version %s is not found", name, version)
		return
	}
	switch {
	case action == "" && get:
		writeJSON(w, 200, m.metadata())
	case action == "ready" && get:
		if s.ready() {
			w.WriteHeader(200)
		} else {
			w.WriteHeader(400)
		}
	case action == "config" && get:
		writeJSON(w, 200, m.config())
	case (action == "generate" || action == "generate_stream") && post:
		s.handleGenerate(w, r, m, action == "generate_stream")
	case action == "infer" && post:
		s.handleInfer(w, r, m)
	default:
		tritonError(w, http.StatusNotFound, "Not Found")
	}
}

func trtLengths(n int, maxTok, minTok int64, cfg *Config) error {
	if maxTok < 1 {
		return fmt.Errorf("max_tokens must be a positive integer, got %d", maxTok)
	}
	if n >= cfg.MaxModelLen {
		return fmt.Errorf("Prompt length (%d) exceeds maximum input length (%d). Set log level to info and check TRTGptModel logs for how maximum input length is set", n, cfg.MaxModelLen-1)
	}
	if int64(n)+maxTok > int64(cfg.MaxModelLen) {
		return fmt.Errorf("Prompt length (%d) + output length (%d) exceeds maximum sequence length (%d)", n, maxTok, cfg.MaxModelLen)
	}
	if minTok < 0 || minTok > maxTok {
		return fmt.Errorf("min_tokens (%d) must be between 0 and max_tokens (%d)", minTok, maxTok)
	}
	return nil
}

// requireInputs is Triton's error for a request with request id id that
// lacks a required input of m; has reports whether the request gives an
// input, got lists the inputs it gives (quoted, as the message shows them).
func (m *tritonModel) requireInputs(id string, has func(name string) bool, got func() []string) error {
	var missing []string
	for _, d := range m.inputs {
		if !d.optional && !has(d.name) {
			missing = append(missing, "'"+d.name+"'")
		}
	}
	if len(missing) == 0 {
		return nil
	}
	g := got()
	return fmt.Errorf("[request id: %s] expected %d inputs but got %d inputs for model '%s'. Got input(s) [%s], but missing required input(s) [%s]. Please provide all required input(s).",
		requestIDLabel(id), len(m.inputs)-countOptional(m.inputs), len(g), m.name, strings.Join(g, ","), strings.Join(missing, ","))
}

func requestIDLabel(id string) string {
	if id == "" {
		return "<id_unknown>"
	}
	return id
}

// readBody reads the body within the limits (limits.go); call release when
// the request is answered. Over -max-body-size Triton's answer is a 400
// with its --http-max-input-size message, as the real server's.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (body []byte, release func(), ok bool) {
	body, release, berr := s.readRequestBody(w, r)
	if berr == nil {
		return body, release, true
	}
	if berr.status == http.StatusRequestEntityTooLarge {
		size := ""
		if berr.size >= 0 {
			size = fmt.Sprint(" of ", berr.size)
		}
		tritonError(w, 400, "Request JSON size%s exceeds the maximum allowed value of %d bytes. Use --http-max-input-size to increase the limit (simulator: -max-body-size, %s).",
			size, berr.limit, EnvName("max-body-size"))
		return nil, nil, false
	}
	tritonError(w, berr.status, "%s", berr.msg)
	return nil, nil, false
}

// pipelineOnly refuses a request to a model the simulator runs only inside
// the ensemble (preprocessing, postprocessing) and reports whether it did.
func (s *Server) pipelineOnly(w http.ResponseWriter, m *tritonModel) bool {
	if m.name != "preprocessing" && m.name != "postprocessing" {
		return false
	}
	tritonError(w, 400, "the simulator runs '%s' only as part of 'ensemble'; send requests to 'ensemble' or 'tensorrt_llm'", m.name)
	return true
}

func (s *Server) tritonAdmit(w http.ResponseWriter, m *tritonModel, spec requestSpec) (*request, bool) {
	if !s.ready() {
		tritonError(w, http.StatusServiceUnavailable, "Server not ready: model '%s' is loading (-startup-delay)", m.name)
		return nil, false
	}
	if s.pipelineOnly(w, m) {
		return nil, false
	}
	if s.injectError() {
		s.tm.fail(m.name, ReasonBackend)
		tritonError(w, 500, "Simulated internal error (-error-rate)")
		return nil, false
	}
	r, err := s.eng.submit(spec)
	if err != nil {
		s.tm.fail(m.name, ReasonRejected)
		tritonError(w, http.StatusServiceUnavailable, "Exceeds maximum queue size")
		return nil, false
	}
	return r, true
}

const midstreamMsg = "Simulated backend failure during generation (-midstream-failure-rate)"
