package wire

import (
	"testing"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
)

func TestBody(t *testing.T) {
	for _, c := range []struct {
		p    Protocol
		r    Request
		want string
	}{
		{backend.OpenAIChat, Request{Model: "m", Prompt: "hi", MaxTokens: 8, Stream: true},
			`{"max_tokens":8,"messages":[{"content":"hi","role":"user"}],"model":"m","stream":true,"stream_options":{"include_usage":true}}`},
		{backend.OpenAICompletions, Request{Model: "m", Prompt: "hi", MaxTokens: 8, IgnoreEOS: true},
			`{"ignore_eos":true,"max_tokens":8,"model":"m","prompt":"hi","stream":false}`},
		{backend.TritonGenerate, Request{Prompt: "hi", MaxTokens: 8, Stream: true, IgnoreEOS: true, TritonTokenCounts: true},
			`{"return_num_input_tokens":true,"return_num_output_tokens":true,"sampling_parameters":"{\"ignore_eos\":true,\"max_tokens\":8}","stream":true,"text_input":"hi"}`},
		{backend.OpenAIChat, Request{Model: "m", Messages: []Message{{"system", "be brief"}, {"user", "hi"}}, MaxTokens: 8},
			`{"max_tokens":8,"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"model":"m","stream":false}`},
		{backend.OpenAICompletions, Request{Model: "m", Messages: []Message{{"system", "be brief"}, {"user", "hi"}}, MaxTokens: 8},
			`{"max_tokens":8,"model":"m","prompt":"be brief\n\nhi","stream":false}`},
		{backend.TritonTRT, Request{Prompt: "hi", MaxTokens: 8},
			`{"bad_words":"","max_tokens":8,"stop_words":"","stream":false,"text_input":"hi"}`},
	} {
		b, err := Body(c.p, c.r)
		if err != nil || string(b) != c.want {
			t.Errorf("%s: %s %v\nwant %s", c.p, b, err, c.want)
		}
	}
	if _, err := Body("grpc", Request{}); err == nil {
		t.Error("Body(grpc) accepted")
	}
}

func TestGeneratePath(t *testing.T) {
	for _, c := range []struct {
		p      Protocol
		stream bool
		want   string
	}{
		{backend.OpenAIChat, true, "/v1/chat/completions"},
		{backend.OpenAICompletions, false, "/v1/completions"},
		{backend.TritonGenerate, true, "/v2/models/a%20b/generate_stream"},
		{backend.TritonTRT, false, "/v2/models/a%20b/generate"},
	} {
		if got := GeneratePath(c.p, "a b", c.stream); got != c.want {
			t.Errorf("%s stream=%v: %s, want %s", c.p, c.stream, got, c.want)
		}
	}
}
