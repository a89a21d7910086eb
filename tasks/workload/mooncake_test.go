package workload

import (
	"strings"
	"testing"
	"time"
)

func TestMooncake(t *testing.T) {
	in := `{"timestamp": 1000, "input_length": 1100, "output_length": 40, "hash_ids": [7, 8, 9]}
{"timestamp": 1000, "input_length": 600, "output_length": 500, "hash_ids": [7, 8]}

{"timestamp": 1500.5, "input_length": 1300, "output_length": 3, "hash_ids": [7, 10]}
{"timestamp": 61000, "input_length": 20, "output_length": 3}
`
	got := mustReadAll(t, "mc.jsonl", in, Source{Format: Mooncake, MaxTokens: 100})
	if len(got) != 4 {
		t.Fatalf("%d requests", len(got))
	}
	wantAt := []time.Duration{0, 0, 500*time.Millisecond + 500*time.Microsecond, 60 * time.Second}
	wantIn := []int{1100, 600, 1300, 20}
	wantMax := []int{40, 100, 3, 3}
	wantID := []string{"mc.jsonl:1", "mc.jsonl:2", "mc.jsonl:4", "mc.jsonl:5"}
	for i, r := range got {
		if !r.Timed || r.At != wantAt[i] || r.InputTokens != wantIn[i] || EstimateTokens(r.Prompt) != wantIn[i] || r.MaxTokens != wantMax[i] || r.ID != wantID[i] {
			t.Errorf("request %d: at %v, %d input tokens (%d in the prompt), MaxTokens %d, ID %s", i, r.At, r.InputTokens, EstimateTokens(r.Prompt), r.MaxTokens, r.ID)
		}
	}
	block := func(r Request, i int) string {
		w := strings.Fields(r.Prompt)
		return strings.Join(w[i*MooncakeBlock:min((i+1)*MooncakeBlock, len(w))], " ")
	}
	// Equal hash ids give equal blocks; the last block holds the rest.
	if block(got[0], 0) != block(got[1], 0) || block(got[0], 0) != block(got[2], 0) || !strings.HasPrefix(block(got[0], 0), "Block-7: ") {
		t.Error("hash id 7 gives different text")
	}
	if b := block(got[1], 1); EstimateTokens(b) != 88 || !strings.HasPrefix(block(got[0], 1), b) {
		t.Errorf("the last block of request 2 (%d tokens) is not the start of hash id 8's", EstimateTokens(b))
	}
	if block(got[0], 1) == block(got[2], 1) {
		t.Error("hash ids 8 and 10 give the same text")
	}
	// Tokens beyond the listed ids: distinct to the line.
	if rest := block(got[2], 2); !strings.HasPrefix(rest, "Request-4: ") || EstimateTokens(rest) != 276 {
		t.Errorf("the rest after the hash ids: %.40q (%d tokens)", rest, EstimateTokens(rest))
	}
	if !strings.HasPrefix(got[3].Prompt, "Request-5: ") {
		t.Errorf("a line without hash ids: %.40q", got[3].Prompt)
	}
	again := mustReadAll(t, "other-name.jsonl", in, Source{Format: Mooncake})
	for i := range got {
		if got[i].Prompt != again[i].Prompt {
			t.Fatal("the prompts change from one read to the next")
		}
	}

	for _, c := range []struct{ in, want string }{
		{`{"input_length": 5, "output_length": 1}`, `mc.jsonl:1: missing "timestamp"`},
		{`{"timestamp": 5, "output_length": 1}`, `mc.jsonl:1: "input_length" is missing; expected an integer from 1 to 1048576`},
		{`{"timestamp": 5, "input_length": 0, "output_length": 1}`, `mc.jsonl:1: "input_length" is 0`},
		{`{"timestamp": 5, "input_length": 99999999, "output_length": 1}`, `mc.jsonl:1: "input_length" is 99999999`},
		{`{"timestamp": 5, "input_length": 5, "output_length": 0}`, `mc.jsonl:1: "output_length" is 0; expected a positive integer`},
		{`{"timestamp": 5, "input_length": 5.5, "output_length": 1}`, `mc.jsonl:1: invalid JSON`},
		{`{"timestamp": 1e300, "input_length": 5, "output_length": 1}`, `mc.jsonl:1: "timestamp" 1e+300 is out of range`},
		{"{\"timestamp\": 5, \"input_length\": 5, \"output_length\": 1}\n\n{\"timestamp\": 4, \"input_length\": 5, \"output_length\": 1}",
			`mc.jsonl:3: timestamp 4 is before the previous row's 5; expected the trace sorted by time`},
		{"", `mc.jsonl: no requests; expected {"timestamp": MS`},
	} {
		_, _, err := readAll("mc.jsonl", c.in, Source{Format: Mooncake})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.in, err, c.want)
		}
	}
}

func FuzzMooncake(f *testing.F) {
	f.Add([]byte(`{"timestamp": 0, "input_length": 700, "output_length": 4, "hash_ids": [1, 2]}` + "\n" + `{"timestamp": 3, "input_length": 2, "output_length": 1}`))
	f.Add([]byte(`{"timestamp": -5, "input_length": 1, "output_length": 1, "hash_ids": [-9223372036854775808]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		reqs, _, err := readAll("f.jsonl", string(data), Source{Format: Mooncake})
		checkFuzzError(t, "f.jsonl", err)
		var last time.Duration
		for _, r := range reqs {
			if !r.Timed || r.At < last || EstimateTokens(r.Prompt) != r.InputTokens || r.MaxTokens < 1 {
				t.Fatalf("bad request %+v", r)
			}
			last = r.At
		}
	})
}
