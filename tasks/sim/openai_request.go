package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Decoding vLLM's OpenAI-compatible requests (chat and completions) into
// engine specs.

// openAIRequest is the union of the chat and completion request fields the
// simulator uses; everything else is accepted and ignored.
type openAIRequest struct {
	Model               string          `json:"model"`
	Messages            []chatMessageIn `json:"messages"`
	Prompt              json.RawMessage `json:"prompt"`
	Stream              bool            `json:"stream"`
	StreamOptions       *streamOptions  `json:"stream_options"`
	MaxTokens           *int64          `json:"max_tokens"`
	MaxCompletionTokens *int64          `json:"max_completion_tokens"`
	MinTokens           *int64          `json:"min_tokens"`
	IgnoreEOS           bool            `json:"ignore_eos"`
	N                   *int64          `json:"n"`
	Seed                *int64          `json:"seed"`
}

type streamOptions struct {
	IncludeUsage         bool `json:"include_usage"`
	ContinuousUsageStats bool `json:"continuous_usage_stats"`
}

type chatMessageIn struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// decodeOpenAI parses and validates a request body (chat or completion)
// into engine specs. It is the fuzzed entry point.
func decodeOpenAI(body []byte, chat bool, cfg *Config) (*openAIRequest, []requestSpec, *apiError) {
	var req openAIRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		return nil, nil, badRequest("Invalid JSON request body: %v", err)
	}
	if dec.More() {
		return nil, nil, badRequest("Invalid JSON request body: trailing data after the JSON object")
	}
	if req.Model != "" && req.Model != cfg.ServedModelName {
		return nil, nil, &apiError{status: http.StatusNotFound, typ: "NotFoundError",
			message: fmt.Sprintf("The model `%s` does not exist.", req.Model), param: strPtr("model")}
	}
	if req.N != nil && *req.N != 1 {
		if *req.N < 1 {
			return nil, nil, badRequest("n must be at least 1, got %d.", *req.N)
		}
		return nil, nil, badRequest("n=%d is not supported by the simulator; use n=1 (several requests instead)", *req.N)
	}
	var prompts []promptInfo
	if chat {
		if req.Messages == nil {
			return nil, nil, badRequest("Field required: messages")
		}
		msgs := make([]chatMessage, 0, len(req.Messages))
		for i, m := range req.Messages {
			text, err := flattenContent(m.Content)
			if err != nil {
				return nil, nil, badRequest("messages[%d].content: %v", i, err)
			}
			if m.Role == "" {
				return nil, nil, badRequest("messages[%d].role: Field required", i)
			}
			msgs = append(msgs, chatMessage{m.Role, text})
		}
		prompts = append(prompts, buildChatPrompt(msgs, cfg.BlockSize, cfg.EnablePrefixCaching))
	} else {
		ps, err := parsePrompts(req.Prompt, cfg)
		if err != nil {
			return nil, nil, err
		}
		prompts = ps
	}
	var maxTok *int64
	if chat && req.MaxCompletionTokens != nil {
		maxTok = req.MaxCompletionTokens
	} else {
		maxTok = req.MaxTokens
	}
	if maxTok != nil && *maxTok < 1 {
		return nil, nil, badRequest("max_tokens must be at least 1, got %d.", *maxTok)
	}
	minTok := int64(0)
	if req.MinTokens != nil {
		minTok = *req.MinTokens
		if minTok < 0 {
			return nil, nil, badRequest("min_tokens must be greater than or equal to 0, got %d.", minTok)
		}
		if maxTok != nil && minTok > *maxTok {
			return nil, nil, badRequest("min_tokens must be less than or equal to max_tokens=%d, got %d.", *maxTok, minTok)
		}
	}
	specs := make([]requestSpec, 0, len(prompts))
	for _, p := range prompts {
		ml := int64(cfg.MaxModelLen)
		n := int64(p.tokens)
		if maxTok == nil {
			if n >= ml {
				return nil, nil, badRequest("This model's maximum context length is %d tokens. However, your request has %d input tokens. Please reduce the length of the input messages.", ml, n)
			}
		} else if n+*maxTok > ml {
			if n >= ml {
				return nil, nil, badRequest("This model's maximum context length is %d tokens. However, your request has %d input tokens. Please reduce the length of the input messages.", ml, n)
			}
			return nil, nil, badRequest("'max_tokens' or 'max_completion_tokens' is too large: %d. This model's maximum context length is %d tokens and your request has %d input tokens (%d > %d - %d).", *maxTok, ml, n, *maxTok, ml, n)
		}
		mt := ml - n
		if maxTok != nil {
			mt = *maxTok
		}
		spec := requestSpec{prompt: p, maxTokens: int(mt), minTokens: int(min(minTok, mt)), ignoreEOS: req.IgnoreEOS, n: 1, model: cfg.ServedModelName, stream: req.Stream}
		if req.Seed != nil {
			spec.hasSeed, spec.seed = true, uint64(*req.Seed)
		}
		specs = append(specs, spec)
	}
	return &req, specs, nil
}

func strPtr(s string) *string { return &s }

// flattenContent turns a message content (string, null or list of parts)
// into text; non-text parts count as one token each.
func flattenContent(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	case '[':
		var parts []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if err := json.Unmarshal(raw, &parts); err != nil {
			return "", fmt.Errorf("want a string or a list of content parts: %v", err)
		}
		var b []byte
		for _, p := range parts {
			if p.Type == "text" {
				b = append(b, p.Text...)
			} else {
				b = append(b, " \uE010"...) // one token per non-text part
			}
		}
		return string(b), nil
	}
	return "", errors.New("want a string or a list of content parts")
}

// parsePrompts reads a completion prompt: a string, a list of strings, a
// list of token ids or a list of lists of token ids.
func parsePrompts(raw json.RawMessage, cfg *Config) ([]promptInfo, *apiError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, badRequest("Field required: prompt")
	}
	text := func(s string) promptInfo {
		b := newPromptBuilder(cfg.BlockSize, cfg.EnablePrefixCaching)
		b.text(s)
		return b.info()
	}
	ids := func(v []int64) promptInfo {
		b := newPromptBuilder(cfg.BlockSize, cfg.EnablePrefixCaching)
		b.ids(v)
		return b.info()
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, badRequest("prompt: %v", err)
		}
		return []promptInfo{text(s)}, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil || len(list) == 0 {
		return nil, badRequest("prompt: want a string, a list of strings, a list of token ids or a list of lists of token ids")
	}
	first := bytes.TrimSpace(list[0])
	switch {
	case len(first) > 0 && first[0] == '"':
		var ss []string
		if err := json.Unmarshal(raw, &ss); err != nil {
			return nil, badRequest("prompt: %v", err)
		}
		out := make([]promptInfo, len(ss))
		for i, s := range ss {
			out[i] = text(s)
		}
		return out, nil
	case len(first) > 0 && first[0] == '[':
		var ll [][]int64
		if err := json.Unmarshal(raw, &ll); err != nil {
			return nil, badRequest("prompt: %v", err)
		}
		out := make([]promptInfo, len(ll))
		for i, l := range ll {
			if len(l) == 0 {
				return nil, badRequest("prompt[%d]: empty token list", i)
			}
			out[i] = ids(l)
		}
		return out, nil
	default:
		var l []int64
		if err := json.Unmarshal(raw, &l); err != nil {
			return nil, badRequest("prompt: %v", err)
		}
		return []promptInfo{ids(l)}, nil
	}
}
