package load

import (
	"encoding/json"
	"net/url"
)

// requestSpec is a prebuilt request body for one prompt.
type requestSpec struct {
	body         []byte
	promptTokens int    // estimated (words)
	prompt       string // Triton: a non-streamed answer may begin with it
}

func buildBodies(o *Options, prompts []Prompt) ([]requestSpec, string, error) {
	var endpoint string
	switch o.Protocol {
	case ProtocolOpenAIChat:
		endpoint = o.URL + "/v1/chat/completions"
	case ProtocolOpenAICompletions:
		endpoint = o.URL + "/v1/completions"
	default:
		action := "generate"
		if o.Stream {
			action = "generate_stream"
		}
		endpoint = o.URL + "/v2/models/" + url.PathEscape(o.Model) + "/" + action
	}
	specs := make([]requestSpec, len(prompts))
	for i, p := range prompts {
		maxTok := o.MaxTokens
		if p.MaxTokens > 0 {
			maxTok = p.MaxTokens
		}
		var body any
		switch o.Protocol {
		case ProtocolOpenAIChat, ProtocolOpenAICompletions:
			m := map[string]any{"model": o.Model, "max_tokens": maxTok, "stream": o.Stream}
			if o.Protocol == ProtocolOpenAIChat {
				m["messages"] = []map[string]string{{"role": "user", "content": p.Text}}
			} else {
				m["prompt"] = p.Text
			}
			if o.Stream {
				m["stream_options"] = map[string]bool{"include_usage": true}
			}
			if o.IgnoreEOS {
				m["ignore_eos"] = true
			}
			body = m
		case ProtocolTritonGenerate:
			sp := map[string]any{"max_tokens": maxTok}
			if o.IgnoreEOS {
				sp["ignore_eos"] = true
			}
			spJSON, err := json.Marshal(sp)
			if err != nil {
				return nil, "", err
			}
			m := map[string]any{"text_input": p.Text, "stream": o.Stream, "sampling_parameters": string(spJSON)}
			if o.TritonTokenCounts {
				m["return_num_input_tokens"] = true
				m["return_num_output_tokens"] = true
			}
			body = m
		case ProtocolTritonTRT:
			body = map[string]any{"text_input": p.Text, "max_tokens": maxTok, "stream": o.Stream,
				"bad_words": "", "stop_words": ""}
		}
		b, err := json.Marshal(body)
		if err != nil {
			return nil, "", err
		}
		specs[i] = requestSpec{body: b, promptTokens: approxTokens(p.Text), prompt: p.Text}
	}
	return specs, endpoint, nil
}
