package check

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/env"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/gpu"
)

// TestDriverFloorMatrix: each image of deploy/env.example × each kind of
// GPU × drivers around the floors. P = PASS, W = WARN, F = FAIL, for a data
// center GPU, a GeForce, a workstation card and a GPU nvidia-smi does not
// tell, in that order.
func TestDriverFloorMatrix(t *testing.T) {
	kinds := []gpu.GPU{
		{Index: 0, Name: "NVIDIA H200", Brand: "NVIDIA", ComputeCap: "9.0", MemoryTotalMiB: 143771},
		{Index: 0, Name: "NVIDIA GeForce RTX 4090", ComputeCap: "8.9", MemoryTotalMiB: 24564},
		{Index: 0, Name: "NVIDIA RTX A6000", ComputeCap: "8.6", MemoryTotalMiB: 49140},
		{Index: 0, Name: "NVIDIA GB10", Brand: "NVIDIA", ComputeCap: "12.1", MemoryTotalMiB: -1},
	}
	tests := []struct {
		backend string // floors: vllm 580.65.06, trt 590.44.01, triton 610.43.02
		driver  string
		want    string
	}{
		{"vllm", "535.104.05", "FFFF"},
		{"vllm", "580.65.06", "PPPP"},
		{"vllm", "580.159.04", "PPPP"},
		{"vllm", "610.43.02", "PPPP"},
		{"trt", "535.104.05", "FFFF"},
		{"trt", "580.159.04", "WFFW"},
		{"trt", "590.44.00", "WFFW"},
		{"trt", "590.44.01", "PPPP"},
		{"trt", "610.43.02", "PPPP"},
		{"triton", "535.104.05", "FFFF"},
		{"triton", "575.57.08", "FFFF"}, // below R580: no forward compatibility assumed
		{"triton", "580.159.04", "WFFW"},
		{"triton", "590.48.01", "WFFW"},
		{"triton", "610.43.02", "PPPP"},
	}
	letter := map[Status]byte{Pass: 'P', Warn: 'W', Fail: 'F'}
	for _, tt := range tests {
		t.Run(tt.backend+"/"+tt.driver, func(t *testing.T) {
			got := make([]byte, len(kinds))
			for i, g := range kinds {
				g.Driver = tt.driver
				res := evaluateGPUs(mustOpts(t, withImages(Options{Backend: tt.backend})), []gpu.GPU{g}, nil, nil)
				r := find(t, res, "driver."+tt.backend)
				got[i] = letter[r.Status]
				if r.Status != Pass && r.Fix == "" {
					t.Errorf("%s: %s without a fix", g.Name, r.Status)
				}
				switch r.Status {
				case Warn:
					if g.Class() == gpu.ClassDataCenter && !strings.Contains(r.Detail, "forward compatibility") {
						t.Errorf("%s: WARN without the forward-compatibility explanation: %s", g.Name, r.Detail)
					}
					if !strings.Contains(r.Fix, "upgrade the NVIDIA driver to ") {
						t.Errorf("%s: fix %q names no driver to upgrade to", g.Name, r.Fix)
					}
				case Fail:
					if !strings.Contains(r.Fix, "install NVIDIA driver ") {
						t.Errorf("%s: fix %q", g.Name, r.Fix)
					}
				}
			}
			if string(got) != tt.want {
				t.Errorf("statuses %s, want %s (data center, GeForce, workstation, unknown)", got, tt.want)
			}
		})
	}
}

