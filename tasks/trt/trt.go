// Package trt builds a TensorRT-LLM engine and the Triton model repository
// that serves it (mage compile:trt): it checks the GPU, pulls the Triton
// TensorRT-LLM image, fetches the matching TensorRT-LLM release's examples
// with go-getter, and in one builder container downloads the model,
// converts its checkpoint and runs trtllm-build; then it writes
// serving/triton-trt/model_repository (preprocessing -> tensorrt_llm ->
// postprocessing, wired by a decoupled ensemble that takes and returns text)
// and swaps it in with a rename. An interrupted or failed build removes its
// container and leaves the previous repository as it was.
package trt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/client"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/engine"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/env"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/modelrepo"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/ui"
)

// Environment knobs read by Build for fields left unset.
const (
	// EnvNoGPU=1 omits the GPU device request, so that the flow runs on an
	// engine without GPUs (CI, with a stand-in image).
	EnvNoGPU = "LOP_TRT_NO_GPU"
	// EnvGPUs selects GPUs: "all" (default) or indexes/UUIDs, e.g. "0,1".
	EnvGPUs = "LOP_TRT_GPUS"
	// EnvCache overrides the cache root of the examples.
	EnvCache = "LOP_TRT_CACHE"
)

// Docker is the part of the Engine API a build uses; *engine.Engine
// implements it.
type Docker interface {
	ImageID(ctx context.Context, ref string) (string, error)
	PullImage(ctx context.Context, ref string, progress func(string)) error
	Rootless(ctx context.Context) (bool, error)
	EnsureVolume(ctx context.Context, name string, labels map[string]string) error
	ContainersWithLabels(ctx context.Context, labels ...string) ([]engine.LabeledContainer, error)
	CreateContainer(ctx context.Context, opts client.ContainerCreateOptions) (string, error)
	StartContainer(ctx context.Context, id string) error
	RemoveContainer(ctx context.Context, id string) error
	Exec(ctx context.Context, id string, spec engine.ExecSpec, stdout, stderr io.Writer) (int, error)
	ReadFile(ctx context.Context, id, path string, limit int64) ([]byte, error)
}

// Options of a build. Zero values take their defaults from deploy/.env and
// the environment knobs above.
type Options struct {
	Root string // project root; "" for "."

	Model        string // Hugging Face id; default MODEL_NAME
	MaxBatchSize int    // default MAX_NUM_SEQS
	MaxInputLen  int    // default MAX_MODEL_LEN - MaxOutputLen
	MaxOutputLen int    // default 1024 (at most half of MAX_MODEL_LEN)
	DType        string // default DTYPE
	TPSize       int    // tensor parallel size; default 1
	Force        bool   // rebuild even when the engine is up to date

	Image     string  // default TRITON_TRTLLM_IMAGE
	Ref       string  // TensorRT-LLM tag; default from the image (or LOP_TRTLLM_REF)
	Source    string  // go-getter source of the release; default GitHub (or LOP_TRTLLM_SOURCE)
	CacheRoot string  // default LOP_TRT_CACHE, else $XDG_CACHE_HOME/llm-observability-pack
	GPUs      string  // default LOP_TRT_GPUS, else all
	NoGPU     bool    // also set by LOP_TRT_NO_GPU=1
	KVCache   float64 // kv_cache_free_gpu_mem_fraction; default GPU_MEMORY_UTILIZATION

	Out       io.Writer                       // progress; default os.Stdout
	Preflight func(ctx context.Context) error // GPU check; nil skips it
	Docker    Docker                          // nil: connect to the engine
	Config    *env.Config                     // nil: env.Load(Root)
}

// resolved is a build's complete configuration.
type resolved struct {
	Options
	settings Settings
	project  string
	token    string
}

