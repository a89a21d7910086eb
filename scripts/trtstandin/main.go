// Command trtstandin stands in for the tools of the Triton TensorRT-LLM image
// in tests, on engines without a GPU or a registry: built static and copied
// into a FROM-scratch image under the names of those tools, it dispatches on
// argv[0] (or on its first argument when called as trtstandin) and writes the
// files the real tools would write, small and fake:
//
//	hf download MODEL --local-dir DIR           (also huggingface-cli)
//	hf version
//	python3 .../convert_checkpoint.py --model_dir D --output_dir O [--dtype T] [--tp_size N]
//	trtllm-build --checkpoint_dir C --output_dir O [--max_batch_size N] [--max_input_len N] [--max_seq_len N] ...
//	sleep infinity | sleep SECONDS
//	trtstandin setup-image                      (at image build: the real image's layout)
//
// It is as strict about files as the real tools, which run with the
// permissions of the user they run as: what it cannot read or write fails
// the step with Python's PermissionError. Like them it needs a writable
// cache under $HOME (huggingface_hub's HF_HOME defaults to
// $HOME/.cache/huggingface; torch, triton and TensorRT-LLM keep caches
// under $HOME too), and, as Python's getpass.getuser(), a USER or LOGNAME
// when the user has no entry in /etc/passwd. setup-image gives the image
// what the real one has and the tests rely on: /root owned by root with
// mode 0700, /tmp 1777, an /etc/passwd with root only, TensorRT-LLM's
// examples under /app/examples and the Triton model templates under
// /app/all_models (see tasks/trt's ImageExamplesDir).
//
// Environment knobs (set in the image or the exec):
//
//	TRTLLM_STANDIN_DELAY_DOWNLOAD, _CONVERT, _BUILD  Go durations: how long the step
//	    takes, printing a progress line every 200ms, so that a test can interrupt it
//	TRTLLM_STANDIN_STARTED_DIR=DIR                    each step creates DIR/STEP.started
//	    when it starts (a file a test can wait for)
//	TRTLLM_STANDIN_FAIL=download|convert|build        that step fails with exit code 1
//	TRTLLM_STANDIN_REQUIRE_TOKEN=1                     download fails without HF_TOKEN
//
// It never prints HF_TOKEN, only whether one was given.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	name := filepath.Base(args[0])
	if name == "trtstandin" {
		if len(args) < 2 {
			fmt.Fprintln(stderr, "usage: trtstandin TOOL ARGS... (TOOL: hf, huggingface-cli, python3, trtllm-build, sleep)")
			return 2
		}
		args = args[1:]
		name = filepath.Base(args[0])
	}
	switch name {
	case "hf", "huggingface-cli":
		return hf(name, args[1:], stdout, stderr)
	case "python3", "python":
		return python(args[1:], stdout, stderr)
	case "trtllm-build":
		return build(args[1:], stdout, stderr)
	case "sleep":
		return sleep(args[1:], stderr)
	case "true":
		return 0
	case "setup-image":
		return setupImage("/", stderr)
	}
	fmt.Fprintf(stderr, "trtstandin: unknown tool %q\n", name)
	return 127
}

// step marks the step started, waits out its configured delay, printing
// progress, and reports whether the step is configured to fail.
func step(key string, stdout io.Writer) (fail bool) {
	if dir := os.Getenv("TRTLLM_STANDIN_STARTED_DIR"); dir != "" {
		os.WriteFile(filepath.Join(dir, key+".started"), nil, 0o644)
	}
	if v := os.Getenv("TRTLLM_STANDIN_DELAY_" + strings.ToUpper(key)); v != "" {
		d, err := time.ParseDuration(v)
		if err == nil {
			deadline := time.Now().Add(d)
			for i := 1; time.Now().Before(deadline); i++ {
				fmt.Fprintf(stdout, "[stand-in] %s: working (%d)\n", key, i)
				time.Sleep(min(200*time.Millisecond, time.Until(deadline)))
			}
		}
	}
	return os.Getenv("TRTLLM_STANDIN_FAIL") == key
}

