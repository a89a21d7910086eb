package stream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Usage is the token accounting reported by the server.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// Event is one item of a response stream.
//
// Exactly one of these holds: Err != nil (the stream failed; no more events),
// Done (the stream ended properly; no more events), or the event carries data
// (Text, which may be empty, Usage and/or FinishReason).
type Event struct {
	Text         string // generated text of this event (a delta)
	Usage        *Usage // token usage when the server reported it in this event
	FinishReason string // finish reason when reported ("stop", "length", ...)
	Err          error  // *ServerError, *MalformedError, *OversizedError, ErrTruncated or a transport error
	Done         bool   // the stream ended properly
}

// Reader yields the events of one response stream.
type Reader interface {
	// Next returns the next event. After an event with Done or Err set, it
	// keeps returning that event.
	Next() Event
}

// ServerError is an error reported by the server inside the stream
// (OpenAI: {"error": {...}} or {"object": "error", ...};
// Triton: {"error": "..."}; or an SSE "event: error").
type ServerError struct {
	Message string
}

func (e *ServerError) Error() string { return "server error in stream: " + e.Message }

// MalformedError is an event whose data is not the JSON the protocol expects.
type MalformedError struct {
	Data string // the event data (cut to 200 bytes)
	Err  error
}

func (e *MalformedError) Error() string {
	return fmt.Sprintf("malformed stream event %q: %v (expected one JSON object per \"data:\" event)", e.Data, e.Err)
}

func (e *MalformedError) Unwrap() error { return e.Err }

func malformed(data []byte, err error) *MalformedError {
	if len(data) > 200 {
		data = data[:200]
	}
	return &MalformedError{Data: string(data), Err: err}
}

// ---------------------------------------------------------------------------
// OpenAI

type oaDelta struct {
	Content          string `json:"content"`
	ReasoningContent string `json:"reasoning_content"`
	Reasoning        string `json:"reasoning"`
}

type oaChoice struct {
	Text         string  `json:"text"`
	Delta        oaDelta `json:"delta"`
	Message      oaDelta `json:"message"`
	FinishReason *string `json:"finish_reason"`
}

type oaChunk struct {
	Choices []oaChoice      `json:"choices"`
	Usage   *Usage          `json:"usage"`
	Error   json.RawMessage `json:"error"`
	Object  string          `json:"object"`
	Message string          `json:"message"`
}

func (c *oaChunk) reset() {
	// Zero the reused elements: encoding/json decodes into them in place.
	clear(c.Choices[:cap(c.Choices)])
	c.Choices = c.Choices[:0]
	c.Usage = nil
	c.Error = c.Error[:0]
	c.Object = ""
	c.Message = ""
}

// event converts a decoded chunk. Text is the concatenation of every
// choice's completion text, chat content and reasoning content.
func (c *oaChunk) event() Event {
	if msg, ok := c.serverError(); ok {
		return Event{Err: &ServerError{Message: msg}}
	}
	var ev Event
	switch len(c.Choices) {
	case 0:
	case 1:
		ch := &c.Choices[0]
		ev.Text = joinNonEmpty(ch.Text, ch.Delta.ReasoningContent, ch.Delta.Reasoning, ch.Delta.Content,
			ch.Message.ReasoningContent, ch.Message.Reasoning, ch.Message.Content)
		if ch.FinishReason != nil {
			ev.FinishReason = *ch.FinishReason
		}
	default:
		var b strings.Builder
		for i := range c.Choices {
			ch := &c.Choices[i]
			b.WriteString(ch.Text)
			b.WriteString(ch.Delta.ReasoningContent)
			b.WriteString(ch.Delta.Reasoning)
			b.WriteString(ch.Delta.Content)
			b.WriteString(ch.Message.ReasoningContent)
			b.WriteString(ch.Message.Reasoning)
			b.WriteString(ch.Message.Content)
			if ch.FinishReason != nil && ev.FinishReason == "" {
				ev.FinishReason = *ch.FinishReason
			}
		}
		ev.Text = b.String()
	}
	if c.Usage != nil {
		u := *c.Usage
		ev.Usage = &u
	}
	return ev
}

func joinNonEmpty(parts ...string) string {
	out := ""
	for _, p := range parts {
		if p == "" {
			continue
		}
		if out == "" {
			out = p
		} else {
			out += p
		}
	}
	return out
}

func (c *oaChunk) serverError() (string, bool) {
	if c.Object == "error" {
		if c.Message == "" {
			return "unspecified error", true
		}
		return c.Message, true
	}
	raw := bytes.TrimSpace(c.Error)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", false
	}
	return errorMessage(raw), true
}

