package env

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// exampleRoot returns a project root holding the pack's env.example and,
// with dotEnv, a deploy/.env made from it by Init.
func exampleRoot(t *testing.T, dotEnv bool) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "deploy"), 0o755); err != nil {
		t.Fatal(err)
	}
	ex, err := os.ReadFile(filepath.Join("..", "..", ExamplePath))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, ExamplePath), ex, 0o644); err != nil {
		t.Fatal(err)
	}
	if dotEnv {
		if _, err := Init(root); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestSettingsWithoutDotEnv(t *testing.T) {
	root := exampleRoot(t, false)
	t.Setenv("API_PORT", "18000")
	cfg, err := Settings(root)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Path != ExamplePath || cfg.Get("API_PORT") != "18000" || !cfg.FromEnvironment("API_PORT") {
		t.Errorf("Settings without .env: path %q, API_PORT %q (from env %v); want env.example with the override",
			cfg.Path, cfg.Get("API_PORT"), cfg.FromEnvironment("API_PORT"))
	}
	if cfg.Get("SIM_PERSONALITY") == "" || cfg.FromEnvironment("SIM_PERSONALITY") {
		t.Errorf("SIM_PERSONALITY = %q: want env.example's", cfg.Get("SIM_PERSONALITY"))
	}
}

func TestSettingsWithDotEnv(t *testing.T) {
	root := exampleRoot(t, true)
	if err := os.WriteFile(filepath.Join(root, DotEnvPath), []byte("#\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An invalid .env is an error, not a fall-back to env.example.
	if _, err := Settings(root); err == nil {
		t.Fatal("Settings with an empty .env: no error")
	}
	root = exampleRoot(t, true)
	t.Setenv("API_PORT", "18001")
	cfg, err := Settings(root)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Path != DotEnvPath || cfg.Get("API_PORT") != "18001" {
		t.Errorf("Settings with .env: path %q, API_PORT %q", cfg.Path, cfg.Get("API_PORT"))
	}
}

func TestSettingsNoFiles(t *testing.T) {
	_, err := Settings(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "mage env:init") {
		t.Fatalf("Settings with neither file: %v; want the .env not found error", err)
	}
}
