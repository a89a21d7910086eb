package workload

import (
	"fmt"
	"strings"
	"testing"
)

func TestOpenAIChat(t *testing.T) {
	in := `{"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}], "max_tokens": 50}
{"id": "c2", "messages": [{"role": "user", "content": [{"type": "text", "text": "part one"}, {"type": "text", "text": "part two"}]}, {"role": "assistant", "content": "a b c d e f"}]}

{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "` + words(40) + `"}], "max_tokens": null}
`
	got := mustReadAll(t, "chat.jsonl", in, Source{Format: OpenAIChat, MaxTokens: 30})
	want := []Request{
		{ID: "chat.jsonl:1", Messages: []Message{{"system", "be brief"}, {"user", "hi"}}, MaxTokens: 50},
		{ID: "c2", Messages: []Message{{"user", "part one\npart two"}}, MaxTokens: 6},
		{ID: "chat.jsonl:4", Messages: []Message{{"user", "q"}}, MaxTokens: 30},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	for _, c := range []struct{ in, want string }{
		{`{"messages": []}`, `chat.jsonl:1: no "messages"`},
		{`{"prompt": "x"}`, `chat.jsonl:1: no "messages"`},
		{`{"messages": [{"content": "x"}]}`, `chat.jsonl:1: message 1 has no "role"`},
		{`{"messages": [{"role": "user", "content": 5}]}`, `chat.jsonl:1: message 1: "content" is 5; expected a string`},
		{`{"messages": [{"role": "user"}]}`, `chat.jsonl:1: message 1: "content" is missing`},
		{`{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}`, `chat.jsonl:1: message 1: "content" is [`},
		{`{"messages": [{"role": "user", "content": " "}]}`, `chat.jsonl:1: message 1: the user message is empty`},
		{`{"messages": [{"role": "system", "content": "s"}]}`, `chat.jsonl:1: no user message`},
		{"\n" + `{"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}`, `chat.jsonl:2: "max_tokens" is 0; expected a positive integer`},
		{`{"messages": [{"role": "user", "content": "x"}]} {}`, `chat.jsonl:1: more than one JSON value`},
		{`{"messages": [`, `chat.jsonl:1: invalid JSON`},
		{"\n", `chat.jsonl: no requests; expected {"messages"`},
	} {
		_, _, err := readAll("chat.jsonl", c.in, Source{Format: OpenAIChat})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.in, err, c.want)
		}
	}
}

func TestOpenAIChatSessions(t *testing.T) {
	in := `{"id": "s1", "messages": [{"role": "system", "content": "be kind"}, {"role": "user", "content": "one"}, {"role": "assistant", "content": "a b c"}, {"role": "developer", "content": "now shorter"}, {"role": "user", "content": "two"}, {"role": "assistant", "content": "` + words(80) + `"}, {"role": "user", "content": "three"}], "max_tokens": 9}
{"messages": [{"role": "user", "content": "only"}]}
`
	got, err := readSessions("chat.jsonl", in, Source{MaxTokens: 50})
	if err != nil {
		t.Fatal(err)
	}
	want := []Session{
		{ID: "s1", Turns: []Turn{
			{Messages: []Message{{"system", "be kind"}, {"user", "one"}}, MaxTokens: 3},
			{Messages: []Message{{"developer", "now shorter"}, {"user", "two"}}, MaxTokens: 50},
			{Messages: []Message{{"user", "three"}}, MaxTokens: 9}, // no reference answer: the line's max_tokens
		}},
		{ID: "chat.jsonl:2", Turns: []Turn{{Messages: []Message{{"user", "only"}}}}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if _, err := readSessions("chat.jsonl", "", Source{Format: OpenAIChat}); err == nil || !strings.Contains(err.Error(), "chat.jsonl: no sessions") {
		t.Errorf("empty: %v", err)
	}
}

func FuzzOpenAIChat(f *testing.F) {
	f.Add([]byte(`{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "a b"}], "max_tokens": 4}`))
	f.Add([]byte(`{"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]}` + "\n\n" + `{"messages": 1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		reqs, _, err := readAll("f.jsonl", string(data), Source{Format: OpenAIChat, MaxTokens: 10})
		checkFuzzError(t, "f.jsonl", err)
		for _, r := range reqs {
			if len(r.Messages) == 0 || r.Prompt != "" || r.MaxTokens < 0 {
				t.Fatalf("bad request %+v", r)
			}
		}
		sessions, err := readSessions("f.jsonl", string(data), Source{Format: OpenAIChat})
		checkFuzzError(t, "f.jsonl", err)
		for _, s := range sessions {
			if len(s.Turns) == 0 {
				t.Fatalf("session without turns: %+v", s)
			}
		}
	})
}