// pyErr prints err as Python reports a failed file operation on path.
func pyErr(stderr io.Writer, path string, err error) int {
	switch {
	case errors.Is(err, fs.ErrPermission):
		fmt.Fprintf(stderr, "PermissionError: [Errno 13] Permission denied: '%s'\n", path)
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(stderr, "FileNotFoundError: [Errno 2] No such file or directory: '%s'\n", path)
	default:
		fmt.Fprintf(stderr, "OSError: %s: %v\n", path, err)
	}
	return 1
}

// home returns $HOME as the real tools find it ("/" when unset, as Docker
// leaves it for a user without a passwd entry).
func home() string {
	if h := os.Getenv("HOME"); h != "" {
		return h
	}
	return "/"
}

// userCache makes the cache directory a tool keeps under $HOME (torch,
// triton, TensorRT-LLM), failing as they do when $HOME is not writable, and
// checks what getpass.getuser() needs.
func userCache(tool string, stderr io.Writer) int {
	if os.Getenv("USER") == "" && os.Getenv("LOGNAME") == "" && !inPasswd(os.Getuid()) {
		fmt.Fprintf(stderr, "KeyError: 'getpwuid(): uid not found: %d'\n", os.Getuid())
		return 1
	}
	dir := filepath.Join(home(), ".cache", "trtstandin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return pyErr(stderr, dir, err)
	}
	p := filepath.Join(dir, tool+".cache")
	if err := os.WriteFile(p, []byte(tool+"\n"), 0o644); err != nil {
		return pyErr(stderr, p, err)
	}
	return 0
}

// inPasswd reports whether /etc/passwd has an entry for uid.
func inPasswd(uid int) bool {
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Split(line, ":"); len(f) > 2 && f[2] == strconv.Itoa(uid) {
			return true
		}
	}
	return false
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// hfHome is huggingface_hub's cache: $HF_HOME, else $HOME/.cache/huggingface.
func hfHome() string {
	if h := os.Getenv("HF_HOME"); h != "" {
		return h
	}
	return filepath.Join(home(), ".cache", "huggingface")
}

