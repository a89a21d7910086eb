package smoke

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/load/stream"
)

// openAI runs the steps against vLLM's OpenAI API.
func (r *runner) openAI(ctx context.Context) {
	q := r.o.QuickTimeout
	r.step(ctx, "health", q, func(ctx context.Context) (string, error) {
		return r.getOK(ctx, "/health")
	})
	model := ""
	r.step(ctx, "models", q, func(ctx context.Context) (string, error) {
		var err error
		var detail string
		model, detail, err = r.models(ctx)
		return detail, err
	})
	r.rep.Model = model
	r.step(ctx, "version", q, r.version)
	needModel := func(check func(ctx context.Context) (string, error)) func(ctx context.Context) (string, error) {
		return func(ctx context.Context) (string, error) {
			if model == "" {
				return "", errSkipped{"no model (the models step found none)"}
			}
			return check(ctx)
		}
	}
	g := r.o.GenTimeout
	r.step(ctx, "completion short", g, needModel(func(ctx context.Context) (string, error) {
		return r.complete(ctx, "/v1/completions", map[string]any{"model": model, "prompt": ShortPrompt,
			"max_tokens": ShortMaxTokens}, ShortMaxTokens)
	}))
	r.step(ctx, "chat long", g, needModel(func(ctx context.Context) (string, error) {
		return r.complete(ctx, "/v1/chat/completions", map[string]any{"model": model,
			"messages": []map[string]string{{"role": "user", "content": LongPrompt}}, "max_tokens": LongMaxTokens}, LongMaxTokens)
	}))
	r.step(ctx, "chat stream", g, needModel(func(ctx context.Context) (string, error) {
		return r.chatStream(ctx, model)
	}))
	r.metricsStep(ctx, "vllm:num_requests_running")
}

// getOK GETs a path and wants a 200.
func (r *runner) getOK(ctx context.Context, path string) (string, error) {
	resp, body, err := r.call(ctx, http.MethodGet, path, nil, false)
	if err != nil {
		return "", err
	}
	if err := expectStatus(http.MethodGet, path, resp, body); err != nil {
		return "", err
	}
	return "", nil
}

