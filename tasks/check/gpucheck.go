package check

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strings"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/gpu"
)

const driverGuide = "https://docs.nvidia.com/datacenter/tesla/driver-installation-guide/"

func gpuChecks(ctx context.Context, o Options) []Result {
	ctx, cancel := withTimeout(ctx, o.Timeout)
	defer cancel()
	gpus, err := gpu.Query(ctx, o.NvidiaSmi)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return evaluateGPUs(o, gpus, err, ctx.Err())
}

// evaluateGPUs turns nvidia-smi's answer into results; it does no I/O.
func evaluateGPUs(o Options, gpus []gpu.GPU, queryErr, ctxErr error) []Result {
	smi := smiResult(o, gpus, queryErr, ctxErr)
	res := []Result{smi}
	if smi.Status == Fail {
		var names []string
		for _, b := range backends {
			if o.Backend == "" || o.Backend == b.key {
				names = append(names, "driver."+b.key)
			}
		}
		for _, b := range backends {
			if o.Backend == "" || o.Backend == b.key {
				names = append(names, "compute."+b.key)
			}
		}
		names = append(names, "memory")
		for _, n := range names {
			res = append(res, Result{Name: n, Status: Skip, Detail: n + ": no GPU information (nvidia-smi failed)"})
		}
		return res
	}
	for _, g := range gpus {
		res = append(res, gpuLine(g))
	}
	res = append(res, driverResults(o, gpus)...)
	res = append(res, computeResults(o, gpus)...)
	res = append(res, memoryResult(o, gpus))
	return res
}

func smiResult(o Options, gpus []gpu.GPU, err, ctxErr error) Result {
	r := Result{Name: "nvidia-smi", Status: Fail}
	switch {
	case err == nil && len(gpus) == 0:
		r.Detail = fmt.Sprintf("%s lists no GPUs", o.NvidiaSmi)
		r.Fix = "check that the GPU is visible (`lspci | grep -i nvidia`) and supported by the installed driver; in a VM or container, pass the GPU through"
	case err == nil:
		plural := "s"
		if len(gpus) == 1 {
			plural = ""
		}
		r.Status = Pass
		r.Detail = fmt.Sprintf("%s lists %d GPU%s", o.NvidiaSmi, len(gpus), plural)
	case gpu.IsNotFound(err):
		r.Detail = fmt.Sprintf("nvidia-smi not found at %s", o.NvidiaSmi)
		if errors.Is(err, exec.ErrNotFound) {
			r.Detail = fmt.Sprintf("%s not found in PATH", o.NvidiaSmi)
		}
		r.Fix = fmt.Sprintf("install the NVIDIA driver (%s or newer), which provides nvidia-smi: %s; if it is installed elsewhere, put nvidia-smi on PATH", o.neededDriver(), driverGuide)
	case gpu.NoDevices(err):
		r.Detail = fmt.Sprintf("%s finds no GPUs: %v", o.NvidiaSmi, err)
		r.Fix = "check that the GPU is visible (`lspci | grep -i nvidia`) and supported by the installed driver; in a VM or container, pass the GPU through"
	case gpu.NoDriver(err):
		r.Detail = "nvidia-smi cannot talk to the NVIDIA kernel driver: " + err.Error()
		r.Fix = "load the driver: reboot after installing or upgrading it; check `lsmod | grep nvidia` and `sudo dmesg | grep -i nvidia` (Secure Boot blocks unsigned modules; enroll the MOK key or use signed driver packages)"
	case errors.Is(ctxErr, context.DeadlineExceeded):
		r.Detail = fmt.Sprintf("%s did not answer in time: %v", o.NvidiaSmi, err)
		r.Fix = "a hanging nvidia-smi usually means a GPU fell off the bus or the driver is wedged: look for Xid errors in `sudo dmesg | grep -i xid` and reboot the host"
	default:
		var pe *gpu.ParseError
		r.Detail = err.Error()
		if errors.As(err, &pe) {
			r.Fix = "unexpected nvidia-smi output: run `nvidia-smi --query-gpu=index,name,compute_cap,driver_version,memory.total --format=csv` by hand and check the driver installation"
		} else {
			r.Fix = "run `nvidia-smi` by hand to see the problem; reinstall the NVIDIA driver if it keeps failing"
		}
	}
	return r
}

