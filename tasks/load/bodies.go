package load

import "github.com/llm-observability-pack/llm-observability-pack/tasks/wire"

// requestSpec is a prebuilt request body for one prompt.
type requestSpec struct {
	body         []byte
	promptTokens int    // estimated (words)
	prompt       string // Triton: a non-streamed answer may begin with it
}

// buildBodies returns the request body of every prompt (package wire
// knows the protocols) and the URL they are sent to.
func buildBodies(o *Options, prompts []Prompt) ([]requestSpec, string, error) {
	endpoint := o.URL + wire.GeneratePath(o.Protocol, o.Model, o.Stream)
	specs := make([]requestSpec, len(prompts))
	for i, p := range prompts {
		maxTok := o.MaxTokens
		if p.MaxTokens > 0 {
			maxTok = p.MaxTokens
		}
		b, err := wire.Body(o.Protocol, wire.Request{Model: o.Model, Prompt: p.Text, MaxTokens: maxTok, Stream: o.Stream,
			IgnoreEOS: o.IgnoreEOS, TritonTokenCounts: o.TritonTokenCounts})
		if err != nil {
			return nil, "", err
		}
		specs[i] = requestSpec{body: b, promptTokens: approxTokens(p.Text), prompt: p.Text}
	}
	return specs, endpoint, nil
}
