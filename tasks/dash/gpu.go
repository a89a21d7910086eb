package dash

import "github.com/grafana/grafana-foundation-sdk/go/dashboard"

// gpuVar selects GPUs by dcgm-exporter's gpu label (the index on the host).
func gpuVar() *dashboard.QueryVariableBuilder {
	return queryVar("gpu", "GPU", "GPUs as dcgm-exporter numbers them (label gpu).",
		"DCGM_FI_DEV_GPU_UTIL", "gpu", true, "")
}

const gpuSel = `{gpu=~"$gpu"}`

const gpuLegend = "GPU {{gpu}} {{modelName}}"

// gpuRow is the dcgm-exporter section every backend dashboard ends with.
// Units follow dcgm-exporter: utilisation in % (0-100), framebuffer in MiB,
// power in W, temperature in °C, clocks in MHz.
func gpuRow() []any {
	return []any{
		row("GPU (dcgm-exporter)"),
		ts{title: "GPU utilization", unit: unitPercent, min: zero, max: ptr(100.0), w: 8,
			desc: "DCGM_FI_DEV_GPU_UTIL: share of time in the sample period during which a kernel ran on the GPU, in % (0-100). " +
				"100 % does not mean every SM is busy; see SM activity and tensor core activity for how much of the GPU the kernels use.",
			queries: []q{{"DCGM_FI_DEV_GPU_UTIL" + gpuSel, gpuLegend}}},
		ts{title: "GPU framebuffer memory", unit: unitMiB, min: zero, w: 8, stack: true,
			desc: "DCGM_FI_DEV_FB_USED and DCGM_FI_DEV_FB_FREE in MiB. vLLM and TensorRT-LLM reserve most of the memory for the KV cache " +
				"at start (gpu_memory_utilization), so 'used' stays high while idle; the KV cache panels show how full the cache is.",
			queries: []q{
				{"DCGM_FI_DEV_FB_USED" + gpuSel, "used, " + gpuLegend},
				{"DCGM_FI_DEV_FB_FREE" + gpuSel, "free, " + gpuLegend},
			}},
		ts{title: "GPU power", unit: unitWatt, min: zero, w: 8,
			desc:    "DCGM_FI_DEV_POWER_USAGE: board power draw in watts.",
			queries: []q{{"DCGM_FI_DEV_POWER_USAGE" + gpuSel, gpuLegend}}},
		ts{title: "GPU temperature", unit: unitCelsius, w: 8,
			thresholds: steps("green", 80.0, "orange", 90.0, "red"),
			desc: "DCGM_FI_DEV_GPU_TEMP: GPU die temperature in °C. Data-center GPUs start to slow their clocks in the high 80s; " +
				"the lines mark 80 °C and 90 °C.",
			queries: []q{{"DCGM_FI_DEV_GPU_TEMP" + gpuSel, gpuLegend}}},
		ts{title: "GPU clocks", unit: unitHertz, min: zero, w: 8,
			desc: "DCGM_FI_DEV_SM_CLOCK and DCGM_FI_DEV_MEM_CLOCK (MHz, shown in Hz). SM clocks that drop under load point to power " +
				"or thermal throttling.",
			queries: []q{
				{"DCGM_FI_DEV_SM_CLOCK" + gpuSel + " * 1e6", "SM, " + gpuLegend},
				{"DCGM_FI_DEV_MEM_CLOCK" + gpuSel + " * 1e6", "memory, " + gpuLegend},
			}},
		ts{title: "SM and tensor core activity", unit: unitRatio, min: zero, max: one, w: 8,
			desc: "DCGM profiling fields (0-1): DCGM_FI_PROF_GR_ENGINE_ACTIVE (graphics/compute engine active) and " +
				"DCGM_FI_PROF_PIPE_TENSOR_ACTIVE (tensor pipes active). They need a GPU that supports DCGM profiling (data-center " +
				"GPUs); elsewhere this panel is empty.",
			queries: []q{
				{"DCGM_FI_PROF_GR_ENGINE_ACTIVE" + gpuSel, "engine, " + gpuLegend},
				{"DCGM_FI_PROF_PIPE_TENSOR_ACTIVE" + gpuSel, "tensor, " + gpuLegend},
			}},
	}
}
