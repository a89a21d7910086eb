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

	"github.com/llm-observability-pack/llm-observability-pack/tasks/engine"
)

func testSettings() Settings {
	return Settings{Format: stampFormat, Model: "Qwen/Qwen2.5-1.5B-Instruct", MaxBatchSize: 64, MaxInputLen: 3072,
		MaxOutputLen: 1024, DType: "half", TPSize: 2, KVCacheFraction: 0.9,
		Image: "nvcr.io/nvidia/tritonserver:26.07-trtllm-python-py3", Examples: ExamplesFromImage}
}

func testInput() PlanInput {
	return PlanInput{
		Settings: testSettings(), Project: "llmobs", Convert: "models/core/qwen/convert_checkpoint.py",
		Layout: ImageLayout(), OutDir: "/proj/serving/triton-trt/.build-1/out", HomeDir: "/proj/serving/triton-trt/.build-1/home",
		HFDir: "/home/u/.cache/llm-observability-pack/hf", HFToken: "hf_SECRETSECRET", User: "1000:1000", GPUs: "all",
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
}

// What each step runs, as whom, where, with which environment, and what is
// mounted: the host user's directories under /work, nothing under /root.
func TestPlanSteps(t *testing.T) {
	const (
		out  = "/proj/serving/triton-trt/.build-1/out"
		home = "/proj/serving/triton-trt/.build-1/home"
		hf   = "/home/u/.cache/llm-observability-pack/hf"
	)
	type exec struct {
		argv []string
		user string
		dir  string
		env  []string
	}
	for _, tc := range []struct {
		name      string
		mod       func(*PlanInput)
		user      string // the container's
		mounts    []mount.Mount
		modelDir  string
		hostModel string
		probe     exec
		steps     []exec
	}{
		{
			name: "image examples, host user, hf cli, tp 2, half, token",
			mod:  func(*PlanInput) {},
			user: "1000:1000",
			mounts: []mount.Mount{
				{Type: mount.TypeBind, Source: out, Target: "/work/out"},
				{Type: mount.TypeBind, Source: home, Target: "/work/home"},
				{Type: mount.TypeBind, Source: hf, Target: "/work/hf"},
			},
			modelDir:  "/work/hf/models/Qwen--Qwen2.5-1.5B-Instruct",
			hostModel: hf + "/models/Qwen--Qwen2.5-1.5B-Instruct",
			probe: exec{[]string{"hf", "version"}, "1000:1000", "/work/out",
				[]string{"HOME=/work/home", "HF_HOME=/work/hf", "USER=llmobs"}},
			steps: []exec{
				{[]string{"hf", "download", "Qwen/Qwen2.5-1.5B-Instruct", "--local-dir", "/work/hf/models/Qwen--Qwen2.5-1.5B-Instruct"},
					"1000:1000", "/work/out", []string{"HOME=/work/home", "HF_HOME=/work/hf", "USER=llmobs", "HF_TOKEN=hf_SECRETSECRET"}},
				{[]string{"python3", "/app/examples/models/core/qwen/convert_checkpoint.py", "--model_dir", "/work/hf/models/Qwen--Qwen2.5-1.5B-Instruct", "--output_dir", "/work/out/checkpoint", "--dtype", "float16", "--tp_size", "2"},
					"1000:1000", "/work/out", []string{"HOME=/work/home", "HF_HOME=/work/hf", "USER=llmobs", "HF_HUB_OFFLINE=1"}},
				{[]string{"trtllm-build", "--checkpoint_dir", "/work/out/checkpoint", "--output_dir", "/work/out/engine", "--max_batch_size", "64", "--max_input_len", "3072", "--max_seq_len", "4096", "--gemm_plugin", "auto", "--kv_cache_type", "paged"},
					"1000:1000", "/work/out", []string{"HOME=/work/home", "HF_HOME=/work/hf", "USER=llmobs", "HF_HUB_OFFLINE=1"}},
			},
		},
		{
			name: "fetched examples, rootless root, older cli, no token, llama",
			mod: func(in *PlanInput) {
				in.DownloadCLI, in.HFToken, in.User = "huggingface-cli", "", "0:0"
				in.Layout = FetchedLayout("/home/u/.cache/llm-observability-pack/examples-sha256-0123456789abcdef")
				in.Settings.Model, in.Settings.DType, in.Settings.TPSize = "meta-llama/Llama-3.2-1B", "bfloat16", 1
				in.Settings.MaxBatchSize, in.Settings.MaxInputLen, in.Settings.MaxOutputLen = 8, 100, 28
				in.Convert = "models/core/llama/convert_checkpoint.py"
			},
			user: "0:0",
			mounts: []mount.Mount{
				{Type: mount.TypeBind, Source: out, Target: "/work/out"},
				{Type: mount.TypeBind, Source: home, Target: "/work/home"},
				{Type: mount.TypeBind, Source: hf, Target: "/work/hf"},
				{Type: mount.TypeBind, Source: "/home/u/.cache/llm-observability-pack/examples-sha256-0123456789abcdef", Target: "/work/trtllm", ReadOnly: true},
			},
			modelDir:  "/work/hf/models/meta-llama--Llama-3.2-1B",
			hostModel: hf + "/models/meta-llama--Llama-3.2-1B",
			probe: exec{[]string{"hf", "version"}, "0:0", "/work/out",
				[]string{"HOME=/work/home", "HF_HOME=/work/hf", "USER=llmobs"}},
			steps: []exec{
				{[]string{"huggingface-cli", "download", "meta-llama/Llama-3.2-1B", "--local-dir", "/work/hf/models/meta-llama--Llama-3.2-1B"},
					"0:0", "/work/out", []string{"HOME=/work/home", "HF_HOME=/work/hf", "USER=llmobs"}},
				{[]string{"python3", "/work/trtllm/examples/models/core/llama/convert_checkpoint.py", "--model_dir", "/work/hf/models/meta-llama--Llama-3.2-1B", "--output_dir", "/work/out/checkpoint", "--dtype", "bfloat16", "--tp_size", "1"},
					"0:0", "/work/out", []string{"HOME=/work/home", "HF_HOME=/work/hf", "USER=llmobs", "HF_HUB_OFFLINE=1"}},
				{[]string{"trtllm-build", "--checkpoint_dir", "/work/out/checkpoint", "--output_dir", "/work/out/engine", "--max_batch_size", "8", "--max_input_len", "100", "--max_seq_len", "128", "--gemm_plugin", "auto", "--kv_cache_type", "paged"},
					"0:0", "/work/out", []string{"HOME=/work/home", "HF_HOME=/work/hf", "USER=llmobs", "HF_HUB_OFFLINE=1"}},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := testInput()
			tc.mod(&in)
			p, err := NewPlan(in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.Create.HostConfig.Mounts, tc.mounts) {
				t.Errorf("mounts\n got %+v\nwant %+v", p.Create.HostConfig.Mounts, tc.mounts)
			}
			if p.Create.Config.User != tc.user || p.Create.Config.WorkingDir != "/work" || len(p.Create.Config.Env) != 0 {
				t.Errorf("container user %q, dir %q, env %q", p.Create.Config.User, p.Create.Config.WorkingDir, p.Create.Config.Env)
			}
			if p.ModelDir != tc.modelDir || p.HostModelDir != tc.hostModel {
				t.Errorf("model dir %s (host %s)", p.ModelDir, p.HostModelDir)
			}
			check := func(what string, got engine.ExecSpec, want exec) {
				t.Helper()
				if !slices.Equal(got.Argv, want.argv) {
					t.Errorf("%s argv\n got %q\nwant %q", what, got.Argv, want.argv)
				}
				if got.User != want.user || got.WorkingDir != want.dir {
					t.Errorf("%s runs as %q in %q, want %q in %q", what, got.User, got.WorkingDir, want.user, want.dir)
				}
				if !slices.Equal(got.Env, want.env) {
					t.Errorf("%s env\n got %q\nwant %q", what, got.Env, want.env)
				}
			}
			check("probe", p.Probe, tc.probe)
			if len(p.Steps) != len(tc.steps) {
				t.Fatalf("%d steps", len(p.Steps))
			}
			for i, st := range p.Steps {
				check(fmt.Sprintf("step %d (%s)", i+1, st.Title), st.Exec, tc.steps[i])
			}
			if !strings.Contains(p.Steps[0].Title, in.Settings.Model) {
				t.Errorf("download title %q", p.Steps[0].Title)
			}
			// No step reads or writes the image's /root: it is 0700 root's.
			js, _ := json.Marshal(p)
			if bytes.Contains(js, []byte("/root")) {
				t.Errorf("the plan names /root: %s", js)
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
		"no converter":      func(in *PlanInput) { in.Convert = "" },
		"zero batch":        func(in *PlanInput) { in.Settings.MaxBatchSize = 0 },
		"tp 0":              func(in *PlanInput) { in.Settings.TPSize = 0 },
		"no examples":       func(in *PlanInput) { in.Settings.Examples = "" },
		"no user":           func(in *PlanInput) { in.User = "" },
		"user name":         func(in *PlanInput) { in.User = "root" },
		"relative out":      func(in *PlanInput) { in.OutDir = "out" },
		"no hf cache":       func(in *PlanInput) { in.HFDir = "" },
		"kv fraction above": func(in *PlanInput) { in.Settings.KVCacheFraction = 2 },
	} {
		in := testInput()
		mod(&in)
		if _, err := NewPlan(in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestFamilyOf(t *testing.T) {
	for model, want := range map[string]string{
		"Qwen/Qwen2.5-1.5B-Instruct":              "models/core/qwen/convert_checkpoint.py",
		"meta-llama/Llama-3.1-8B-Instruct":        "models/core/llama/convert_checkpoint.py",
		"mistralai/Mistral-7B-Instruct-v0.3":      "models/core/llama/convert_checkpoint.py",
		"google/gemma-2-2b-it":                    "models/core/gemma/convert_checkpoint.py",
		"microsoft/Phi-3-mini-4k-instruct":        "models/core/phi/convert_checkpoint.py",
		"openai-community/gpt2":                   "models/core/gpt/convert_checkpoint.py",
		"TinyLlama/TinyLlama-1.1B-Chat-v1.0":      "models/core/llama/convert_checkpoint.py",
		"deepseek-ai/DeepSeek-R1-Distill-Qwen-7B": "models/core/qwen/convert_checkpoint.py",
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

func TestHostUser(t *testing.T) {
	for _, tc := range []struct {
		name     string
		uid, gid int
		override string
		rootless bool
		user     string
		chown    *owner
		err      string
	}{
		{name: "a user", uid: 1000, gid: 1000, user: "1000:1000"},
		{name: "a user, own override", uid: 1000, gid: 100, override: "1000:100", user: "1000:100"},
		{name: "root", uid: 0, gid: 0, user: "0:0"},
		{name: "root for a user", uid: 0, gid: 0, override: "1000:1000", user: "1000:1000", chown: &owner{1000, 1000}},
		{name: "root for root", uid: 0, gid: 0, override: "0:0", user: "0:0"},
		{name: "rootless", uid: 1000, gid: 1000, rootless: true, user: "0:0"},
		{name: "rootless override", uid: 1000, gid: 1000, override: "1000:1000", rootless: true, err: "rootless"},
		{name: "a user for another", uid: 1000, gid: 1000, override: "1001:1001", err: "only root can build for another user"},
		{name: "malformed", uid: 0, gid: 0, override: "ubuntu", err: "want UID:GID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user, chown, err := hostUser(tc.uid, tc.gid, tc.override, tc.rootless)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), EnvUser) {
					t.Fatalf("err %v, want %q naming %s", err, tc.err, EnvUser)
				}
				return
			}
			if err != nil || user != tc.user || !reflect.DeepEqual(chown, tc.chown) {
				t.Errorf("hostUser = %q, %+v, %v; want %q, %+v", user, chown, err, tc.user, tc.chown)
			}
		})
	}
}

func TestParseExamplesSource(t *testing.T) {
	sum := "sha256:" + strings.Repeat("ab", 32)
	src, err := ParseExamplesSource("https://github.com/NVIDIA/TensorRT-LLM/archive/refs/tags/v1.2.1.tar.gz", sum)
	if err != nil {
		t.Fatal(err)
	}
	if src.Getter != "https://github.com/NVIDIA/TensorRT-LLM/archive/refs/tags/v1.2.1.tar.gz?checksum="+sum ||
		src.Key != "sha256-abababababababab" || !strings.HasSuffix(src.Stamp, " "+sum) {
		t.Errorf("archive: %+v", src)
	}
	if src, err := ParseExamplesSource("https://u:secret@mirror.example/x.tgz?token=1", sum); err != nil ||
		!strings.HasSuffix(src.Getter, "?token=1&checksum="+sum) || strings.Contains(src.Stamp, "secret") {
		t.Errorf("archive with a query and credentials: %+v %v", src, err)
	}
	if src, err := ParseExamplesSource("git::file:///tmp/trtllm?ref=v1.2.1", ""); err != nil || src.Getter != "git::file:///tmp/trtllm?ref=v1.2.1" || !strings.HasPrefix(src.Key, "git-") {
		t.Errorf("git: %+v %v", src, err)
	}
	for _, tc := range []struct{ src, sum, err string }{
		{"https://github.com/x/v1.2.1.tar.gz", "", "needs -checksum=sha256:HEX"},
		{"https://github.com/x/v1.2.1.tar.gz", "md5:abc", "want sha256:"},
		{"https://github.com/x/v1.2.1.tar.gz", "sha256:" + strings.Repeat("AB", 32), "lower-case"},
		{"https://github.com/x/v1.2.1.tar.gz?checksum=" + sum, sum, "not in the URL"},
		{"https://github.com/x/v1.2.1.zip", sum, "not a .tar.gz"},
		{"git::https://github.com/NVIDIA/TensorRT-LLM", "", "needs ?ref="},
		{"git::https://github.com/NVIDIA/TensorRT-LLM?ref=-x", "", "want a tag or commit"},
		{"git::https://github.com/NVIDIA/TensorRT-LLM?ref=v1.2.1", sum, "pinned by its ref"},
		{"file:///tmp/trtllm", sum, "want https://"},
		{"/tmp/trtllm", "", "want https://"},
		{"s3::https://bucket/x.tar.gz", sum, "want https://"},
	} {
		if _, err := ParseExamplesSource(tc.src, tc.sum); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s %s: %v, want %q", tc.src, tc.sum, err, tc.err)
		}
	}
}
