package trt

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/modelrepo"
)

// StampFile records, in the repository, the settings its engine was built
// with. Triton ignores files at the repository's top level.
const StampFile = ".llm-observability-pack-build.json"

// stampFormat changes when the repository layout or the meaning of the
// settings changes, so that an old build is rebuilt. 2: examples and
// templates from the image (or -examples), not a fetched release tag.
const stampFormat = 2

// ExamplesFromImage in Settings.Examples: the image's own examples and
// templates (ImageExamplesDir, ImageAllModelsDir).
const ExamplesFromImage = "image"

// Settings are what an engine is built from; an engine with equal settings
// is up to date.
type Settings struct {
	Format          int     `json:"format"`
	Model           string  `json:"model"`
	MaxBatchSize    int     `json:"max_batch_size"`
	MaxInputLen     int     `json:"max_input_len"`
	MaxOutputLen    int     `json:"max_output_len"`
	DType           string  `json:"dtype"`
	TPSize          int     `json:"tp_size"`
	KVCacheFraction float64 `json:"kv_cache_free_gpu_mem_fraction"`
	Image           string  `json:"image"`
	ImageID         string  `json:"image_id,omitempty"`
	Examples        string  `json:"examples"` // ExamplesFromImage, or the -examples source and checksum
}

var modelIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Validate checks settings before anything is built from them.
func (s Settings) Validate() error {
	var errs []string
	if !modelIDRE.MatchString(s.Model) {
		errs = append(errs, fmt.Sprintf("model %q: want a Hugging Face id ORG/NAME (-model flag or MODEL_NAME in deploy/.env)", s.Model))
	}
	if s.MaxBatchSize < 1 || s.MaxBatchSize > 4096 {
		errs = append(errs, fmt.Sprintf("max batch size %d: want 1..4096 (-maxbatch)", s.MaxBatchSize))
	}
	if s.MaxInputLen < 1 || s.MaxOutputLen < 1 || s.MaxInputLen+s.MaxOutputLen > 1<<20 {
		errs = append(errs, fmt.Sprintf("max input %d / output %d: want positive lengths (-maxinput, -maxoutput)", s.MaxInputLen, s.MaxOutputLen))
	}
	switch s.DType {
	case "auto", "float16", "half", "bfloat16", "float32":
	default:
		errs = append(errs, fmt.Sprintf("dtype %q: want auto, float16, bfloat16 or float32 (-dtype or DTYPE in deploy/.env)", s.DType))
	}
	if s.TPSize < 1 || s.TPSize > 64 {
		errs = append(errs, fmt.Sprintf("tensor parallel size %d: want 1..64 (-tp)", s.TPSize))
	}
	if !(s.KVCacheFraction > 0 && s.KVCacheFraction <= 1) {
		errs = append(errs, fmt.Sprintf("KV cache fraction %v: want (0,1] (GPU_MEMORY_UTILIZATION in deploy/.env)", s.KVCacheFraction))
	}
	if s.Image == "" {
		errs = append(errs, "no image: set TRITON_TRTLLM_IMAGE in deploy/.env")
	}
	if s.Examples == "" {
		errs = append(errs, "no examples: want "+ExamplesFromImage+" or an -examples source")
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// ConvertDType is the --dtype of convert_checkpoint.py.
func (s Settings) ConvertDType() string {
	if s.DType == "half" {
		return "float16"
	}
	return s.DType
}

// sameBuild reports whether an engine built with old serves the settings s.
// The image ID is compared when both are known (a re-pulled tag rebuilds).
func (s Settings) sameBuild(old Settings) bool {
	a, b := s, old
	if a.ImageID == "" || b.ImageID == "" {
		a.ImageID, b.ImageID = "", ""
	}
	return a == b
}

// Describe is a one-line summary for messages.
func (s Settings) Describe() string {
	d := fmt.Sprintf("model %s, max batch %d, max input %d, max output %d, dtype %s, tp %d, image %s",
		s.Model, s.MaxBatchSize, s.MaxInputLen, s.MaxOutputLen, s.DType, s.TPSize, s.Image)
	if s.Examples != ExamplesFromImage {
		d += ", examples " + s.Examples
	}
	return d
}

// State is what the repository holds.
type State struct {
	Dir     string    // the repository
	Built   *Settings // from the stamp; nil without one
	Missing []string  // files a servable repository needs that are not there
}

// Ready reports whether the repository holds a complete engine build.
func (st *State) Ready() bool { return st.Built != nil && len(st.Missing) == 0 }

// ErrNoEngine is the message up:trt gives without an engine.
var ErrNoEngine = errors.New("no TensorRT-LLM engine in " + modelrepo.TRTRepoDir + "; run mage compile:trt first")

// EngineState reads the repository under the project root.
func EngineState(root string) (*State, error) {
	dir := filepath.Join(root, modelrepo.TRTRepoDir)
	st := &State{Dir: dir}
	b, err := os.ReadFile(filepath.Join(dir, StampFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		st.Missing = append(st.Missing, StampFile)
		return st, nil
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, StampFile), err)
	}
	var s Settings
	if err := json.Unmarshal(b, &s); err != nil || s.Format != stampFormat {
		st.Missing = append(st.Missing, StampFile+" (unreadable or from another version; rebuild)")
		return st, nil
	}
	st.Built = &s
	need := []string{
		filepath.Join(modelrepo.TRTEngineRel, "config.json"),
		filepath.Join(modelrepo.TRTTokenizerRel, "tokenizer_config.json"),
	}
	for r := 0; r < max(s.TPSize, 1); r++ {
		need = append(need, filepath.Join(modelrepo.TRTEngineRel, fmt.Sprintf("rank%d.engine", r)))
	}
	for _, m := range modelrepo.TRTModels {
		need = append(need, filepath.Join(m, "config.pbtxt"))
	}
	for _, dst := range pythonModels {
		need = append(need, filepath.FromSlash(dst))
	}
	for _, n := range need {
		if fi, err := os.Stat(filepath.Join(dir, n)); err != nil || !fi.Mode().IsRegular() {
			st.Missing = append(st.Missing, n)
		}
	}
	return st, nil
}

// RequireEngine returns ErrNoEngine (or what is missing) unless the
// repository under root holds a complete engine build: up:trt calls it
// before starting anything.
func RequireEngine(root string) error {
	st, err := EngineState(root)
	if err != nil {
		return err
	}
	if st.Built == nil {
		return ErrNoEngine
	}
	if !st.Ready() {
		return fmt.Errorf("%w (incomplete: %s missing)", ErrNoEngine, strings.Join(st.Missing, ", "))
	}
	if st.Built.TPSize > 1 {
		// Serving several ranks needs one tritonserver per GPU under MPI
		// (the backend's launch_triton_server.py); the compose service
		// runs a single tritonserver.
		return fmt.Errorf("the engine in %s was built for %d GPUs (tensor parallel); up:trt serves single-GPU engines: rebuild with mage compile:trt -tp=1 -force", st.Dir, st.Built.TPSize)
	}
	return nil
}
