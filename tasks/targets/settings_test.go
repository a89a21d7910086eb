package targets

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/env"
)

// examplePath is the pack's env.example (absolute: tests change directory).
var examplePath, _ = filepath.Abs(filepath.Join("..", "..", env.ExamplePath))

// inProject makes the working directory a temporary project root with the
// pack's deploy/env.example and, with dotEnv, a deploy/.env made from it.
func inProject(t *testing.T, dotEnv bool) {
	t.Helper()
	ex, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "deploy"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, env.ExamplePath), ex, 0o644); err != nil {
		t.Fatal(err)
	}
	if dotEnv {
		if _, err := env.Init(root); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(root)
}

// Without deploy/.env, targets that only talk to a server take
// env.example's values, which the environment overrides as it does .env's.
func TestSettingsWithoutDotEnv(t *testing.T) {
	inProject(t, false)
	t.Setenv("API_PORT", "18000")
	cfg, err := settings()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Path != env.ExamplePath || cfg.Get("API_PORT") != "18000" {
		t.Errorf("settings() = %s with API_PORT %q; want env.example with the override", cfg.Path, cfg.Get("API_PORT"))
	}
	ep, err := EndpointFor("vllm", cfg)
	if err != nil || !strings.HasSuffix(ep.URL, ":18000") {
		t.Errorf("EndpointFor from env.example: %+v, %v", ep, err)
	}
}

func TestSettingsWithDotEnv(t *testing.T) {
	inProject(t, true)
	t.Setenv("SIM_PERSONALITY", "triton-trt")
	cfg, err := settings()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Path != env.DotEnvPath || cfg.Get("SIM_PERSONALITY") != "triton-trt" {
		t.Errorf("settings() = %s with SIM_PERSONALITY %q; want deploy/.env with the override", cfg.Path, cfg.Get("SIM_PERSONALITY"))
	}
	// A .env that does not validate is an error, not env.example's values.
	t.Setenv("SIM_PERSONALITY", "tgi")
	if _, err := settings(); err == nil || !strings.Contains(err.Error(), "SIM_PERSONALITY") {
		t.Errorf("settings() with SIM_PERSONALITY=tgi: %v", err)
	}
}

func TestSettingsOutsideAProject(t *testing.T) {
	t.Chdir(t.TempDir())
	if _, err := settings(); err == nil || !strings.Contains(err.Error(), "mage env:init") {
		t.Errorf("settings() with neither file: %v", err)
	}
	// The targets that need settings fail before they talk to anything.
	if err := Smoke(context.Background(), "vllm", nil, nil); err == nil || !strings.Contains(err.Error(), "mage env:init") {
		t.Errorf("Smoke outside a project: %v", err)
	}
}

// The checks take their settings from .env, else env.example, else their
// own defaults; a .env that does not validate stops them.
func TestCheckOptions(t *testing.T) {
	inProject(t, false)
	t.Setenv("MODEL_NAME", "org/model")
	t.Setenv("MAX_MODEL_LEN", "2048")
	yes, drv := true, 575
	o, err := checkOptions("trt", &yes, &drv)
	if err != nil {
		t.Fatal(err)
	}
	if o.Backend != "trt" || !o.JSON || o.MinDriver != 575 || o.Model != "org/model" || o.MaxModelLen != 2048 || o.VLLMImage == "" {
		t.Errorf("checkOptions from env.example = %+v", o)
	}

	t.Chdir(t.TempDir())
	if o, err := checkOptions("", nil, nil); err != nil || o.Model != "" || o.JSON || o.MinDriver != 0 {
		t.Errorf("checkOptions outside a project = %+v, %v; want the defaults", o, err)
	}

	inProject(t, true)
	t.Setenv("MAX_MODEL_LEN", "many")
	if _, err := checkOptions("", nil, nil); err == nil || !strings.Contains(err.Error(), "MAX_MODEL_LEN") {
		t.Errorf("checkOptions with MAX_MODEL_LEN=many: %v", err)
	}
}

func TestCheckConcurrency(t *testing.T) {
	rate := func(r float64) *float64 { return &r }
	for _, c := range []struct {
		concurrency int
		rate        *float64
		want        string // "" = accepted
	}{
		{1, nil, ""},
		{16, nil, ""},
		{0, nil, "the number of concurrent workers must be at least 1, e.g. mage load:sim 4"},
		{-2, nil, "load:sim -2: the number of concurrent workers must be at least 1"},
		{0, rate(0), "must be at least 1"}, // -rate=0 is a closed loop
		{0, rate(5), ""},                   // open loop, no cap
		{8, rate(5), ""},                   // open loop, capped
		{-1, rate(5), "load:sim -1: with -rate or a trace the number caps in-flight requests"},
	} {
		err := checkConcurrency("sim", c.concurrency, c.rate != nil && *c.rate > 0)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("checkConcurrency(%d, %v): %v", c.concurrency, c.rate, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("checkConcurrency(%d, %v) = %v; want %q", c.concurrency, c.rate, err, c.want)
		}
	}
}

func TestSmokeURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8000":      "http://127.0.0.1:8000",
		"http://127.0.0.1:8000/":     "http://127.0.0.1:8000",
		"http://gpu-box:8000/v1":     "http://gpu-box:8000",
		"https://gpu-box:8000/v2/":   "https://gpu-box:8000",
		"http://gpu-box:8000/api/v1": "http://gpu-box:8000/api",
	} {
		if got, err := smokeURL(in); err != nil || got != want {
			t.Errorf("smokeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"127.0.0.1:8000", "ftp://gpu-box:21", "http://", "://x"} {
		if _, err := smokeURL(bad); err == nil || !strings.Contains(err.Error(), "expected the server's base URL") {
			t.Errorf("smokeURL(%q): %v", bad, err)
		}
	}
}

// Up refuses a name that is not a backend before it reads anything.
func TestUpUnknownBackend(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, name := range []string{"tgi", "triton-trt", ""} {
		if err := Up(context.Background(), name, nil, nil); err == nil || !strings.Contains(err.Error(), "unknown backend") {
			t.Errorf("Up(%q): %v", name, err)
		}
	}
}

func TestOptionalFlags(t *testing.T) {
	yes, no, s, n, d := true, false, "x", 3, time.Second
	if Flag(nil) || Flag(&no) || !Flag(&yes) {
		t.Error("Flag")
	}
	if Duration(nil, time.Minute) != time.Minute || Duration(&d, time.Minute) != time.Second {
		t.Error("Duration")
	}
	if str(nil) != "" || str(&s) != "x" || intv(nil) != 0 || intv(&n) != 3 {
		t.Error("str or intv")
	}
}