// resolve fills defaults and validates; nothing is started.
func resolve(o Options) (*resolved, error) {
	if o.Root == "" {
		o.Root = "."
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	cfg := o.Config
	if cfg == nil {
		var err error
		if cfg, err = env.Load(o.Root); err != nil {
			return nil, err
		}
	}
	atoi := func(key string) int {
		n, _ := strconv.Atoi(cfg.Get(key))
		return n
	}
	if o.Model == "" {
		o.Model = cfg.Get("MODEL_NAME")
	}
	if o.MaxBatchSize == 0 {
		o.MaxBatchSize = atoi("MAX_NUM_SEQS")
	}
	modelLen := atoi("MAX_MODEL_LEN")
	if o.MaxOutputLen == 0 {
		o.MaxOutputLen = min(1024, max(modelLen/2, 1))
	}
	if o.MaxInputLen == 0 {
		o.MaxInputLen = modelLen - o.MaxOutputLen
	}
	if o.DType == "" {
		o.DType = cfg.Get("DTYPE")
	}
	if o.TPSize == 0 {
		o.TPSize = 1
	}
	if o.Image == "" {
		o.Image = cfg.Get("TRITON_TRTLLM_IMAGE")
	}
	if o.KVCache == 0 {
		o.KVCache, _ = strconv.ParseFloat(cfg.Get("GPU_MEMORY_UTILIZATION"), 64)
	}
	if o.Ref == "" {
		o.Ref = os.Getenv(EnvRef)
	}
	if o.Ref == "" {
		ref, err := ReleaseFor(o.Image)
		if err != nil {
			return nil, err
		}
		o.Ref = ref
	}
	if o.Source == "" {
		o.Source = os.Getenv(EnvSource)
	}
	if o.CacheRoot == "" {
		o.CacheRoot = os.Getenv(EnvCache)
	}
	if o.GPUs == "" {
		o.GPUs = os.Getenv(EnvGPUs)
	}
	if v := os.Getenv(EnvNoGPU); v != "" && v != "0" && v != "false" {
		o.NoGPU = true
	}
	if !o.NoGPU {
		if _, err := DeviceRequest(o.GPUs); err != nil {
			return nil, fmt.Errorf("%s: %w", EnvGPUs, err)
		}
	}
	r := &resolved{Options: o, project: cfg.Get("COMPOSE_PROJECT_NAME"), token: cfg.Get("HF_TOKEN")}
	r.settings = Settings{
		Format: stampFormat, Model: o.Model, MaxBatchSize: o.MaxBatchSize,
		MaxInputLen: o.MaxInputLen, MaxOutputLen: o.MaxOutputLen, DType: o.DType, TPSize: o.TPSize,
		KVCacheFraction: o.KVCache, Image: o.Image, TRTLLMRef: o.Ref,
	}
	if err := r.settings.Validate(); err != nil {
		return nil, err
	}
	if r.project == "" {
		r.project = "llmobs"
	}
	return r, nil
}

// Build runs mage compile:trt.
func Build(ctx context.Context, o Options) error {
	r, err := resolve(o)
	if err != nil {
		return err
	}
	out := r.Out
	fam, err := familyOf(r.settings.Model)
	if err != nil {
		return err
	}
	if r.Preflight != nil {
		if err := r.Preflight(ctx); err != nil {
			return err
		}
	}
	dk := r.Docker
	if dk == nil {
		eng, err := engine.Connect(ctx)
		if err != nil {
			return err
		}
		defer eng.Close()
		dk = eng
	}

	// Up to date? The image ID counts only where the image is present.
	id, err := dk.ImageID(ctx, r.settings.Image)
	if err != nil {
		return err
	}
	r.settings.ImageID = id
	st, err := EngineState(r.Root)
	if err != nil {
		return err
	}
	if st.Ready() && !r.Force && r.settings.sameBuild(*st.Built) {
		fmt.Fprintf(out, "the TensorRT-LLM engine in %s is up to date (%s); nothing to do (-force rebuilds it)\n",
			modelrepo.TRTRepoDir, st.Built.Describe())
		return nil
	}
	switch {
	case r.Force && st.Built != nil:
		fmt.Fprintln(out, "rebuilding the TensorRT-LLM engine (-force)")
	case st.Built != nil:
		fmt.Fprintf(out, "the engine in %s was built with other settings (%s); rebuilding\n", modelrepo.TRTRepoDir, st.Built.Describe())
	}

	if id == "" {
		if err := pull(ctx, dk, r.settings.Image, out); err != nil {
			return err
		}
		if r.settings.ImageID, err = dk.ImageID(ctx, r.settings.Image); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(out, "image %s: present\n", r.settings.Image)
	}

	examples, err := FetchExamples(ctx, FetchOptions{Ref: r.settings.TRTLLMRef, Source: r.Source, CacheRoot: r.CacheRoot, Out: out})
	if err != nil {
		return err
	}
	if fi, err := os.Stat(filepath.Join(examples, filepath.FromSlash(fam.Convert))); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("TensorRT-LLM %s has no %s for %s models (looked in %s); choose a model of a supported family or another release (%s)",
			r.settings.TRTLLMRef, fam.Convert, fam.Name, examples, EnvRef)
	}
	return r.buildIn(ctx, dk, examples, fam)
}

