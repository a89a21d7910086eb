package workload

import (
	"strings"
	"testing"
	"time"
)

func TestAzure(t *testing.T) {
	in := "TIMESTAMP,ContextTokens,GeneratedTokens\n" +
		"2023-11-16 18:15:46.6805900,4808,10\n" +
		"2023-11-16 18:15:46.6805900,100,0\n" + // skipped: nothing generated
		"2023-11-16 18:15:50.12,3,200\n" +
		"2023-11-16T18:16:46Z,7,5\n" +
		"2023-11-16 18:16:46.0000000012345+00:00,7,5\n"
	r, f, err := NewReader(strings.NewReader(in), "az.csv", Source{MaxTokens: 100})
	if err != nil || f != Azure {
		t.Fatal(f, err)
	}
	got, _ := drain(r)
	wantAt := []time.Duration{0, 3*time.Second + 439410*time.Microsecond, 59*time.Second + 319410*time.Microsecond, 59*time.Second + 319410*time.Microsecond + 1}
	wantIn := []int{4808, 3, 7, 7}
	wantMax := []int{10, 100, 5, 5}
	wantID := []string{"az.csv:2", "az.csv:4", "az.csv:5", "az.csv:6"}
	if len(got) != len(wantAt) {
		t.Fatalf("%d requests: %+v", len(got), got)
	}
	prompts := map[string]bool{}
	for i, r := range got {
		if !r.Timed || r.At != wantAt[i] || r.InputTokens != wantIn[i] || EstimateTokens(r.Prompt) != wantIn[i] || r.MaxTokens != wantMax[i] || r.ID != wantID[i] {
			t.Errorf("request %d: at %v, %d input tokens (%d in the prompt), MaxTokens %d, ID %s", i, r.At, r.InputTokens, EstimateTokens(r.Prompt), r.MaxTokens, r.ID)
		}
		first := strings.Fields(r.Prompt)[0]
		if prompts[first] {
			t.Errorf("request %d starts like another: %q", i, first)
		}
		prompts[first] = true
	}
	if n := r.(Skipper).Skipped(); n != 1 {
		t.Errorf("Skipped() = %d, want 1", n)
	}
	if again := mustReadAll(t, "az.csv", "\ufeff"+in, Source{}); len(again) != len(got) {
		t.Errorf("after a byte order mark: %d requests", len(again))
	}
	for _, c := range []struct{ in, want string }{
		{"", "az.csv: the file is empty; expected the CSV header"},
		{"TIMESTAMP,Context,Generated\n", `az.csv:1: the header is "TIMESTAMP,Context,Generated"; expected the CSV header TIMESTAMP,ContextTokens,GeneratedTokens`},
		{"TIMESTAMP,ContextTokens,GeneratedTokens\n", "az.csv: no rows after the header; expected"},
		{"TIMESTAMP,ContextTokens,GeneratedTokens\n\nyesterday,1,1\n", `az.csv:3: TIMESTAMP "yesterday": expected a time like 2023-11-16 18:15:46.6805900`},
		{"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,0,1\n", `az.csv:2: ContextTokens is "0"; expected an integer from 1 to 1048576`},
		{"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,5\n", `az.csv:2: no GeneratedTokens column`},
		{"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,5,-1\n", `az.csv:2: GeneratedTokens is "-1"`},
		{"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,5,1\n2023-11-16 18:15:45,5,1\n",
			`az.csv:3: timestamp 2023-11-16 18:15:45 is before the previous row's 2023-11-16 18:15:46`},
		{"TIMESTAMP,ContextTokens,GeneratedTokens\n\"2023,5,1\n", `az.csv:2: invalid CSV`},
	} {
		_, _, err := readAll("az.csv", c.in, Source{Format: Azure})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.in, err, c.want)
		}
	}
}

func TestBurstGPT(t *testing.T) {
	in := "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n" +
		"5,ChatGPT,472,18,490,Conversation log\n" +
		"5.25,GPT-4,0,30,30,API log\n" +
		"6,ChatGPT,100,0,100,Conversation log\n" + // a failure: skipped
		"3605.000001,ChatGPT,20,500,520,Conversation log\n"
	r, f, err := NewReader(strings.NewReader(in), "b.csv", Source{MaxTokens: 200})
	if err != nil || f != BurstGPT {
		t.Fatal(f, err)
	}
	got, _ := drain(r)
	wantAt := []time.Duration{0, 250 * time.Millisecond, time.Hour + time.Microsecond}
	wantIn := []int{472, 1, 20}
	wantMax := []int{18, 30, 200}
	if len(got) != len(wantAt) {
		t.Fatalf("%d requests: %+v", len(got), got)
	}
	for i, r := range got {
		if !r.Timed || r.At != wantAt[i] || r.InputTokens != wantIn[i] || EstimateTokens(r.Prompt) != wantIn[i] || r.MaxTokens != wantMax[i] {
			t.Errorf("request %d: at %v, %d input tokens (%d in the prompt), MaxTokens %d", i, r.At, r.InputTokens, EstimateTokens(r.Prompt), r.MaxTokens)
		}
	}
	if n := r.(Skipper).Skipped(); n != 1 {
		t.Errorf("Skipped() = %d, want 1", n)
	}
	for _, c := range []struct{ in, want string }{
		{"Timestamp,Model,Request tokens\n", `b.csv:1: the header is "Timestamp,Model,Request tokens"`},
		{"Timestamp,Model,Request tokens,Response tokens\n1,x,5,0\n2,x,5,0\n", `b.csv: every row (2) has 0 output tokens`},
		{"Timestamp,Model,Request tokens,Response tokens\nsoon,x,1,1\n", `b.csv:2: Timestamp "soon": expected seconds`},
		{"Timestamp,Model,Request tokens,Response tokens\nNaN,x,1,1\n", `b.csv:2: Timestamp "NaN"`},
		{"Timestamp,Model,Request tokens,Response tokens\n1,x,1,1\n0.5,x,1,1\n", `b.csv:3: timestamp 0.5 is before the previous row's 1`},
		{"Timestamp,Model,Request tokens,Response tokens\n1,x,-1,1\n", `b.csv:2: Request tokens is "-1"`},
		{"Timestamp,Model,Request tokens,Response tokens\n1,x,1\n", `b.csv:2: no Response tokens column`},
	} {
		_, _, err := readAll("b.csv", c.in, Source{Format: BurstGPT})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want %q", c.in, err, c.want)
		}
	}
}

func FuzzAzure(f *testing.F) {
	f.Add([]byte("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,48,10\n2023-11-16 18:15:47,3,0\n"))
	f.Add([]byte("TIMESTAMP,ContextTokens,GeneratedTokens\n\"2023-11-16 18:15:46\",\"1\",\"1\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzTrace(t, data, Azure) })
}

func FuzzBurstGPT(f *testing.F) {
	f.Add([]byte("Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n5,ChatGPT,47,18,65,Conversation log\n6,x,0,0,0,y\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzTrace(t, data, BurstGPT) })
}

// fuzzTrace reads a trace of format f: errors name the file, and the
// requests are timed in order with prompts of their input length.
func fuzzTrace(t *testing.T, data []byte, f Format) {
	reqs, _, err := readAll("f.csv", string(data), Source{Format: f})
	checkFuzzError(t, "f.csv", err)
	var last time.Duration
	for _, r := range reqs {
		if !r.Timed || r.At < last || EstimateTokens(r.Prompt) != r.InputTokens || r.MaxTokens < 1 {
			t.Fatalf("bad request %+v", r)
		}
		last = r.At
	}
}
