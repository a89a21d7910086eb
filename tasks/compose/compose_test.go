package compose

import (
	"slices"
	"strings"
	"testing"
)

func TestArgs(t *testing.T) {
	base := "-f /p/deploy/compose.yaml --env-file /p/deploy/.env -p llmobs"
	for _, tc := range []struct {
		name string
		got  []string
		want string
	}{
		{"up", UpArgs("/p", "llmobs", "sim"), base + " --profile sim up -d"},
		{"rm", RemoveArgs("/p", "llmobs", "vllm", []string{"dcgm-exporter", "vllm"}), base + " --profile vllm rm --stop --force dcgm-exporter vllm"},
		{"down", DownArgs("/p", "llmobs", false), base + " --profile vllm --profile triton --profile triton-trt --profile sim down --remove-orphans"},
		{"down -v", DownArgs("/p", "llmobs", true), base + " --profile vllm --profile triton --profile triton-trt --profile sim down --remove-orphans --volumes"},
		{"config", ConfigArgs("/p", "llmobs", "triton"), base + " --profile triton config --quiet"},
	} {
		if got := strings.Join(tc.got, " "); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

// A project name or path with spaces stays one argument: no shell anywhere.
func TestArgsNoShell(t *testing.T) {
	args := UpArgs("/my project", "llm obs", "sim")
	if !slices.Contains(args, "/my project/deploy/compose.yaml") || !slices.Contains(args, "llm obs") {
		t.Fatalf("arguments split: %q", args)
	}
}

func TestFirstVerb(t *testing.T) {
	if v := firstVerb(UpArgs("/p", "x", "sim")); v != "up" {
		t.Fatalf("firstVerb = %q", v)
	}
	if v := firstVerb(DownArgs("/p", "x", true)); v != "down" {
		t.Fatalf("firstVerb = %q", v)
	}
}
