package workload

import (
	"strings"
	"testing"
)

func TestJSONL(t *testing.T) {
	in := `{"prompt": "Hello there", "max_tokens": 12}

{"text": "Second prompt"}
{"prompt": "Third", "max_tokens": null, "extra": [1,2]}
`
	got := mustReadAll(t, "data.jsonl", in, Source{Format: JSONL, MaxTokens: 5})
	want := []Request{
		{ID: "data.jsonl:1", Prompt: "Hello there", MaxTokens: 12}, // the line's own max_tokens is not capped
		{ID: "data.jsonl:3", Prompt: "Second prompt"},
		{ID: "data.jsonl:4", Prompt: "Third"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i].ID != want[i].ID || got[i].Prompt != want[i].Prompt || got[i].MaxTokens != want[i].MaxTokens || got[i].Timed {
			t.Errorf("request %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if got := mustReadAll(t, "bom.jsonl", "\ufeff"+in, Source{}); len(got) != 3 {
		t.Errorf("after a byte order mark: %+v", got)
	}
	// The cases of package load's ParseJSONL, whose rules these are.
	bad := []struct{ in, want string }{
		{"{\"prompt\": \"a\"}\n{\"prompt\": \"b\"\n", "data.jsonl:2: invalid JSON"},
		{"{\"prompt\": \"a\"}\n\n{\"max_tokens\": 3}\n", `data.jsonl:3: missing "prompt"`},
		{"{\"prompt\": \"a\", \"max_tokens\": -1}\n", `data.jsonl:1: "max_tokens" is -1; expected a positive integer`},
		{"{\"prompt\": \"a\", \"max_tokens\": \"5\"}\n", `data.jsonl:1: "max_tokens" is "5"`},
		{"{\"prompt\": 5}\n", "data.jsonl:1: invalid JSON"},
		{"{\"prompt\": \"  \"}\n", "data.jsonl:1: the prompt is empty"},
		{"{\"prompt\": \"a\", \"text\": \"b\"}\n", "data.jsonl:1: both"},
		{"{\"prompt\": \"a\"} {\"prompt\": \"b\"}\n", "data.jsonl:1: more than one JSON value"},
		{"\n\n", `data.jsonl: no prompts; expected {"prompt": "...", "max_tokens": N} on each line`},
		{"[1,2]\n", "data.jsonl:1: invalid JSON"},
	}
	for _, b := range bad {
		_, _, err := readAll("data.jsonl", b.in, Source{Format: JSONL})
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%q: err = %v, want %q", b.in, err, b.want)
		}
	}
}

func FuzzJSONL(f *testing.F) {
	f.Add([]byte(`{"prompt": "a", "max_tokens": 3}` + "\n" + `{"text": "b"}`))
	f.Add([]byte("{\"prompt\": \"\\u0000\"}\n\n\n"))
	f.Add([]byte(`{"max_tokens": 1e3, "prompt": "x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		reqs, _, err := readAll("f.jsonl", string(data), Source{Format: JSONL})
		checkFuzzError(t, "f.jsonl", err)
		if err == nil && len(reqs) == 0 {
			t.Fatal("no prompts and no error")
		}
		for _, r := range reqs {
			if strings.TrimSpace(r.Prompt) == "" || r.MaxTokens < 0 {
				t.Fatalf("bad request %+v", r)
			}
		}
	})
}
