package trt

import (
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/engine"
)

// Labels of the builder container.
const (
	LabelRole    = "llm-observability-pack.role"
	RoleBuilder  = "trt-builder"
	LabelProject = "llm-observability-pack.project"
	LabelPID     = "llm-observability-pack.pid"
	LabelHost    = "llm-observability-pack.host"
	LabelModel   = "llm-observability-pack.model"
)

// Paths inside the builder container. Everything a step reads or writes
// is under /work, in directories of the host that belong to the host user
// the steps run as: nothing is under /root, which is mode 0700 and owned by
// root on the Ubuntu-based Triton images.
const (
	WorkMount     = "/work"
	OutMount      = "/work/out"    // the build's temporary directory: checkpoint and engine
	HomeMount     = "/work/home"   // HOME of the steps: tools write caches under it
	HFMount       = "/work/hf"     // HF_HOME: the Hugging Face cache, kept between builds
	FetchedMount  = "/work/trtllm" // a TensorRT-LLM release given with -examples, read-only
	checkpointDir = OutMount + "/checkpoint"
	engineOutDir  = OutMount + "/engine"
)

// Where a Triton TensorRT-LLM image keeps TensorRT-LLM's examples (the
// checkpoint converters) and the Triton model templates, both of the
// TensorRT-LLM installed in the image. Source: the final stage of
// triton-inference-server/tensorrtllm_backend's
// dockerfile/Dockerfile.triton.trt_llm_backend, the recipe of
// nvcr.io/nvidia/tritonserver:YY.MM-trtllm-python-py3 (25.04 to the 26.x
// branches), runs in WORKDIR /app: COPY .../tensorrt_llm/examples examples
// and COPY .../tensorrt_llm/triton_backend/all_models all_models (beside
// scripts/, tools/ and client/); builds on the 25.06 and 25.12 images call
// /app/examples/models/core/<family>/convert_checkpoint.py.
const (
	ImageExamplesDir  = "/app/examples"
	ImageAllModelsDir = "/app/all_models"
)

// Layout says where the builder finds the examples and the model templates.
type Layout struct {
	Examples  string // TensorRT-LLM's examples/, in the container
	AllModels string // TensorRT-LLM's triton_backend/all_models/, in the container
	HostDir   string // host directory mounted read-only at FetchedMount; "" for the image's own
}

// ImageLayout is the image's own examples and templates (the default).
func ImageLayout() Layout { return Layout{Examples: ImageExamplesDir, AllModels: ImageAllModelsDir} }

// FetchedLayout is a fetched release in hostDir, mounted into the builder.
func FetchedLayout(hostDir string) Layout {
	return Layout{Examples: FetchedMount + "/examples", AllModels: FetchedMount + "/triton_backend/all_models", HostDir: hostDir}
}

// PlanInput is everything the builder container and its steps depend on.
type PlanInput struct {
	Settings    Settings
	Project     string // compose project: labels
	Convert     string // convert_checkpoint.py, relative to the examples directory
	Layout      Layout
	OutDir      string // host directory mounted at OutMount
	HomeDir     string // host directory mounted at HomeMount
	HFDir       string // host directory mounted at HFMount
	HFToken     string // passed to the download step only; never printed
	User        string // "uid:gid" the container and every step run as
	GPUs        string // "all" or a comma list of GPU indexes or UUIDs
	NoGPU       bool   // omit the GPU device request (engines without GPUs)
	PID         int
	Host        string
	Name        string // container name
	DownloadCLI string // "hf" or "huggingface-cli"
}

// Step is one command of the build, run as an exec in the builder.
type Step struct {
	Title string
	Exec  engine.ExecSpec
}

// Plan is the builder container and the steps run in it.
type Plan struct {
	Create client.ContainerCreateOptions
	// Probe tells which Hugging Face CLI the image has: hf
	// (huggingface_hub >= 0.34) when it exits 0, else huggingface-cli.
	Probe        engine.ExecSpec
	Steps        []Step
	ModelDir     string // where the download puts the model, in the container
	HostModelDir string // the same directory on the host
}

var (
	gpuIDRE = regexp.MustCompile(`^([0-9]+|GPU-[0-9a-fA-F-]+|MIG-[0-9a-fA-F/-]+)$`)
	userRE  = regexp.MustCompile(`^[0-9]{1,10}:[0-9]{1,10}$`)
)

// DeviceRequest returns the GPU request for gpus ("" or "all" for every GPU,
// else a comma list of indexes or UUIDs).
func DeviceRequest(gpus string) (container.DeviceRequest, error) {
	req := container.DeviceRequest{Driver: "nvidia", Capabilities: [][]string{{"gpu"}}}
	if gpus == "" || gpus == "all" {
		req.Count = -1
		return req, nil
	}
	for _, id := range strings.Split(gpus, ",") {
		id = strings.TrimSpace(id)
		if !gpuIDRE.MatchString(id) {
			return req, fmt.Errorf("GPU %q: want all, or GPU indexes or UUIDs separated by commas (e.g. 0,1)", id)
		}
		req.DeviceIDs = append(req.DeviceIDs, id)
	}
	return req, nil
}

// modelRel is where the download puts a model, relative to the Hugging
// Face cache: kept there, so that a later build reuses it.
func modelRel(model string) string {
	return "models/" + strings.ReplaceAll(model, "/", "--")
}

