package trt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/engine"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/env"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/modelrepo"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/needs"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/trt/trttest"
)

// watchWriter collects output and calls fn once when it contains match.
type watchWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	match string
	fn    func()
	fired bool
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.fn != nil && !w.fired && strings.Contains(w.buf.String(), w.match) {
		w.fired = true
		w.fn()
	}
	return len(p), nil
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// The whole flow on the real Docker engine with the stand-in image (no GPU,
// no registry), which is laid out as the real image (/root 0700, examples
// and templates under /app) and whose tools fail on what their user cannot
// read or write: a build as a non-root host user, an up-to-date second
// run, a build with a release given by -examples, and a build interrupted
// during trtllm-build.
func TestRealEngineBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the real-engine build")
	}
	needGit(t)
	ctx, cancelAll := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancelAll()
	eng, err := engine.Connect(ctx)
	needs.Engine(t, err)
	defer eng.Close()
	clearKnobs(t)

	bin, err := trttest.BuildStandin(filepath.Join("..", ".."), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(bin)
	sum := sha256.Sum256(append(data, trttest.Dockerfile(nil)...))
	tag := hex.EncodeToString(sum[:6])
	fast, slow := "llmobs-test/trtllm-standin:"+tag, "llmobs-test/trtllm-standin:slow-"+tag
	if err := trttest.BuildImage(ctx, eng, fast, bin, nil); err != nil {
		t.Fatal(err)
	}
	if err := trttest.BuildImage(ctx, eng, slow, bin, map[string]string{"TRTLLM_STANDIN_DELAY_BUILD": "120s"}); err != nil {
		t.Fatal(err)
	}
	src, err := trttest.GitRelease(t.TempDir(), "v1.2.1", nil)
	if err != nil {
		t.Fatal(err)
	}

	// The host user: another one when the test runs as root, so that what
	// a user cannot do in the container shows.
	uid, gid := os.Getuid(), os.Getgid()
	user := ""
	if uid == 0 {
		uid, gid, user = 1000, 1000, "1000:1000"
	}
	root := t.TempDir()
	project := fmt.Sprintf("loptrt%d", time.Now().UnixNano()%1e9)
	const token = "hf_REAL_ENGINE_SECRET_7"
	cfg := func(image string) *env.Config {
		return env.NewConfig("deploy/.env", map[string]string{
			"COMPOSE_PROJECT_NAME": project, "MODEL_NAME": "Qwen/Qwen2.5-0.5B-Instruct", "MAX_NUM_SEQS": "8",
			"MAX_MODEL_LEN": "2048", "DTYPE": "float16", "GPU_MEMORY_UTILIZATION": "0.9", "HF_TOKEN": token,
			"TRITON_TRTLLM_IMAGE": image,
		})
	}
	defer func() {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		left, _ := eng.ContainersWithLabels(c, LabelProject+"="+project)
		for _, l := range left {
			eng.RemoveContainer(c, l.ID)
		}
	}()
	builders := func() []engine.LabeledContainer {
		t.Helper()
		cs, err := eng.ContainersWithLabels(ctx, LabelRole+"="+RoleBuilder, LabelProject+"="+project)
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	base := Options{Root: root, CacheRoot: t.TempDir(), NoGPU: true, User: user}
	repo := filepath.Join(root, modelrepo.TRTRepoDir)
	owned := func(rel string) {
		t.Helper()
		fi, err := os.Stat(filepath.Join(repo, rel))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != uid || int(st.Gid) != gid {
			t.Errorf("%s is owned by %d:%d, want %d:%d", rel, st.Uid, st.Gid, uid, gid)
		}
	}

	// A full build with the image's own examples.
	o := base
	o.Config = cfg(fast)
	var out bytes.Buffer
	o.Out = &out
	if err := Build(ctx, o); err != nil {
		t.Fatalf("build: %v\n%s", err, out.String())
	}
	s := out.String()
	t.Logf("first build:\n%s", s)
	for _, want := range []string{"image " + fast + ": present", fmt.Sprintf("user %d:%d", uid, gid),
		"examples and templates: the image's own (/app/examples, /app/all_models)",
		"[1/3] download Qwen/Qwen2.5-0.5B-Instruct: hf download", "token: given",
		"[2/3] convert checkpoint: python3 /app/examples/models/core/qwen/convert_checkpoint.py",
		"[3/3] trtllm-build", "Total time of building all engines", "wrote " + modelrepo.TRTRepoDir} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, token) {
		t.Error("the HF token was printed")
	}
	if err := RequireEngine(root); err != nil {
		t.Fatalf("%v\n%s", err, s)
	}
	if b, err := os.ReadFile(filepath.Join(repo, "tensorrt_llm/1/config.json")); err != nil || !strings.Contains(string(b), `"max_batch_size": 8`) {
		t.Errorf("engine config %s %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(repo, "tensorrt_llm/tokenizer/tokenizer_config.json")); err != nil || !strings.Contains(string(b), "eos_token") {
		t.Errorf("tokenizer config %s %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(repo, "preprocessing/1/model.py")); err != nil || !strings.Contains(string(b), "(image /app/all_models)") {
		t.Errorf("preprocessing model.py %q %v: not the image's", b, err)
	}
	for _, rel := range []string{"tensorrt_llm/1/rank0.engine", "tensorrt_llm/1/config.json", "tensorrt_llm/config.pbtxt", "tensorrt_llm/tokenizer/tokenizer.json", StampFile} {
		owned(rel)
	}
	if cs := builders(); len(cs) != 0 {
		t.Errorf("builder containers left: %+v", cs)
	}

	// Up to date.
	out.Reset()
	if err := Build(ctx, o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "is up to date") || strings.Contains(out.String(), "[1/3]") {
		t.Errorf("second run:\n%s", out.String())
	}

	// A release given with -examples, mounted read-only: other settings.
	out.Reset()
	o.Examples = src
	if err := Build(ctx, o); err != nil {
		t.Fatalf("build with -examples: %v\n%s", err, out.String())
	}
	if s := out.String(); !strings.Contains(s, "built with other settings") || !strings.Contains(s, "python3 /work/trtllm/examples/models/core/qwen/convert_checkpoint.py") {
		t.Errorf("build with -examples:\n%s", s)
	}
	if b, _ := os.ReadFile(filepath.Join(repo, "postprocessing/1/model.py")); string(b) != "# postprocessing model.py v1.2.1\n" {
		t.Errorf("postprocessing model.py %q: not the release's", b)
	}
	owned("tensorrt_llm/1/rank0.engine")
	stamp, _ := os.ReadFile(filepath.Join(repo, StampFile))

	// Interrupted during trtllm-build: the builder goes, the engine stays.
	o = base
	o.Config, o.Force = cfg(slow), true
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := &watchWriter{match: "[stand-in] build: working", fn: cancel}
	o.Out = w
	err = Build(ictx, o)
	if err == nil || !strings.Contains(err.Error(), "interrupted during [3/3] trtllm-build") {
		t.Fatalf("interrupted build: %v\n%s", err, w.String())
	}
	t.Logf("interrupted build: %v\n%s", err, w.String())
	if !w.fired {
		t.Fatal("the build step never started")
	}
	if cs := builders(); len(cs) != 0 {
		t.Errorf("builder containers left after the interrupt: %+v", cs)
	}
	if after, _ := os.ReadFile(filepath.Join(repo, StampFile)); !bytes.Equal(after, stamp) {
		t.Error("the previous engine's stamp changed")
	}
	if err := RequireEngine(root); err != nil {
		t.Errorf("previous engine gone: %v", err)
	}
	if l, _ := filepath.Glob(filepath.Join(root, "serving/triton-trt/.*")); len(l) != 0 {
		t.Errorf("left behind: %v", l)
	}
	// What was finished stays: the model in the Hugging Face cache.
	if _, err := os.Stat(filepath.Join(base.CacheRoot, "hf/models/Qwen--Qwen2.5-0.5B-Instruct/config.json")); err != nil {
		t.Errorf("the downloaded model is gone: %v", err)
	}
}
