// Package wire is what a client of an inference server puts on the wire
// and reads back: the protocols (backend.Protocol), the endpoints of
// each, the request bodies per protocol, and, in package wire/stream, the
// readers of the responses. The load generator and the smoke test both
// build their requests here, so that they ask the servers the same way.
package wire

import (
	"encoding/json"
	"net/url"
	"strings"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/wire/stream"
)

// Protocol is how a client talks to a server's generation API.
type Protocol = backend.Protocol

// Endpoints of the OpenAI-compatible API and of Triton's KServe v2 API.
const (
	PathModels      = "/v1/models"
	PathChat        = "/v1/chat/completions"
	PathCompletions = "/v1/completions"
	PathTritonReady = "/v2/health/ready"
)

// TritonModelPath is the path of a Triton model: /v2/models/{model}, to
// which /ready, /generate and /generate_stream are appended.
func TritonModelPath(model string) string { return "/v2/models/" + url.PathEscape(model) }

// GeneratePath is the path a generation request of protocol p goes to:
// PathChat, PathCompletions, or the model's generate_stream (generate when
// not streamed) for the Triton protocols.
func GeneratePath(p Protocol, model string, streamed bool) string {
	switch p {
	case backend.OpenAIChat:
		return PathChat
	case backend.OpenAICompletions:
		return PathCompletions
	}
	if streamed {
		return TritonModelPath(model) + "/generate_stream"
	}
	return TritonModelPath(model) + "/generate"
}

// Message is one chat message of a Request.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Request is one generation request, whatever the protocol.
type Request struct {
	Model  string // the OpenAI model (Triton names it in the path)
	Prompt string
	// Messages, when set, replace Prompt: the chat messages of the request
	// (openai-chat sends them as they are; the other protocols, which take
	// one text, send their contents joined by blank lines).
	Messages  []Message
	MaxTokens int
	Stream    bool
	// IgnoreEOS asks vLLM to generate exactly MaxTokens (OpenAI and the
	// Triton vLLM backend).
	IgnoreEOS bool
	// TritonTokenCounts asks the Triton vLLM backend for
	// num_input_tokens and num_output_tokens (recent releases only).
	TritonTokenCounts bool
}

// Body is the JSON body of r in protocol p:
//
//   - openai-chat: {"model", "messages": [{"role": "user", "content"}], "max_tokens", "stream"}
//     (r.Messages when set), with "stream_options": {"include_usage": true} when streamed;
//   - openai-completions: the same with "prompt" for "messages";
//   - triton-generate (vLLM backend): {"text_input", "stream", "sampling_parameters"},
//     the sampling parameters as JSON text ({"max_tokens": N});
//   - triton-trt (TensorRT-LLM ensemble): {"text_input", "max_tokens", "stream",
//     "bad_words": "", "stop_words": ""}.
func Body(p Protocol, r Request) ([]byte, error) {
	var body map[string]any
	if len(r.Messages) > 0 && p != backend.OpenAIChat {
		r.Prompt = r.Text()
	}
	switch p {
	case backend.OpenAIChat, backend.OpenAICompletions:
		body = map[string]any{"model": r.Model, "max_tokens": r.MaxTokens, "stream": r.Stream}
		switch {
		case p == backend.OpenAICompletions:
			body["prompt"] = r.Prompt
		case len(r.Messages) > 0:
			body["messages"] = r.Messages
		default:
			body["messages"] = []map[string]string{{"role": "user", "content": r.Prompt}}
		}
		if r.Stream {
			body["stream_options"] = map[string]bool{"include_usage": true}
		}
		if r.IgnoreEOS {
			body["ignore_eos"] = true
		}
	case backend.TritonGenerate:
		sp := map[string]any{"max_tokens": r.MaxTokens}
		if r.IgnoreEOS {
			sp["ignore_eos"] = true
		}
		spJSON, err := json.Marshal(sp)
		if err != nil {
			return nil, err
		}
		body = map[string]any{"text_input": r.Prompt, "stream": r.Stream, "sampling_parameters": string(spJSON)}
		if r.TritonTokenCounts {
			body["return_num_input_tokens"] = true
			body["return_num_output_tokens"] = true
		}
	case backend.TritonTRT:
		body = map[string]any{"text_input": r.Prompt, "max_tokens": r.MaxTokens, "stream": r.Stream,
			"bad_words": "", "stop_words": ""}
	default:
		_, err := backend.ParseProtocol(string(p))
		return nil, err
	}
	return json.Marshal(body)
}

// Text is the request's input as one text: Prompt, or the contents of
// Messages joined by blank lines.
func (r Request) Text() string {
	if len(r.Messages) == 0 {
		return r.Prompt
	}
	var b strings.Builder
	for i, m := range r.Messages {
		if i > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(m.Content)
	}
	return b.String()
}

// ReadAll reads rd to its end, passing each event with data to each; it
// returns the stream's error (nil when it ended properly).
func ReadAll(rd stream.Reader, each func(stream.Event)) error {
	for {
		ev := rd.Next()
		switch {
		case ev.Err != nil:
			return ev.Err
		case ev.Done:
			return nil
		}
		each(ev)
	}
}
