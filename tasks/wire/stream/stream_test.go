package stream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// collect drains a Reader and returns the data events and the terminal event.
func collect(t testing.TB, r Reader) ([]Event, Event) {
	t.Helper()
	var evs []Event
	for i := 0; i < 1_000_000; i++ {
		ev := r.Next()
		if ev.Err != nil || ev.Done {
			// The terminal event must be sticky.
			again := r.Next()
			if again.Done != ev.Done || (again.Err == nil) != (ev.Err == nil) {
				t.Fatalf("terminal event not repeated: first %+v, then %+v", ev, again)
			}
			return evs, ev
		}
		evs = append(evs, ev)
	}
	t.Fatal("reader never ended")
	return nil, Event{}
}

func texts(evs []Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Text)
	}
	return out
}

// A real vLLM chat stream: role chunk, content chunks, finish chunk, usage chunk, [DONE].
const vllmChat = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":" world"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"!"},"logprobs":null,"finish_reason":"length","stop_reason":null}],"usage":null}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":12,"total_tokens":15,"completion_tokens":3}}

data: [DONE]

`

const vllmCompletions = `data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":" The","logprobs":null,"finish_reason":null,"stop_reason":null}],"usage":null}

data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":" end","logprobs":null,"finish_reason":"length","stop_reason":null}],"usage":null}

data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":5,"total_tokens":7,"completion_tokens":2}}

data: [DONE]