func TestDriverFloorCases(t *testing.T) {
	h200 := captures(t, "h200")[0]
	geforce := gpu.GPU{Index: 0, Name: "NVIDIA GeForce RTX 4090", ComputeCap: "8.9", MemoryTotalMiB: 24564, Driver: "580.95.05", CUDA: "13.0"}
	tests := []struct {
		name  string
		gpus  []gpu.GPU
		opts  Options
		wants []want
	}{
		{"GeForce on R580: Triton images fail, suggest the newest image for this driver", []gpu.GPU{geforce}, withImages(Options{Backend: "triton"}), []want{
			{"driver.triton", Fail, []string{"triton: driver 580.95.05 < 610.43.02 required by " + exampleTriton + " (CUDA 13.3.0)",
				"gpu 0 NVIDIA GeForce RTX 4090 is a GeForce GPU, which gets no CUDA forward compatibility"},
				[]string{"install NVIDIA driver 610.43.02 or newer", "nvidia-driver-610-open",
					"or set TRITON_VLLM_IMAGE=nvcr.io/nvidia/tritonserver:25.11-vllm-python-py3 in deploy/.env",
					"-mindriver=580 to accept CUDA minor version compatibility"}},
		}},
		{"GeForce on R580, every backend: vLLM runs, so the others are WARN", []gpu.GPU{geforce}, withImages(Options{}), []want{
			{"driver.vllm", Pass, nil, nil},
			{"driver.triton", Warn, []string{"< 610.43.02"}, []string{"with this driver use mage up:vllm"}},
			{"driver.trt", Warn, []string{"< 590.44.01"}, []string{"TRITON_TRTLLM_IMAGE=nvcr.io/nvidia/tritonserver:26.02-trtllm-python-py3", "with this driver use mage up:vllm"}},
		}},
		{"unknown tag: floor unknown, the table is named", []gpu.GPU{h200}, Options{Backend: "vllm", VLLMImage: "vllm/vllm-openai:latest"}, []want{
			{"driver.vllm", Warn, []string{"the driver that VLLM_IMAGE=vllm/vllm-openai:latest needs is unknown", "ImageFloors, tasks/check/driverfloor.go", "driver 580.159.04 installed"},
				[]string{"add a row to ImageFloors in tasks/check/driverfloor.go", "-mindriver=N"}},
		}},
		{"no image configured", []gpu.GPU{h200}, Options{Backend: "trt"}, []want{
			{"driver.trt", Warn, []string{"no image configured (TRITON_TRTLLM_IMAGE)"}, []string{"set TRITON_TRTLLM_IMAGE in deploy/.env"}},
		}},
		{"a mirror of the image has the same floor", []gpu.GPU{geforce}, Options{Backend: "trt", TRTImage: "registry.example.com:5000/nvidia/tritonserver:26.07-trtllm-python-py3"}, []want{
			{"driver.trt", Fail, []string{"< 590.44.01"}, []string{"TRITON_TRTLLM_IMAGE=registry.example.com:5000/nvidia/tritonserver:26.02-trtllm-python-py3"}},
		}},
		{"vLLM on a CUDA 12.9 driver: the -cu129 tag", []gpu.GPU{{Index: 0, Name: "NVIDIA GeForce RTX 4090", ComputeCap: "8.9", MemoryTotalMiB: 24564, Driver: "575.64.03"}},
			withImages(Options{Backend: "vllm"}), []want{
				{"driver.vllm", Fail, []string{"< 580.65.06", "R580 is the first driver of CUDA 13"}, []string{"-cu129 tag suffix"}},
			}},
		{"vLLM -cu129 image on that driver passes", []gpu.GPU{{Index: 0, Name: "NVIDIA GeForce RTX 4090", ComputeCap: "8.9", MemoryTotalMiB: 24564, Driver: "575.64.03"}},
			Options{Backend: "vllm", VLLMImage: "vllm/vllm-openai:v0.20.0-cu129"}, []want{
				{"driver.vllm", Pass, []string{">= 575.51.03 required by vllm/vllm-openai:v0.20.0-cu129 (CUDA 12.9)"}, nil},
			}},
		{"-mindriver overrides the image floors", []gpu.GPU{geforce}, withImages(Options{Backend: "triton", MinDriver: 580}), []want{
			{"driver.triton", Pass, []string{"triton: driver 580.95.05 >= 580 (-mindriver=580)"}, nil},
		}},
		{"-mindriver above the driver fails on any GPU", []gpu.GPU{h200}, withImages(Options{Backend: "vllm", MinDriver: 610}), []want{
			{"driver.vllm", Fail, []string{"driver 580.159.04 < 610 (-mindriver=610)"}, []string{"install NVIDIA driver 610 or newer", "-mindriver=580"}},
		}},
		{"one GeForce among data center GPUs decides", []gpu.GPU{h200, {Index: 1, Name: "NVIDIA GeForce RTX 4090", ComputeCap: "8.9", MemoryTotalMiB: 24564, Driver: "580.159.04"}},
			withImages(Options{Backend: "trt"}), []want{
				{"driver.trt", Fail, []string{"gpu 1 NVIDIA GeForce RTX 4090 is a GeForce GPU"}, nil},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkWants(t, evaluateGPUs(mustOpts(t, tt.opts), tt.gpus, nil, nil), tt.wants)
		})
	}
}

