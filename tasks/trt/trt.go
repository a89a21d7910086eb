// Package trt builds a TensorRT-LLM engine and the Triton model repository
// that serves it (mage compile:trt): it checks the GPU, pulls the Triton
// TensorRT-LLM image, and in one builder container, as the host user,
// downloads the model, converts its checkpoint with the converter the image
// holds (TensorRT-LLM's examples under /app, or a release given with
// -examples and a checksum) and runs trtllm-build; then it writes
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
	"io/fs"
	"maps"
	"os"
	"path"
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
	// EnvCache overrides the cache root: the Hugging Face cache (hf/) and
	// releases fetched with -examples.
	EnvCache = "LOP_TRT_CACHE"
	// EnvUser is the host user, UID:GID, who is to own the engine files when
	// that is not the calling user: root building for someone else (as the
	// real-engine test does). Only root may set another user.
	EnvUser = "LOP_TRT_USER"
)

// Docker is the part of the Engine API a build uses; *engine.Engine
// implements it.
type Docker interface {
	ImageID(ctx context.Context, ref string) (string, error)
	PullImage(ctx context.Context, ref string, progress func(string)) error
	Rootless(ctx context.Context) (bool, error)
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
	Examples  string  // a TensorRT-LLM release to use instead of the image's examples (ParseExamplesSource)
	Checksum  string  // sha256:HEX of the Examples archive
	CacheRoot string  // default LOP_TRT_CACHE, else $XDG_CACHE_HOME/llm-observability-pack
	User      string  // UID:GID owning the files; default LOP_TRT_USER, else the calling user
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
	examples := ExamplesFromImage
	if o.Examples != "" {
		src, err := ParseExamplesSource(o.Examples, o.Checksum)
		if err != nil {
			return nil, err
		}
		examples = src.Stamp
	} else if o.Checksum != "" {
		return nil, fmt.Errorf("-checksum=%s without -examples: the checksum is for a TensorRT-LLM release given with -examples=URL; without one the image's own examples are used", o.Checksum)
	}
	if o.User == "" {
		o.User = os.Getenv(EnvUser)
	}
	if o.User != "" && !userRE.MatchString(o.User) {
		return nil, fmt.Errorf("%s=%s: want UID:GID of the host user who is to own the engine files, e.g. 1000:1000 (id -u, id -g)", EnvUser, o.User)
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
		KVCacheFraction: o.KVCache, Image: o.Image, Examples: examples,
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

	layout := ImageLayout()
	if r.Examples != "" {
		dir, err := FetchExamples(ctx, FetchOptions{Source: r.Examples, Checksum: r.Checksum, CacheRoot: r.CacheRoot, Out: out})
		if err != nil {
			return err
		}
		if dir, err = filepath.Abs(dir); err != nil {
			return err
		}
		layout = FetchedLayout(dir)
	}
	return r.buildIn(ctx, dk, layout, fam)
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
func (r *resolved) buildIn(ctx context.Context, dk Docker, layout Layout, fam family) (err error) {
	out := r.Out
	rootless, err := dk.Rootless(ctx)
	if err != nil {
		return err
	}
	user, owner, err := hostUser(os.Getuid(), os.Getgid(), r.User, rootless)
	if err != nil {
		return err
	}
	repo := filepath.Join(r.Root, modelrepo.TRTRepoDir)
	parent := filepath.Dir(repo)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", parent, err)
	}
	if err := r.clearStale(ctx, dk); err != nil {
		return err
	}
	removeLeftovers(parent)
	cacheRoot, err := CacheRoot(r.CacheRoot)
	if err != nil {
		return err
	}
	hfDir, err := filepath.Abs(filepath.Join(cacheRoot, "hf"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(hfDir, 0o755); err != nil {
		return fmt.Errorf("creating the Hugging Face cache %s: %w", hfDir, err)
	}
	work, err := os.MkdirTemp(parent, ".build-")
	if err != nil {
		return fmt.Errorf("creating the build directory: %w", err)
	}
	defer os.RemoveAll(work)
	absWork, err := filepath.Abs(work)
	if err != nil {
		return err
	}
	outDir, homeDir := filepath.Join(absWork, "out"), filepath.Join(absWork, "home")
	for _, d := range []string{outDir, homeDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	if owner != nil {
		// Root builds for another user: what the steps write into must be theirs.
		for _, d := range []string{outDir, homeDir, hfDir} {
			if err := owner.chownTree(d); err != nil {
				return err
			}
		}
	}

	host, _ := os.Hostname()
	in := PlanInput{
		Settings: r.settings, Project: r.project, Convert: fam.Convert, Layout: layout,
		OutDir: outDir, HomeDir: homeDir, HFDir: hfDir, HFToken: r.token,
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
	fmt.Fprintf(out, "builder container %s started (image %s, user %s)\n", in.Name, r.settings.Image, user)

	models, err := readTemplates(ctx, dk, id, layout, fam, r.settings.Image)
	if err != nil {
		return err
	}
	if layout.HostDir == "" {
		fmt.Fprintf(out, "examples and templates: the image's own (%s, %s)\n", layout.Examples, layout.AllModels)
	}

	in.DownloadCLI = "huggingface-cli"
	if code, err := dk.Exec(ctx, id, plan.Probe, io.Discard, io.Discard); err != nil {
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
	remove()

	// The tokenizer, from the model in the Hugging Face cache.
	stage := filepath.Join(work, "repo")
	tokDir := filepath.Join(stage, filepath.FromSlash(modelrepo.TRTTokenizerRel))
	if err := os.MkdirAll(tokDir, 0o755); err != nil {
		return err
	}
	if err := copyTokenizer(plan.HostModelDir, hfDir, tokDir); err != nil {
		return err
	}
	if err := assemble(stage, models, outDir, r.settings); err != nil {
		return err
	}
	if owner != nil {
		if err := owner.chownTree(stage); err != nil {
			return err
		}
	}
	if err := swap(stage, repo); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s: engine %s, tokenizer %s (%s)\n", modelrepo.TRTRepoDir,
		modelrepo.TRTEngineRel, modelrepo.TRTTokenizerRel, r.settings.Describe())
	fmt.Fprintln(out, "start it with: mage up:trt")
	return nil
}

// owner is a host user that files are handed to.
type owner struct{ uid, gid int }

// chownTree hands dir and everything under it to o (links themselves, not
// what they point to).
func (o owner) chownTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, o.uid, o.gid); err != nil {
			return fmt.Errorf("handing %s to %d:%d (%s): %w", p, o.uid, o.gid, EnvUser, err)
		}
		return nil
	})
}

// hostUser decides whom the builder runs as ("uid:gid") and to whom mage
// hands the directories it creates (nil: they are that user's already).
// uid and gid are the calling user's; override is LOP_TRT_USER.
func hostUser(uid, gid int, override string, rootless bool) (string, *owner, error) {
	if rootless {
		// Root in a rootless engine's containers is the calling user.
		if override != "" {
			return "", nil, fmt.Errorf("%s=%s: a rootless Docker engine writes every file as the user who runs it; unset %s", EnvUser, override, EnvUser)
		}
		return "0:0", nil, nil
	}
	own := fmt.Sprintf("%d:%d", uid, gid)
	if override == "" || override == own {
		return own, nil, nil
	}
	var o owner
	if _, err := fmt.Sscanf(override, "%d:%d", &o.uid, &o.gid); err != nil || !userRE.MatchString(override) {
		return "", nil, fmt.Errorf("%s=%s: want UID:GID of the host user who is to own the engine files, e.g. 1000:1000", EnvUser, override)
	}
	if uid != 0 {
		return "", nil, fmt.Errorf("%s=%s: only root can build for another user (you are %s); unset %s", EnvUser, override, own, EnvUser)
	}
	return override, &o, nil
}

// templateLimit bounds a converter or Python model read from the image.
const templateLimit = 16 << 20

// readTemplates checks that the builder has the family's converter and
// returns the Triton Python models (their place in the repository ->
// content), from the image or the release mounted in it.
func readTemplates(ctx context.Context, dk Docker, id string, l Layout, fam family, image string) (map[string][]byte, error) {
	where := "image " + image
	fix := "compile:trt uses the TensorRT-LLM examples and Triton model templates a Triton TensorRT-LLM image holds under /app, " +
		"so TRITON_TRTLLM_IMAGE (deploy/.env) must be such an image (nvcr.io/nvidia/tritonserver:YY.MM-trtllm-python-py3); " +
		"or give the matching TensorRT-LLM release with -examples=URL -checksum=sha256:HEX"
	if l.HostDir != "" {
		where = "the TensorRT-LLM release from -examples (" + l.HostDir + ")"
		fix = "give a release of the TensorRT-LLM the image has, or leave -examples out to use the image's own examples"
	}
	conv := path.Join(l.Examples, fam.Convert)
	if _, err := dk.ReadFile(ctx, id, conv, templateLimit); errors.Is(err, engine.ErrNotFound) {
		return nil, fmt.Errorf("%s has no %s (the checkpoint converter for %s models); %s", where, conv, fam.Name, fix)
	} else if err != nil {
		return nil, interrupted(ctx, err, "reading "+conv)
	}
	srcs := slices.Sorted(maps.Keys(pythonModels))
	models := map[string][]byte{}
	for _, src := range srcs {
		p := path.Join(l.AllModels, src)
		data, err := dk.ReadFile(ctx, id, p, templateLimit)
		if errors.Is(err, engine.ErrNotFound) {
			return nil, fmt.Errorf("%s has no %s (a Triton Python model of the repository); %s", where, p, fix)
		} else if err != nil {
			return nil, interrupted(ctx, err, "reading "+p)
		}
		models[pythonModels[src]] = data
	}
	return models, nil
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

// copyTokenizer copies the tokenizer files of the downloaded model, on the
// host in modelDir (in the Hugging Face cache hfDir), to dst.
func copyTokenizer(modelDir, hfDir, dst string) error {
	var got []string
	for _, name := range tokenizerFiles {
		p, err := inCache(filepath.Join(modelDir, name), hfDir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		data, err := readLimited(p, tokenizerFileLimit)
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

// inCache resolves p to a regular file inside the Hugging Face cache hfDir.
// A symlink (older huggingface_hub links --local-dir files to its blobs)
// may point into the cache by its path in the builder (HFMount), or
// relatively; one that leaves the cache is refused.
func inCache(p, hfDir string) (string, error) {
	for range 8 {
		fi, err := os.Lstat(p)
		if err != nil {
			return "", err
		}
		if fi.Mode().IsRegular() {
			return p, nil
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return "", fmt.Errorf("%s is not a regular file", p)
		}
		target, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		switch {
		case target == HFMount || strings.HasPrefix(target, HFMount+"/"):
			target = filepath.Join(hfDir, filepath.FromSlash(strings.TrimPrefix(target, HFMount)))
		case filepath.IsAbs(target):
			return "", fmt.Errorf("%s links to %s, outside the Hugging Face cache", p, target)
		default:
			target = filepath.Join(filepath.Dir(p), target)
		}
		if rel, err := filepath.Rel(hfDir, target); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return "", fmt.Errorf("%s links to %s, outside the Hugging Face cache %s", p, target, hfDir)
		}
		p = target
	}
	return "", fmt.Errorf("%s: too many levels of symbolic links", p)
}

func readLimited(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(data)) > limit {
		err = fmt.Errorf("%s is larger than %d bytes", p, limit)
	}
	return data, err
}

// assemble completes the staged repository: configs, Python models, the
// engine (moved from the build's output) and the stamp.
func assemble(stage string, models map[string][]byte, outDir string, s Settings) error {
	files, err := modelrepo.TRTFiles(modelrepo.DefaultTRTSettings(s.MaxBatchSize, s.KVCacheFraction))
	if err != nil {
		return err
	}
	for rel, data := range files {
		if err := writeFile(filepath.Join(stage, filepath.FromSlash(rel)), data); err != nil {
			return err
		}
	}
	for dst, data := range models {
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