`

func readers(name string, r io.Reader) Reader {
	if name == "triton" {
		return NewTritonReader(r)
	}
	return NewOpenAIReader(r)
}

func TestOpenAIChat(t *testing.T) {
	for _, wrap := range []struct {
		name string
		f    func(string) io.Reader
	}{
		{"whole", func(s string) io.Reader { return strings.NewReader(s) }},
		{"one-byte", func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) }},
		{"half", func(s string) io.Reader { return iotest.HalfReader(strings.NewReader(s)) }},
		{"crlf", func(s string) io.Reader {
			return iotest.OneByteReader(strings.NewReader(strings.ReplaceAll(s, "\n", "\r\n")))
		}},
	} {
		t.Run(wrap.name, func(t *testing.T) {
			evs, end := collect(t, NewOpenAIReader(wrap.f(vllmChat)))
			if !end.Done || end.Err != nil {
				t.Fatalf("end = %+v, want Done", end)
			}
			got := texts(evs)
			want := []string{"", "Hello", " world", "!", ""}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("texts = %q, want %q", got, want)
			}
			if evs[3].FinishReason != "length" {
				t.Errorf("finish reason = %q", evs[3].FinishReason)
			}
			u := evs[4].Usage
			if u == nil || u.CompletionTokens != 3 || u.PromptTokens != 12 || u.TotalTokens != 15 {
				t.Fatalf("usage = %+v", u)
			}
			for _, e := range evs[:4] {
				if e.Usage != nil {
					t.Errorf("usage:null decoded as %+v", e.Usage)
				}
			}
		})
	}
}

func TestOpenAICompletions(t *testing.T) {
	evs, end := collect(t, NewOpenAIReader(iotest.OneByteReader(strings.NewReader(vllmCompletions))))
	if !end.Done {
		t.Fatalf("end = %+v", end)
	}
	if got := strings.Join(texts(evs), "|"); got != " The| end|" {
		t.Fatalf("texts = %q", got)
	}
	if evs[2].Usage == nil || evs[2].Usage.CompletionTokens != 2 {
		t.Fatalf("usage = %+v", evs[2].Usage)
	}
}

func TestCommentsKeepAliveAndFields(t *testing.T) {
	s := ": keep-alive\n\n" +
		"id: 1\nretry: 100\n: ping\ndata: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n" +
		":\n\n" +
		"data:{\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\nunknown: x\n\n" +
		"data: [DONE]\n\n"
	evs, end := collect(t, NewOpenAIReader(iotest.OneByteReader(strings.NewReader(s))))
	if !end.Done {
		t.Fatalf("end = %+v", end)
	}
	if got := strings.Join(texts(evs), ","); got != "a,b" {
		t.Fatalf("texts = %q", got)
	}
}

func TestMultiLineData(t *testing.T) {
	// One JSON object split over three data lines (joined with "\n", which is JSON whitespace).
	s := "data: {\"choices\":\ndata: [{\"delta\":{\"content\":\"xy\"}}]\ndata: }\n\n" +
		"data: [DONE]\n\n"
	evs, end := collect(t, NewOpenAIReader(iotest.OneByteReader(strings.NewReader(s))))
	if !end.Done || len(evs) != 1 || evs[0].Text != "xy" {
		t.Fatalf("evs = %+v end = %+v", evs, end)
	}
	sse := NewSSEReader(strings.NewReader("data: a\ndata:b\r\ndata:  c\n\n"))
	f, err := sse.Next()
	if err != nil || string(f.Data) != "a\nb\n c" {
		t.Fatalf("frame %q err %v", f.Data, err)
	}
	if _, err := sse.Next(); err != io.EOF {
		t.Fatalf("err = %v, want EOF", err)
	}
}

func TestEventTypeDoesNotLeak(t *testing.T) {
	sse := NewSSEReader(strings.NewReader("event: error\ndata: x\n\ndata: y\n\n"))
	f, _ := sse.Next()
	if !f.isErrorEvent() || string(f.Data) != "x" {
		t.Fatalf("first frame %q/%q", f.Event, f.Data)
	}
	f, _ = sse.Next()
	if f.isErrorEvent() || string(f.Data) != "y" {
		t.Fatalf("second frame %q/%q", f.Event, f.Data)
	}
}

func TestLongLineBeyondBuffer(t *testing.T) {
	long := strings.Repeat("z", 3*DefaultBufferSize)
	s := `data: {"choices":[{"text":"` + long + `"}]}` + "\n\ndata: [DONE]\n\n"
	evs, end := collect(t, NewOpenAIReader(strings.NewReader(s)))
	if !end.Done || len(evs) != 1 || evs[0].Text != long {
		t.Fatalf("long line not read: %d events, end %+v", len(evs), end)
	}
}

func TestOpenAIErrors(t *testing.T) {
	chunk := "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"
	cases := []struct {
		name    string
		stream  string
		texts   int
		wantErr func(error) bool
		msg     string
	}{
		{"vllm error object", chunk + `data: {"error": {"object":"error","message":"boom","type":"InternalServerError","code":500}}` + "\n\n", 1,
			isServerError, "boom"},
		{"legacy error response", chunk + `data: {"object":"error","message":"bad","type":"BadRequestError","code":400}` + "\n\n", 1,
			isServerError, "bad"},
		{"error string", `data: {"error":"oops"}` + "\n\n", 0, isServerError, "oops"},
		{"sse error event", chunk + "event: error\ndata: {\"message\":\"evt\"}\n\n", 1, isServerError, "evt"},
		{"no done", chunk, 1, isTruncated, ""},
		{"cut inside line", chunk + `data: {"choices":[{"del`, 1, isTruncated, ""},
		{"cut before blank line", chunk + "data: {\"choices\":[]}\n", 1, isTruncated, ""},
		{"cut mid-event multi-line", chunk + "data: {\"choices\":\n", 1, isTruncated, ""},
		{"transport cut", "", 0, isTruncated, ""},
		{"malformed", chunk + "data: {not json}\n\n", 1, isMalformed, ""},
		{"empty", "", 0, isTruncated, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r io.Reader = iotest.OneByteReader(strings.NewReader(c.stream))
			if c.name == "transport cut" {
				r = io.MultiReader(strings.NewReader(chunk), iotest.ErrReader(io.ErrUnexpectedEOF))
				c.texts = 1
			}
			evs, end := collect(t, NewOpenAIReader(r))
			if len(evs) != c.texts {
				t.Errorf("got %d data events, want %d", len(evs), c.texts)
			}
			if end.Done || !c.wantErr(end.Err) {
				t.Fatalf("end = %+v (%v)", end, end.Err)
			}
			if c.msg != "" {
				var se *ServerError
				errors.As(end.Err, &se)
				if se.Message != c.msg {
					t.Errorf("message = %q, want %q", se.Message, c.msg)
				}
			}
		})
	}
}

func TestDoneLeniency(t *testing.T) {
	chunk := "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"
	for _, tail := range []string{"data: [DONE]", "data: [DONE]\n", "data:[DONE]\r\n"} {
		_, end := collect(t, NewOpenAIReader(strings.NewReader(chunk+tail)))
		if !end.Done {
			t.Errorf("tail %q: end = %+v, want Done", tail, end)
		}
	}
}

func isServerError(err error) bool {
	var se *ServerError
	return errors.As(err, &se)
}
func isTruncated(err error) bool { return errors.Is(err, ErrTruncated) }
func isMalformed(err error) bool {
	var me *MalformedError
	return errors.As(err, &me)
}

