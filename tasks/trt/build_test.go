package trt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/engine"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/env"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/modelrepo"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/trt/trttest"
)

const testToken = "hf_FAKE_TOKEN_value_42"

// fakeImage is what the fake builder image holds outside the mounts: the
// examples and templates under /app, as a Triton TensorRT-LLM image.
var fakeImage = map[string]string{
	"/app/examples/models/core/qwen/convert_checkpoint.py":           "# qwen converter (fake image)\n",
	"/app/all_models/inflight_batcher_llm/preprocessing/1/model.py":  "# preprocessing model.py (fake image)\n",
	"/app/all_models/inflight_batcher_llm/postprocessing/1/model.py": "# postprocessing model.py (fake image)\n",
}

// fakeDocker records what a build asks of the engine and plays the image
// and its tools: a path in a bind mount is the host's file, any other is
// the image's; a tool writes only into writable mounts owned by the user it
// runs as (as the kernel would have it), with a writable HOME, and reads
// what the earlier steps left, so the flow runs without an engine.
type fakeDocker struct {
	mu        sync.Mutex
	imageID   string
	image     map[string]string // nil: fakeImage
	pulled    []string
	creates   []client.ContainerCreateOptions
	execs     [][]string
	specs     []engine.ExecSpec
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

// host maps a container path to the host through the bind mounts.
func (f *fakeDocker) host(p string) (host string, m *mount.Mount) {
	mounts := f.creates[len(f.creates)-1].HostConfig.Mounts
	for i := range mounts {
		mt := &mounts[i]
		if mt.Type == mount.TypeBind && (p == mt.Target || strings.HasPrefix(p, mt.Target+"/")) {
			return filepath.Join(mt.Source, strings.TrimPrefix(p, mt.Target)), mt
		}
	}
	return "", nil
}

// writable says why user cannot write under the container path p ("" if it can).
func (f *fakeDocker) writable(p, user string) string {
	h, m := f.host(p)
	if m == nil || m.ReadOnly {
		return "PermissionError: [Errno 13] Permission denied: '" + p + "' (not a writable mount)"
	}
	// The nearest existing directory must be the user's (root may write anywhere).
	for d := h; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			continue
		}
		uid := fmt.Sprint(fi.Sys().(*syscall.Stat_t).Uid)
		if u, _, _ := strings.Cut(user, ":"); u != "0" && u != uid {
			return fmt.Sprintf("PermissionError: [Errno 13] Permission denied: '%s' (owned by uid %s, not %s)", p, uid, u)
		}
		return ""
	}
}

func arg(argv []string, flag string) string {
	for i, a := range argv {
		if a == flag && i+1 < len(argv) {
			return argv[i+1]
		}
	}
	return ""
}

func envOf(spec engine.ExecSpec, key string) string {
	for _, e := range spec.Env {
		if k, v, _ := strings.Cut(e, "="); k == key {
			return v
		}
	}
	return ""
}

func (f *fakeDocker) Exec(ctx context.Context, id string, spec engine.ExecSpec, stdout, stderr io.Writer) (int, error) {
	f.execs = append(f.execs, spec.Argv)
	f.specs = append(f.specs, spec)
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
	fail := func(msg string) (int, error) { fmt.Fprintln(stderr, msg); return 1, nil }
	// Every tool keeps caches under HOME.
	if msg := f.writable(envOf(spec, "HOME"), spec.User); msg != "" {
		return fail(msg)
	}
	write := func(dir string, files map[string]string) (int, error) {
		if msg := f.writable(dir, spec.User); msg != "" {
			return fail(msg)
		}
		h, _ := f.host(dir)
		os.MkdirAll(h, 0o755)
		for name, content := range files {
			os.WriteFile(filepath.Join(h, name), []byte(content), 0o644)
		}
		return 0, nil
	}
	read := func(p string) bool {
		h, _ := f.host(p)
		_, err := os.Stat(h)
		return h != "" && err == nil
	}
	switch tool {
	case "hf", "huggingface-cli":
		dir := arg(spec.Argv, "--local-dir")
		return write(dir, map[string]string{
			"config.json": `{"model_type":"qwen2"}`, "tokenizer.json": `{"from":"` + dir + `/tokenizer.json"}`,
			"tokenizer_config.json": `{"eos_token":"<eos>"}`, "model.safetensors": "weights",
		})
	case "python3":
		if _, ok := f.image[spec.Argv[1]]; !ok && !read(spec.Argv[1]) {
			return fail("python3: can't open file '" + spec.Argv[1] + "'")
		}
		if !read(arg(spec.Argv, "--model_dir") + "/config.json") {
			return fail("OSError: no config.json in " + arg(spec.Argv, "--model_dir"))
		}
		return write(arg(spec.Argv, "--output_dir"), map[string]string{"config.json": `{}`})
	case "trtllm-build":
		if !read(arg(spec.Argv, "--checkpoint_dir") + "/config.json") {
			return fail("no checkpoint in " + arg(spec.Argv, "--checkpoint_dir"))
		}
		cfg := fmt.Sprintf(`{"build_config":{"max_batch_size":%s}}`, arg(spec.Argv, "--max_batch_size"))
		return write(arg(spec.Argv, "--output_dir"), map[string]string{"config.json": cfg, "rank0.engine": "engine"})
	}
	return 127, nil
}