func hf(name string, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "usage: %s {download,version} ...\n", name)
		return 2
	}
	switch args[0] {
	case "version", "--version":
		fmt.Fprintln(stdout, "huggingface_hub version: 0.36.0 (stand-in)")
		return 0
	case "download":
	default:
		fmt.Fprintf(stderr, "%s: invalid choice: %q\n", name, args[0])
		return 2
	}
	flags := flag.NewFlagSet(name+" download", flag.ContinueOnError)
	flags.SetOutput(stderr)
	localDir := flags.String("local-dir", "", "")
	flags.String("revision", "", "")
	var includes multi
	flags.Var(&includes, "include", "")
	model, rest := firstPositional(args[1:])
	if err := flags.Parse(rest); err != nil {
		return 2
	}
	if model == "" || strings.Count(model, "/") != 1 {
		fmt.Fprintf(stderr, "%s download: expected a repo id ORG/NAME, got %q\n", name, model)
		return 2
	}
	token := os.Getenv("HF_TOKEN")
	fmt.Fprintf(stdout, "Fetching 7 files for %s (token: %s)\n", model, map[bool]string{true: "given", false: "none"}[token != ""])
	if os.Getenv("TRTLLM_STANDIN_REQUIRE_TOKEN") == "1" && token == "" {
		fmt.Fprintf(stderr, "401 Client Error: Unauthorized for url: https://huggingface.co/api/models/%s/revision/main\nAccess to model %s is restricted. You must have access to it and be authenticated to access it.\n", model, model)
		return 1
	}
	// huggingface_hub keeps its locks in the cache, even for --local-dir.
	locks := filepath.Join(hfHome(), ".locks", "models--"+strings.ReplaceAll(model, "/", "--"))
	if err := os.MkdirAll(locks, 0o755); err != nil {
		return pyErr(stderr, locks, err)
	}
	if step("download", stdout) {
		fmt.Fprintln(stderr, "stand-in: download failed (TRTLLM_STANDIN_FAIL=download)")
		return 1
	}
	dir := *localDir
	if dir == "" {
		dir = filepath.Join(hfHome(), "hub", "models--"+strings.ReplaceAll(model, "/", "--"), "snapshots", "standin")
	}
	meta := filepath.Join(dir, ".cache", "huggingface", "download")
	if err := os.MkdirAll(meta, 0o755); err != nil {
		return pyErr(stderr, meta, err)
	}
	arch, typ := "LlamaForCausalLM", "llama"
	if strings.Contains(strings.ToLower(model), "qwen") {
		arch, typ = "Qwen2ForCausalLM", "qwen2"
	}
	files := map[string]any{
		"config.json":             map[string]any{"architectures": []string{arch}, "model_type": typ, "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 128, "_name_or_path": model},
		"generation_config.json":  map[string]any{"eos_token_id": 2},
		"tokenizer.json":          map[string]any{"version": "1.0", "model": map[string]any{"type": "BPE", "vocab": map[string]int{"<eos>": 2, "a": 3}}},
		"tokenizer_config.json":   map[string]any{"eos_token": "<eos>", "model_max_length": 4096},
		"special_tokens_map.json": map[string]any{"eos_token": "<eos>"},
		"vocab.json":              map[string]int{"<eos>": 2, "a": 3},
	}
	for f, v := range files {
		if err := writeJSON(filepath.Join(dir, f), v); err != nil {
			return pyErr(stderr, filepath.Join(dir, f), err)
		}
	}
	for f, data := range map[string][]byte{"merges.txt": []byte("#version: 0.2\na a\n"), "model.safetensors": make([]byte, 1024)} {
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			return pyErr(stderr, filepath.Join(dir, f), err)
		}
	}
	fmt.Fprintln(stdout, dir)
	return 0
}