// Triton generate_stream as sent by the vLLM backend (deltas, no end marker).
const tritonVLLM = `data: {"model_name":"vllm_model","model_version":"1","text_output":"Hello"}

data: {"model_name":"vllm_model","model_version":"1","text_output":" there"}

data: {"model_name":"vllm_model","model_version":"1","text_output":"."}

`

func TestTriton(t *testing.T) {
	evs, end := collect(t, NewTritonReader(iotest.OneByteReader(strings.NewReader(tritonVLLM))))
	if !end.Done {
		t.Fatalf("end = %+v", end)
	}
	if got := strings.Join(texts(evs), "|"); got != "Hello| there|." {
		t.Fatalf("texts %q", got)
	}
	for _, e := range evs {
		if e.Usage != nil {
			t.Fatalf("unexpected usage %+v", e.Usage)
		}
	}
}

func TestTritonEnsembleAndCounts(t *testing.T) {
	s := `data: {"context_logits":0.0,"cum_log_probs":0.0,"generation_logits":0.0,"model_name":"ensemble","model_version":"1","output_log_probs":[0.0],"sequence_end":false,"sequence_id":0,"sequence_start":false,"text_output":["A"]}` + "\n\n" +
		`data: {"model_name":"vllm_model","model_version":"1","text_output":"B","num_input_tokens":7,"num_output_tokens":2,"finish_reason":null}` + "\n\n" +
		`data: {"model_name":"vllm_model","model_version":"1","text_output":"C","num_input_tokens":7,"num_output_tokens":[3],"finish_reason":["length"]}` + "\n\n"
	evs, end := collect(t, NewTritonReader(iotest.OneByteReader(strings.NewReader(s))))
	if !end.Done || len(evs) != 3 {
		t.Fatalf("evs %+v end %+v", evs, end)
	}
	if strings.Join(texts(evs), "") != "ABC" {
		t.Fatalf("texts %q", texts(evs))
	}
	u := evs[2].Usage
	if u == nil || u.CompletionTokens != 5 || u.PromptTokens != 7 || u.TotalTokens != 12 {
		t.Fatalf("usage %+v", u)
	}
	if evs[2].FinishReason != "length" {
		t.Fatalf("finish %q", evs[2].FinishReason)
	}
}

func TestTritonErrors(t *testing.T) {
	first := "data: {\"text_output\":\"x\"}\n\n"
	cases := []struct {
		name, s string
		want    func(error) bool
	}{
		{"error event", first + `data: {"error": "in-flight batcher failed"}` + "\n\n", isServerError},
		{"cut inside event", first + `data: {"text_out`, isTruncated},
		{"cut before blank", first + "data: {\"text_output\":\"y\"}\n", isTruncated},
		{"bad text type", first + `data: {"text_output": 5}` + "\n\n", isMalformed},
		{"not json", first + "data: <html>\n\n", isMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs, end := collect(t, NewTritonReader(iotest.OneByteReader(strings.NewReader(c.s))))
			if len(evs) != 1 || evs[0].Text != "x" {
				t.Errorf("events %+v", evs)
			}
			if !c.want(end.Err) {
				t.Fatalf("end = %+v", end)
			}
		})
	}
	// A chunked body cut by the transport.
	_, end := collect(t, NewTritonReader(io.MultiReader(strings.NewReader(first), iotest.ErrReader(io.ErrUnexpectedEOF))))
	if !isTruncated(end.Err) || !errors.Is(end.Err, io.ErrUnexpectedEOF) {
		t.Fatalf("transport cut: %+v", end)
	}
	// Other transport errors pass through unchanged.
	boom := errors.New("connection reset")
	_, end = collect(t, NewTritonReader(io.MultiReader(strings.NewReader(first), iotest.ErrReader(boom))))
	if !errors.Is(end.Err, boom) || isTruncated(end.Err) {
		t.Fatalf("reset: %+v", end)
	}
}