func (f *fakeDocker) ReadFile(ctx context.Context, id, p string, limit int64) ([]byte, error) {
	if h, _ := f.host(p); h != "" {
		b, err := os.ReadFile(h)
		if os.IsNotExist(err) {
			return nil, engine.ErrNotFound
		}
		return b, err
	}
	if c, ok := f.image[p]; ok {
		return []byte(c), nil
	}
	return nil, engine.ErrNotFound
}

// testProject returns a project root, a deploy/.env-like config and a
// cache root (the Hugging Face cache goes there).
func testProject(t *testing.T) (root string, cfg *env.Config, cache string) {
	t.Helper()
	root = t.TempDir()
	cache = t.TempDir()
	cfg = env.NewConfig("deploy/.env", map[string]string{
		"COMPOSE_PROJECT_NAME": "lopt", "MODEL_NAME": "Qwen/Qwen2.5-1.5B-Instruct", "MAX_NUM_SEQS": "16",
		"MAX_MODEL_LEN": "4096", "DTYPE": "auto", "GPU_MEMORY_UTILIZATION": "0.85", "HF_TOKEN": testToken,
		"TRITON_TRTLLM_IMAGE": "nvcr.io/nvidia/tritonserver:26.07-trtllm-python-py3",
	})
	return root, cfg, cache
}

func clearKnobs(t *testing.T) {
	for _, k := range []string{EnvNoGPU, EnvGPUs, EnvCache, EnvUser} {
		t.Setenv(k, "")
	}
}

func newFake() *fakeDocker { return &fakeDocker{image: fakeImage} }