func TestSplitImageAndFloorFor(t *testing.T) {
	for in, want := range map[string][2]string{
		"nvcr.io/nvidia/tritonserver:26.07-vllm-python-py3":  {"nvidia/tritonserver", "26.07-vllm-python-py3"},
		"vllm/vllm-openai:v0.20.0":                           {"vllm/vllm-openai", "v0.20.0"},
		"docker.io/vllm/vllm-openai:v0.20.0@sha256:0123abcd": {"vllm/vllm-openai", "v0.20.0"},
		"localhost:5000/vllm/vllm-openai:v0.20.1":            {"vllm/vllm-openai", "v0.20.1"},
		"localhost/vllm-openai":                              {"vllm-openai", ""},
		"vllm/vllm-openai@sha256:0123abcd":                   {"vllm/vllm-openai", ""},
		" registry.example.com:5000/nvidia/tritonserver:x  ": {"nvidia/tritonserver", "x"},
	} {
		if repo, tag := SplitImage(in); repo != want[0] || tag != want[1] {
			t.Errorf("SplitImage(%q) = %q, %q; want %q, %q", in, repo, tag, want[0], want[1])
		}
	}
	for in, want := range map[string]string{
		"vllm/vllm-openai:v0.20.0":                                     "580.65.06",
		"vllm/vllm-openai:v0.27.1":                                     "580.65.06",
		"vllm/vllm-openai:v0.20.0-cu129":                               "575.51.03",
		"nvcr.io/nvidia/tritonserver:26.07-vllm-python-py3":            "610.43.02",
		"nvcr.io/nvidia/tritonserver:26.07-trtllm-python-py3":          "590.44.01",
		"mirror.example.com/nvidia/tritonserver:25.11-vllm-python-py3": "580.95.05",
	} {
		if f, ok := FloorFor(in); !ok || f.Driver != want {
			t.Errorf("FloorFor(%q) = %+v, %v; want driver %s", in, f, ok, want)
		}
	}
	for _, in := range []string{"vllm/vllm-openai:latest", "vllm/vllm-openai:v0.19.1", "nvcr.io/nvidia/tritonserver:26.07-py3",
		"vllm/vllm-openai", "example.com/other/tritonserver:26.07-vllm-python-py3", "notvllm/vllm-openai:v0.20.0", ""} {
		if f, ok := FloorFor(in); ok {
			t.Errorf("FloorFor(%q) = %+v, want no row", in, f)
		}
	}
}

// TestImageFloorsTable: every row is well formed, and the images that
// deploy/env.example pins have a floor.
func TestImageFloorsTable(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range ImageFloors {
		id := f.Repo + ":" + f.Tag
		if seen[id] {
			t.Errorf("%s: listed twice", id)
		}
		seen[id] = true
		if _, err := gpu.ParseDriverVersion(f.Driver); err != nil {
			t.Errorf("%s: %v", id, err)
		}
		major, _, _ := strings.Cut(f.CUDA, ".")
		if firstDriverOfCUDA[major] == 0 {
			t.Errorf("%s: CUDA %q has no entry in firstDriverOfCUDA", id, f.CUDA)
		}
		if d, _ := gpu.ParseDriverVersion(f.Driver); d[0] < firstDriverOfCUDA[major] {
			t.Errorf("%s: driver %s below R%d, the first driver of CUDA %s", id, f.Driver, firstDriverOfCUDA[major], major)
		}
		if !strings.HasPrefix(f.Source, "https://") || strings.Contains(f.Repo, ":") || f.Tag == "" {
			t.Errorf("%s: bad row %+v", id, f)
		}
	}
	ex, err := env.ReadFile(filepath.Join("..", "..", env.ExamplePath))
	if err != nil {
		t.Fatal(err)
	}
	m := ex.Map()
	for _, key := range []string{EnvVLLMImage, EnvTritonImage, EnvTRTImage} {
		if _, ok := FloorFor(m[key]); !ok {
			t.Errorf("deploy/env.example %s=%s has no row in ImageFloors", key, m[key])
		}
	}
}
