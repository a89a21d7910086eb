package trt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/engine"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/env"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/modelrepo"
)

const testToken = "hf_FAKE_TOKEN_value_42"

// fakeDocker records what a build asks of the engine and plays the tools:
// the steps write into the host directory mounted at /out, as the real
// container would, so the flow runs without an engine.
type fakeDocker struct {
	mu        sync.Mutex
	imageID   string
	pulled    []string
	creates   []client.ContainerCreateOptions
	execs     [][]string
	execEnv   [][]string
	removed   []string
	running   map[string]bool
	failStep  string // argv[0] of the step that exits 1
	hasHF     bool   // the image has the hf CLI
	cancelOn  string // argv[0] during which ctx is cancelled
	cancel    context.CancelFunc
	leftovers []engine.LabeledContainer
}

func (f *fakeDocker) ImageID(ctx context.Context, ref string) (string, error) { return f.imageID, nil }
func (f *fakeDocker) PullImage(ctx context.Context, ref string, progress func(string)) error {
	f.pulled = append(f.pulled, ref)
	progress("layer 1: Downloading 1.0/2.0 MB")
	f.imageID = "sha256:pulled"
	return nil
}
func (f *fakeDocker) Rootless(ctx context.Context) (bool, error) { return false, nil }
func (f *fakeDocker) EnsureVolume(ctx context.Context, name string, labels map[string]string) error {
	return nil
}
func (f *fakeDocker) ContainersWithLabels(ctx context.Context, labels ...string) ([]engine.LabeledContainer, error) {
	return f.leftovers, nil
}
func (f *fakeDocker) CreateContainer(ctx context.Context, o client.ContainerCreateOptions) (string, error) {
	f.creates = append(f.creates, o)
	if f.running == nil {
		f.running = map[string]bool{}
	}
	id := fmt.Sprintf("c%d", len(f.creates))
	f.running[id] = true
	return id, nil
}
func (f *fakeDocker) StartContainer(ctx context.Context, id string) error { return nil }
func (f *fakeDocker) RemoveContainer(ctx context.Context, id string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	f.removed = append(f.removed, id)
	delete(f.running, id)
	return nil
}

func (f *fakeDocker) outDir() string {
	for _, m := range f.creates[len(f.creates)-1].HostConfig.Mounts {
		if m.Type == mount.TypeBind && m.Target == OutMount {
			return m.Source
		}
	}
	panic("no /out mount")
}

func arg(argv []string, flag string) string {
	for i, a := range argv {
		if a == flag && i+1 < len(argv) {
			return argv[i+1]
		}
	}
	return ""
}

func (f *fakeDocker) Exec(ctx context.Context, id string, spec engine.ExecSpec, stdout, stderr io.Writer) (int, error) {
	f.execs = append(f.execs, spec.Argv)
	f.execEnv = append(f.execEnv, spec.Env)
	tool := spec.Argv[0]
	if tool == "hf" && spec.Argv[1] == "version" {
		if f.hasHF {
			return 0, nil
		}
		return 127, nil
	}
	// A tool that echoes the token, as an error message might.
	fmt.Fprintf(stdout, "%s starting\r%s running with token %s\n", tool, tool, testToken)
	if tool == f.cancelOn {
		f.cancel()
		<-ctx.Done()
		return -1, ctx.Err()
	}
	if tool == f.failStep {
		fmt.Fprintf(stderr, "[TensorRT-LLM][ERROR] out of memory while building\n")
		return 1, nil
	}
	host := func(p string) string { return filepath.Join(f.outDir(), strings.TrimPrefix(p, OutMount)) }
	switch tool {
	case "python3":
		d := host(arg(spec.Argv, "--output_dir"))
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "config.json"), []byte(`{}`), 0o644)
	case "trtllm-build":
		d := host(arg(spec.Argv, "--output_dir"))
		os.MkdirAll(d, 0o755)
		cfg := fmt.Sprintf(`{"build_config":{"max_batch_size":%s}}`, arg(spec.Argv, "--max_batch_size"))
		os.WriteFile(filepath.Join(d, "config.json"), []byte(cfg), 0o644)
		os.WriteFile(filepath.Join(d, "rank0.engine"), []byte("engine"), 0o644)
	}
	return 0, nil
}

func (f *fakeDocker) ReadFile(ctx context.Context, id, path string, limit int64) ([]byte, error) {
	switch filepath.Base(path) {
	case "tokenizer.json", "tokenizer_config.json", "config.json":
		return []byte(`{"from":"` + path + `"}`), nil
	}
	return nil, engine.ErrNotFound
}

