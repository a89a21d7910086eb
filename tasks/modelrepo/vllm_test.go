package modelrepo

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func settings() VLLMSettings {
	return VLLMSettings{Name: "qwen", Model: "Qwen/Qwen2.5-1.5B-Instruct", MaxModelLen: 4096, MaxNumSeqs: 64, GPUMemoryUtilization: 0.9, DType: "auto"}
}

func TestVLLMFiles(t *testing.T) {
	files, err := VLLMFiles(settings())
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(files["qwen/config.pbtxt"])
	for _, want := range []string{`name: "qwen"`, `backend: "vllm"`, "kind: KIND_MODEL", `key: "REPORT_CUSTOM_METRICS"`, `string_value: "true"`} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config.pbtxt lacks %q:\n%s", want, cfg)
		}
	}
	var args map[string]any
	if err := json.Unmarshal(files["qwen/1/model.json"], &args); err != nil {
		t.Fatal(err)
	}
	if args["model"] != "Qwen/Qwen2.5-1.5B-Instruct" || args["max_model_len"] != 4096.0 || args["gpu_memory_utilization"] != 0.9 || args["disable_log_stats"] != false {
		t.Errorf("model.json = %v", args)
	}
}

func TestVLLMValidate(t *testing.T) {
	s := settings()
	s.Name = "../etc"
	if _, err := VLLMFiles(s); err == nil || !strings.Contains(err.Error(), "cannot be a Triton model name") {
		t.Fatalf("path-like model name accepted: %v", err)
	}
}

// The committed repository is what the default .env renders.
func TestCommittedRepoIsCurrent(t *testing.T) {
	files, err := VLLMFiles(settings())
	if err != nil {
		t.Fatal(err)
	}
	for rel, want := range files {
		got, err := os.ReadFile(filepath.Join("..", "..", VLLMRepoDir, rel))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s differs from what the default settings render (err %v); run mage up:triton or update it", rel, err)
		}
	}
}

func TestWriteVLLMRenames(t *testing.T) {
	root := t.TempDir()
	if err := WriteVLLM(root, settings()); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(root, VLLMRepoDir, "mine"), 0o755) // a user's own model
	s := settings()
	s.Name = "llama"
	if err := WriteVLLM(root, s); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, VLLMRepoDir, "qwen")); !os.IsNotExist(err) {
		t.Error("old generated model directory left behind")
	}
	if _, err := os.Stat(filepath.Join(root, VLLMRepoDir, "mine")); err != nil {
		t.Error("a user's model directory was removed")
	}
	if _, err := os.Stat(filepath.Join(root, VLLMRepoDir, "llama", "1", "model.json")); err != nil {
		t.Error(err)
	}
}
