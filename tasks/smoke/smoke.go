// Package smoke checks that an inference server answers as it should: health,
// the model list or metadata, a short and a long completion, a streamed
// completion and the metrics page, each one step with a PASS or FAIL, its
// latency and, on failure, what was expected and what came back.
//
// It speaks the three APIs the stack serves: vLLM's OpenAI API, Triton's
// generate extension for a vLLM-backend model, and Triton's generate
// extension for a TensorRT-LLM ensemble (text in, text out: no client-side
// tokenizer). Streams are read with the readers of tasks/wire/stream.
package smoke

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/wire/promtext"
)

// Default timeouts of one step.
const (
	DefaultQuickTimeout = 5 * time.Second  // health, models, metadata, metrics
	DefaultGenTimeout   = 60 * time.Second // completions and streams
)

// Token budgets of the generation steps.
const (
	ShortMaxTokens  = 16
	LongMaxTokens   = 256
	StreamMaxTokens = 64
)

// Prompts of the generation steps.
const (
	ShortPrompt = "The capital of France is"
	LongPrompt  = "Explain, in several paragraphs, how a large language model generates text one token at a time, " +
		"and why the first token takes longer than the ones after it."
	StreamPrompt = "Count from one to twenty in words, separated by commas."
)

// Options say which server to check and how.
type Options struct {
	Backend  string        // label for the report: vllm, triton, trt, sim
	URL      string        // API base URL, e.g. http://127.0.0.1:8000 (no /v1 or /v2)
	Protocol load.Protocol // openai-chat or openai-completions (the OpenAI steps), triton-generate, triton-trt
	// Model: Triton, the model name (required); OpenAI, the model that
	// /v1/models must list ("" takes the first one listed).
	Model string
	// MetricsURL is the full URL of the metrics page. Default: URL/metrics
	// (OpenAI); for Triton, URL's host on port 8002.
	MetricsURL string

	QuickTimeout time.Duration // default DefaultQuickTimeout
	GenTimeout   time.Duration // default DefaultGenTimeout
	Client       *http.Client  // default: a client without an overall timeout (steps have their own)

	// OnStep, when set, is called as each step ends (live output).
	OnStep func(Step)
}

// Step is the outcome of one check.
type Step struct {
	Name      string  `json:"name"`
	OK        bool    `json:"ok"`
	LatencyMS float64 `json:"latency_ms"`
	Detail    string  `json:"detail,omitempty"`
	Error     string  `json:"error,omitempty"`
	Skipped   bool    `json:"skipped,omitempty"` // not run: a step it needs failed (counts as failed)
}

// Report is the outcome of a run.
type Report struct {
	Backend    string `json:"backend"`
	Protocol   string `json:"protocol"`
	URL        string `json:"url"`
	MetricsURL string `json:"metrics_url"`
	Model      string `json:"model"`
	OK         bool   `json:"ok"`
	Steps      []Step `json:"steps"`
}

// Passed and Failed count the steps.
func (r *Report) Passed() int {
	n := 0
	for _, s := range r.Steps {
		if s.OK {
			n++
		}
	}
	return n
}

// Failed is the number of failed (or skipped) steps.
func (r *Report) Failed() int { return len(r.Steps) - r.Passed() }

// Summary is the last line of the text output.
func (r *Report) Summary() string {
	return fmt.Sprintf("smoke: %d passed, %d failed", r.Passed(), r.Failed())
}

// Err is nil when every step passed, else it names the failed steps.
func (r *Report) Err() error {
	if r.OK {
		return nil
	}
	var names []string
	for _, s := range r.Steps {
		if !s.OK {
			names = append(names, s.Name)
		}
	}
	return fmt.Errorf("smoke: %d of %d steps failed against %s (%s): %s", r.Failed(), len(r.Steps), r.URL,
		r.Backend, strings.Join(names, ", "))
}

// nameWidth aligns the step names (the longest is "completion short").
const nameWidth = 16

// FormatStep is one line of the text output:
//
//	PASS  health                3 ms
//	FAIL  completion short     12 ms  POST /v1/completions: expected 200, got 500 ...
func FormatStep(s Step) string {
	status := "PASS"
	if !s.OK {
		status = "FAIL"
	}
	lat := fmt.Sprintf("%d ms", int64(math.Round(s.LatencyMS)))
	if s.Skipped {
		lat = "-"
	}
	line := fmt.Sprintf("%s  %-*s %9s", status, nameWidth, s.Name, lat)
	msg := s.Detail
	if !s.OK {
		msg = s.Error
	}
	if msg != "" {
		line += "  " + msg
	}
	return line
}