func pull(ctx context.Context, dk Docker, ref string, out io.Writer) error {
	fmt.Fprintf(out, "pulling %s (several GB; this takes a while)\n", ref)
	status := ui.NewStatus(out)
	err := dk.PullImage(ctx, ref, func(line string) { status.Update("pulling " + ref + ": " + line) })
	status.Done()
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "unauthorized") || strings.Contains(err.Error(), "denied") {
			return fmt.Errorf("%w; log in to the registry (docker login %s) and run again", err, strings.SplitN(ref, "/", 2)[0])
		}
		return err
	}
	fmt.Fprintf(out, "pulled %s\n", ref)
	return nil
}

// buildIn runs the builder container and installs its result.
func (r *resolved) buildIn(ctx context.Context, dk Docker, examples string, fam family) (err error) {
	out := r.Out
	repo := filepath.Join(r.Root, modelrepo.TRTRepoDir)
	parent := filepath.Dir(repo)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", parent, err)
	}
	if err := r.clearStale(ctx, dk); err != nil {
		return err
	}
	removeLeftovers(parent)
	work, err := os.MkdirTemp(parent, ".build-")
	if err != nil {
		return fmt.Errorf("creating the build directory: %w", err)
	}
	defer os.RemoveAll(work)
	outDir := filepath.Join(work, "out")
	if err := os.Mkdir(outDir, 0o755); err != nil {
		return err
	}
	absOut, err := filepath.Abs(outDir)
	if err != nil {
		return err
	}
	absExamples, err := filepath.Abs(examples)
	if err != nil {
		return err
	}

	volume := r.project + "_hf-cache"
	if err := dk.EnsureVolume(ctx, volume, map[string]string{
		"com.docker.compose.project": r.project, "com.docker.compose.volume": "hf-cache",
	}); err != nil {
		return err
	}
	user := ""
	if uid := os.Getuid(); uid > 0 {
		rootless, err := dk.Rootless(ctx)
		if err != nil {
			return err
		}
		if !rootless {
			user = fmt.Sprintf("%d:%d", uid, os.Getgid())
		}
	}
	host, _ := os.Hostname()
	in := PlanInput{
		Settings: r.settings, Project: r.project, Convert: fam.Convert,
		ExamplesDir: absExamples, OutDir: absOut, HFVolume: volume, HFToken: r.token,
		User: user, GPUs: r.GPUs, NoGPU: r.NoGPU, PID: os.Getpid(), Host: host,
		Name: fmt.Sprintf("%s-trt-builder-%d-%d", r.project, os.Getpid(), time.Now().UnixNano()%100000),
	}
	plan, err := NewPlan(in)
	if err != nil {
		return err
	}

	id, err := dk.CreateContainer(ctx, plan.Create)
	if err != nil {
		return err
	}
	removed := false
	remove := func() {
		if removed {
			return
		}
		removed = true
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if rerr := dk.RemoveContainer(cctx, id); rerr != nil {
			fmt.Fprintf(out, "could not remove the builder container %s: %v; remove it with: docker rm -f %s\n", in.Name, rerr, in.Name)
		}
	}
	defer func() {
		remove()
		if err != nil {
			fmt.Fprintf(out, "removed the builder container; %s is unchanged\n", modelrepo.TRTRepoDir)
		}
	}()
	if err := dk.StartContainer(ctx, id); err != nil {
		if !r.NoGPU && strings.Contains(strings.ToLower(err.Error()), "gpu") {
			return fmt.Errorf("%w; the engine could not give the container a GPU: install the NVIDIA Container Toolkit (nvidia-ctk runtime configure --runtime=docker) or check %s", err, EnvGPUs)
		}
		return err
	}
	fmt.Fprintf(out, "builder container %s started (image %s)\n", in.Name, r.settings.Image)

	// Which Hugging Face CLI the image has: hf (huggingface_hub >= 0.34)
	// or the older huggingface-cli.
	in.DownloadCLI = "huggingface-cli"
	if code, err := dk.Exec(ctx, id, engine.ExecSpec{Argv: []string{"hf", "version"}}, io.Discard, io.Discard); err != nil {
		return interrupted(ctx, err, "checking the Hugging Face CLI")
	} else if code == 0 {
		in.DownloadCLI = "hf"
	}
	if plan, err = NewPlan(in); err != nil {
		return err
	}

	for i, st := range plan.Steps {
		label := fmt.Sprintf("[%d/%d] %s", i+1, len(plan.Steps), st.Title)
		fmt.Fprintf(out, "%s: %s\n", label, strings.Join(st.Exec.Argv, " "))
		lw := newLineWriter(out, "    ", r.token)
		code, err := dk.Exec(ctx, id, st.Exec, lw, lw)
		lw.Flush()
		if err != nil {
			return interrupted(ctx, err, label)
		}
		if code != 0 {
			return fmt.Errorf("%s failed with exit code %d%s", label, code, lw.Tail())
		}
	}

	// The tokenizer, from the model in the cache volume.
	stage := filepath.Join(work, "repo")
	tokDir := filepath.Join(stage, filepath.FromSlash(modelrepo.TRTTokenizerRel))
	if err := os.MkdirAll(tokDir, 0o755); err != nil {
		return err
	}
	if err := copyTokenizer(ctx, dk, id, plan.ModelDir, tokDir); err != nil {
		return interrupted(ctx, err, "copying the tokenizer")
	}
	remove()

	if err := assemble(stage, examples, outDir, r.settings); err != nil {
		return err
	}
	if err := swap(stage, repo); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s: engine %s, tokenizer %s (%s)\n", modelrepo.TRTRepoDir,
		modelrepo.TRTEngineRel, modelrepo.TRTTokenizerRel, r.settings.Describe())
	fmt.Fprintln(out, "start it with: mage up:trt")
	return nil
}