func TestBuildWithFakeEngine(t *testing.T) {
	clearKnobs(t)
	root, cfg, cache := testProject(t)
	f := newFake()
	f.hasHF = true
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
	// The builder and every step run as the calling user.
	me := fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid())
	if f.creates[0].Config.User != me {
		t.Errorf("builder user %q, want %q", f.creates[0].Config.User, me)
	}
	for _, sp := range f.specs {
		if sp.User != me {
			t.Errorf("%v runs as %q, want %q", sp.Argv, sp.User, me)
		}
	}
	// The model stays in the Hugging Face cache for the next build.
	if _, err := os.Stat(filepath.Join(cache, "hf/models/Qwen--Qwen2.5-1.5B-Instruct/config.json")); err != nil {
		t.Errorf("model not kept in the cache: %v", err)
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
	for _, want := range []string{"[1/3] download Qwen/Qwen2.5-1.5B-Instruct: hf download", "[2/3] convert checkpoint: python3 /app/examples/models/core/qwen/convert_checkpoint.py", "examples and templates: the image's own (/app/examples, /app/all_models)", "[3/3] trtllm-build: trtllm-build --checkpoint_dir", "    trtllm-build running with token ***", "wrote serving/triton-trt/model_repository"} {
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
	if b, _ := os.ReadFile(filepath.Join(repo, "preprocessing/1/model.py")); string(b) != fakeImage["/app/all_models/inflight_batcher_llm/preprocessing/1/model.py"] {
		t.Errorf("preprocessing model.py %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(repo, "tensorrt_llm/tokenizer/tokenizer.json")); !strings.Contains(string(b), "/work/hf/models/Qwen--Qwen2.5-1.5B-Instruct/tokenizer.json") {
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
	clearKnobs(t)
	for _, tc := range []struct {
		name, fail, cancelOn, want string
	}{
		{name: "build fails", fail: "trtllm-build", want: "[3/3] trtllm-build failed with exit code 1; last lines:"},
		{name: "interrupted", cancelOn: "python3", want: "interrupted during [2/3] convert checkpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, cfg, cache := testProject(t)
			f := newFake()
			f.imageID = "sha256:img"
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
	clearKnobs(t)
	root, cfg, cache := testProject(t)
	f := newFake()
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

// An image without the examples and templates under /app fails before any
// step, naming the path, the image and the fix.
func TestBuildImageWithoutApp(t *testing.T) {
	clearKnobs(t)
	for name, drop := range map[string]string{
		"no converter":   "/app/examples/models/core/qwen/convert_checkpoint.py",
		"no postprocess": "/app/all_models/inflight_batcher_llm/postprocessing/1/model.py",
	} {
		t.Run(name, func(t *testing.T) {
			root, cfg, cache := testProject(t)
			f := newFake()
			f.image = maps.Clone(fakeImage)
			delete(f.image, drop)
			f.imageID = "sha256:img"
			var out bytes.Buffer
			err := Build(context.Background(), Options{Root: root, Config: cfg, CacheRoot: cache, Out: &out, Docker: f})
			if err == nil || !strings.Contains(err.Error(), "image nvcr.io/nvidia/tritonserver:26.07-trtllm-python-py3 has no "+drop) ||
				!strings.Contains(err.Error(), "TRITON_TRTLLM_IMAGE") || !strings.Contains(err.Error(), "-examples=URL -checksum=sha256:HEX") {
				t.Fatalf("err %v", err)
			}
			if len(f.execs) != 0 || len(f.running) != 0 {
				t.Errorf("ran %v; left running %v", f.execs, f.running)
			}
			if _, err := os.Stat(filepath.Join(root, modelrepo.TRTRepoDir)); !os.IsNotExist(err) {
				t.Errorf("a repository was written: %v", err)
			}
		})
	}
}

// Root building for another user (LOP_TRT_USER): the directories the steps
// write are handed to that user first, every step runs as them, and the
// whole repository ends up theirs.
func TestBuildForAnotherUser(t *testing.T) {
	clearKnobs(t)
	if os.Getuid() != 0 {
		t.Skip("needs root: only root may build for another user")
	}
	root, cfg, cache := testProject(t)
	// A model downloaded by an earlier build as root is handed over too.
	os.MkdirAll(filepath.Join(cache, "hf", "models", "old"), 0o755)
	t.Setenv(EnvUser, "1000:1001")
	f := newFake()
	f.imageID = "sha256:img"
	var out bytes.Buffer
	if err := Build(context.Background(), Options{Root: root, Config: cfg, CacheRoot: cache, Out: &out, Docker: f}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if u := f.creates[0].Config.User; u != "1000:1001" {
		t.Errorf("builder user %q", u)
	}
	for _, sp := range f.specs {
		if sp.User != "1000:1001" {
			t.Errorf("%v runs as %q", sp.Argv, sp.User)
		}
	}
	owned := func(p string) {
		t.Helper()
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 1000 || st.Gid != 1001 {
			t.Errorf("%s is owned by %d:%d, want 1000:1001", p, st.Uid, st.Gid)
		}
	}
	repo := filepath.Join(root, modelrepo.TRTRepoDir)
	filepath.WalkDir(repo, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			owned(p)
		}
		return err
	})
	owned(filepath.Join(cache, "hf", "models", "old"))
	owned(filepath.Join(cache, "hf"))

	// The same without handing the directories over is what the kernel
	// refuses: the fake tools fail as the real ones would.
	f2 := newFake()
	in := testInput()
	in.OutDir, in.HomeDir, in.HFDir = t.TempDir(), t.TempDir(), t.TempDir()
	os.Chown(in.HomeDir, 1000, 1000) // only the cache is root's
	p, err := NewPlan(in)
	if err != nil {
		t.Fatal(err)
	}
	f2.CreateContainer(context.Background(), p.Create)
	var stderr bytes.Buffer
	if code, _ := f2.Exec(context.Background(), "c1", p.Steps[0].Exec, io.Discard, &stderr); code == 0 || !strings.Contains(stderr.String(), "Permission denied") {
		t.Errorf("download as 1000 into root's directories: exit %d, %s", code, stderr.String())
	}
}

// -examples: the release is fetched into the cache, mounted read-only, and
// the converter and Python models come from it, not from the image.
func TestBuildFetchedExamples(t *testing.T) {
	clearKnobs(t)
	needGit(t)
	src, err := trttest.GitRelease(t.TempDir(), "v1.2.1", nil)
	if err != nil {
		t.Fatal(err)
	}
	root, cfg, cache := testProject(t)
	f := newFake()
	f.image = map[string]string{} // an image without /app: -examples needs none
	f.imageID = "sha256:img"
	var out bytes.Buffer
	o := Options{Root: root, Config: cfg, CacheRoot: cache, Out: &out, Docker: f, Examples: src}
	if err := Build(context.Background(), o); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	m := f.creates[0].HostConfig.Mounts
	if last := m[len(m)-1]; last.Target != FetchedMount || !last.ReadOnly || !strings.HasPrefix(last.Source, filepath.Join(cache, "examples-git-")) {
		t.Errorf("examples mount %+v", last)
	}
	if !strings.Contains(out.String(), "[2/3] convert checkpoint: python3 /work/trtllm/examples/models/core/qwen/convert_checkpoint.py") {
		t.Errorf("output:\n%s", out.String())
	}
	repo := filepath.Join(root, modelrepo.TRTRepoDir)
	if b, _ := os.ReadFile(filepath.Join(repo, "postprocessing/1/model.py")); string(b) != "# postprocessing model.py v1.2.1\n" {
		t.Errorf("postprocessing model.py %q", b)
	}
	st, err := EngineState(root)
	if err != nil || !st.Ready() || st.Built.Examples != src {
		t.Errorf("state %+v %v", st, err)
	}
	// The image's own examples are other settings: a rebuild.
	out.Reset()
	o.Examples = ""
	f.image = fakeImage
	if err := Build(context.Background(), o); err != nil || !strings.Contains(out.String(), "built with other settings") {
		t.Errorf("back to the image's examples: %v\n%s", err, out.String())
	}
	// A checksum without -examples is a mistake, said before anything runs.
	o.Checksum = "sha256:" + strings.Repeat("0", 64)
	if err := Build(context.Background(), o); err == nil || !strings.Contains(err.Error(), "without -examples") {
		t.Errorf("checksum alone: %v", err)
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