// firstPositional splits out the first argument that is not a flag or a
// flag's value (flags here all take a value).
func firstPositional(args []string) (string, []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") {
			if !strings.Contains(a, "=") {
				i++
			}
			continue
		}
		return a, append(append([]string{}, args[:i]...), args[i+1:]...)
	}
	return "", args
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func python(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "stand-in python3: only runs convert_checkpoint.py scripts")
		return 2
	}
	script := args[0]
	if filepath.Base(script) != "convert_checkpoint.py" {
		fmt.Fprintf(stderr, "stand-in python3: only runs convert_checkpoint.py scripts, not %q\n", script)
		return 2
	}
	if _, err := os.ReadFile(script); err != nil {
		fmt.Fprintf(stderr, "python3: can't open file '%s': %v\n", script, err)
		return 2
	}
	flags := flag.NewFlagSet("convert_checkpoint.py", flag.ContinueOnError)
	flags.SetOutput(stderr)
	modelDir := flags.String("model_dir", "", "")
	outDir := flags.String("output_dir", "tllm_checkpoint", "")
	dtype := flags.String("dtype", "auto", "")
	tp := flags.Int("tp_size", 1, "")
	pp := flags.Int("pp_size", 1, "")
	if err := flags.Parse(args[1:]); err != nil {
		return 2
	}
	switch *dtype {
	case "auto", "float16", "bfloat16", "float32":
	default:
		fmt.Fprintf(stderr, "convert_checkpoint.py: error: argument --dtype: invalid choice: '%s' (choose from 'auto', 'float16', 'bfloat16', 'float32')\n", *dtype)
		return 2
	}
	if code := userCache("convert", stderr); code != 0 {
		return code
	}
	var hfConfig map[string]any
	cfgPath := filepath.Join(*modelDir, "config.json")
	if b, err := os.ReadFile(cfgPath); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(stderr, "OSError: %s does not appear to have a file named config.json\n", *modelDir)
		return 1
	} else if err != nil {
		return pyErr(stderr, cfgPath, err)
	} else if err := json.Unmarshal(b, &hfConfig); err != nil {
		fmt.Fprintf(stderr, "json.decoder.JSONDecodeError: %v\n", err)
		return 1
	}
	weights := filepath.Join(*modelDir, "model.safetensors")
	if _, err := os.ReadFile(weights); err != nil {
		return pyErr(stderr, weights, err)
	}
	fmt.Fprintf(stdout, "[TensorRT-LLM] TensorRT-LLM version: 1.2.1 (stand-in)\nconverting %s (tp %d)\n", *modelDir, *tp)
	if step("convert", stdout) {
		fmt.Fprintln(stderr, "stand-in: convert failed (TRTLLM_STANDIN_FAIL=convert)")
		return 1
	}
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return pyErr(stderr, *outDir, err)
	}
	arch, _ := hfConfig["architectures"].([]any)
	cfg := map[string]any{
		"architecture": arch, "dtype": *dtype,
		"mapping": map[string]any{"world_size": *tp * *pp, "tp_size": *tp, "pp_size": *pp},
	}
	if err := writeJSON(filepath.Join(*outDir, "config.json"), cfg); err != nil {
		return pyErr(stderr, filepath.Join(*outDir, "config.json"), err)
	}
	for r := 0; r < *tp**pp; r++ {
		p := filepath.Join(*outDir, fmt.Sprintf("rank%d.safetensors", r))
		if err := os.WriteFile(p, make([]byte, 512), 0o644); err != nil {
			return pyErr(stderr, p, err)
		}
	}
	fmt.Fprintln(stdout, "Total time of converting checkpoints: 00:00:00")
	return 0
}

func build(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("trtllm-build", flag.ContinueOnError)
	flags.SetOutput(stderr)
	ckpt := flags.String("checkpoint_dir", "", "")
	out := flags.String("output_dir", "engine_outputs", "")
	maxBatch := flags.Int("max_batch_size", 2048, "")
	maxInput := flags.Int("max_input_len", 1024, "")
	maxSeq := flags.Int("max_seq_len", 0, "")
	for _, f := range []string{"gemm_plugin", "gpt_attention_plugin", "kv_cache_type", "remove_input_padding", "context_fmha", "max_num_tokens", "workers", "max_beam_width"} {
		flags.String(f, "", "")
	}
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "trtllm-build: error: unrecognized arguments: %s\n", strings.Join(flags.Args(), " "))
		return 2
	}
	if code := userCache("build", stderr); code != 0 {
		return code
	}
	var ckCfg struct {
		Mapping struct {
			WorldSize int `json:"world_size"`
		} `json:"mapping"`
		DType string `json:"dtype"`
	}
	cfgPath := filepath.Join(*ckpt, "config.json")
	b, err := os.ReadFile(cfgPath)
	if errors.Is(err, fs.ErrPermission) {
		return pyErr(stderr, cfgPath, err)
	}
	if err == nil {
		err = json.Unmarshal(b, &ckCfg)
	}
	if err != nil || ckCfg.Mapping.WorldSize < 1 {
		fmt.Fprintf(stderr, "trtllm-build: no TensorRT-LLM checkpoint in %q (config.json: %v)\n", *ckpt, err)
		return 1
	}
	for r := 0; r < ckCfg.Mapping.WorldSize; r++ {
		p := filepath.Join(*ckpt, fmt.Sprintf("rank%d.safetensors", r))
		if _, err := os.ReadFile(p); err != nil {
			return pyErr(stderr, p, err)
		}
	}
	fmt.Fprintf(stdout, "[TensorRT-LLM] TensorRT-LLM version: 1.2.1 (stand-in)\nbuilding %d rank(s), max_batch_size %d\n", ckCfg.Mapping.WorldSize, *maxBatch)
	if step("build", stdout) {
		fmt.Fprintln(stderr, "[TensorRT-LLM][ERROR] stand-in: build failed (TRTLLM_STANDIN_FAIL=build)")
		return 1
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return pyErr(stderr, *out, err)
	}
	cfg := map[string]any{
		"version":           "1.2.1-standin",
		"pretrained_config": map[string]any{"dtype": ckCfg.DType, "mapping": map[string]any{"world_size": ckCfg.Mapping.WorldSize}},
		"build_config":      map[string]any{"max_batch_size": *maxBatch, "max_input_len": *maxInput, "max_seq_len": *maxSeq},
	}
	if err := writeJSON(filepath.Join(*out, "config.json"), cfg); err != nil {
		return pyErr(stderr, filepath.Join(*out, "config.json"), err)
	}
	for r := 0; r < ckCfg.Mapping.WorldSize; r++ {
		p := filepath.Join(*out, fmt.Sprintf("rank%d.engine", r))
		if err := os.WriteFile(p, []byte("stand-in engine rank "+strconv.Itoa(r)+"\n"), 0o644); err != nil {
			return pyErr(stderr, p, err)
		}
	}
	fmt.Fprintln(stdout, "[TensorRT-LLM] Total time of building all engines: 00:00:00")
	return 0
}

