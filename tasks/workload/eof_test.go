package workload

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// Every reader, once at its end, returns io.EOF again on each later call
// (a feed may ask twice), never an error of its own.
func TestReadersRepeatEOF(t *testing.T) {
	share := `[{"id": "a", "conversations": [{"from": "human", "value": "Explain how a hash map resolves collisions, briefly please."}, {"from": "gpt", "value": "It chains entries or probes for the next free slot."}]}]`
	chat := `{"messages": [{"role": "user", "content": "Name three rivers of Europe."}, {"role": "assistant", "content": "Danube, Rhine, Loire."}]}` + "\n"
	for _, c := range []struct {
		format Format
		in     string
	}{
		{JSONL, `{"prompt": "hello there my friend"}` + "\n"},
		{ShareGPT, share},
		{OpenAIChat, chat},
		{Mooncake, `{"timestamp": 0, "input_length": 8, "output_length": 2, "hash_ids": [1]}` + "\n"},
		{Azure, "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,48,10\n"},
		{BurstGPT, "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n5,ChatGPT,47,18,65,Conversation log\n"},
	} {
		r, _, err := NewReader(strings.NewReader(c.in), "f", Source{Format: c.format})
		if err != nil {
			t.Fatalf("%s: %v", c.format, err)
		}
		if _, err := r.Next(); err != nil {
			t.Fatalf("%s: first: %v", c.format, err)
		}
		for i := 0; i < 3; i++ {
			if _, err := r.Next(); !errors.Is(err, io.EOF) {
				t.Errorf("%s: call %d after the end: %v, want io.EOF", c.format, i+1, err)
			}
		}
	}
	for _, c := range []struct {
		format Format
		in     string
	}{{ShareGPT, share}, {OpenAIChat, chat}} {
		r, err := NewSessionReader(strings.NewReader(c.in), "f", Source{Format: c.format})
		if err != nil {
			t.Fatalf("%s sessions: %v", c.format, err)
		}
		if _, err := r.Next(); err != nil {
			t.Fatalf("%s sessions: first: %v", c.format, err)
		}
		for i := 0; i < 3; i++ {
			if _, err := r.Next(); !errors.Is(err, io.EOF) {
				t.Errorf("%s sessions: call %d after the end: %v, want io.EOF", c.format, i+1, err)
			}
		}
	}
}