// interrupted words an error of a step whose context may have ended.
func interrupted(ctx context.Context, err error, what string) error {
	if ctx.Err() != nil {
		return fmt.Errorf("compile:trt interrupted during %s: %w", what, ctx.Err())
	}
	return fmt.Errorf("%s: %w", what, err)
}

// clearStale removes builder containers of this project left by a mage that
// no longer runs, and refuses to start next to a build that still runs.
func (r *resolved) clearStale(ctx context.Context, dk Docker) error {
	cs, err := dk.ContainersWithLabels(ctx, LabelRole+"="+RoleBuilder, LabelProject+"="+r.project)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	for _, c := range cs {
		pid, _ := strconv.Atoi(c.Labels[LabelPID])
		alive := c.State == "running" && c.Labels[LabelHost] == host && pid > 0 && processAlive(pid)
		if alive || (c.State == "running" && c.Labels[LabelHost] != host) {
			return fmt.Errorf("another compile:trt is running (container %s, pid %s on %s); wait for it to finish, or stop it and remove the container: docker rm -f %s",
				c.Name, c.Labels[LabelPID], c.Labels[LabelHost], c.Name)
		}
		fmt.Fprintf(r.Out, "removing the builder container %s left by an earlier run\n", c.Name)
		if err := dk.RemoveContainer(ctx, c.ID); err != nil {
			return err
		}
	}
	return nil
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Tokenizer files a Hugging Face model may have; the Python models load
// the tokenizer with AutoTokenizer from these.
var tokenizerFiles = []string{
	"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
	"special_tokens_map.json", "added_tokens.json", "vocab.json", "vocab.txt", "merges.txt",
	"tokenizer.model", "spiece.model", "sentencepiece.bpe.model", "chat_template.jinja",
}

const tokenizerFileLimit = 64 << 20

func copyTokenizer(ctx context.Context, dk Docker, id, modelDir, dst string) error {
	var got []string
	for _, name := range tokenizerFiles {
		data, err := dk.ReadFile(ctx, id, modelDir+"/"+name, tokenizerFileLimit)
		if errors.Is(err, engine.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, name), data, 0o644); err != nil {
			return err
		}
		got = append(got, name)
	}
	if !slices.Contains(got, "tokenizer_config.json") || !slices.ContainsFunc(got, func(n string) bool {
		return n == "tokenizer.json" || n == "tokenizer.model" || n == "vocab.json" || n == "vocab.txt" || n == "spiece.model"
	}) {
		return fmt.Errorf("the model in %s has no tokenizer files (found %v); the preprocessing model needs tokenizer_config.json and a vocabulary", modelDir, got)
	}
	return nil
}