// WriteText writes one line per step and the summary.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, s := range r.Steps {
		b.WriteString(FormatStep(s))
		b.WriteByte('\n')
	}
	b.WriteString(r.Summary())
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Run checks the server: every step runs (a failed step does not stop the
// others) except those that need what a failed step would have given (the
// OpenAI model id), which fail as skipped. The error is only for options
// that cannot work; a failed check is in the report (see Report.Err).
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.normalize(); err != nil {
		return nil, err
	}
	r := &runner{o: o, rep: &Report{Backend: o.Backend, Protocol: string(o.Protocol), URL: o.URL,
		MetricsURL: o.MetricsURL, Model: o.Model}}
	switch o.Protocol {
	case load.ProtocolOpenAIChat, load.ProtocolOpenAICompletions:
		r.openAI(ctx)
	default:
		r.triton(ctx)
	}
	r.rep.OK = r.rep.Failed() == 0
	return r.rep, nil
}

func (o *Options) normalize() error {
	o.URL = strings.TrimRight(o.URL, "/")
	if !strings.HasPrefix(o.URL, "http://") && !strings.HasPrefix(o.URL, "https://") {
		return fmt.Errorf("smoke: URL %q: expected http://HOST:PORT or https://HOST:PORT", o.URL)
	}
	switch o.Protocol {
	case load.ProtocolOpenAIChat, load.ProtocolOpenAICompletions:
		if o.MetricsURL == "" {
			o.MetricsURL = o.URL + "/metrics"
		}
	case load.ProtocolTritonGenerate, load.ProtocolTritonTRT:
		if o.Model == "" {
			return fmt.Errorf("smoke: protocol %s needs the Triton model name (SERVED_MODEL_NAME in deploy/.env, or ensemble)", o.Protocol)
		}
		if o.MetricsURL == "" {
			u, err := tritonMetricsURL(o.URL, tritonDefaultMetricsPort)
			if err != nil {
				return err
			}
			o.MetricsURL = u
		}
	default:
		return fmt.Errorf("smoke: protocol %q: expected one of %s, %s, %s, %s", o.Protocol,
			load.ProtocolOpenAIChat, load.ProtocolOpenAICompletions, load.ProtocolTritonGenerate, load.ProtocolTritonTRT)
	}
	if o.QuickTimeout <= 0 {
		o.QuickTimeout = DefaultQuickTimeout
	}
	if o.GenTimeout <= 0 {
		o.GenTimeout = DefaultGenTimeout
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	return nil
}

// ---------------------------------------------------------------------------
// Steps.

type runner struct {
	o   Options
	rep *Report
}

// errSkipped marks a step that did not run because a step it needs failed.
type errSkipped struct{ why string }

func (e errSkipped) Error() string { return "skipped: " + e.why }

// step runs one check with its timeout and records the outcome. check
// returns a detail for the PASS line or an error for the FAIL line.
func (r *runner) step(ctx context.Context, name string, timeout time.Duration, check func(ctx context.Context) (string, error)) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	detail, err := check(ctx)
	lat := time.Since(start)
	s := Step{Name: name, OK: err == nil, LatencyMS: math.Round(float64(lat.Microseconds())) / 1e3}
	if err != nil {
		var sk errSkipped
		if errors.As(err, &sk) {
			s.Skipped, s.LatencyMS = true, 0
		}
		if ctx.Err() == context.DeadlineExceeded && !s.Skipped {
			err = fmt.Errorf("%w (no complete answer within the step's timeout of %s)", err, timeout)
		}
		s.Error = err.Error()
	} else {
		s.Detail = detail
	}
	r.rep.Steps = append(r.rep.Steps, s)
	if r.o.OnStep != nil {
		r.o.OnStep(s)
	}
	return s.OK
}

// maxBody bounds what a non-streamed answer may be.
const maxBody = 8 << 20