func gpuLine(g gpu.GPU) Result {
	r := Result{Name: fmt.Sprintf("gpu.%d", g.Index), Status: Pass}
	parts := []string{g.Name}
	var fixes []string
	if g.ComputeCap != "" {
		parts = append(parts, "compute "+g.ComputeCap)
	} else {
		r.Status = Warn
		parts = append(parts, "compute capability unknown")
		fixes = append(fixes, "upgrade the driver: nvidia-smi reports compute_cap from driver 510 on")
	}
	if g.MemoryTotalMiB >= 0 {
		parts = append(parts, fmt.Sprintf("%d MiB", g.MemoryTotalMiB))
	} else {
		r.Status = Warn
		parts = append(parts, "memory size unknown ([N/A])")
		fixes = append(fixes, "nvidia-smi does not report this GPU's memory (unified-memory GPUs such as GB10 do not): check that the model fits by hand")
	}
	parts = append(parts, "driver "+orUnknown(g.Driver), "CUDA "+orUnknown(g.CUDA))
	if g.MIG {
		r.Status = Warn
		parts = append(parts, "MIG enabled")
		fixes = append(fixes, fmt.Sprintf("containers get MIG instances, smaller than the whole GPU: disable MIG with `sudo nvidia-smi -i %d -mig 0` (then reset the GPU or reboot), or size %s to one instance", g.Index, EnvModel))
	}
	r.Detail = fmt.Sprintf("gpu %d: %s", g.Index, strings.Join(parts, ", "))
	r.Fix = strings.Join(fixes, "; ")
	return r
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func computeResults(o Options, gpus []gpu.GPU) []Result {
	// The weakest GPU decides: the container may be given any of them.
	var weakest *gpu.GPU
	wMaj, wMin := 0, 0
	for i := range gpus {
		maj, min, err := gpu.ParseComputeCap(gpus[i].ComputeCap)
		if err != nil {
			continue
		}
		if weakest == nil || maj < wMaj || (maj == wMaj && min < wMin) {
			weakest, wMaj, wMin = &gpus[i], maj, min
		}
	}
	var res []Result
	var ok []string
	for _, b := range backends {
		if weakest != nil && (wMaj > b.major || (wMaj == b.major && wMin >= b.minor)) {
			ok = append(ok, b.key)
		}
	}
	for _, b := range backends {
		if o.Backend != "" && o.Backend != b.key {
			continue
		}
		r := Result{Name: "compute." + b.key}
		need := fmt.Sprintf("%d.%d", b.major, b.minor)
		switch {
		case weakest == nil:
			r.Status = Warn
			r.Detail = fmt.Sprintf("%s: compute capability unknown, %s needs %s", b.key, b.name, need)
			r.Fix = "upgrade the NVIDIA driver so nvidia-smi reports compute_cap, or look the GPU up at https://developer.nvidia.com/cuda-gpus"
		case contains(ok, b.key):
			r.Status = Pass
			r.Detail = fmt.Sprintf("%s: compute capability %s (gpu %d %s) >= %s required by %s", b.key, weakest.ComputeCap, weakest.Index, weakest.Name, need, b.name)
		default:
			r.Status = Fail
			if o.Backend == "" && len(ok) > 0 {
				r.Status = Warn // another backend runs here
			}
			r.Detail = fmt.Sprintf("%s: compute capability %s (gpu %d %s) < %s required by %s", b.key, weakest.ComputeCap, weakest.Index, weakest.Name, need, b.name)
			r.Fix = fmt.Sprintf("%s needs %s or newer (compute capability %s)", b.name, b.arch, need)
			if len(ok) > 0 {
				var targets []string
				for _, k := range ok {
					targets = append(targets, EnvBackend+k)
				}
				r.Fix += "; on this GPU use " + strings.Join(targets, " or ")
			} else {
				r.Fix += "; no backend of this stack runs on this GPU"
			}
		}
		res = append(res, r)
	}
	return res
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func memoryResult(o Options, gpus []gpu.GPU) Result {
	r := Result{Name: "memory"}
	if strings.TrimSpace(o.Model) == "" {
		r.Status = Skip
		r.Detail = "memory: no model configured (" + EnvModel + ")"
		return r
	}
	m, err := ParseModelSize(o.Model, o.Dtype)
	if err != nil {
		r.Status = Warn
		r.Detail = fmt.Sprintf("memory: cannot infer the size of %s: %v", o.Model, err)
		r.Fix = fmt.Sprintf("check by hand that the weights plus ~20%% fit in GPU memory × %s (%.2f)", EnvGPUMemUtil, o.GPUMemoryUtilization)
		return r
	}
	est := EstimateMemory(m, o.MaxModelLen)
	need := est.Total / (1 << 20) // MiB
	util := o.GPUMemoryUtilization

	var known []gpu.GPU
	for _, g := range gpus {
		if g.MemoryTotalMiB > 0 {
			known = append(known, g)
		}
	}
	if len(known) == 0 {
		r.Status = Warn
		r.Detail = fmt.Sprintf("memory: %s needs %s; nvidia-smi does not report the GPU memory", o.Model, est)
		r.Fix = "check by hand that the GPU has that much memory free"
		return r
	}
	var small, busy []string
	smallest := known[0]
	for _, g := range known {
		if g.MemoryTotalMiB < smallest.MemoryTotalMiB {
			smallest = g
		}
		budget := float64(g.MemoryTotalMiB) * util
		if budget < need {
			small = append(small, fmt.Sprintf("gpu %d offers %.1f GiB (%d MiB × %.2f)", g.Index, budget/1024, g.MemoryTotalMiB, util))
			continue
		}
		if g.MemoryUsedMiB > 0 && float64(g.MemoryTotalMiB-g.MemoryUsedMiB) < budget {
			busy = append(busy, fmt.Sprintf("gpu %d has %d of %d MiB in use, but vLLM needs %.0f MiB (%.2f × total) free at start-up",
				g.Index, g.MemoryUsedMiB, g.MemoryTotalMiB, budget, util))
		}
	}
	head := fmt.Sprintf("memory: %s needs %s", o.Model, est)
	if o.MaxModelLen == 0 {
		head += fmt.Sprintf(", KV cache not counted (%s unset)", EnvMaxModelLen)
	}
	switch {
	case len(small) > 0:
		r.Status = Warn
		r.Detail = head + "; " + strings.Join(small, "; ")
		maxUtil := math.Min(0.95, need/float64(smallest.MemoryTotalMiB)+0.01)
		fix := []string{fmt.Sprintf("use a smaller or quantized model (%s, e.g. an FP8 or AWQ variant)", EnvModel)}
		if maxUtil > util && need < float64(smallest.MemoryTotalMiB)*0.95 {
			fix = append(fix, fmt.Sprintf("raise %s to %.2f", EnvGPUMemUtil, maxUtil))
		}
		if o.MaxModelLen > 0 && est.KVCache > 0 {
			fix = append(fix, "lower "+EnvMaxModelLen)
		}
		fix = append(fix, "or use a GPU with more memory")
		r.Fix = strings.Join(fix, ", ")
	case len(busy) > 0:
		r.Status = Warn
		r.Detail = head + "; " + strings.Join(busy, "; ")
		r.Fix = fmt.Sprintf("stop the processes using the GPU (listed by `nvidia-smi`), or lower %s", EnvGPUMemUtil)
	default:
		r.Status = Pass
		r.Detail = fmt.Sprintf("%s; gpu %d offers %.1f GiB (%d MiB × %.2f)", head, smallest.Index,
			float64(smallest.MemoryTotalMiB)*util/1024, smallest.MemoryTotalMiB, util)
	}
	return r
}
