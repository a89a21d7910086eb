package targets

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/workload"
)

// The announcement says a run ends with its workload for -once, -sessions
// and traces (given or detected in a local file), not for a cycled dataset.
func TestEndsWithWorkload(t *testing.T) {
	dir := t.TempDir()
	trace := filepath.Join(dir, "trace.jsonl")
	prompts := filepath.Join(dir, "prompts.jsonl")
	os.WriteFile(trace, []byte(`{"timestamp": 0, "input_length": 8, "output_length": 2, "hash_ids": [1]}`+"\n"), 0o644)
	os.WriteFile(prompts, []byte(`{"prompt": "hello there my friend"}`+"\n"), 0o644)
	for _, c := range []struct {
		p    load.PromptSource
		want bool
	}{
		{load.PromptSource{}, false},
		{load.PromptSource{Once: true}, true},
		{load.PromptSource{Dataset: prompts, Sessions: true}, true},
		{load.PromptSource{Dataset: prompts}, false},
		{load.PromptSource{Dataset: trace}, true},
		{load.PromptSource{Dataset: trace, Format: workload.Auto}, true},
		{load.PromptSource{Dataset: prompts, Format: workload.Azure}, true},
		{load.PromptSource{Dataset: filepath.Join(dir, "missing.jsonl")}, false},
		{load.PromptSource{Dataset: "https://example.com/trace.jsonl"}, false},
	} {
		if got := endsWithWorkload(c.p); got != c.want {
			t.Errorf("%+v: %v, want %v", c.p, got, c.want)
		}
	}
}