// NewPlan builds the builder container's create options and its steps. It
// is pure: the same input gives the same plan, and nothing is run.
func NewPlan(in PlanInput) (Plan, error) {
	s := in.Settings
	if err := s.Validate(); err != nil {
		return Plan{}, err
	}
	for name, dir := range map[string]string{"out": in.OutDir, "home": in.HomeDir, "Hugging Face cache": in.HFDir} {
		if !filepath.IsAbs(dir) {
			return Plan{}, fmt.Errorf("incomplete builder plan: %s directory %q is not an absolute host path", name, dir)
		}
	}
	if in.Layout.Examples == "" || in.Layout.AllModels == "" || in.Convert == "" {
		return Plan{}, fmt.Errorf("incomplete builder plan: examples %q, templates %q, converter %q", in.Layout.Examples, in.Layout.AllModels, in.Convert)
	}
	if in.Layout.HostDir != "" && !filepath.IsAbs(in.Layout.HostDir) {
		return Plan{}, fmt.Errorf("incomplete builder plan: examples directory %q is not an absolute host path", in.Layout.HostDir)
	}
	if !userRE.MatchString(in.User) {
		return Plan{}, fmt.Errorf("builder user %q: want UID:GID", in.User)
	}
	var devices []container.DeviceRequest
	if !in.NoGPU {
		req, err := DeviceRequest(in.GPUs)
		if err != nil {
			return Plan{}, err
		}
		devices = []container.DeviceRequest{req}
	}
	init := true
	labels := map[string]string{
		LabelRole:    RoleBuilder,
		LabelProject: in.Project,
		LabelPID:     strconv.Itoa(in.PID),
		LabelHost:    in.Host,
		LabelModel:   s.Model,
	}
	mounts := []mount.Mount{
		{Type: mount.TypeBind, Source: in.OutDir, Target: OutMount},
		{Type: mount.TypeBind, Source: in.HomeDir, Target: HomeMount},
		{Type: mount.TypeBind, Source: in.HFDir, Target: HFMount},
	}
	if in.Layout.HostDir != "" {
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: in.Layout.HostDir, Target: FetchedMount, ReadOnly: true})
	}
	create := client.ContainerCreateOptions{
		Name: in.Name,
		Config: &container.Config{
			Image:      s.Image,
			Entrypoint: []string{"sleep"},
			Cmd:        []string{"infinity"},
			Labels:     labels,
			User:       in.User,
			WorkingDir: WorkMount,
		},
		HostConfig: &container.HostConfig{
			Init:    &init,
			ShmSize: 2 << 30,
			Mounts:  mounts,
			Resources: container.Resources{
				// No ulimits (memlock=-1 as for serving): building needs
				// none, and engines in user namespaces refuse them.
				DeviceRequests: devices,
			},
		},
	}

	cli := in.DownloadCLI
	if cli == "" {
		cli = "hf"
	}
	modelDir := path.Join(HFMount, modelRel(s.Model))
	// Every step runs as the host user, with HOME and HF_HOME in mounted
	// directories it owns. USER spares Python's getpass.getuser() (torch's
	// and triton's cache directories) a passwd entry the image lacks.
	base := []string{"HOME=" + HomeMount, "HF_HOME=" + HFMount, "USER=llmobs"}
	dlEnv := append([]string{}, base...)
	if in.HFToken != "" {
		dlEnv = append(dlEnv, "HF_TOKEN="+in.HFToken)
	}
	offline := append(append([]string{}, base...), "HF_HUB_OFFLINE=1")
	steps := []Step{
		{Title: "download " + s.Model, Exec: engine.ExecSpec{
			Argv: []string{cli, "download", s.Model, "--local-dir", modelDir},
			Env:  dlEnv, User: in.User, WorkingDir: OutMount,
		}},
		{Title: "convert checkpoint", Exec: engine.ExecSpec{
			Argv: []string{"python3", path.Join(in.Layout.Examples, in.Convert),
				"--model_dir", modelDir, "--output_dir", checkpointDir,
				"--dtype", s.ConvertDType(), "--tp_size", strconv.Itoa(s.TPSize)},
			Env: offline, User: in.User, WorkingDir: OutMount,
		}},
		{Title: "trtllm-build", Exec: engine.ExecSpec{
			Argv: []string{"trtllm-build",
				"--checkpoint_dir", checkpointDir, "--output_dir", engineOutDir,
				"--max_batch_size", strconv.Itoa(s.MaxBatchSize),
				"--max_input_len", strconv.Itoa(s.MaxInputLen),
				"--max_seq_len", strconv.Itoa(s.MaxInputLen + s.MaxOutputLen),
				"--gemm_plugin", "auto",
				"--kv_cache_type", "paged"},
			Env: offline, User: in.User, WorkingDir: OutMount,
		}},
	}
	probe := engine.ExecSpec{Argv: []string{"hf", "version"}, Env: base, User: in.User, WorkingDir: OutMount}
	return Plan{Create: create, Probe: probe, Steps: steps, ModelDir: modelDir,
		HostModelDir: filepath.Join(in.HFDir, filepath.FromSlash(modelRel(s.Model)))}, nil
}
