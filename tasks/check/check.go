// Package check runs the host checks behind `mage check` and `mage
// check:gpu`: nvidia-smi and each GPU, the driver version, the compute
// capability the chosen backend needs, whether the configured model fits in
// GPU memory, and the Docker engine, Compose and the NVIDIA container
// runtime. Each check is one Result, PASS, WARN, FAIL or SKIP, with the fix
// for what is not right; Print writes them one per line or as JSON and
// Failed turns them into an exit status.
package check

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/gpu"
)

// Status of one check.
type Status string

const (
	Pass Status = "PASS"
	Warn Status = "WARN" // works, but look at it; does not fail the run
	Fail Status = "FAIL" // makes Failed return an error
	Skip Status = "SKIP" // could not be checked because an earlier check failed or nothing is configured
)

// Result of one check. Detail says what was found; Fix, for WARN and FAIL,
// what to do about it.
type Result struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix"`
}

// Names of the settings that fix texts tell the user to change.
const (
	EnvModel       = "MODEL_NAME"
	EnvGPUMemUtil  = "GPU_MEMORY_UTILIZATION"
	EnvMaxModelLen = "MAX_MODEL_LEN"
	EnvMinDriver   = "-mindriver" // the flag of mage check and check:gpu
	EnvBackend     = "mage up:"   // prefix of the targets a fix suggests
	EnvVLLMImage   = backend.KeyVLLMImage
	EnvTritonImage = backend.KeyTritonImage
	EnvTRTImage    = backend.KeyTRTImage
)

// Defaults applied to zero Options fields.
const (
	DefaultGPUMemoryUtilization = 0.9 // vLLM's default
	DefaultTimeout              = 60 * time.Second
)

// Options configure the checks. The zero value checks every backend with
// the defaults above against the real nvidia-smi, Docker engine and CLI.
type Options struct {
	// Backend is "vllm", "triton" or "trt" ("triton-vllm" and "triton-trt",
	// the SIM_PERSONALITY names, and "tensorrt-llm" are accepted too); ""
	// checks all three, and then a backend the GPU cannot run is a WARN,
	// and a FAIL only when it can run none.
	Backend string
	// MinDriver, when set, is the lowest driver major version accepted for
	// every backend. 0 takes each backend's floor from the tag of its image
	// (ImageFloors): at or above it PASS; below it a data center GPU on
	// the same CUDA major's driver branch is a WARN (the image runs through
	// CUDA forward compatibility), other GPUs FAIL.
	MinDriver int

	// Images of the backends (VLLM_IMAGE, TRITON_VLLM_IMAGE,
	// TRITON_TRTLLM_IMAGE); an image with no row in ImageFloors, or "", has
	// an unknown driver floor, which is a WARN.
	VLLMImage, TritonImage, TRTImage string

	Model                string  // Hugging Face model id (MODEL_NAME); "" skips the memory check
	Dtype                string  // DTYPE: auto, float16, bfloat16, half, float32; "" = auto
	GPUMemoryUtilization float64 // fraction of GPU memory vLLM may use; 0 = 0.9
	MaxModelLen          int     // MAX_MODEL_LEN; 0 = KV cache not counted

	JSON bool      // print JSON instead of lines
	Out  io.Writer // if set, GPU, Host and All print their results here

	NvidiaSmi  string     // path or name of nvidia-smi; "" = "nvidia-smi" from PATH
	Docker     DockerInfo // Docker engine; nil = the engine from DOCKER_HOST etc. (client.FromEnv)
	DockerCLI  string     // docker CLI for `docker compose version`; "" = "docker"
	ComposeCLI string     // standalone Compose for `docker-compose version`; "" = "docker-compose"

	// Timeout bounds each group of checks when ctx has no deadline (a hung
	// nvidia-smi usually means a GPU fell off the bus); 0 = DefaultTimeout.
	Timeout time.Duration
}

type gpuNeed struct {
	key, name    string
	major, minor int
	arch         string
	imageKey     string // the .env key of its image
}

// Compute capability each backend needs, and the setting of its image.
var backends = []gpuNeed{
	// vLLM's CUDA 13 images (the default since v0.20) are built for 7.5 and
	// newer: CUDA 13 dropped Volta. A V100 needs a -cu129 image.
	{string(backend.VLLM), "vLLM's CUDA 13 images", 7, 5, "Turing (T4, RTX 20xx)", EnvVLLMImage},
	{string(backend.Triton), "current Triton images", 7, 5, "Turing (T4, RTX 20xx)", EnvTritonImage},
	{string(backend.TRT), "TensorRT-LLM", 8, 0, "Ampere (A100, A10, RTX 30xx)", EnvTRTImage},
}

func (o Options) image(key string) string {
	switch backend.Name(key) {
	case backend.VLLM:
		return o.VLLMImage
	case backend.Triton:
		return o.TritonImage
	}
	return o.TRTImage
}

// floorText is the driver a backend needs, for messages: "610.43.02",
// "580" (-mindriver), or "the one its image needs" when unknown.
func (o Options) floorText(key string) string {
	if o.MinDriver > 0 {
		return fmt.Sprint(o.MinDriver)
	}
	if f, ok := FloorFor(o.image(key)); ok {
		return f.Driver
	}
	return "the one its image needs"
}

// neededDriver is the highest floor of the backends checked, for messages.
func (o Options) neededDriver() string {
	if o.MinDriver > 0 {
		return fmt.Sprint(o.MinDriver)
	}
	best, text := gpu.DriverVersion{}, ""
	for _, b := range backends {
		if o.Backend != "" && o.Backend != b.key {
			continue
		}
		if f, ok := FloorFor(o.image(b.key)); ok {
			if d, err := gpu.ParseDriverVersion(f.Driver); err == nil && d.Compare(best) > 0 {
				best, text = d, f.Driver
			}
		}
	}
	if text == "" {
		return "580" // the first driver of CUDA 13
	}
	return text
}

