package trt

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/env"
)

// A build's options: their defaults from deploy/.env and the environment
// knobs, and their validation (resolve).

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
		o.Image = cfg.Get(backend.KeyTRTImage)
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
