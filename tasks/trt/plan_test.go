package trt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
)

func testSettings() Settings {
	return Settings{Format: stampFormat, Model: "Qwen/Qwen2.5-1.5B-Instruct", MaxBatchSize: 64, MaxInputLen: 3072,
		MaxOutputLen: 1024, DType: "half", TPSize: 2, KVCacheFraction: 0.9,
		Image: "nvcr.io/nvidia/tritonserver:26.07-trtllm-python-py3", TRTLLMRef: "v1.2.1"}
}

func testInput() PlanInput {
	return PlanInput{
		Settings: testSettings(), Project: "llmobs", Convert: "examples/models/core/qwen/convert_checkpoint.py",
		ExamplesDir: "/cache/trtllm-v1.2.1", OutDir: "/proj/serving/triton-trt/.build-1/out",
		HFVolume: "llmobs_hf-cache", HFToken: "hf_SECRETSECRET", User: "1000:1000", GPUs: "all",
		PID: 4242, Host: "box", Name: "llmobs-trt-builder-4242-1", DownloadCLI: "hf",
	}
}

func TestPlanDevices(t *testing.T) {
	for _, tc := range []struct {
		name  string
		gpus  string
		noGPU bool
		want  []container.DeviceRequest
		err   string
	}{
		{name: "all", gpus: "all", want: []container.DeviceRequest{{Driver: "nvidia", Count: -1, Capabilities: [][]string{{"gpu"}}}}},
		{name: "default", gpus: "", want: []container.DeviceRequest{{Driver: "nvidia", Count: -1, Capabilities: [][]string{{"gpu"}}}}},
		{name: "ids", gpus: "0, 2", want: []container.DeviceRequest{{Driver: "nvidia", DeviceIDs: []string{"0", "2"}, Capabilities: [][]string{{"gpu"}}}}},
		{name: "uuid", gpus: "GPU-8f6e2a1c-1111-2222-3333-444455556666", want: []container.DeviceRequest{{Driver: "nvidia", DeviceIDs: []string{"GPU-8f6e2a1c-1111-2222-3333-444455556666"}, Capabilities: [][]string{{"gpu"}}}}},
		{name: "no gpu", gpus: "all", noGPU: true, want: nil},
		{name: "bad id", gpus: "0;rm", err: `GPU "0;rm"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := testInput()
			in.GPUs, in.NoGPU = tc.gpus, tc.noGPU
			p, err := NewPlan(in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Create.HostConfig.DeviceRequests; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("device requests %+v, want %+v", got, tc.want)
			}
			for _, r := range p.Create.HostConfig.DeviceRequests {
				if r.Count != 0 && len(r.DeviceIDs) > 0 {
					t.Error("Count and DeviceIDs both set: the engine refuses that")
				}
			}
		})
	}
}

func TestPlanContainer(t *testing.T) {
	in := testInput()
	p, err := NewPlan(in)
	if err != nil {
		t.Fatal(err)
	}
	c := p.Create
	if c.Name != in.Name || c.Image != "" || c.Config.Image != in.Settings.Image { // the client refuses both set
		t.Errorf("name/image %q %q %q", c.Name, c.Image, c.Config.Image)
	}
	if !slices.Equal(c.Config.Entrypoint, []string{"sleep"}) || !slices.Equal(c.Config.Cmd, []string{"infinity"}) {
		t.Errorf("entrypoint %v cmd %v", c.Config.Entrypoint, c.Config.Cmd)
	}
	wantLabels := map[string]string{
		"llm-observability-pack.role": "trt-builder", "llm-observability-pack.project": "llmobs",
		"llm-observability-pack.pid": "4242", "llm-observability-pack.host": "box",
		"llm-observability-pack.model": "Qwen/Qwen2.5-1.5B-Instruct",
	}
	if !reflect.DeepEqual(c.Config.Labels, wantLabels) {
		t.Errorf("labels %v", c.Config.Labels)
	}
	wantMounts := []mount.Mount{
		{Type: mount.TypeBind, Source: "/cache/trtllm-v1.2.1", Target: "/trtllm", ReadOnly: true},
		{Type: mount.TypeBind, Source: "/proj/serving/triton-trt/.build-1/out", Target: "/out"},
		{Type: mount.TypeVolume, Source: "llmobs_hf-cache", Target: "/root/.cache/huggingface"},
	}
	if !reflect.DeepEqual(c.HostConfig.Mounts, wantMounts) {
		t.Errorf("mounts %+v", c.HostConfig.Mounts)
	}
	if c.HostConfig.Init == nil || !*c.HostConfig.Init || c.HostConfig.ShmSize != 2<<30 || c.HostConfig.AutoRemove {
		t.Errorf("init %v shm %d autoremove %v", c.HostConfig.Init, c.HostConfig.ShmSize, c.HostConfig.AutoRemove)
	}
	if len(c.HostConfig.Ulimits) != 0 || c.HostConfig.Privileged || len(c.HostConfig.CapAdd) != 0 {
		t.Errorf("ulimits %+v, privileged %v, caps %v", c.HostConfig.Ulimits, c.HostConfig.Privileged, c.HostConfig.CapAdd)
	}
	// The token is in no part of the container's configuration (docker
	// inspect shows it all), only in the download exec.
	js, _ := json.Marshal(c)
	if bytes.Contains(js, []byte("hf_SECRETSECRET")) {
		t.Error("the HF token is in the container's create options")
	}
	if p.ModelDir != "/root/.cache/huggingface/llm-observability-pack/Qwen--Qwen2.5-1.5B-Instruct" {
		t.Errorf("model dir %s", p.ModelDir)
	}
}

func TestPlanSteps(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mod   func(*PlanInput)
		steps [][]string
		users []string
		dlEnv []string
	}{
		{
			name: "hf cli, tp 2, half, token",
			mod:  func(*PlanInput) {},
			steps: [][]string{
				{"hf", "download", "Qwen/Qwen2.5-1.5B-Instruct", "--local-dir", "/root/.cache/huggingface/llm-observability-pack/Qwen--Qwen2.5-1.5B-Instruct"},
				{"python3", "/trtllm/examples/models/core/qwen/convert_checkpoint.py", "--model_dir", "/root/.cache/huggingface/llm-observability-pack/Qwen--Qwen2.5-1.5B-Instruct", "--output_dir", "/out/checkpoint", "--dtype", "float16", "--tp_size", "2"},
				{"trtllm-build", "--checkpoint_dir", "/out/checkpoint", "--output_dir", "/out/engine", "--max_batch_size", "64", "--max_input_len", "3072", "--max_seq_len", "4096", "--gemm_plugin", "auto", "--kv_cache_type", "paged"},
			},
			users: []string{"", "1000:1000", "1000:1000"},
			dlEnv: []string{"HF_TOKEN=hf_SECRETSECRET"},
		},
		{
			name: "older cli, no token, root, llama",
			mod: func(in *PlanInput) {
				in.DownloadCLI, in.HFToken, in.User = "huggingface-cli", "", ""
				in.Settings.Model, in.Settings.DType, in.Settings.TPSize = "meta-llama/Llama-3.2-1B", "bfloat16", 1
				in.Settings.MaxBatchSize, in.Settings.MaxInputLen, in.Settings.MaxOutputLen = 8, 100, 28
				in.Convert = "examples/models/core/llama/convert_checkpoint.py"
			},
			steps: [][]string{
				{"huggingface-cli", "download", "meta-llama/Llama-3.2-1B", "--local-dir", "/root/.cache/huggingface/llm-observability-pack/meta-llama--Llama-3.2-1B"},
				{"python3", "/trtllm/examples/models/core/llama/convert_checkpoint.py", "--model_dir", "/root/.cache/huggingface/llm-observability-pack/meta-llama--Llama-3.2-1B", "--output_dir", "/out/checkpoint", "--dtype", "bfloat16", "--tp_size", "1"},
				{"trtllm-build", "--checkpoint_dir", "/out/checkpoint", "--output_dir", "/out/engine", "--max_batch_size", "8", "--max_input_len", "100", "--max_seq_len", "128", "--gemm_plugin", "auto", "--kv_cache_type", "paged"},
			},
			users: []string{"", "", ""},
			dlEnv: nil,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := testInput()
			tc.mod(&in)
			p, err := NewPlan(in)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Steps) != len(tc.steps) {
				t.Fatalf("%d steps", len(p.Steps))
			}
			for i, st := range p.Steps {
				if !slices.Equal(st.Exec.Argv, tc.steps[i]) {
					t.Errorf("step %d argv\n got %q\nwant %q", i+1, st.Exec.Argv, tc.steps[i])
				}
				if st.Exec.User != tc.users[i] {
					t.Errorf("step %d user %q, want %q", i+1, st.Exec.User, tc.users[i])
				}
				if i > 0 && slices.ContainsFunc(st.Exec.Env, func(e string) bool { return strings.HasPrefix(e, "HF_TOKEN") }) {
					t.Errorf("step %d gets the token", i+1)
				}
			}
			if !slices.Equal(p.Steps[0].Exec.Env, tc.dlEnv) {
				t.Errorf("download env %q, want %q", p.Steps[0].Exec.Env, tc.dlEnv)
			}
			if got := fmt.Sprint(p.Steps[0].Title); !strings.Contains(got, in.Settings.Model) {
				t.Errorf("download title %q", got)
			}
		})
	}
}

// Input that would turn into shell syntax or flags never reaches a step.
func TestPlanRejectsHostileInput(t *testing.T) {
	for name, mod := range map[string]func(*PlanInput){
		"model with space":  func(in *PlanInput) { in.Settings.Model = "Qwen/Q --local-dir /etc" },
		"model as a flag":   func(in *PlanInput) { in.Settings.Model = "--help/x" },
		"model with ;":      func(in *PlanInput) { in.Settings.Model = "a/b;rm" },
		"dtype":             func(in *PlanInput) { in.Settings.DType = "int4; x" },
		"no examples":       func(in *PlanInput) { in.ExamplesDir = "" },
		"zero batch":        func(in *PlanInput) { in.Settings.MaxBatchSize = 0 },
		"tp 0":              func(in *PlanInput) { in.Settings.TPSize = 0 },
		"bad ref":           func(in *PlanInput) { in.Settings.TRTLLMRef = "main" },
		"kv fraction above": func(in *PlanInput) { in.Settings.KVCacheFraction = 2 },
	} {
		in := testInput()
		mod(&in)
		if _, err := NewPlan(in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestReleaseFor(t *testing.T) {
	for img, want := range map[string]string{
		"nvcr.io/nvidia/tritonserver:26.07-trtllm-python-py3":                 "v1.2.1",
		"nvcr.io/nvidia/tritonserver:26.04-trtllm-python-py3":                 "v1.2.1",
		"registry.local:5000/tritonserver:26.05-trtllm-python-py3@sha256:abc": "v1.2.1",
	} {
		got, err := ReleaseFor(img)
		if err != nil || got != want {
			t.Errorf("ReleaseFor(%s) = %q, %v", img, got, err)
		}
	}
	for _, img := range []string{"nvcr.io/nvidia/tritonserver:26.07-vllm-python-py3", "nvcr.io/nvidia/tritonserver:24.01-trtllm-python-py3", "llmobs-test/trtllm-standin:v1", "registry.local:5000/triton"} {
		_, err := ReleaseFor(img)
		if err == nil || !strings.Contains(err.Error(), EnvRef) || !strings.Contains(err.Error(), "TRITON_TRTLLM_IMAGE") {
			t.Errorf("ReleaseFor(%s): %v", img, err)
		}
	}
}

func TestFamilyOf(t *testing.T) {
	for model, want := range map[string]string{
		"Qwen/Qwen2.5-1.5B-Instruct":              "examples/models/core/qwen/convert_checkpoint.py",
		"meta-llama/Llama-3.1-8B-Instruct":        "examples/models/core/llama/convert_checkpoint.py",
		"mistralai/Mistral-7B-Instruct-v0.3":      "examples/models/core/llama/convert_checkpoint.py",
		"google/gemma-2-2b-it":                    "examples/models/core/gemma/convert_checkpoint.py",
		"microsoft/Phi-3-mini-4k-instruct":        "examples/models/core/phi/convert_checkpoint.py",
		"openai-community/gpt2":                   "examples/models/core/gpt/convert_checkpoint.py",
		"TinyLlama/TinyLlama-1.1B-Chat-v1.0":      "examples/models/core/llama/convert_checkpoint.py",
		"deepseek-ai/DeepSeek-R1-Distill-Qwen-7B": "examples/models/core/qwen/convert_checkpoint.py",
	} {
		f, err := familyOf(model)
		if err != nil || f.Convert != want {
			t.Errorf("familyOf(%s) = %+v, %v", model, f, err)
		}
	}
	if _, err := familyOf("bigscience/bloom-560m"); err == nil || !strings.Contains(err.Error(), "supported families") {
		t.Errorf("unknown family: %v", err)
	}
}
