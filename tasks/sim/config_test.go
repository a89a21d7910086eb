package sim

import (
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
)

func TestFlagsAndEnv(t *testing.T) {
	cfg := DefaultConfig(PersonalityVLLM)
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse([]string{"-max-num-seqs=8", "-personality=triton-trt"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"SIM_MAX_NUM_SEQS":  "99", // the flag wins
		"SIM_DECODE_BASE":   "3ms",
		"SIM_SEED":          "42",
		"SIM_CONSTANT_ITL":  "7ms",
		"SIM_ERROR_RATE":    "0.25",
		"SIM_TRT_DECOUPLED": "false",
	}
	if err := ApplyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if cfg.MaxNumSeqs != 8 || cfg.Personality != PersonalityTritonTRT || cfg.DecodeBase != 3*time.Millisecond ||
		cfg.Seed != 42 || cfg.ConstantITL != 7*time.Millisecond || !cfg.ConstantMode() || cfg.ErrorRate != 0.25 || cfg.TRTDecoupled {
		t.Errorf("config %+v", cfg)
	}
	if cfg.effectiveMetricsAddr() != "127.0.0.1:8002" {
		t.Errorf("triton metrics default %q", cfg.effectiveMetricsAddr())
	}
	err := ApplyEnv(fs, func(k string) (string, bool) {
		if k == "SIM_BLOCK_SIZE" {
			return "sixteen", true
		}
		return "", false
	})
	if err == nil || !strings.Contains(err.Error(), "SIM_BLOCK_SIZE") || !strings.Contains(err.Error(), "-block-size") {
		t.Errorf("bad env value: %v", err)
	}
}

func TestValidate(t *testing.T) {
	cfg := DefaultConfig(PersonalityVLLM)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	cfg.NumGPUBlocks = 10
	cfg.ErrorRate = 2
	cfg.Personality = "tgi"
	err := cfg.Validate()
	for _, want := range []string{"-num-gpu-blocks", "-error-rate (SIM_ERROR_RATE)", "-personality"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
	if _, err := New(cfg); err == nil {
		t.Error("New accepted an invalid config")
	}
}

func TestPersonalitiesFromBackendTable(t *testing.T) {
	if len(Personalities) != len(backend.Personalities) {
		t.Fatalf("Personalities %v, backend table %v", Personalities, backend.Personalities)
	}
	for i, p := range backend.Personalities {
		if Personalities[i] != string(p) {
			t.Errorf("Personalities[%d] = %q, backend table %q", i, Personalities[i], p)
		}
		b, err := backend.ByPersonality(Personalities[i])
		if err != nil || b.Personality != p {
			t.Errorf("ByPersonality(%q) = %v, %v", Personalities[i], b.Name, err)
		}
	}
	if got := orList([]string{"a", "b", "c"}); got != "a, b or c" {
		t.Errorf("orList = %q", got)
	}
}
