package check

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/gpu"
)

// captures returns the GPUs of a capture directory of ../gpu/testdata with
// the CUDA version of its banner or version.txt.
func captures(t *testing.T, dir string) []gpu.GPU {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "gpu", "testdata", dir, "query-csv.txt"))
	if err != nil {
		t.Fatal(err)
	}
	gpus, err := gpu.ParseQueryCSV(b)
	if err != nil {
		t.Fatal(err)
	}
	cuda := ""
	if b, err := os.ReadFile(filepath.Join("..", "gpu", "testdata", dir, "version.txt")); err == nil {
		v, err := gpu.ParseVersion(b)
		if err != nil {
			t.Fatal(err)
		}
		cuda = v.CUDA
	} else if b, err := os.ReadFile(filepath.Join("..", "gpu", "testdata", dir, "nvidia-smi.txt")); err == nil {
		h, err := gpu.ParseSMIHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		cuda = h.CUDA
	}
	for i := range gpus {
		gpus[i].CUDA = cuda
	}
	return gpus
}

func find(t *testing.T, res []Result, name string) Result {
	t.Helper()
	for _, r := range res {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no result %q in %+v", name, res)
	return Result{}
}

func mustOpts(t *testing.T, o Options) Options {
	t.Helper()
	o, err := o.normalize()
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// want is the expected status of a named result and strings its detail and
// fix must contain.
type want struct {
	name   string
	status Status
	detail []string
	fix    []string
}

func checkWants(t *testing.T, res []Result, wants []want) {
	t.Helper()
	for _, w := range wants {
		r := find(t, res, w.name)
		if r.Status != w.status {
			t.Errorf("%s: status %s, want %s (%s — %s)", w.name, r.Status, w.status, r.Detail, r.Fix)
		}
		for _, s := range w.detail {
			if !strings.Contains(r.Detail, s) {
				t.Errorf("%s: detail %q lacks %q", w.name, r.Detail, s)
			}
		}
		for _, s := range w.fix {
			if !strings.Contains(r.Fix, s) {
				t.Errorf("%s: fix %q lacks %q", w.name, r.Fix, s)
			}
		}
		if (r.Status == Fail || r.Status == Warn) && r.Fix == "" {
			t.Errorf("%s: %s without a fix", w.name, r.Status)
		}
	}
}

// The images of deploy/env.example.
const (
	exampleVLLM   = "vllm/vllm-openai:v0.20.0"
	exampleTriton = "nvcr.io/nvidia/tritonserver:26.07-vllm-python-py3"
	exampleTRT    = "nvcr.io/nvidia/tritonserver:26.07-trtllm-python-py3"
)

// withImages sets the images of deploy/env.example on o.
func withImages(o Options) Options {
	o.VLLMImage, o.TritonImage, o.TRTImage = exampleVLLM, exampleTriton, exampleTRT
	return o
}

func TestEvaluateGPUs(t *testing.T) {
	v100 := []gpu.GPU{{Index: 0, Name: "Tesla V100-SXM2-16GB", ComputeCap: "7.0", MemoryTotalMiB: 16384, MemoryUsedMiB: 0, Driver: "580.65.06", CUDA: "13.0"}}
	k80 := []gpu.GPU{{Index: 0, Name: "Tesla K80", ComputeCap: "3.7", MemoryTotalMiB: 11441, Driver: "470.57.02", CUDA: "11.4"}}
	mixed := []gpu.GPU{
		{Index: 0, Name: "NVIDIA A100-SXM4-80GB", ComputeCap: "8.0", MemoryTotalMiB: 81920, Driver: "580.65.06"},
		{Index: 1, Name: "Tesla T4", ComputeCap: "7.5", MemoryTotalMiB: 15360, Driver: "580.65.06"},
	}
	tests := []struct {
		name  string
		gpus  []gpu.GPU
		opts  Options
		wants []want
		fails int
	}{
		{"H200 all backends, small model", captures(t, "h200"), withImages(Options{Model: "Qwen/Qwen2.5-1.5B-Instruct", MaxModelLen: 4096}), []want{
			{"nvidia-smi", Pass, []string{"lists 1 GPU"}, nil},
			{"gpu.0", Pass, []string{"gpu 0: NVIDIA H200, compute 9.0, 143771 MiB, driver 580.159.04, CUDA 13.0"}, nil},
			{"driver.vllm", Pass, []string{"vllm: driver 580.159.04 >= 580.65.06 required by vllm/vllm-openai:v0.20.0 (CUDA 13.0) (supports CUDA 13.0)"}, nil},
			{"driver.triton", Warn, []string{"driver 580.159.04 < 610.43.02 that " + exampleTriton + " (CUDA 13.3.0) lists", "gpu 0 NVIDIA H200 is a data center GPU", "forward compatibility"},
				[]string{"upgrade the NVIDIA driver to 610.43.02 or newer"}},
			{"driver.trt", Warn, []string{"< 590.44.01", "(CUDA 13.1.0)", "R580 driver through CUDA forward compatibility"}, []string{"590.44.01"}},
			{"compute.vllm", Pass, []string{"9.0", ">= 7.5 required by vLLM's CUDA 13 images"}, nil},
			{"compute.triton", Pass, []string{">= 7.5"}, nil},
			{"compute.trt", Pass, []string{">= 8.0 required by TensorRT-LLM"}, nil},
			{"memory", Pass, []string{"Qwen/Qwen2.5-1.5B-Instruct needs ~", "gpu 0 offers 126.4 GiB (143771 MiB × 0.90)"}, nil},
		}, 0},
		{"Turing RTX 2070, driver 535, trt backend", captures(t, "rtx2070-535"), withImages(Options{Backend: "trt"}), []want{
			{"gpu.0", Pass, []string{"NVIDIA GeForce RTX 2070, compute 7.5, 8192 MiB, driver 535.104.05, CUDA 12.2"}, nil},
			{"driver.trt", Fail, []string{"trt: driver 535.104.05 < 590.44.01 required by " + exampleTRT + " (CUDA 13.1.0); R580 is the first driver of CUDA 13 (supports CUDA 12.2)"},
				[]string{"install NVIDIA driver 590.44.01 or newer", "nvidia-driver-590-open"}},
			{"compute.trt", Fail, []string{"compute capability 7.5 (gpu 0 NVIDIA GeForce RTX 2070) < 8.0 required by TensorRT-LLM"},
				[]string{"Ampere", "use mage up:vllm or mage up:triton"}},
			{"memory", Skip, []string{"no model configured"}, nil},
		}, 2},
		{"Turing, driver 535 accepted with -mindriver=535, all backends", captures(t, "rtx2070-535"), withImages(Options{MinDriver: 535}), []want{
			{"driver.vllm", Pass, []string{"vllm: driver 535.104.05 >= 535 (-mindriver=535)"}, nil},
			{"driver.triton", Pass, []string{">= 535 (-mindriver=535)"}, nil},
			{"driver.trt", Pass, []string{">= 535 (-mindriver=535)"}, nil},
			{"compute.vllm", Pass, nil, nil},
			{"compute.triton", Pass, nil, nil},
			{"compute.trt", Warn, []string{"< 8.0"}, []string{"use mage up:vllm or mage up:triton"}},
		}, 0},
		{"low memory: 7B bf16 on 8 GiB", captures(t, "rtx2070-535"), Options{MinDriver: 535, Backend: "vllm", Model: "Qwen/Qwen2.5-7B-Instruct", GPUMemoryUtilization: 0.9}, []want{
			{"memory", Warn, []string{"Qwen/Qwen2.5-7B-Instruct needs ~15.8 GiB", "7B params × 2 B bf16", "gpu 0 offers 7.2 GiB (8192 MiB × 0.90)", "KV cache not counted"},
				[]string{"smaller or quantized model (MODEL_NAME", "more memory"}},
		}, 0},
		{"low utilization: raise it", captures(t, "rtx2070-535"), Options{MinDriver: 535, Backend: "vllm", Model: "Qwen/Qwen2.5-1.5B-Instruct", GPUMemoryUtilization: 0.3, MaxModelLen: 2048}, []want{
			{"memory", Warn, []string{"gpu 0 offers 2.4 GiB (8192 MiB × 0.30)", "KV cache"}, []string{"raise GPU_MEMORY_UTILIZATION to 0.", "lower MAX_MODEL_LEN"}},
		}, 0},
		{"busy GPU among four H100s", captures(t, "h100x4"), Options{MinDriver: 570, Model: "meta-llama/Llama-3.1-8B-Instruct"}, []want{
			{"gpu.3", Pass, []string{"gpu 3: NVIDIA H100 80GB HBM3, compute 9.0, 81559 MiB, driver 570.133.20, CUDA 12.8"}, nil},
			{"driver.vllm", Pass, []string{">= 570 (-mindriver=570)"}, nil},
			{"memory", Warn, []string{"gpu 2 has 72431 of 81559 MiB in use, but vLLM needs 73403 MiB (0.90 × total) free"}, []string{"stop the processes"}},
		}, 0},
		{"driver 570 on H100s: below R580, no backend runs", captures(t, "h100x4"), withImages(Options{}), []want{
			{"driver.vllm", Fail, []string{"vllm: driver 570.133.20 < 580.65.06 required by vllm/vllm-openai:v0.20.0 (CUDA 13.0); R580 is the first driver of CUDA 13 (supports CUDA 12.8)"},
				[]string{"install NVIDIA driver 580.65.06 or newer", "nvidia-driver-580-server-open"}},
			{"driver.triton", Fail, []string{"< 610.43.02"}, []string{"or set TRITON_VLLM_IMAGE=nvcr.io/nvidia/tritonserver:25.03-vllm-python-py3 in deploy/.env"}},
			{"driver.trt", Fail, []string{"< 590.44.01"}, []string{"or set TRITON_TRTLLM_IMAGE=nvcr.io/nvidia/tritonserver:25.05-trtllm-python-py3 in deploy/.env"}},
		}, 3},
		{"MIG enabled", captures(t, "a100-mig"), Options{MinDriver: 550, Backend: "trt"}, []want{
			{"gpu.0", Warn, []string{"MIG enabled"}, []string{"sudo nvidia-smi -i 0 -mig 0"}},
			{"gpu.1", Pass, nil, nil},
			{"compute.trt", Pass, nil, nil},
		}, 0},
		{"memory [N/A] on GB10", captures(t, "gb10-na"), withImages(Options{Model: "Qwen/Qwen3-4B-FP8"}), []want{
			{"gpu.0", Warn, []string{"memory size unknown ([N/A])", "CUDA 13.0"}, []string{"unified-memory"}},
			{"memory", Warn, []string{"4B params × 1 B fp8", "does not report the GPU memory"}, []string{"by hand"}},
			{"compute.trt", Pass, []string{"12.1"}, nil},
		}, 0},
		{"model size unknown", captures(t, "h200"), Options{Model: "microsoft/phi-2"}, []want{
			{"memory", Warn, []string{"cannot infer the size of microsoft/phi-2"}, []string{"GPU_MEMORY_UTILIZATION (0.90)"}},
		}, 0},
		{"Volta: the CUDA 13 images run nowhere", v100, Options{}, []want{
			{"compute.vllm", Fail, []string{"7.0", "< 7.5 required by vLLM's CUDA 13 images"}, []string{"Turing", "no backend of this stack runs on this GPU"}},
			{"compute.triton", Fail, []string{"7.0", "< 7.5 required by current Triton images"}, []string{"Turing"}},
			{"compute.trt", Fail, nil, nil},
		}, 3},
		{"Volta, triton backend", v100, Options{Backend: "triton-vllm"}, []want{
			{"compute.triton", Fail, nil, []string{"Turing"}},
		}, 1},
		{"Kepler: nothing runs", k80, Options{MinDriver: 470}, []want{
			{"compute.vllm", Fail, []string{"3.7", "< 7.5"}, []string{"Turing", "no backend of this stack runs on this GPU"}},
			{"compute.triton", Fail, nil, nil},
			{"compute.trt", Fail, nil, nil},
		}, 3},
		{"mixed GPUs: the weakest decides", mixed, Options{Backend: "trt"}, []want{
			{"compute.trt", Fail, []string{"gpu 1 Tesla T4"}, nil},
		}, 1},
		{"compute capability unknown", []gpu.GPU{{Index: 0, Name: "Tesla K80", MemoryTotalMiB: 11441, Driver: "470.57.02"}}, Options{MinDriver: 470, Backend: "vllm"}, []want{
			{"gpu.0", Warn, []string{"compute capability unknown"}, []string{"driver 510"}},
			{"compute.vllm", Warn, []string{"unknown"}, []string{"cuda-gpus"}},
		}, 0},
		{"driver unknown", []gpu.GPU{{Index: 0, Name: "X", ComputeCap: "9.0", MemoryTotalMiB: 1000}}, withImages(Options{Backend: "vllm"}), []want{
			{"driver.vllm", Warn, []string{"driver version unknown"}, []string{"580.65.06 or newer"}},
		}, 0},
		{"no GPUs", []gpu.GPU{}, Options{Backend: "vllm"}, []want{
			{"nvidia-smi", Fail, []string{"lists no GPUs"}, []string{"lspci"}},
			{"driver.vllm", Skip, nil, nil},
			{"compute.vllm", Skip, nil, nil},
			{"memory", Skip, nil, nil},
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := evaluateGPUs(mustOpts(t, tt.opts), tt.gpus, nil, nil)
			checkWants(t, res, tt.wants)
			fails := 0
			for _, r := range res {
				if r.Status == Fail {
					fails++
				}
			}
			if fails != tt.fails {
				t.Errorf("%d FAIL, want %d: %+v", fails, tt.fails, res)
			}
			if (Failed(res) == nil) != (tt.fails == 0) {
				t.Errorf("Failed = %v with %d failures", Failed(res), fails)
			}
		})
	}
}

func TestEvaluateQueryErrors(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		ctxErr error
		want   want
	}{
		{"not in PATH", &gpu.ExecError{Path: "nvidia-smi", ExitCode: -1, Err: &exec.Error{Name: "nvidia-smi", Err: exec.ErrNotFound}}, nil,
			want{"nvidia-smi", Fail, []string{"nvidia-smi not found in PATH"}, []string{"install the NVIDIA driver (610.43.02 or newer)"}}},
		{"no driver", &gpu.ExecError{Path: "nvidia-smi", ExitCode: 9, Output: "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."}, nil,
			want{"nvidia-smi", Fail, []string{"cannot talk to the NVIDIA kernel driver"}, []string{"lsmod | grep nvidia", "Secure Boot"}}},
		{"hung", &gpu.ExecError{Path: "nvidia-smi", ExitCode: -1, Err: errors.New("signal: killed")}, context.DeadlineExceeded,
			want{"nvidia-smi", Fail, []string{"did not answer in time"}, []string{"Xid"}}},
		{"garbage", fmt.Errorf("nvidia-smi: %w", &gpu.ParseError{Line: 1, Msg: "not CSV"}), nil,
			want{"nvidia-smi", Fail, []string{"not CSV"}, []string{"--format=csv"}}},
		{"no devices", &gpu.ExecError{Path: "nvidia-smi", ExitCode: 6, Output: "No devices were found"}, nil,
			want{"nvidia-smi", Fail, []string{"finds no GPUs", "status 6"}, []string{"lspci"}}},
		{"other failure", &gpu.ExecError{Path: "nvidia-smi", ExitCode: 255, Output: "Unable to determine the device handle for GPU0000:01:00.0: Unknown Error"}, nil,
			want{"nvidia-smi", Fail, []string{"Unknown Error"}, []string{"run `nvidia-smi` by hand"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := evaluateGPUs(mustOpts(t, withImages(Options{})), nil, tt.err, tt.ctxErr)
			checkWants(t, res, []want{tt.want})
			if len(res) != 8 {
				t.Fatalf("want nvidia-smi + 7 skipped (3 driver, 3 compute, memory), got %+v", res)
			}
			for _, r := range res[1:] {
				if r.Status != Skip {
					t.Errorf("%s: %s, want SKIP", r.Name, r.Status)
				}
			}
			if err := Failed(res); err == nil || err.Error() != "1 check failed: nvidia-smi" {
				t.Errorf("Failed = %v", err)
			}
		})
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, bad := range []struct {
		o    Options
		want string
	}{
		{Options{Backend: "tgi"}, `backend "tgi": expected vllm, triton or trt`},
		{Options{GPUMemoryUtilization: 1.5}, "GPU_MEMORY_UTILIZATION=1.5: expected a fraction in (0, 1]"},
		{Options{GPUMemoryUtilization: -0.1}, "GPU_MEMORY_UTILIZATION"},
		{Options{MaxModelLen: -1}, "MAX_MODEL_LEN=-1"},
		{Options{MinDriver: -1}, "-mindriver=-1"},
		{Options{Dtype: "int8"}, `DTYPE="int8"`},
	} {
		if _, err := GPU(context.Background(), bad.o); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%+v: err %v, want %q", bad.o, err, bad.want)
		}
		if _, err := Host(context.Background(), bad.o); err == nil {
			t.Errorf("Host accepted %+v", bad.o)
		}
		if _, err := All(context.Background(), bad.o); err == nil {
			t.Errorf("All accepted %+v", bad.o)
		}
	}
	o := mustOpts(t, Options{Backend: " TensorRT-LLM "})
	if o.Backend != "trt" || o.MinDriver != 0 || o.GPUMemoryUtilization != 0.9 || o.NvidiaSmi != "nvidia-smi" {
		t.Errorf("normalized %+v", o)
	}
}
