package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func call(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	if os.Getenv("TRTSTANDIN_TEST_HOME") == "" {
		// The tools write caches under $HOME and $HF_HOME: keep them in the test's.
		h := t.TempDir()
		t.Setenv("TRTSTANDIN_TEST_HOME", h)
		t.Setenv("HOME", h)
		t.Setenv("HF_HOME", "")
	}
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// The three steps chain as the real tools do: the download's directory
// feeds the converter, whose checkpoint feeds trtllm-build.
func TestStepsChain(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HF_TOKEN", "hf_standin_secret")
	model := filepath.Join(dir, "model")
	code, out, errs := call(t, "/usr/bin/hf", "download", "Qwen/Qwen2.5-1.5B-Instruct", "--local-dir", model)
	if code != 0 {
		t.Fatalf("download: %d %s", code, errs)
	}
	if strings.Contains(out+errs, "hf_standin_secret") {
		t.Fatal("the token was printed")
	}
	if !strings.Contains(out, "token: given") {
		t.Errorf("download output %q", out)
	}
	for _, f := range []string{"config.json", "tokenizer.json", "tokenizer_config.json", "merges.txt", "model.safetensors"} {
		if _, err := os.Stat(filepath.Join(model, f)); err != nil {
			t.Errorf("download left no %s", f)
		}
	}

	script := filepath.Join(dir, "examples", "models", "core", "qwen", "convert_checkpoint.py")
	os.MkdirAll(filepath.Dir(script), 0o755)
	os.WriteFile(script, []byte("#"), 0o644)
	ckpt := filepath.Join(dir, "ckpt")
	// Called through the dispatcher's first argument this time.
	if code, _, errs := call(t, "trtstandin", "python3", script, "--model_dir", model, "--output_dir", ckpt, "--dtype", "float16", "--tp_size", "2"); code != 0 {
		t.Fatalf("convert: %d %s", code, errs)
	}
	for _, f := range []string{"config.json", "rank0.safetensors", "rank1.safetensors"} {
		if _, err := os.Stat(filepath.Join(ckpt, f)); err != nil {
			t.Errorf("convert left no %s", f)
		}
	}
	eng := filepath.Join(dir, "engine")
	if code, _, errs := call(t, "trtllm-build", "--checkpoint_dir", ckpt, "--output_dir", eng, "--max_batch_size", "16", "--max_input_len", "100", "--max_seq_len", "150", "--gemm_plugin", "auto", "--kv_cache_type", "paged"); code != 0 {
		t.Fatalf("build: %d %s", code, errs)
	}
	var cfg struct {
		BuildConfig map[string]int `json:"build_config"`
	}
	b, _ := os.ReadFile(filepath.Join(eng, "config.json"))
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.BuildConfig["max_batch_size"] != 16 || cfg.BuildConfig["max_seq_len"] != 150 {
		t.Errorf("engine config %v", cfg.BuildConfig)
	}
	for _, f := range []string{"rank0.engine", "rank1.engine"} {
		if _, err := os.Stat(filepath.Join(eng, f)); err != nil {
			t.Errorf("build left no %s", f)
		}
	}
}

func TestFailuresAsTheRealTools(t *testing.T) {
	dir := t.TempDir()
	if code, _, errs := call(t, "python3", filepath.Join(dir, "missing", "convert_checkpoint.py")); code != 2 || !strings.Contains(errs, "can't open file") {
		t.Errorf("missing script: %d %q", code, errs)
	}
	if code, _, errs := call(t, "trtllm-build", "--checkpoint_dir", dir, "--output_dir", filepath.Join(dir, "e")); code != 1 || !strings.Contains(errs, "no TensorRT-LLM checkpoint") {
		t.Errorf("no checkpoint: %d %q", code, errs)
	}
	if code, _, errs := call(t, "trtllm-build", "--checkpoint_dir", dir, "extra"); code != 2 || !strings.Contains(errs, "unrecognized arguments") {
		t.Errorf("stray argument: %d %q", code, errs)
	}
	t.Setenv("HF_TOKEN", "")
	t.Setenv("TRTLLM_STANDIN_REQUIRE_TOKEN", "1")
	if code, _, errs := call(t, "huggingface-cli", "download", "meta-llama/Llama-3.1-8B", "--local-dir", dir); code != 1 || !strings.Contains(errs, "401") {
		t.Errorf("gated model without a token: %d %q", code, errs)
	}
	t.Setenv("TRTLLM_STANDIN_REQUIRE_TOKEN", "")
	t.Setenv("TRTLLM_STANDIN_FAIL", "download")
	if code, _, _ := call(t, "hf", "download", "a/b", "--local-dir", dir); code != 1 {
		t.Errorf("injected download failure: exit %d", code)
	}
	if code, _, _ := call(t, "nvcc"); code != 127 {
		t.Errorf("unknown tool: exit %d", code)
	}
	if code, _, _ := call(t, "hf", "version"); code != 0 {
		t.Errorf("hf version: exit %d", code)
	}
}

func FuzzFirstPositional(f *testing.F) {
	f.Add("--local-dir /x Qwen/Q --include a")
	f.Add("a/b")
	f.Add("--x=1 m/n")
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Fields(line)
		pos, rest := firstPositional(args)
		if pos != "" && len(rest) != len(args)-1 {
			t.Fatalf("%q -> %q %q", args, pos, rest)
		}
		if pos == "" && len(rest) != len(args) {
			t.Fatalf("%q lost arguments: %q", args, rest)
		}
	})
}