// gpuBackend returns the backend name that s names ("" for all): a GPU
// backend of the table (vllm, triton, trt), the SIM_PERSONALITY that
// imitates it (triton-vllm, triton-trt), or a name of TensorRT-LLM.
func gpuBackend(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "", "all":
		return "", true
	case "trtllm", "trt-llm", "tensorrt-llm":
		return string(backend.TRT), true
	}
	if b, err := backend.Lookup(s); err == nil && b.GPU {
		return s, true
	}
	if b, err := backend.ByPersonality(s); err == nil {
		return string(b.Name), true
	}
	return "", false
}

// gpuBackendNames lists the GPU backends for messages: "vllm, triton or trt".
func gpuBackendNames() string {
	var n []string
	for _, b := range backend.GPUs() {
		n = append(n, string(b.Name))
	}
	return strings.Join(n[:len(n)-1], ", ") + " or " + n[len(n)-1]
}

func (o Options) normalize() (Options, error) {
	var errs []error
	if name, ok := gpuBackend(o.Backend); ok {
		o.Backend = name
	} else {
		errs = append(errs, fmt.Errorf("backend %q: expected %s (or empty for all)", o.Backend, gpuBackendNames()))
	}
	if o.MinDriver < 0 || o.MinDriver > 9999 {
		errs = append(errs, fmt.Errorf("%s=%d: expected a driver major version such as 580", EnvMinDriver, o.MinDriver))
	}
	switch {
	case o.GPUMemoryUtilization == 0:
		o.GPUMemoryUtilization = DefaultGPUMemoryUtilization
	case !(o.GPUMemoryUtilization > 0 && o.GPUMemoryUtilization <= 1):
		errs = append(errs, fmt.Errorf("%s=%g: expected a fraction in (0, 1], such as 0.9", EnvGPUMemUtil, o.GPUMemoryUtilization))
	}
	if o.MaxModelLen < 0 {
		errs = append(errs, fmt.Errorf("%s=%d: expected a positive number of tokens", EnvMaxModelLen, o.MaxModelLen))
	}
	switch strings.ToLower(o.Dtype) {
	case "", "auto", "float16", "bfloat16", "half", "float32", "float":
	default:
		errs = append(errs, fmt.Errorf("DTYPE=%q: expected auto, float16, bfloat16, half or float32", o.Dtype))
	}
	if o.NvidiaSmi == "" {
		o.NvidiaSmi = "nvidia-smi"
	}
	if o.DockerCLI == "" {
		o.DockerCLI = "docker"
	}
	if o.ComposeCLI == "" {
		o.ComposeCLI = "docker-compose"
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	return o, errors.Join(errs...)
}

func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// GPU runs the GPU checks: nvidia-smi, each GPU, the driver version, the
// compute capability per backend and the memory the model needs. Problems
// found are FAIL/WARN results; the error is for invalid Options only.
func GPU(ctx context.Context, opts Options) ([]Result, error) {
	o, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	res := gpuChecks(ctx, o)
	return res, o.print(res)
}

// Host runs the Docker checks: the engine, Compose and the NVIDIA runtime
// or CDI devices.
func Host(ctx context.Context, opts Options) ([]Result, error) {
	o, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	res := hostChecks(ctx, o)
	return res, o.print(res)
}

// All runs the GPU checks, then the host checks.
func All(ctx context.Context, opts Options) ([]Result, error) {
	o, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	res := append(gpuChecks(ctx, o), hostChecks(ctx, o)...)
	return res, o.print(res)
}

func (o Options) print(res []Result) error {
	if o.Out == nil {
		return nil
	}
	return Print(o.Out, res, o.JSON)
}

// Print writes one line per result:
//
//	PASS  gpu 0: NVIDIA H200, compute 9.0, 143771 MiB, driver 580.159.04, CUDA 13.0
//	FAIL  vllm: driver 535.104.05 < 580.65.06 required by vllm/vllm-openai:v0.20.0 (CUDA 13.0); ... — fix: install ...
//
// or, with jsonOut, one JSON object:
//
//	{"ok": false, "counts": {"PASS": 5, "FAIL": 1}, "results": [{"name", "status", "detail", "fix"}, ...]}
func Print(w io.Writer, results []Result, jsonOut bool) error {
	if jsonOut {
		counts := map[Status]int{}
		for _, r := range results {
			counts[r.Status]++
		}
		if results == nil {
			results = []Result{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(struct {
			OK      bool           `json:"ok"`
			Counts  map[Status]int `json:"counts"`
			Results []Result       `json:"results"`
		}{Failed(results) == nil, counts, results})
	}
	var b strings.Builder
	for _, r := range results {
		fmt.Fprintf(&b, "%-4s  %s", r.Status, oneLine(r.Detail))
		if r.Fix != "" && (r.Status == Fail || r.Status == Warn) {
			fmt.Fprintf(&b, " — fix: %s", oneLine(r.Fix))
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// Failed returns nil when no result is FAIL (WARN and SKIP pass), else an
// error "N checks failed: name, ..." for a non-zero exit status.
func Failed(results []Result) error {
	var names []string
	for _, r := range results {
		if r.Status == Fail {
			names = append(names, r.Name)
		}
	}
	switch len(names) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("1 check failed: %s", names[0])
	}
	return fmt.Errorf("%d checks failed: %s", len(names), strings.Join(names, ", "))
}
