package load_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/sim"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/sim/simtest"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/workload"
)

// simOptions are a short run's options against a simulator.
func simOptions(t *testing.T, run *sim.Running) load.Options {
	t.Helper()
	return load.Options{URL: run.APIURL, Protocol: load.ProtocolOpenAIChat, Stream: true, MaxTokens: 8,
		Records: filepath.Join(t.TempDir(), "records.jsonl"), SLO: load.SLO{Availability: -1, TTFTP95: -1, ITLP95: -1}}
}

// readRecords reads a records file.
func readRecords(t *testing.T, path string) []load.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []load.Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r load.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// A trace is replayed open loop at its own times: each request's intended
// send time is the trace's time (divided by the speed) within 1 ms, it is
// sent close to it, -requests cuts the trace, and its end ends the run.
func TestTraceReplayTimes(t *testing.T) {
	run := simtest.Start(t, sim.DefaultConfig(sim.PersonalityVLLM))
	times := []int{0, 40, 45, 130, 260, 300}
	var b strings.Builder
	for i, ms := range times {
		fmt.Fprintf(&b, `{"timestamp": %d, "input_length": 20, "output_length": 4, "hash_ids": [%d]}`+"\n", 1000+ms, i%2)
	}
	path := filepath.Join(t.TempDir(), "trace.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		speed    float64
		requests int
		n        int
		stopped  string
	}{{1, 0, len(times), "dataset_end"}, {2, 0, len(times), "dataset_end"}, {1, 3, 3, "requests"}} {
		o := simOptions(t, run)
		o.Prompts = load.PromptSource{Dataset: path, TraceSpeed: c.speed}
		o.Requests, o.Concurrency = c.requests, 0
		res, err := load.Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		if res.StoppedBy != c.stopped || res.Requests.OK != int64(c.n) {
			t.Errorf("speed %v requests %d: stopped by %q, %d ok, want %q and %d", c.speed, c.requests, res.StoppedBy, res.Requests.OK, c.stopped, c.n)
		}
		recs := readRecords(t, o.Records)
		if len(recs) != c.n {
			t.Fatalf("speed %v: %d records, want %d", c.speed, len(recs), c.n)
		}
		for i, r := range recs {
			// Records are written as requests end; the source names the line.
			line, _ := strconv.Atoi(r.Source[strings.LastIndexByte(r.Source, ':')+1:])
			want := float64(times[line-1]) / 1000 / c.speed
			if math.Abs(r.IntendedSeconds-want) > 0.001 {
				t.Errorf("speed %v: request %d (%s) intended at %.4fs, the trace says %.4fs", c.speed, i, r.Source, r.IntendedSeconds, want)
			}
			if lag := r.SentSeconds - r.IntendedSeconds; lag < 0 || lag > 0.05 {
				t.Errorf("speed %v: request %s sent %.4fs after its intended time", c.speed, r.Source, lag)
			}
		}
	}
}

// Sessions are replayed turn by turn with the answers in the history, so
// the second turns hit the simulator's prefix cache; the results give TTFT
// by turn and the records the session and turn.
func TestSessionsHitPrefixCache(t *testing.T) {
	run := simtest.Start(t, sim.DefaultConfig(sim.PersonalityVLLM))
	long := func(topic string) string {
		return strings.Repeat("Tell me about "+topic+" and why it matters to people who build software today. ", 6)
	}
	convs := []map[string]any{}
	for i, topic := range []string{"caches", "queues", "compilers"} {
		convs = append(convs, map[string]any{"id": fmt.Sprintf("conv-%d", i), "conversations": []map[string]string{
			{"from": "human", "value": long(topic)},
			{"from": "gpt", "value": "A reference answer of a few words here."},
			{"from": "human", "value": "And how would you test " + topic + " well?"},
			{"from": "gpt", "value": "Another reference answer of a few words."},
		}})
	}
	data, _ := json.Marshal(convs)
	path := filepath.Join(t.TempDir(), "sharegpt.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	before := prefixHits(t, run.APIURL)
	o := simOptions(t, run)
	o.Concurrency = 2
	o.Prompts = load.PromptSource{Dataset: path, Sessions: true, ThinkTime: 5 * time.Millisecond}
	res, err := load.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.StoppedBy != "dataset_end" || res.Requests.OK != 6 {
		t.Fatalf("stopped by %q, %d ok, want dataset_end and 6", res.StoppedBy, res.Requests.OK)
	}
	if len(res.ByTurn) != 2 || res.ByTurn[0].TTFT.Count != 3 || res.ByTurn[1].TTFT.Count != 3 {
		t.Errorf("by turn: %+v", res.ByTurn)
	}
	if after := prefixHits(t, run.APIURL); after <= before {
		t.Errorf("vllm:prefix_cache_hits_total %v -> %v: the second turns did not reuse the history", before, after)
	}
	turns := map[string][]int{}
	for _, r := range readRecords(t, o.Records) {
		turns[r.Session] = append(turns[r.Session], r.Turn)
	}
	for _, s := range []string{"conv-0", "conv-1", "conv-2"} {
		if got := fmt.Sprint(turns[s]); got != "[1 2]" {
			t.Errorf("session %s: turns %s, want [1 2]", s, got)
		}
	}

	// Sessions need the chat protocol, and closed-loop workers.
	o = simOptions(t, run)
	o.Prompts = load.PromptSource{Dataset: path, Sessions: true}
	o.Protocol = load.ProtocolOpenAICompletions
	if _, err := load.Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "openai-chat") {
		t.Errorf("sessions over completions: %v", err)
	}
}