// assemble completes the staged repository: configs, Python models, the
// engine (moved from the build's output) and the stamp.
func assemble(stage, examples, outDir string, s Settings) error {
	files, err := modelrepo.TRTFiles(modelrepo.DefaultTRTSettings(s.MaxBatchSize, s.KVCacheFraction))
	if err != nil {
		return err
	}
	for rel, data := range files {
		if err := writeFile(filepath.Join(stage, filepath.FromSlash(rel)), data); err != nil {
			return err
		}
	}
	for src, dst := range pythonModels {
		data, err := os.ReadFile(filepath.Join(examples, filepath.FromSlash(src)))
		if err != nil {
			return fmt.Errorf("the examples cache lacks %s: %w; delete %s and run again", src, err, examples)
		}
		if err := writeFile(filepath.Join(stage, filepath.FromSlash(dst)), data); err != nil {
			return err
		}
	}
	engineOut := filepath.Join(outDir, "engine")
	var cfg struct {
		BuildConfig struct {
			MaxBatchSize int `json:"max_batch_size"`
		} `json:"build_config"`
	}
	b, err := os.ReadFile(filepath.Join(engineOut, "config.json"))
	if err == nil {
		err = json.Unmarshal(b, &cfg)
	}
	if err != nil {
		return fmt.Errorf("trtllm-build left no readable engine config.json in its output: %v", err)
	}
	if cfg.BuildConfig.MaxBatchSize != 0 && cfg.BuildConfig.MaxBatchSize != s.MaxBatchSize {
		return fmt.Errorf("the engine was built with max_batch_size %d, not %d", cfg.BuildConfig.MaxBatchSize, s.MaxBatchSize)
	}
	for rank := 0; rank < s.TPSize; rank++ {
		if _, err := os.Stat(filepath.Join(engineOut, fmt.Sprintf("rank%d.engine", rank))); err != nil {
			return fmt.Errorf("trtllm-build left no rank%d.engine (tensor parallel size %d)", rank, s.TPSize)
		}
	}
	engineDir := filepath.Join(stage, filepath.FromSlash(modelrepo.TRTEngineRel))
	if err := os.MkdirAll(engineDir, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(engineOut)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.Rename(filepath.Join(engineOut, e.Name()), filepath.Join(engineDir, e.Name())); err != nil {
			return fmt.Errorf("moving the engine into the repository: %w", err)
		}
	}
	stamp, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(stage, StampFile), append(stamp, '\n'))
}

func writeFile(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}

// swap replaces repo with stage: the old repository is renamed aside, the
// new one renamed into place, and the old one removed. If the second rename
// fails the old one is put back.
func swap(stage, repo string) error {
	old := ""
	if _, err := os.Lstat(repo); err == nil {
		old = filepath.Join(filepath.Dir(repo), fmt.Sprintf(".%s.old-%d", filepath.Base(repo), time.Now().UnixNano()))
		if err := os.Rename(repo, old); err != nil {
			return fmt.Errorf("moving the previous repository aside: %w", err)
		}
	}
	if err := os.Rename(stage, repo); err != nil {
		if old != "" {
			if rerr := os.Rename(old, repo); rerr != nil {
				return fmt.Errorf("installing the new repository: %v; and restoring the previous one from %s: %v", err, old, rerr)
			}
		}
		return fmt.Errorf("installing the new repository: %w", err)
	}
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return fmt.Errorf("removing the previous repository %s: %w", old, err)
		}
	}
	return nil
}

// removeLeftovers removes build and swap directories that an interrupted
// run could not remove (a killed process runs no defers).
func removeLeftovers(parent string) {
	entries, _ := os.ReadDir(parent)
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, ".build-") || strings.HasPrefix(n, ".model_repository.old-") {
			os.RemoveAll(filepath.Join(parent, n))
		}
	}
}
