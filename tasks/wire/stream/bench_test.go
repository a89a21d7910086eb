package stream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
)

// benchStream builds an OpenAI chat stream of n content chunks plus usage and [DONE].
func benchStream(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"Qwen/Qwen3-4B","choices":[{"index":0,"delta":{"content":" token%d"},"logprobs":null,"finish_reason":null}],"usage":null}`+"\n\n", i)
	}
	b.WriteString(`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"Qwen/Qwen3-4B","choices":[],"usage":{"prompt_tokens":20,"total_tokens":276,"completion_tokens":256}}` + "\n\n")
	b.WriteString("data: [DONE]\n\n")
	return b.Bytes()
}

func BenchmarkSSEFraming(b *testing.B) {
	data := benchStream(256)
	r := bytes.NewReader(data)
	s := NewSSEReader(r)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	events := 0
	for b.Loop() {
		r.Reset(data)
		s.Reset(r)
		for {
			_, err := s.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			events++
		}
	}
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
}

func BenchmarkOpenAIReader(b *testing.B) {
	data := benchStream(256)
	r := bytes.NewReader(data)
	o := NewOpenAIReader(r)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(data)
		o.Reset(r)
		for {
			ev := o.Next()
			if ev.Err != nil {
				b.Fatal(ev.Err)
			}
			if ev.Done {
				break
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/257, "ns/event")
}

func BenchmarkTritonReader(b *testing.B) {
	var sb strings.Builder
	for i := 0; i < 256; i++ {
		fmt.Fprintf(&sb, `data: {"model_name":"vllm_model","model_version":"1","text_output":" token%d"}`+"\n\n", i)
	}
	data := []byte(sb.String())
	r := bytes.NewReader(data)
	t := NewTritonReader(r)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(data)
		t.Reset(r)
		for {
			ev := t.Next()
			if ev.Err != nil {
				b.Fatal(ev.Err)
			}
			if ev.Done {
				break
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/256, "ns/event")
}

// TestSSEFramingDoesNotAllocate pins the framing layer's zero allocations per event.
func TestSSEFramingDoesNotAllocate(t *testing.T) {
	data := benchStream(64)
	r := bytes.NewReader(data)
	s := NewSSEReader(r)
	allocs := testing.AllocsPerRun(20, func() {
		r.Reset(data)
		s.Reset(r)
		for {
			if _, err := s.Next(); err != nil {
				break
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("SSE framing allocates %v times per 66-event stream", allocs)
	}
}

// BenchmarkDecodeChunk compares the fast decoder with encoding/json on one
// typical chat chunk.
func BenchmarkDecodeChunk(b *testing.B) {
	chunk := []byte(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"Qwen/Qwen3-4B","choices":[{"index":0,"delta":{"content":" token"},"logprobs":null,"finish_reason":null}],"usage":null}`)
	b.Run("fast", func(b *testing.B) {
		var c oaChunk
		b.ReportAllocs()
		for b.Loop() {
			if err := decodeOpenAI(chunk, &c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		var c oaChunk
		b.ReportAllocs()
		for b.Loop() {
			c.reset()
			if err := json.Unmarshal(chunk, &c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