var hitsRE = regexp.MustCompile(`(?m)^vllm:prefix_cache_hits_total(?:\{[^}]*\})? (\S+)$`)

// prefixHits reads the simulator's vllm:prefix_cache_hits_total.
func prefixHits(t *testing.T, apiURL string) float64 {
	t.Helper()
	resp, err := http.Get(apiURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := hitsRE.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no vllm:prefix_cache_hits_total in %s", b)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// -once plays the prompts once: their end ends the run; a dataset of any
// format is read, and its format given explicitly too.
func TestOnceAndFormats(t *testing.T) {
	run := simtest.Start(t, sim.DefaultConfig(sim.PersonalityVLLM))
	o := simOptions(t, run)
	o.Concurrency, o.Prompts = 2, load.PromptSource{Once: true}
	res, err := load.Run(context.Background(), o)
	if err != nil || res.StoppedBy != "dataset_end" || res.Requests.OK != int64(len(load.DefaultPrompts)) {
		t.Fatalf("once: %v, stopped by %q, %d ok", err, res.StoppedBy, res.Requests.OK)
	}
	path := filepath.Join(t.TempDir(), "chat.jsonl")
	os.WriteFile(path, []byte(`{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name three rivers."}], "max_tokens": 4}`+"\n"), 0o644)
	for _, f := range []workload.Format{"", workload.OpenAIChat} {
		o = simOptions(t, run)
		o.Requests, o.Prompts = 3, load.PromptSource{Dataset: path, Format: f}
		res, err = load.Run(context.Background(), o)
		if err != nil || res.Requests.OK != 3 || res.Tokens.Output != 12 {
			t.Errorf("openai-chat (format %q): %v, %d ok, %d output tokens", f, err, res.Requests.OK, res.Tokens.Output)
		}
	}
	// Shaped synthetic prompts: lengths, output lengths and shared prefixes.
	o = simOptions(t, run)
	o.Requests, o.Prompts = 4, load.PromptSource{SyntheticTokens: 20, SyntheticDist: "uniform:10:30", OutputTokens: 3,
		PrefixTokens: 16, PrefixGroups: 2}
	res, err = load.Run(context.Background(), o)
	if err != nil || res.Requests.OK != 4 || res.Tokens.Output != 12 || !strings.Contains(res.Config.Prompts, "shaped") {
		t.Errorf("shaped synthetic: %v, %d ok, %d output tokens, prompts %q", err, res.Requests.OK, res.Tokens.Output, res.Config.Prompts)
	}
	o = simOptions(t, run)
	o.Prompts = load.PromptSource{PrefixTokens: 16}
	if _, err := load.Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "give the synthetic prompt length") {
		t.Errorf("prefix without synthetic prompts: %v", err)
	}
	o = simOptions(t, run)
	o.Prompts = load.PromptSource{Dataset: path, Format: "csv"}
	if _, err := load.Run(context.Background(), o); err == nil || !strings.Contains(err.Error(), "expected auto or one of") {
		t.Errorf("format csv: %v", err)
	}
}

// What the format's filter leaves out is counted and said; a run with an
// end of its own (a trace, -once) is finite, so a signal cuts it short,
// while a dataset cycled until Ctrl+C is not.
func TestDatasetSkippedAndFinite(t *testing.T) {
	run := simtest.Start(t, sim.DefaultConfig(sim.PersonalityVLLM))
	dir := t.TempDir()
	share := filepath.Join(dir, "sharegpt.json")
	// The second conversation has one turn and the third a 2-word prompt:
	// vLLM's benchmark skips both.
	os.WriteFile(share, []byte(`[
{"id": "a", "conversations": [{"from": "human", "value": "Explain how a hash map resolves collisions, briefly please."}, {"from": "gpt", "value": "It chains entries or probes for the next free slot in the table."}]},
{"id": "b", "conversations": [{"from": "human", "value": "Only one turn here, so it is skipped."}]},
{"id": "c", "conversations": [{"from": "human", "value": "Hi there"}, {"from": "gpt", "value": "Hello, how can I help you today with anything?"}]}
]`), 0o644)
	trace := filepath.Join(dir, "trace.jsonl")
	os.WriteFile(trace, []byte(`{"timestamp": 0, "input_length": 8, "output_length": 2, "hash_ids": [1]}`+"\n"), 0o644)
	for _, c := range []struct {
		name    string
		p       load.PromptSource
		req     int
		skipped int
		finite  bool
	}{
		{"sharegpt, -requests", load.PromptSource{Dataset: share}, 2, 2, true},
		{"sharegpt, -once", load.PromptSource{Dataset: share, Once: true}, 0, 2, true},
		{"trace", load.PromptSource{Dataset: trace}, 0, 0, true},
	} {
		o := simOptions(t, run)
		o.Prompts, o.Requests = c.p, c.req
		res, err := load.Run(context.Background(), o)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if res.DatasetSkipped != c.skipped || res.Finite != c.finite {
			t.Errorf("%s: skipped %d, finite %v; want %d, %v", c.name, res.DatasetSkipped, res.Finite, c.skipped, c.finite)
		}
		var b strings.Builder
		res.PrintSummary(&b)
		if got := strings.Contains(b.String(), fmt.Sprintf("skipped:     %d dataset records", c.skipped)); got != (c.skipped > 0) {
			t.Errorf("%s: summary %q", c.name, b.String())
		}
	}
	// A dataset cycled until canceled has no end of its own.
	o := simOptions(t, run)
	o.Prompts = load.PromptSource{Dataset: share}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res, err := load.Run(ctx, o)
	if err != nil || res.Finite {
		t.Errorf("cycled until canceled: %v, finite %v", err, res.Finite)
	}
}