// models lists /v1/models and picks the served model: Options.Model when
// set (it must be listed), else the first one. When the expected model is
// missing the step fails but the first listed model is still used, so that
// the later steps say whether the server itself works.
func (r *runner) models(ctx context.Context) (model, detail string, err error) {
	const path = "/v1/models"
	resp, body, err := r.call(ctx, http.MethodGet, path, nil, false)
	if err != nil {
		return "", "", err
	}
	if err := expectStatus(http.MethodGet, path, resp, body); err != nil {
		return "", "", err
	}
	var list struct {
		Data []struct {
			ID   string `json:"id"`
			Root string `json:"root"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return "", "", fmt.Errorf("GET %s: expected JSON {\"data\": [{\"id\": ...}]}, got: %s", path, Snippet(body))
	}
	var ids []string
	root := map[string]string{}
	for _, m := range list.Data {
		if m.ID != "" {
			ids = append(ids, m.ID)
			root[m.ID] = m.Root
		}
	}
	if len(ids) == 0 {
		return "", "", fmt.Errorf("GET %s: expected at least one model with an id in \"data\", got none: %s", path, Snippet(body))
	}
	model = ids[0]
	if want := r.o.Model; want != "" {
		found := false
		for _, id := range ids {
			found = found || id == want
		}
		if !found {
			return model, "", fmt.Errorf("GET %s: expected the served model %q (SERVED_MODEL_NAME in deploy/.env) to be listed, got [%s]; the next steps use %q",
				path, want, strings.Join(ids, ", "), model)
		}
		model = want
	}
	detail = "model " + model
	if rt := root[model]; rt != "" && rt != model {
		detail += " (" + rt + ")"
	}
	if len(ids) > 1 {
		detail += fmt.Sprintf(", %d models listed", len(ids))
	}
	return model, detail, nil
}

// version reads /version, which is optional: a 404 passes.
func (r *runner) version(ctx context.Context) (string, error) {
	const path = "/version"
	resp, body, err := r.call(ctx, http.MethodGet, path, nil, false)
	if err != nil {
		return "", err
	}
	if resp.StatusCode == http.StatusNotFound {
		return "not served (optional)", nil
	}
	if err := expectStatus(http.MethodGet, path, resp, body); err != nil {
		return "", err
	}
	var v struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Version == "" {
		return "", fmt.Errorf("GET %s: expected JSON {\"version\": \"...\"}, got: %s", path, Snippet(body))
	}
	return "version " + v.Version, nil
}

// complete sends a non-streamed completion or chat completion and checks the
// text and the usage.
func (r *runner) complete(ctx context.Context, path string, req map[string]any, maxTokens int) (string, error) {
	resp, body, err := r.call(ctx, http.MethodPost, path, req, false)
	if err != nil {
		return "", err
	}
	if err := expectStatus(http.MethodPost, path, resp, body); err != nil {
		return "", err
	}
	ev := stream.ParseOpenAIResponse(body)
	if ev.Err != nil {
		return "", fmt.Errorf("POST %s: %v", path, ev.Err)
	}
	if strings.TrimSpace(ev.Text) == "" {
		return "", fmt.Errorf("POST %s: expected generated text in choices[0], got none: %s", path, Snippet(body))
	}
	if ev.Usage == nil {
		return "", fmt.Errorf("POST %s: expected \"usage\" with the token counts, got none: %s", path, Snippet(body))
	}
	if err := checkUsage(*ev.Usage, maxTokens); err != nil {
		return "", fmt.Errorf("POST %s: %v", path, err)
	}
	d := fmt.Sprintf("%d prompt + %d completion tokens", ev.Usage.PromptTokens, ev.Usage.CompletionTokens)
	if ev.FinishReason != "" {
		d += ", finish_reason " + ev.FinishReason
	}
	return d, nil
}

// checkUsage wants usage counts that agree with each other and the request.
func checkUsage(u stream.Usage, maxTokens int) error {
	switch {
	case u.CompletionTokens < 1 || u.CompletionTokens > maxTokens:
		return fmt.Errorf("expected 1 <= usage.completion_tokens <= max_tokens %d, got %d", maxTokens, u.CompletionTokens)
	case u.PromptTokens < 1:
		return fmt.Errorf("expected usage.prompt_tokens >= 1, got %d", u.PromptTokens)
	case u.TotalTokens != u.PromptTokens+u.CompletionTokens:
		return fmt.Errorf("expected usage.total_tokens = prompt_tokens + completion_tokens = %d, got %d",
			u.PromptTokens+u.CompletionTokens, u.TotalTokens)
	}
	return nil
}

// chatStream streams a chat completion with the usage in the final chunk.
func (r *runner) chatStream(ctx context.Context, model string) (string, error) {
	const path = "/v1/chat/completions"
	req := map[string]any{"model": model, "messages": []map[string]string{{"role": "user", "content": StreamPrompt}},
		"max_tokens": StreamMaxTokens, "stream": true, "stream_options": map[string]bool{"include_usage": true}}
	start := time.Now()
	resp, body, err := r.call(ctx, http.MethodPost, path, req, true)
	if err != nil {
		return "", err
	}
	if err := expectStatus(http.MethodPost, path, resp, body); err != nil {
		return "", err
	}
	defer resp.Body.Close()
	rd := stream.NewOpenAIReader(resp.Body)
	chunks := 0
	var ttft time.Duration
	var usage *stream.Usage
	usageLast := false // the usage came in the last data chunk
	for {
		ev := rd.Next()
		if ev.Err != nil {
			return "", fmt.Errorf("POST %s (stream): after %d content chunks: %v", path, chunks, ev.Err)
		}
		if ev.Done {
			break
		}
		if ev.Text != "" {
			if chunks == 0 {
				ttft = time.Since(start)
			}
			chunks++
		}
		usageLast = ev.Usage != nil
		if ev.Usage != nil {
			u := *ev.Usage
			usage = &u
		}
	}
	if chunks < 2 {
		return "", fmt.Errorf("POST %s (stream): expected at least 2 chunks with content before [DONE], got %d", path, chunks)
	}
	if !usageLast {
		return "", fmt.Errorf("POST %s (stream): expected \"usage\" in the final chunk before [DONE] (stream_options.include_usage), got none", path)
	}
	if err := checkUsage(*usage, StreamMaxTokens); err != nil {
		return "", fmt.Errorf("POST %s (stream): final chunk: %v", path, err)
	}
	return fmt.Sprintf("TTFT %d ms, %d chunks, %d completion tokens, [DONE]", ttft.Milliseconds(), chunks, usage.CompletionTokens), nil
}
