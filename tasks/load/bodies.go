package load

import (
	"github.com/llm-observability-pack/llm-observability-pack/tasks/wire"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/workload"
)

// requestSpec is a request body, built for one prompt or list of messages.
type requestSpec struct {
	body         []byte
	promptTokens int    // estimated (words)
	prompt       string // Triton: a non-streamed answer may begin with it
}

// bodies builds the request bodies of a run (package wire knows the
// protocols).
type bodies struct {
	o *Options
}

// endpoint is the URL every request of the run is sent to.
func (b *bodies) endpoint() string {
	return b.o.URL + wire.GeneratePath(b.o.Protocol, b.o.Model, b.o.Stream)
}

// spec builds the body of one request: a prompt, or chat messages;
// maxTokens > 0 overrides Options.MaxTokens.
func (b *bodies) spec(prompt string, messages []workload.Message, maxTokens int) (requestSpec, error) {
	return b.wireSpec(wire.Request{Prompt: prompt, Messages: wireMessages(messages), MaxTokens: maxTokens})
}

// wireSpec fills in r's model, stream and options from the run's and
// builds its body.
func (b *bodies) wireSpec(r wire.Request) (requestSpec, error) {
	o := b.o
	r.Model, r.Stream, r.IgnoreEOS, r.TritonTokenCounts = o.Model, o.Stream, o.IgnoreEOS, o.TritonTokenCounts
	if r.MaxTokens <= 0 {
		r.MaxTokens = o.MaxTokens
	}
	body, err := wire.Body(o.Protocol, r)
	if err != nil {
		return requestSpec{}, err
	}
	text := r.Text()
	return requestSpec{body: body, promptTokens: workload.EstimateTokens(text), prompt: text}, nil
}