// testProject writes a project with a deploy/.env-like config and a cached
// fake release.
func testProject(t *testing.T) (root string, cfg *env.Config, cache string) {
	t.Helper()
	root = t.TempDir()
	cache = t.TempDir()
	entry := filepath.Join(cache, "trtllm-v1.2.1")
	for _, p := range []string{
		"examples/models/core/qwen/convert_checkpoint.py",
		"triton_backend/all_models/inflight_batcher_llm/preprocessing/1/model.py",
		"triton_backend/all_models/inflight_batcher_llm/postprocessing/1/model.py",
	} {
		writeFile(filepath.Join(entry, p), []byte("# "+p+"\n"))
	}
	cfg = env.NewConfig("deploy/.env", map[string]string{
		"COMPOSE_PROJECT_NAME": "lopt", "MODEL_NAME": "Qwen/Qwen2.5-1.5B-Instruct", "MAX_NUM_SEQS": "16",
		"MAX_MODEL_LEN": "4096", "DTYPE": "auto", "GPU_MEMORY_UTILIZATION": "0.85", "HF_TOKEN": testToken,
		"TRITON_TRTLLM_IMAGE": "nvcr.io/nvidia/tritonserver:26.07-trtllm-python-py3",
	})
	return root, cfg, cache
}

func TestBuildWithFakeEngine(t *testing.T) {
	for _, k := range []string{EnvNoGPU, EnvGPUs, EnvRef, EnvSource, EnvCache} {
		t.Setenv(k, "")
	}
	root, cfg, cache := testProject(t)
	f := &fakeDocker{hasHF: true}
	var out bytes.Buffer
	preflights := 0
	o := Options{Root: root, Config: cfg, CacheRoot: cache, Out: &out, Docker: f,
		Preflight: func(context.Context) error { preflights++; return nil }}
	if err := Build(context.Background(), o); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if preflights != 1 {
		t.Errorf("preflight ran %d times", preflights)
	}
	// The image was missing, so it was pulled.
	if len(f.pulled) != 1 || f.pulled[0] != "nvcr.io/nvidia/tritonserver:26.07-trtllm-python-py3" {
		t.Errorf("pulled %v", f.pulled)
	}
	// One builder, with the GPU request the real engine would need.
	if len(f.creates) != 1 {
		t.Fatalf("%d containers created", len(f.creates))
	}
	dr := f.creates[0].HostConfig.DeviceRequests
	if len(dr) != 1 || dr[0].Driver != "nvidia" || dr[0].Count != -1 || dr[0].Capabilities[0][0] != "gpu" {
		t.Errorf("device requests %+v", dr)
	}
	if f.creates[0].Config.Labels[LabelProject] != "lopt" || f.creates[0].Config.Labels[LabelRole] != RoleBuilder {
		t.Errorf("labels %v", f.creates[0].Config.Labels)
	}
	wantTools := []string{"hf", "hf", "python3", "trtllm-build"}
	for i, e := range f.execs {
		if i >= len(wantTools) || e[0] != wantTools[i] {
			t.Errorf("exec %d: %v", i, e)
		}
	}
	if got := arg(f.execs[3], "--max_batch_size"); got != "16" {
		t.Errorf("max batch from MAX_NUM_SEQS: %s", got)
	}
	if got := arg(f.execs[3], "--max_seq_len"); got != "4096" {
		t.Errorf("max seq len %s", got)
	}
	if len(f.running) != 0 || len(f.removed) != 1 {
		t.Errorf("containers left running %v, removed %v", f.running, f.removed)
	}
	s := out.String()
	for _, want := range []string{"[1/3] download Qwen/Qwen2.5-1.5B-Instruct: hf download", "[2/3] convert checkpoint: python3 /trtllm/examples/models/core/qwen/convert_checkpoint.py", "[3/3] trtllm-build: trtllm-build --checkpoint_dir", "    trtllm-build running with token ***", "wrote serving/triton-trt/model_repository"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, testToken) {
		t.Error("the HF token was printed")
	}

	// The repository is complete and servable.
	st, err := EngineState(root)
	if err != nil || !st.Ready() {
		t.Fatalf("state %+v %v", st, err)
	}
	if st.Built.MaxBatchSize != 16 || st.Built.ImageID != "sha256:pulled" || st.Built.KVCacheFraction != 0.85 {
		t.Errorf("stamp %+v", st.Built)
	}
	repo := filepath.Join(root, modelrepo.TRTRepoDir)
	if b, _ := os.ReadFile(filepath.Join(repo, "preprocessing/1/model.py")); !strings.Contains(string(b), "preprocessing/1/model.py") {
		t.Errorf("preprocessing model.py %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(repo, "tensorrt_llm/tokenizer/tokenizer.json")); !strings.Contains(string(b), "/llm-observability-pack/Qwen--Qwen2.5-1.5B-Instruct/tokenizer.json") {
		t.Errorf("tokenizer %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(repo, "tensorrt_llm/config.pbtxt")); !strings.Contains(string(b), `"0.85"`) {
		t.Error("kv cache fraction not in the tensorrt_llm config")
	}
	if err := RequireEngine(root); err != nil {
		t.Error(err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(root, "serving/triton-trt/.*"))
	if len(leftovers) != 0 {
		t.Errorf("left behind: %v", leftovers)
	}

	// A second run with the same settings does nothing.
	out.Reset()
	if err := Build(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "is up to date") || len(f.creates) != 1 {
		t.Errorf("second run: %d creates\n%s", len(f.creates), out.String())
	}
	// Other settings rebuild; so does -force.
	o2 := o
	o2.MaxBatchSize = 8
	out.Reset()
	if err := Build(context.Background(), o2); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "built with other settings") || len(f.creates) != 2 {
		t.Errorf("changed settings: %d creates\n%s", len(f.creates), out.String())
	}
	o2.Force = true
	if err := Build(context.Background(), o2); err != nil || len(f.creates) != 3 {
		t.Errorf("force: %v, %d creates", err, len(f.creates))
	}
}

func TestBuildFailureKeepsOldEngine(t *testing.T) {
	for _, k := range []string{EnvNoGPU, EnvGPUs, EnvRef, EnvSource, EnvCache} {
		t.Setenv(k, "")
	}
	for _, tc := range []struct {
		name, fail, cancelOn, want string
	}{
		{name: "build fails", fail: "trtllm-build", want: "[3/3] trtllm-build failed with exit code 1; last lines:"},
		{name: "interrupted", cancelOn: "python3", want: "interrupted during [2/3] convert checkpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, cfg, cache := testProject(t)
			f := &fakeDocker{imageID: "sha256:img"}
			o := Options{Root: root, Config: cfg, CacheRoot: cache, Out: io.Discard, Docker: f, MaxBatchSize: 4}
			if err := Build(context.Background(), o); err != nil {
				t.Fatal(err)
			}
			repo := filepath.Join(root, modelrepo.TRTRepoDir)
			before, _ := os.ReadFile(filepath.Join(repo, StampFile))

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			f.failStep, f.cancelOn, f.cancel = tc.fail, tc.cancelOn, cancel
			var out bytes.Buffer
			o.Out, o.Force = &out, true
			err := Build(ctx, o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testToken) || strings.Contains(out.String(), testToken) {
				t.Error("the token leaked into the error or output")
			}
			if tc.fail != "" && !strings.Contains(err.Error(), "out of memory while building") {
				t.Errorf("error lacks the tool's last lines: %v", err)
			}
			if len(f.running) != 0 {
				t.Errorf("builder left running: %v", f.running)
			}
			if !strings.Contains(out.String(), "is unchanged") {
				t.Errorf("output %s", out.String())
			}
			after, _ := os.ReadFile(filepath.Join(repo, StampFile))
			if !bytes.Equal(before, after) {
				t.Error("the previous repository changed")
			}
			if err := RequireEngine(root); err != nil {
				t.Errorf("previous engine no longer servable: %v", err)
			}
			if l, _ := filepath.Glob(filepath.Join(root, "serving/triton-trt/.*")); len(l) != 0 {
				t.Errorf("left behind: %v", l)
			}
		})
	}
}

func TestBuildStopsEarly(t *testing.T) {
	for _, k := range []string{EnvNoGPU, EnvGPUs, EnvRef, EnvSource, EnvCache} {
		t.Setenv(k, "")
	}
	root, cfg, cache := testProject(t)
	f := &fakeDocker{}
	gpuErr := errors.New("check:gpu: compute capability 7.5 < 8.0 (Tesla T4); TensorRT-LLM needs Ampere or newer")
	err := Build(context.Background(), Options{Root: root, Config: cfg, CacheRoot: cache, Out: io.Discard, Docker: f,
		Preflight: func(context.Context) error { return gpuErr }})
	if !errors.Is(err, gpuErr) || len(f.creates)+len(f.pulled) != 0 {
		t.Errorf("preflight failure: %v, %d creates, pulled %v", err, len(f.creates), f.pulled)
	}
	// An unknown family stops before the engine is touched.
	err = Build(context.Background(), Options{Root: root, Config: cfg, CacheRoot: cache, Out: io.Discard, Docker: f, Model: "bigscience/bloom-560m"})
	if err == nil || !strings.Contains(err.Error(), "supported families") || len(f.creates) != 0 {
		t.Errorf("unknown family: %v", err)
	}
	// Another build of the project is running.
	host, _ := os.Hostname()
	f.leftovers = []engine.LabeledContainer{{ID: "x", Name: "lopt-trt-builder-1", State: "running",
		Labels: map[string]string{LabelPID: fmt.Sprint(os.Getpid()), LabelHost: host}}}
	err = Build(context.Background(), Options{Root: root, Config: cfg, CacheRoot: cache, Out: io.Discard, Docker: f})
	if err == nil || !strings.Contains(err.Error(), "another compile:trt is running") || len(f.creates) != 0 {
		t.Errorf("concurrent build: %v", err)
	}
	// A leftover of a process that is gone is removed.
	f.leftovers[0].Labels[LabelPID] = "999999999"
	f.imageID = "sha256:x"
	if err := Build(context.Background(), Options{Root: root, Config: cfg, CacheRoot: cache, Out: io.Discard, Docker: f}); err != nil {
		t.Fatal(err)
	}
	if len(f.removed) == 0 || f.removed[0] != "x" {
		t.Errorf("stale builder not removed: %v", f.removed)
	}
	// The knob for GPU-less engines omits the device request.
	t.Setenv(EnvNoGPU, "1")
	if err := Build(context.Background(), Options{Root: root, Config: cfg, CacheRoot: cache, Out: io.Discard, Docker: f, Force: true}); err != nil {
		t.Fatal(err)
	}
	if dr := f.creates[len(f.creates)-1].HostConfig.DeviceRequests; len(dr) != 0 {
		t.Errorf("%s=1 still requests %+v", EnvNoGPU, dr)
	}
	// The older CLI is used when the image has no hf.
	if f.execs[len(f.execs)-3][0] != "huggingface-cli" {
		t.Errorf("download with %v", f.execs[len(f.execs)-3])
	}
}

func TestEngineState(t *testing.T) {
	root := t.TempDir()
	err := RequireEngine(root)
	if err == nil || err.Error() != "no TensorRT-LLM engine in serving/triton-trt/model_repository; run mage compile:trt first" {
		t.Errorf("no repository: %v", err)
	}
	repo := filepath.Join(root, modelrepo.TRTRepoDir)
	s := testSettings()
	b, _ := json.Marshal(s)
	writeFile(filepath.Join(repo, StampFile), b)
	// A stamp without the files is not an engine.
	err = RequireEngine(root)
	if !errors.Is(err, ErrNoEngine) || !strings.Contains(err.Error(), "rank1.engine") {
		t.Errorf("incomplete: %v", err)
	}
	files, _ := modelrepo.TRTFiles(modelrepo.DefaultTRTSettings(64, 0.9))
	for rel, data := range files {
		writeFile(filepath.Join(repo, rel), data)
	}
	for _, rel := range []string{"tensorrt_llm/1/config.json", "tensorrt_llm/1/rank0.engine", "tensorrt_llm/1/rank1.engine",
		"tensorrt_llm/tokenizer/tokenizer_config.json", "preprocessing/1/model.py", "postprocessing/1/model.py"} {
		writeFile(filepath.Join(repo, rel), []byte("x"))
	}
	// Complete, but up:trt runs one tritonserver: a 2-GPU engine is refused clearly.
	if err := RequireEngine(root); err == nil || !strings.Contains(err.Error(), "built for 2 GPUs (tensor parallel)") {
		t.Errorf("tp=2 engine: %v", err)
	}
	st, _ := EngineState(root)
	if !st.Ready() || *st.Built != s {
		t.Errorf("state %+v", st)
	}
	// A single-GPU engine serves.
	one := s
	one.TPSize = 1
	b, _ = json.Marshal(one)
	writeFile(filepath.Join(repo, StampFile), b)
	if err := RequireEngine(root); err != nil {
		t.Errorf("tp=1 engine: %v", err)
	}
	// A stamp of another format is treated as no engine.
	writeFile(filepath.Join(repo, StampFile), []byte(`{"format": 99}`))
	if err := RequireEngine(root); !errors.Is(err, ErrNoEngine) {
		t.Errorf("old format: %v", err)
	}
}

func TestSwap(t *testing.T) {
	dir := t.TempDir()
	repo, stage := filepath.Join(dir, "model_repository"), filepath.Join(dir, ".stage")
	writeFile(filepath.Join(repo, "old"), []byte("old"))
	writeFile(filepath.Join(stage, "new"), []byte("new"))
	if err := swap(stage, repo); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(repo, "new")); err != nil {
		t.Error("new repository not in place")
	}
	if _, err := os.Stat(filepath.Join(repo, "old")); !os.IsNotExist(err) {
		t.Error("old content kept")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left: %v", entries)
	}
	// A stage that cannot be renamed leaves the old repository in place.
	if err := swap(filepath.Join(dir, "missing"), repo); err == nil {
		t.Error("swap of a missing stage succeeded")
	}
	if _, err := os.Stat(filepath.Join(repo, "new")); err != nil {
		t.Error("failed swap lost the repository")
	}
}
