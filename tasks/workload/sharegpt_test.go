package workload

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// words returns n words, "w1 w2 ...".
func words(n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = fmt.Sprintf("w%d", i+1)
	}
	return strings.Join(w, " ")
}

// shareGPT returns a ShareGPT file of the conversations, each given as
// its id and its turns, from/value pairs.
func shareGPT(t *testing.T, convs ...[]string) string {
	t.Helper()
	type turn struct {
		From  string `json:"from"`
		Value string `json:"value"`
	}
	type conv struct {
		ID            string `json:"id,omitempty"`
		Conversations []turn `json:"conversations"`
	}
	var all []conv
	for _, c := range convs {
		cv := conv{ID: c[0], Conversations: []turn{}}
		for i := 1; i+1 < len(c); i += 2 {
			cv.Conversations = append(cv.Conversations, turn{c[i], c[i+1]})
		}
		all = append(all, cv)
	}
	b, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestShareGPT(t *testing.T) {
	in := shareGPT(t,
		[]string{"a", "human", words(10), "gpt", words(20)},                                    // kept
		[]string{"short-turns", "human", words(10)},                                            // < 2 turns
		[]string{"short-prompt", "human", words(3), "gpt", words(20)},                          // prompt < 4
		[]string{"short-reply", "human", words(10), "gpt", words(3)},                           // reply < 4
		[]string{"long-prompt", "human", words(1025), "gpt", words(20)},                        // prompt > 1024
		[]string{"long-both", "human", words(1000), "gpt", words(1049)},                        // > 2048
		[]string{"edge", "human", words(1024), "gpt", words(1024)},                             // kept: at the limits
		[]string{"system-first", "system", "be brief", "user", words(8), "chatgpt", words(40)}, // kept, capped
		[]string{"", "gpt", words(8), "human", words(9), "bard", words(5)},                     // kept, no id
		[]string{"no-reply", "human", words(8), "human", words(9)},                             // no reply to the first human turn
	)
	r, f, err := NewReader(strings.NewReader(in), "sg.json", Source{MaxTokens: 30})
	if err != nil || f != ShareGPT {
		t.Fatal(f, err)
	}
	got, _ := drain(r)
	want := []struct {
		id               string
		prompt           int
		maxTokens        int
		firstPromptWords string
	}{
		{"a", 10, 20, "w1"},
		{"edge", 1024, 30, "w1"},
		{"system-first", 8, 30, "w1"},
		{"sg.json:", 9, 5, "w1"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d requests: %+v", len(got), got)
	}
	for i, w := range want {
		g := got[i]
		if !strings.HasPrefix(g.ID, w.id) || EstimateTokens(g.Prompt) != w.prompt || g.InputTokens != w.prompt || g.MaxTokens != w.maxTokens || g.Timed {
			t.Errorf("request %d: id %q, %d prompt tokens, MaxTokens %d; want %+v", i, g.ID, EstimateTokens(g.Prompt), g.MaxTokens, w)
		}
	}
	if got[3].ID != "sg.json:106" {
		t.Errorf("the id of a conversation without one is %q, want its line", got[3].ID)
	}
	if n := r.(Skipper).Skipped(); n != 6 {
		t.Errorf("Skipped() = %d, want 6", n)
	}

	// Nothing passes: an error with the count.
	_, _, err = readAll("sg.json", shareGPT(t, []string{"x", "human", "hi"}), Source{})
	if err == nil || !strings.Contains(err.Error(), "sg.json: no conversation passes the filter (1 skipped") {
		t.Errorf("all filtered: %v", err)
	}
}

func TestShareGPTErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"conversations": []}`, "sg.json:1: the file does not start a JSON array"},
		{"[\n" + `{"conversations": [{"from": "human", "value": "a b c d"}, {"from": "gpt", "value": "a b c d"}]},` + "\n" + `{"conversations": "x"}` + "\n]",
			"sg.json:3: conversation 2: json: cannot unmarshal"},
		{"[\n{\"conversations\": []},\n\n  {\"conversations\": [}\n]", "sg.json:4: invalid JSON: invalid character '}'"},
		{"[\n{\"conversations\": []},\n{\"conversations\"", "sg.json:3: invalid JSON: unexpected EOF"},
		{"[\n{\"conversations\": []}\n] [", "sg.json:3: more after the array's end"},
		{"[\n{\"conversations\": []}\n}", "sg.json:3: invalid JSON"},
		{"[]", "sg.json: no conversation passes the filter (0 skipped"},
	} {
		_, _, err := readAll("sg.json", c.in, Source{Format: ShareGPT})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.in, err, c.want)
		}
	}
}

func TestShareGPTSessions(t *testing.T) {
	in := shareGPT(t,
		[]string{"s1", "system", "be kind", "human", "hello there", "gpt", words(7), "human", "and then", "gpt", words(50), "human", "bye"},
		[]string{"only-gpt", "gpt", "nobody asked"},
		[]string{"s2", "user", "one question", "assistant", "one answer"},
	)
	r, err := NewSessionReader(strings.NewReader(in), "sg.json", Source{MaxTokens: 20})
	if err != nil {
		t.Fatal(err)
	}
	s1, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	want := []Turn{
		{Messages: []Message{{"system", "be kind"}, {"user", "hello there"}}, MaxTokens: 7},
		{Messages: []Message{{"user", "and then"}}, MaxTokens: 20},
		{Messages: []Message{{"user", "bye"}}},
	}
	if s1.ID != "s1" || fmt.Sprint(s1.Turns) != fmt.Sprint(want) {
		t.Errorf("session 1: %+v, want %+v", s1, want)
	}
	s2, err := r.Next()
	if err != nil || s2.ID != "s2" || len(s2.Turns) != 1 || s2.Turns[0].MaxTokens != 2 {
		t.Errorf("session 2: %+v %v", s2, err)
	}
	if _, err := r.Next(); err == nil {
		t.Error("a third session")
	}
	if n := r.(Skipper).Skipped(); n != 1 {
		t.Errorf("Skipped() = %d, want 1", n)
	}
	if _, err := readSessions("trace.jsonl", `{"timestamp": 0, "input_length": 5, "output_length": 1}`, Source{}); err == nil ||
		!strings.Contains(err.Error(), "trace.jsonl: sessions need a sharegpt or openai-chat file, and this is mooncake") {
		t.Errorf("sessions of a trace: %v", err)
	}
}

func FuzzShareGPT(f *testing.F) {
	f.Add([]byte(`[{"id": "x", "conversations": [{"from": "human", "value": "a b c d e"}, {"from": "gpt", "value": "f g h i j"}]}]`))
	f.Add([]byte("[\n{\"conversations\": []},\n{\"conversations\"\n"))
	f.Add([]byte(`[{"conversations": [{"from": "system", "value": "s"}, {"from": "user", "value": "q"}]}] x`))
	f.Fuzz(func(t *testing.T, data []byte) {
		reqs, _, err := readAll("f.json", string(data), Source{Format: ShareGPT, MaxTokens: 10})
		checkFuzzError(t, "f.json", err)
		for _, r := range reqs {
			if r.MaxTokens < 1 || r.MaxTokens > 10 || r.InputTokens < shareGPTMinTokens {
				t.Fatalf("bad request %+v", r)
			}
		}
		sessions, err := readSessions("f.json", string(data), Source{Format: ShareGPT})
		checkFuzzError(t, "f.json", err)
		for _, s := range sessions {
			if len(s.Turns) == 0 {
				t.Fatalf("session without turns: %+v", s)
			}
		}
	})
}