func TestNonStreamed(t *testing.T) {
	ev := ParseOpenAIResponse([]byte(`{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`))
	if ev.Err != nil || ev.Text != "Hi there" || ev.Usage == nil || ev.Usage.CompletionTokens != 2 || ev.FinishReason != "stop" {
		t.Fatalf("chat: %+v", ev)
	}
	ev = ParseOpenAIResponse([]byte(`{"object":"text_completion","choices":[{"text":"abc","finish_reason":"length"}],"usage":{"prompt_tokens":1,"completion_tokens":4,"total_tokens":5}}`))
	if ev.Text != "abc" || ev.Usage.CompletionTokens != 4 {
		t.Fatalf("completions: %+v", ev)
	}
	ev = ParseTritonResponse([]byte(`{"model_name":"ensemble","model_version":"1","text_output":"What is ML? ML is"}`))
	if ev.Err != nil || ev.Text != "What is ML? ML is" {
		t.Fatalf("triton: %+v", ev)
	}
	if ev := ParseTritonResponse([]byte(`{"error":"bad input"}`)); !isServerError(ev.Err) {
		t.Fatalf("triton error: %+v", ev)
	}
	if ev := ParseOpenAIResponse([]byte(`nope`)); !isMalformed(ev.Err) {
		t.Fatalf("malformed: %+v", ev)
	}
}

func TestReset(t *testing.T) {
	r := NewOpenAIReader(strings.NewReader("data: {\"choices\":[{\"text\":\"p\"}]}\n"))
	_, end := collect(t, r)
	if !isTruncated(end.Err) {
		t.Fatalf("first: %+v", end)
	}
	r.Reset(strings.NewReader(vllmCompletions))
	evs, end := collect(t, r)
	if !end.Done || len(evs) != 3 {
		t.Fatalf("after reset: %d events, %+v", len(evs), end)
	}
}

// fuzzCheck asserts the invariants of a reader over arbitrary input: it
// terminates, and one-byte reads give the same events as whole reads.
func fuzzCheck(t *testing.T, name string, data []byte) {
	whole, endW := collect(t, readers(name, bytes.NewReader(data)))
	split, endS := collect(t, readers(name, iotest.OneByteReader(bytes.NewReader(data))))
	if len(whole) != len(split) {
		t.Fatalf("event count differs: whole %d, one-byte %d", len(whole), len(split))
	}
	for i := range whole {
		if whole[i].Text != split[i].Text || (whole[i].Usage == nil) != (split[i].Usage == nil) {
			t.Fatalf("event %d differs: %+v vs %+v", i, whole[i], split[i])
		}
	}
	if endW.Done != endS.Done || fmt.Sprint(endW.Err) != fmt.Sprint(endS.Err) {
		t.Fatalf("end differs: %+v vs %+v", endW, endS)
	}
}

func FuzzOpenAIReader(f *testing.F) {
	f.Add([]byte(vllmChat))
	f.Add([]byte(vllmCompletions))
	f.Add([]byte(strings.ReplaceAll(vllmChat, "\n", "\r\n")))
	f.Add([]byte(": ping\n\ndata: {\"choices\":\ndata: []}\n\ndata: [DONE]"))
	f.Add([]byte("event: error\ndata: {\"error\":\"x\"}\n\n"))
	f.Add([]byte("data: {\"choices\":[{\"text\":\"a\"}]}\ndata"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzCheck(t, "openai", data) })
}

func FuzzTritonReader(f *testing.F) {
	f.Add([]byte(tritonVLLM))
	f.Add([]byte(`data: {"text_output":["a","b"],"num_output_tokens":[1]}` + "\n\n"))
	f.Add([]byte("data: {\"error\":\"e\"}\n\n"))
	f.Add([]byte("data: {\"text_output\":\"x\"}\r\n\r\ndata: {\"text"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzCheck(t, "triton", data) })
}

func FuzzSSEFraming(f *testing.F) {
	f.Add([]byte("data: a\n\ndata: b\ndata: c\n\n"), uint8(3))
	f.Add([]byte(": c\r\nevent: x\r\ndata: y\r\n\r\n"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, size uint8) {
		// Frames must not depend on how the input is split or on the buffer size.
		read := func(r io.Reader, bufSize int) []string {
			s := NewSSEReaderSize(r, bufSize)
			var out []string
			for i := 0; ; i++ {
				fr, err := s.Next()
				if err != nil {
					return append(out, "ERR:"+err.Error())
				}
				out = append(out, string(fr.Event)+"|"+string(fr.Data))
				if i > len(data)+1 {
					t.Fatal("more frames than input bytes")
				}
			}
		}
		a := read(bytes.NewReader(data), 4096)
		b := read(iotest.OneByteReader(bytes.NewReader(data)), 16+int(size))
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("frames differ:\n%q\n%q", a, b)
		}
	})
}
