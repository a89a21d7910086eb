package trt

import (
	"fmt"
	"path"
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

// Paths inside the builder container.
const (
	ExamplesMount = "/trtllm"                  // the examples cache, read-only
	OutMount      = "/out"                     // the build's temporary directory
	HFCacheMount  = "/root/.cache/huggingface" // the Hugging Face cache volume
	checkpointDir = OutMount + "/checkpoint"
	engineOutDir  = OutMount + "/engine"
)

// PlanInput is everything the builder container and its steps depend on.
type PlanInput struct {
	Settings    Settings
	Project     string // compose project: labels and the HF cache volume
	Convert     string // convert_checkpoint.py, relative to the examples root
	ExamplesDir string // host path of the examples cache
	OutDir      string // host path mounted at /out
	HFVolume    string // named volume for the Hugging Face cache
	HFToken     string // passed to the download step only; never printed
	User        string // "uid:gid" for the steps that write /out, "" for root
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
	Create   client.ContainerCreateOptions
	Steps    []Step
	ModelDir string // where the download puts the model, in the container
}

var gpuIDRE = regexp.MustCompile(`^([0-9]+|GPU-[0-9a-fA-F-]+|MIG-[0-9a-fA-F/-]+)$`)

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

// ModelDirFor is where the download step puts a model, inside the builder:
// in the Hugging Face cache volume, so that a later build reuses it.
func ModelDirFor(model string) string {
	return path.Join(HFCacheMount, "llm-observability-pack", strings.ReplaceAll(model, "/", "--"))
}

// NewPlan builds the builder container's create options and its steps. It
// is pure: the same input gives the same plan, and nothing is run.
func NewPlan(in PlanInput) (Plan, error) {
	s := in.Settings
	if err := s.Validate(); err != nil {
		return Plan{}, err
	}
	if in.ExamplesDir == "" || in.OutDir == "" || in.HFVolume == "" || in.Convert == "" {
		return Plan{}, fmt.Errorf("incomplete builder plan: examples %q, out %q, volume %q, converter %q", in.ExamplesDir, in.OutDir, in.HFVolume, in.Convert)
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
	create := client.ContainerCreateOptions{
		Name: in.Name,
		Config: &container.Config{
			Image:      s.Image,
			Entrypoint: []string{"sleep"},
			Cmd:        []string{"infinity"},
			Labels:     labels,
			WorkingDir: "/tmp",
		},
		HostConfig: &container.HostConfig{
			Init:    &init,
			ShmSize: 2 << 30,
			Mounts: []mount.Mount{
				{Type: mount.TypeBind, Source: in.ExamplesDir, Target: ExamplesMount, ReadOnly: true},
				{Type: mount.TypeBind, Source: in.OutDir, Target: OutMount},
				{Type: mount.TypeVolume, Source: in.HFVolume, Target: HFCacheMount},
			},
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
	modelDir := ModelDirFor(s.Model)
	var dlEnv []string
	if in.HFToken != "" {
		dlEnv = append(dlEnv, "HF_TOKEN="+in.HFToken)
	}
	// The steps that write /out run as the calling user, so that the files
	// they leave on the host are theirs; HOME points somewhere writable.
	userEnv := []string{"HOME=/tmp", "HF_HUB_OFFLINE=1"}
	steps := []Step{
		{Title: "download " + s.Model, Exec: engine.ExecSpec{
			Argv: []string{cli, "download", s.Model, "--local-dir", modelDir},
			Env:  dlEnv,
		}},
		{Title: "convert checkpoint", Exec: engine.ExecSpec{
			Argv: []string{"python3", path.Join(ExamplesMount, in.Convert),
				"--model_dir", modelDir, "--output_dir", checkpointDir,
				"--dtype", s.ConvertDType(), "--tp_size", strconv.Itoa(s.TPSize)},
			Env: userEnv, User: in.User, WorkingDir: OutMount,
		}},
		{Title: "trtllm-build", Exec: engine.ExecSpec{
			Argv: []string{"trtllm-build",
				"--checkpoint_dir", checkpointDir, "--output_dir", engineOutDir,
				"--max_batch_size", strconv.Itoa(s.MaxBatchSize),
				"--max_input_len", strconv.Itoa(s.MaxInputLen),
				"--max_seq_len", strconv.Itoa(s.MaxInputLen + s.MaxOutputLen),
				"--gemm_plugin", "auto",
				"--kv_cache_type", "paged"},
			Env: userEnv, User: in.User, WorkingDir: OutMount,
		}},
	}
	return Plan{Create: create, Steps: steps, ModelDir: modelDir}, nil
}
