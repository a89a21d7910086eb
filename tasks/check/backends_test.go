package check

import "testing"

// -backend takes a GPU backend's name, the SIM_PERSONALITY that imitates
// it, or a name of TensorRT-LLM; the simulator needs no GPU checks.
func TestGPUBackendNames(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "all": "", "vllm": "vllm", " VLLM ": "vllm", "triton": "triton", "triton-vllm": "triton",
		"trt": "trt", "triton-trt": "trt", "trtllm": "trt", "trt-llm": "trt", "TensorRT-LLM": "trt",
	} {
		if got, ok := gpuBackend(in); !ok || got != want {
			t.Errorf("gpuBackend(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"sim", "tgi", "triton-sim"} {
		if got, ok := gpuBackend(bad); ok {
			t.Errorf("gpuBackend(%q) = %q, accepted", bad, got)
		}
	}
	if got := gpuBackendNames(); got != "vllm, triton or trt" {
		t.Errorf("gpuBackendNames() = %q", got)
	}
}