// errorMessage extracts a message from an "error" value that is a string or
// an object with a "message" key; otherwise it returns the raw JSON.
func errorMessage(raw []byte) string {
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if s == "" {
				return "unspecified error"
			}
			return s
		}
	}
	if raw[0] == '{' {
		var o struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(raw, &o) == nil && o.Message != "" {
			return o.Message
		}
	}
	return string(raw)
}

// OpenAIReader reads an OpenAI-compatible SSE stream ("data: {json}" events
// ending with "data: [DONE]"). It handles chat completions
// (choices[].delta.content, reasoning_content) and completions
// (choices[].text); the usage arrives in a final chunk with empty choices
// when the request set stream_options.include_usage.
type OpenAIReader struct {
	framed
	chunk oaChunk
}

// NewOpenAIReader reads OpenAI SSE from r.
func NewOpenAIReader(r io.Reader) *OpenAIReader {
	return &OpenAIReader{framed: framed{sse: NewSSEReader(r)}}
}

// Reset makes the reader read a new stream, keeping its buffers.
func (o *OpenAIReader) Reset(r io.Reader) { o.reset(r) }

// Next implements Reader.
func (o *OpenAIReader) Next() Event {
	// The stream ends with "data: [DONE]"; without it, it was cut.
	f, ev, ok := o.frame(doneMarker, Event{Err: ErrTruncated})
	if !ok {
		return ev
	}
	if err := decodeOpenAI(f.Data, &o.chunk); err != nil {
		return o.end(Event{Err: malformed(f.Data, err)})
	}
	ev = o.chunk.event()
	if ev.Err != nil {
		return o.end(ev)
	}
	return ev
}

// framed is what both protocol readers share: the SSE framing, and the
// event that ended the stream, which Next keeps returning.
type framed struct {
	sse   *SSEReader
	final Event
	ended bool
}

// SetMaxEventBytes bounds one SSE line and one event's data (n <= 0:
// DefaultMaxEventBytes); a longer one ends the stream with an
// *OversizedError.
func (s *framed) SetMaxEventBytes(n int) { s.sse.SetMaxEventBytes(n) }

func (s *framed) reset(r io.Reader) {
	s.sse.Reset(r)
	s.final = Event{}
	s.ended = false
}

func (s *framed) end(ev Event) Event {
	s.ended = true
	s.final = ev
	return ev
}

// frame returns the next frame and ok, or the event that ends the stream:
// the one that already ended it, a read error, atEOF at the end of the
// body, Done for a frame whose data is done (when done is not nil), or
// the server's error event.
func (s *framed) frame(done []byte, atEOF Event) (f Frame, ev Event, ok bool) {
	if s.ended {
		return f, s.final, false
	}
	f, err := s.sse.Next()
	switch {
	case err == io.EOF:
		return f, s.end(atEOF), false
	case err != nil:
		return f, s.end(Event{Err: err}), false
	case done != nil && bytes.Equal(f.Data, done):
		return f, s.end(Event{Done: true}), false
	case f.isErrorEvent():
		return f, s.end(Event{Err: &ServerError{Message: frameErrorMessage(f.Data)}}), false
	}
	return f, ev, true
}

func frameErrorMessage(data []byte) string {
	d := bytes.TrimSpace(data)
	if len(d) == 0 {
		return "unspecified error"
	}
	if d[0] == '{' {
		var o struct {
			Error   json.RawMessage `json:"error"`
			Message string          `json:"message"`
		}
		if json.Unmarshal(d, &o) == nil {
			if e := bytes.TrimSpace(o.Error); len(e) > 0 && !bytes.Equal(e, []byte("null")) {
				return errorMessage(e)
			}
			if o.Message != "" {
				return o.Message
			}
		}
	}
	return string(d)
}

// ParseOpenAIResponse parses a non-streamed OpenAI chat or completions
// response body into one data event (Text, Usage, FinishReason) or an error
// event.
func ParseOpenAIResponse(body []byte) Event {
	var c oaChunk
	if err := json.Unmarshal(body, &c); err != nil {
		return Event{Err: malformed(body, err)}
	}
	return c.event()
}

// ---------------------------------------------------------------------------
// Triton generate / generate_stream

type tritonEvent struct {
	TextOutput      json.RawMessage `json:"text_output"`
	Error           json.RawMessage `json:"error"`
	FinishReason    json.RawMessage `json:"finish_reason"`
	NumInputTokens  json.RawMessage `json:"num_input_tokens"`
	NumOutputTokens json.RawMessage `json:"num_output_tokens"`
}