// call sends one request and returns the status and the body (read
// completely unless stream is set, in which case the caller reads and
// closes resp.Body). A transport error names the request.
func (r *runner) call(ctx context.Context, method, path string, body any, stream bool) (*http.Response, []byte, error) {
	url := path
	if strings.HasPrefix(path, "/") {
		url = r.o.URL + path
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %v", method, url, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if stream {
		req.Header.Set("Accept", "text/event-stream")
	}
	resp, err := r.o.Client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %v%s", method, url, unwrapURLError(err), r.upHint())
	}
	if stream && resp.StatusCode == http.StatusOK {
		return resp, nil, nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return resp, b, fmt.Errorf("%s %s: reading the answer (status %d): %v; got so far: %s", method, url, resp.StatusCode, err, Snippet(b))
	}
	return resp, b, nil
}

// expectStatus fails unless the answer has status 200.
func expectStatus(method, path string, resp *http.Response, body []byte) error {
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	return fmt.Errorf("%s %s: expected 200, got %s: %s", method, path, resp.Status, Snippet(body))
}

func unwrapURLError(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

// Snippet is the first 200 bytes of a body on one line, for FAIL messages.
func Snippet(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "(empty body)"
	}
	cut := len(b) > 200
	if cut {
		b = b[:200]
		for len(b) > 0 && !utf8.Valid(b) && len(b) > 196 {
			b = b[:len(b)-1]
		}
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if cut {
		s += "..."
	}
	return s
}

// stripPrompt removes the prompt from the start of a generated text:
// non-streamed Triton answers repeat the prompt unless the model excludes
// it, and only the rest is generated.
func stripPrompt(text, prompt string) string {
	return strings.TrimPrefix(text, prompt)
}

// metricsStep fetches the metrics page, wants every family of families
// (the dashboards read them), and wants the counter that the generation
// steps above must have moved to be above zero: a page that exists but
// does not count requests would leave the dashboards empty.
func (r *runner) metricsStep(ctx context.Context, counter string, labels map[string]string, families ...string) {
	r.step(ctx, "metrics", r.o.QuickTimeout, func(ctx context.Context) (string, error) {
		resp, body, err := r.call(ctx, http.MethodGet, r.o.MetricsURL, nil, false)
		if err != nil {
			return "", err
		}
		if err := expectStatus(http.MethodGet, r.o.MetricsURL, resp, body); err != nil {
			return "", err
		}
		page, err := promtext.Parse(bytes.NewReader(body))
		if err != nil {
			return "", fmt.Errorf("GET %s: %w: %s", r.o.MetricsURL, err, Snippet(body))
		}
		for _, family := range families {
			if !page.Has(family) {
				return "", fmt.Errorf("GET %s: expected the metric family %s, not found in %d bytes: %s", r.o.MetricsURL,
					family, len(body), Snippet(body))
			}
		}
		sum, found := page.Sum(counter, labels)
		sel := counter + labelString(labels)
		if !found || sum <= 0 {
			return "", fmt.Errorf("GET %s: expected %s > 0 after the requests above, got %v (found: %v)", r.o.MetricsURL, sel, sum, found)
		}
		return fmt.Sprintf("%s = %g; %s present", sel, sum, strings.Join(families, ", ")), nil
	})
}

func labelString(labels map[string]string) string {
	if len(labels) == 0 {
		return ""
	}
	var parts []string
	for k, v := range labels {
		parts = append(parts, k+"=\""+v+"\"")
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

// tritonDefaultMetricsPort is Triton's --metrics-port default, for a smoke
// test given only the API URL (the targets pass the .env's METRICS_PORT
// through Options.MetricsURL).
const tritonDefaultMetricsPort = "8002"

// tritonMetricsURL is the metrics page of a Triton server whose API is at
// apiURL: the same scheme and host, on port, as backend.MetricsURL builds it.
func tritonMetricsURL(apiURL, port string) (string, error) {
	triton, err := backend.Lookup(string(backend.Triton))
	if err != nil {
		return "", err
	}
	return triton.MetricsURL(func(key string) string {
		if key == backend.KeyMetricsPort {
			return port
		}
		return ""
	}, apiURL)
}

// upHint says how to start the server that did not answer.
func (r *runner) upHint() string {
	switch r.o.Backend {
	case "":
		return " (is the server up? mage up:sim or mage sim starts the simulator)"
	case string(backend.Sim):
		return " (is the server up? mage up:sim starts it with Prometheus and Grafana, mage sim the simulator alone; -url points elsewhere)"
	}
	return fmt.Sprintf(" (is the server up? mage up:%s starts it; -url points elsewhere)", r.o.Backend)
}