// The image's layout, as the real one: /root only root's, /tmp for all,
// the examples and templates under /app.
func TestSetupImage(t *testing.T) {
	root := t.TempDir()
	var errb bytes.Buffer
	if code := setupImage(root, &errb); code != 0 {
		t.Fatalf("setup-image: %d %s", code, errb.String())
	}
	for dir, mode := range map[string]os.FileMode{"root": os.ModeDir | 0o700, "tmp": os.ModeDir | os.ModeSticky | 0o777} {
		fi, err := os.Stat(filepath.Join(root, dir))
		if err != nil || fi.Mode() != mode {
			t.Errorf("/%s: %v %v, want %v", dir, fi.Mode(), err, mode)
		}
	}
	for _, p := range []string{
		"app/examples/models/core/qwen/convert_checkpoint.py",
		"app/all_models/inflight_batcher_llm/preprocessing/1/model.py",
		"app/all_models/inflight_batcher_llm/postprocessing/1/model.py",
	} {
		if b, err := os.ReadFile(filepath.Join(root, p)); err != nil || !strings.Contains(string(b), "(image /app/") {
			t.Errorf("%s: %q %v", p, b, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/passwd")); string(b) != "root:x:0:0:root:/root:/bin/sh\n" {
		t.Errorf("/etc/passwd %q", b)
	}
}

// A tool whose HOME it cannot write fails as Python does, before any work.
func TestUnwritableHome(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	t.Setenv("TRTSTANDIN_TEST_HOME", dir)
	t.Setenv("HOME", file) // not a directory: MkdirAll fails even for root
	t.Setenv("USER", "x")
	ckpt := filepath.Join(dir, "ckpt")
	os.MkdirAll(ckpt, 0o755)
	os.WriteFile(filepath.Join(ckpt, "config.json"), []byte(`{"mapping":{"world_size":1}}`), 0o644)
	code, out, errs := call(t, "trtllm-build", "--checkpoint_dir", ckpt, "--output_dir", filepath.Join(dir, "engine"))
	if code != 1 || !strings.Contains(errs, "OSError: "+file+"/.cache/trtstandin") || strings.Contains(out, "building") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "engine")); !os.IsNotExist(err) {
		t.Error("an engine was written")
	}
}

func TestPyErr(t *testing.T) {
	for err, want := range map[error]string{
		os.ErrPermission: "PermissionError: [Errno 13] Permission denied: '/p'\n",
		os.ErrNotExist:   "FileNotFoundError: [Errno 2] No such file or directory: '/p'\n",
	} {
		var b bytes.Buffer
		if code := pyErr(&b, "/p", err); code != 1 || b.String() != want {
			t.Errorf("%v: %d %q", err, code, b.String())
		}
	}
}

// Each step marks its start where a test can wait for it.
func TestStartedMarker(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TRTLLM_STANDIN_STARTED_DIR", dir)
	if code, _, errs := call(t, "hf", "download", "a/b", "--local-dir", filepath.Join(dir, "m")); code != 0 {
		t.Fatal(errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "download.started")); err != nil {
		t.Error(err)
	}
}
