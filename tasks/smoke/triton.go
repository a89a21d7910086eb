package smoke

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/wire"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/wire/stream"
)

// triton runs the steps against Triton's KServe v2 API with the generate
// extension: a vLLM-backend model or a TensorRT-LLM ensemble.
func (r *runner) triton(ctx context.Context) {
	q, g := r.o.QuickTimeout, r.o.GenTimeout
	base := wire.TritonModelPath(r.o.Model)
	r.step(ctx, "health", q, func(ctx context.Context) (string, error) {
		return r.getOK(ctx, wire.PathTritonReady)
	})
	r.step(ctx, "model metadata", q, func(ctx context.Context) (string, error) {
		return r.metadata(ctx, base)
	})
	r.step(ctx, "model ready", q, func(ctx context.Context) (string, error) {
		return r.getOK(ctx, base+"/ready")
	})
	r.step(ctx, "generate short", g, func(ctx context.Context) (string, error) {
		return r.generate(ctx, ShortPrompt, ShortMaxTokens)
	})
	r.step(ctx, "generate long", g, func(ctx context.Context) (string, error) {
		return r.generate(ctx, LongPrompt, LongMaxTokens)
	})
	r.step(ctx, "generate stream", g, func(ctx context.Context) (string, error) {
		return r.generateStream(ctx)
	})
	// The backend's own families: the vLLM backend reports vllm:* only with
	// REPORT_CUSTOM_METRICS on; the TensorRT-LLM backend its nv_trt_llm_*.
	backendFamily := "vllm:time_to_first_token_seconds"
	if r.o.Protocol == backend.TritonTRT {
		backendFamily = "nv_trt_llm_request_metrics"
	}
	r.metricsStep(ctx, "nv_inference_request_success", map[string]string{"model": r.o.Model},
		"nv_inference_request_success", backendFamily)
}

// requiredTensors are the inputs and outputs the smoke requests use.
func (r *runner) requiredTensors() (inputs, outputs []string) {
	if r.o.Protocol == backend.TritonTRT {
		return []string{"text_input", "max_tokens"}, []string{"text_output"}
	}
	return []string{"text_input"}, []string{"text_output"}
}

// metadata checks the model metadata for the tensors the requests use.
func (r *runner) metadata(ctx context.Context, path string) (string, error) {
	resp, body, err := r.call(ctx, http.MethodGet, path, nil, false)
	if err != nil {
		return "", err
	}
	if err := expectStatus(http.MethodGet, path, resp, body); err != nil {
		return "", err
	}
	type tensor struct {
		Name string `json:"name"`
	}
	var md struct {
		Name     string   `json:"name"`
		Platform string   `json:"platform"`
		Versions []string `json:"versions"`
		Inputs   []tensor `json:"inputs"`
		Outputs  []tensor `json:"outputs"`
	}
	if err := json.Unmarshal(body, &md); err != nil {
		return "", fmt.Errorf("GET %s: expected the model metadata JSON {\"name\", \"inputs\": [...], \"outputs\": [...]}, got: %s", path, Snippet(body))
	}
	names := func(ts []tensor) map[string]bool {
		m := map[string]bool{}
		for _, t := range ts {
			m[t.Name] = true
		}
		return m
	}
	in, out := names(md.Inputs), names(md.Outputs)
	wantIn, wantOut := r.requiredTensors()
	var missing []string
	for _, n := range wantIn {
		if !in[n] {
			missing = append(missing, "input "+n)
		}
	}
	for _, n := range wantOut {
		if !out[n] {
			missing = append(missing, "output "+n)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("GET %s: expected a text model (%s), missing %s: %s", path,
			strings.Join(append(prefixAll("input ", wantIn), prefixAll("output ", wantOut)...), ", "),
			strings.Join(missing, ", "), Snippet(body))
	}
	d := fmt.Sprintf("%s, %d inputs, %d outputs", md.Name, len(md.Inputs), len(md.Outputs))
	if md.Platform != "" {
		d = fmt.Sprintf("%s (platform %s), %d inputs, %d outputs", md.Name, md.Platform, len(md.Inputs), len(md.Outputs))
	}
	return d, nil
}

func prefixAll(p string, s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = p + v
	}
	return out
}

// generate sends a non-streamed generate request and wants generated text
// (beyond a repeated prompt) in text_output.
func (r *runner) generate(ctx context.Context, prompt string, maxTokens int) (string, error) {
	_, body, path, _, err := r.post(ctx, r.o.Protocol, wire.Request{Model: r.o.Model, Prompt: prompt, MaxTokens: maxTokens})
	if err != nil {
		return "", err
	}
	ev := stream.ParseTritonResponse(body)
	if ev.Err != nil {
		return "", fmt.Errorf("POST %s: %v", path, ev.Err)
	}
	gen := stripPrompt(ev.Text, prompt)
	if strings.TrimSpace(gen) == "" {
		what := "an empty text_output"
		if ev.Text != "" {
			what = "only the prompt in text_output"
		}
		return "", fmt.Errorf("POST %s: expected generated text in text_output, got %s: %s", path, what, Snippet(body))
	}
	d := fmt.Sprintf("%d characters generated", len([]rune(gen)))
	if ev.FinishReason != "" {
		d += ", finish_reason " + ev.FinishReason
	}
	return d, nil
}

// generateStream streams a generate_stream request and wants at least two
// events with text and a clean end.
func (r *runner) generateStream(ctx context.Context) (string, error) {
	resp, _, path, start, err := r.post(ctx, r.o.Protocol,
		wire.Request{Model: r.o.Model, Prompt: StreamPrompt, MaxTokens: StreamMaxTokens, Stream: true})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	events, chars := 0, 0
	var ttft time.Duration
	err = wire.ReadAll(stream.NewTritonReader(resp.Body), func(ev stream.Event) {
		if ev.Text != "" {
			if events == 0 {
				ttft = time.Since(start)
			}
			events++
			chars += len([]rune(ev.Text))
		}
	})
	if err != nil {
		return "", fmt.Errorf("POST %s: after %d events with text: %v", path, events, err)
	}
	if events < 2 {
		return "", fmt.Errorf("POST %s: expected at least 2 events with text_output (a decoupled model streams one per step), got %d", path, events)
	}
	return fmt.Sprintf("TTFT %d ms, %d events, %d characters", ttft.Milliseconds(), events, chars), nil
}