func (t *tritonEvent) reset() {
	t.TextOutput = t.TextOutput[:0]
	t.Error = t.Error[:0]
	t.FinishReason = t.FinishReason[:0]
	t.NumInputTokens = t.NumInputTokens[:0]
	t.NumOutputTokens = t.NumOutputTokens[:0]
}

// TritonReader reads a Triton generate_stream SSE stream. Each event is
// "data: {json}" with the generated text in "text_output" (a string, or an
// array of strings for a batch); an error arrives as data: {"error": "..."}.
// Triton sends no end marker: a stream that ends on an event boundary is
// complete. When the model returns them (vLLM backend inputs
// return_num_input_tokens / return_num_output_tokens), the per-response
// num_input_tokens and num_output_tokens are reported as Usage: the reader
// keeps the running sum of num_output_tokens, so the last Usage holds the
// request's totals.
type TritonReader struct {
	framed
	ev      tritonEvent
	usage   Usage
	haveUse bool
}

// NewTritonReader reads Triton generate_stream SSE from r.
func NewTritonReader(r io.Reader) *TritonReader {
	return &TritonReader{framed: framed{sse: NewSSEReader(r)}}
}

// Reset makes the reader read a new stream, keeping its buffers.
func (t *TritonReader) Reset(r io.Reader) {
	t.reset(r)
	t.usage = Usage{}
	t.haveUse = false
}

// Next implements Reader.
func (t *TritonReader) Next() Event {
	// The end of the body is the end of the stream.
	f, ev, ok := t.frame(nil, Event{Done: true})
	if !ok {
		return ev
	}
	if err := decodeTriton(f.Data, &t.ev); err != nil {
		return t.end(Event{Err: malformed(f.Data, err)})
	}
	ev, err := t.ev.event(&t.usage, &t.haveUse)
	if err != nil {
		return t.end(Event{Err: malformed(f.Data, err)})
	}
	if ev.Err != nil {
		return t.end(ev)
	}
	return ev
}

func (t *tritonEvent) event(usage *Usage, have *bool) (Event, error) {
	if e := bytes.TrimSpace(t.Error); len(e) > 0 && !bytes.Equal(e, []byte("null")) {
		return Event{Err: &ServerError{Message: errorMessage(e)}}, nil
	}
	var ev Event
	var err error
	if ev.Text, err = stringOrStrings(t.TextOutput); err != nil {
		return ev, fmt.Errorf("text_output: %w", err)
	}
	if ev.FinishReason, err = stringOrStrings(t.FinishReason); err != nil {
		return ev, fmt.Errorf("finish_reason: %w", err)
	}
	if len(t.NumInputTokens) > 0 {
		n, err := intOrInts(t.NumInputTokens)
		if err != nil {
			return ev, fmt.Errorf("num_input_tokens: %w", err)
		}
		usage.PromptTokens = n
		*have = true
	}
	if len(t.NumOutputTokens) > 0 {
		n, err := intOrInts(t.NumOutputTokens)
		if err != nil {
			return ev, fmt.Errorf("num_output_tokens: %w", err)
		}
		usage.CompletionTokens += n
		*have = true
	}
	if *have {
		usage.TotalTokens = usage.PromptTokens + usage.CompletionTokens
		u := *usage
		ev.Usage = &u
	}
	return ev, nil
}

// ParseTritonResponse parses a non-streamed Triton generate response body.
func ParseTritonResponse(body []byte) Event {
	var t tritonEvent
	if err := json.Unmarshal(body, &t); err != nil {
		return Event{Err: malformed(body, err)}
	}
	var u Usage
	var have bool
	ev, err := t.event(&u, &have)
	if err != nil {
		return Event{Err: malformed(body, err)}
	}
	return ev
}

var errNotString = errors.New("expected a string or an array of strings")

func stringOrStrings(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	switch raw[0] {
	case '"':
		s, err := decodeString(raw)
		if err != nil {
			return "", errNotString
		}
		return s, nil
	case '[':
		var ss []string
		if err := json.Unmarshal(raw, &ss); err != nil {
			return "", errNotString
		}
		return strings.Join(ss, ""), nil
	}
	return "", errNotString
}

func intOrInts(raw json.RawMessage) (int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return 0, nil
	}
	if raw[0] == '[' {
		var ns []int
		if err := json.Unmarshal(raw, &ns); err != nil {
			return 0, errors.New("expected an integer or an array of integers")
		}
		sum := 0
		for _, n := range ns {
			sum += n
		}
		return sum, nil
	}
	n, err := strconv.Atoi(string(raw))
	if err != nil {
		return 0, errors.New("expected an integer or an array of integers")
	}
	return n, nil
}