// ImageFiles are the files setup-image writes under /app: the converters
// and Triton Python models of TensorRT-LLM 1.2.1 where the real image has
// them, each saying where it comes from.
var ImageFiles = map[string]string{
	"app/examples/models/core/qwen/convert_checkpoint.py":           "# stand-in converter (image /app/examples)\n",
	"app/examples/models/core/llama/convert_checkpoint.py":          "# stand-in converter (image /app/examples)\n",
	"app/all_models/inflight_batcher_llm/preprocessing/1/model.py":  "# preprocessing model.py (image /app/all_models)\n",
	"app/all_models/inflight_batcher_llm/postprocessing/1/model.py": "# postprocessing model.py (image /app/all_models)\n",
	"app/all_models/inflight_batcher_llm/tensorrt_llm/config.pbtxt": "# template (image /app/all_models)\n",
	"app/all_models/inflight_batcher_llm/ensemble/config.pbtxt":     "# template (image /app/all_models)\n",
	"app/tools/fill_template.py":                                    "# stand-in (image /app/tools)\n",
	"etc/passwd":                                                    "root:x:0:0:root:/root:/bin/sh\n",
	"root/.cache/huggingface/hub/version.txt":                       "1\n",
	"root/.bashrc": "# root's\n",
}

// setupImage lays out the image under root (run once, as root, at image
// build): the files above, /root 0700 and /tmp 1777.
func setupImage(root string, stderr io.Writer) int {
	for name, content := range ImageFiles {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return pyErr(stderr, p, err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return pyErr(stderr, p, err)
		}
	}
	for dir, mode := range map[string]fs.FileMode{"root": 0o700, "tmp": 0o777 | fs.ModeSticky} {
		p := filepath.Join(root, dir)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return pyErr(stderr, p, err)
		}
		if err := os.Chmod(p, mode); err != nil {
			return pyErr(stderr, p, err)
		}
	}
	return 0
}

func sleep(args []string, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: sleep infinity|SECONDS")
		return 2
	}
	var d time.Duration
	if args[0] == "infinity" {
		d = 1<<63 - 1
	} else {
		n, err := strconv.ParseFloat(args[0], 64)
		if err != nil || n < 0 {
			fmt.Fprintf(stderr, "sleep: invalid time interval %q\n", args[0])
			return 1
		}
		d = time.Duration(n * float64(time.Second))
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sig:
	case <-time.After(d):
	}
	return 0
}
