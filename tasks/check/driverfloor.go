package check

import (
	"fmt"
	"path"
	"strings"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/gpu"
)

// Where the floors come from.
const (
	// NVIDIA's Triton "Release Compatibility Matrix": CUDA and CUDA driver
	// version of every trtllm-python-py3 and vllm-python-py3 container.
	srcTritonMatrix = "https://github.com/triton-inference-server/server/blob/main/docs/introduction/compatibility.md"
	// vLLM v0.20.0 made CUDA 13.0 the default of its wheels and its
	// unsuffixed Docker tags (the -cu129 tags stay CUDA 12.9); still so in
	// v0.27 (torch 2.13 cu130).
	srcVLLMCUDA13 = "https://github.com/vllm-project/vllm/pull/39878"
	// CUDA Toolkit release notes, "CUDA Toolkit and Corresponding Driver
	// Versions": CUDA 13.0 GA >= 580.65.06, CUDA 12.9 GA >= 575.51.03.
	srcCUDADrivers = "https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html"
	// Which GPUs get CUDA forward compatibility (data center GPUs, select
	// NGC Server Ready RTX SKUs, Jetson); see also gpu.Class.
	srcForwardCompat = "https://docs.nvidia.com/deploy/cuda-compatibility/forward-compatibility.html"
	// R580, the long-term support branch of CUDA 13, "supports CUDA 13.x".
	srcDriverBranches = "https://docs.nvidia.com/datacenter/tesla/drivers/supported-drivers-and-cuda-toolkit-versions.html"
)

// ImageFloor is the lowest NVIDIA driver an image is documented for: the
// driver of the CUDA release the image is built on.
type ImageFloor struct {
	Repo   string // repository path without the registry: "nvidia/tritonserver"
	Tag    string // tag, or a path.Match pattern such as "v0.2[0-7].*"
	CUDA   string // CUDA version the image is built on
	Driver string // the driver NVIDIA lists for that CUDA
	Source string // where Repo:Tag, CUDA and Driver come from
}

// ImageFloors maps image tags to their CUDA version and driver floor. The
// first row whose repository and tag match an image decides, so specific
// patterns come before general ones. An image no row matches has an unknown
// floor: `mage check` warns and names this table; add a row for it.
var ImageFloors = []ImageFloor{
	// vLLM: the -cu129 and -cu130 variants, then the unsuffixed tags.
	{"vllm/vllm-openai", "v0.*-cu129", "12.9", "575.51.03", srcCUDADrivers},
	{"vllm/vllm-openai", "v0.*-cu130", "13.0", "580.65.06", srcCUDADrivers},
	{"vllm/vllm-openai", "v0.2[0-7].*", "13.0", "580.65.06", srcVLLMCUDA13},

	// Triton with TensorRT-LLM.
	triton("26.07", "trtllm-python-py3", "13.1.0", "590.44.01"),
	triton("26.06", "trtllm-python-py3", "13.1.0", "590.44.01"),
	triton("26.05", "trtllm-python-py3", "13.1.0", "590.44.01"),
	triton("26.04", "trtllm-python-py3", "13.1.0", "590.44.01"),
	triton("26.03", "trtllm-python-py3", "13.1.0", "590.44.01"),
	triton("26.02", "trtllm-python-py3", "13.0.2", "580.95.05"),
	triton("26.01", "trtllm-python-py3", "13.0.2", "580.95.05"),
	triton("25.12", "trtllm-python-py3", "13.0.2", "580.95.05"),
	triton("25.11", "trtllm-python-py3", "13.0.2", "580.95.05"),
	triton("25.10", "trtllm-python-py3", "12.9.1", "575.57.08"),
	triton("25.09", "trtllm-python-py3", "12.9.1", "575.57.08"),
	triton("25.08", "trtllm-python-py3", "12.9.0", "575.51.03"),
	triton("25.07", "trtllm-python-py3", "12.9.0", "575.51.03"),
	triton("25.06", "trtllm-python-py3", "12.9.0", "575.51.03"),
	triton("25.05", "trtllm-python-py3", "12.8.1", "570.124.06"),
	triton("25.04", "trtllm-python-py3", "12.8.1", "570.124.06"),
	triton("25.03", "trtllm-python-py3", "12.8.1", "570.124.06"),
	triton("25.02", "trtllm-python-py3", "12.8.0", "570.86.10"),
	triton("25.01", "trtllm-python-py3", "12.8.0", "570.86.10"),
	triton("24.12", "trtllm-python-py3", "12.6.3", "560.35.05"),
	triton("24.11", "trtllm-python-py3", "12.6.3", "555.42.06"),
	triton("24.10", "trtllm-python-py3", "12.5.1", "555.42.06"),
	triton("24.09", "trtllm-python-py3", "12.5.1", "555.42.06"),
	triton("24.08", "trtllm-python-py3", "12.5.1", "555.42.06"),
	triton("24.07", "trtllm-python-py3", "12.4.1", "550.54.15"),
	triton("24.06", "trtllm-python-py3", "12.4.0", "550.54.14"),
	triton("24.05", "trtllm-python-py3", "12.3.2", "545.23.08"),
	triton("24.04", "trtllm-python-py3", "12.3.2", "545.23.08"),

	// Triton with the vLLM backend.
	triton("26.08", "vllm-python-py3", "13.4.1", "615.61"),
	triton("26.07", "vllm-python-py3", "13.3.0", "610.43.02"),
	triton("26.06", "vllm-python-py3", "13.3.0", "610.43.02"),
	triton("26.05", "vllm-python-py3", "13.2.1", "595.58.03"),
	triton("26.04", "vllm-python-py3", "13.2.1", "595.58.03"),
	triton("26.03", "vllm-python-py3", "13.2.0", "595.45.04"),
	triton("26.02", "vllm-python-py3", "13.1.1", "590.48.01"),
	triton("26.01", "vllm-python-py3", "13.1.1", "590.48.01"),
	triton("25.12", "vllm-python-py3", "13.1.0", "590.44.01"),
	triton("25.11", "vllm-python-py3", "13.0.2", "580.95.05"),
	triton("25.10", "vllm-python-py3", "13.0.2", "580.95.05"),
	triton("25.09", "vllm-python-py3", "13.0.1", "580.82.07"),
	triton("25.08", "vllm-python-py3", "13.0.1", "580.82.07"),
	triton("25.07", "vllm-python-py3", "12.9.0", "575.51.03"),
	triton("25.06", "vllm-python-py3", "12.9.0", "575.51.03"),
	triton("25.05", "vllm-python-py3", "12.9.0", "575.51.03"),
	triton("25.04", "vllm-python-py3", "12.9.0", "575.51.02"),
	triton("25.03", "vllm-python-py3", "12.8.1", "570.124.06"),
	triton("25.02", "vllm-python-py3", "12.8.0", "570.86.10"),
	triton("25.01", "vllm-python-py3", "12.8.0", "570.86.10"),
	triton("24.12", "vllm-python-py3", "12.6.3", "560.35.05"),
	triton("24.11", "vllm-python-py3", "12.6.3", "560.35.05"),
	triton("24.10", "vllm-python-py3", "12.6.2", "560.35.03"),
	triton("24.09", "vllm-python-py3", "12.6.1", "560.35.03"),
	triton("24.08", "vllm-python-py3", "12.6.0", "560.35.03"),
	triton("24.07", "vllm-python-py3", "12.5.1", "555.42.06"),
	triton("24.06", "vllm-python-py3", "12.5.0", "555.42.02"),
	triton("24.05", "vllm-python-py3", "12.4.1", "550.54.15"),
	triton("24.04", "vllm-python-py3", "12.4.1", "550.54.15"),
}

// triton is a row of NVIDIA's Triton compatibility matrix (srcTritonMatrix).
func triton(release, variant, cuda, driver string) ImageFloor {
	return ImageFloor{"nvidia/tritonserver", release + "-" + variant, cuda, driver, srcTritonMatrix}
}

// firstDriverOfCUDA is the first driver branch of each CUDA major version:
// a driver of that branch or newer runs every minor release of it (CUDA
// minor version compatibility, srcDriverBranches), and is the base a data
// center GPU's forward compatibility builds on.
var firstDriverOfCUDA = map[string]int{"13": 580, "12": 525, "11": 450}

// SplitImage splits an image reference into its repository path without the
// registry and its tag: "nvcr.io/nvidia/tritonserver:26.07-vllm-python-py3"
// is ("nvidia/tritonserver", "26.07-vllm-python-py3"). A digest is dropped;
// the tag is "" when there is none.
func SplitImage(ref string) (repo, tag string) {
	ref = strings.TrimSpace(ref)
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref, tag = ref[:i], ref[i+1:]
	}
	if first, rest, ok := strings.Cut(ref, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		ref = rest // a registry host
	}
	return ref, tag
}

// FloorFor returns the row of ImageFloors that matches image, if any. A
// repository matches when the image's path equals the row's or ends with
// "/" and it (a mirror: "registry.example.com/nvidia/tritonserver").
func FloorFor(image string) (ImageFloor, bool) {
	repo, tag := SplitImage(image)
	if tag == "" {
		return ImageFloor{}, false
	}
	for _, f := range ImageFloors {
		if repo != f.Repo && !strings.HasSuffix(repo, "/"+f.Repo) {
			continue
		}
		if ok, _ := path.Match(f.Tag, tag); ok {
			return f, true
		}
	}
	return ImageFloor{}, false
}

// olderImage is the newest image of the same repository and variant as f
// whose driver is at most installed, as "repo:tag"; "" when none is known.
func olderImage(f ImageFloor, image string, installed gpu.DriverVersion) string {
	_, variant, ok := strings.Cut(f.Tag, "-")
	if !ok || strings.ContainsAny(f.Tag, "*?[") {
		return ""
	}
	for _, g := range ImageFloors {
		if g.Repo != f.Repo || strings.ContainsAny(g.Tag, "*?[") || !strings.HasSuffix(g.Tag, "-"+variant) {
			continue
		}
		if d, err := gpu.ParseDriverVersion(g.Driver); err == nil && d.Compare(installed) <= 0 {
			repo, _ := strings.CutSuffix(strings.TrimSpace(image), ":"+f.Tag)
			if i := strings.Index(repo, "@"); i >= 0 {
				return ""
			}
			return repo + ":" + g.Tag
		}
	}
	return ""
}

// gpuClass is the class that decides for a set of GPUs: the container may
// be given any of them, so one GeForce or workstation card decides, then
// one unknown; only all data center GPUs give data center.
func gpuClass(gpus []gpu.GPU) (gpu.Class, *gpu.GPU) {
	rank := map[gpu.Class]int{gpu.ClassConsumer: 3, gpu.ClassWorkstation: 2, gpu.ClassUnknown: 1, gpu.ClassDataCenter: 0}
	var worst *gpu.GPU
	for i := range gpus {
		if worst == nil || rank[gpus[i].Class()] > rank[worst.Class()] {
			worst = &gpus[i]
		}
	}
	if worst == nil {
		return gpu.ClassUnknown, nil
	}
	return worst.Class(), worst
}

func classNoun(c gpu.Class) string {
	switch c {
	case gpu.ClassDataCenter:
		return "a data center GPU"
	case gpu.ClassConsumer:
		return "a GeForce GPU"
	case gpu.ClassWorkstation:
		return "a workstation GPU"
	}
	return "a GPU of unknown kind"
}

// driverResults checks the driver against the floor of each backend's image.
func driverResults(o Options, gpus []gpu.GPU) []Result {
	driver := ""
	for _, g := range gpus {
		if g.Driver != "" {
			driver = g.Driver
			break
		}
	}
	installed, verr := gpu.ParseDriverVersion(driver)
	class, which := gpuClass(gpus)
	supports := ""
	if len(gpus) > 0 && gpus[0].CUDA != "" {
		supports = " (supports CUDA " + gpus[0].CUDA + ")"
	}
	var res []Result
	var runs []string // backends this driver runs
	var failed []int
	for _, b := range backends {
		if o.Backend != "" && o.Backend != b.key {
			continue
		}
		image := o.image(b.key)
		r := Result{Name: "driver." + b.key}
		ok := false
		switch {
		case verr != nil:
			r.Status = Warn
			r.Detail = fmt.Sprintf("%s: driver version unknown: %v", b.key, verr)
			r.Fix = fmt.Sprintf("run `nvidia-smi` and check that the driver is %s or newer", o.floorText(b.key))
		case o.MinDriver > 0:
			r, ok = minDriverResult(o, b.key, driver, installed, supports)
		default:
			f, known := FloorFor(image)
			if !known && strings.TrimSpace(image) == "" {
				r.Status = Warn
				r.Detail = fmt.Sprintf("%s: no image configured (%s), so the driver it needs is unknown; driver %s installed%s", b.key, b.imageKey, driver, supports)
				r.Fix = fmt.Sprintf("set %s in deploy/.env (`mage env:init` writes it), or pass %s=N to check against driver N", b.imageKey, EnvMinDriver)
				break
			}
			if !known {
				r.Status = Warn
				r.Detail = fmt.Sprintf("%s: the driver that %s=%s needs is unknown (no row for it in ImageFloors, tasks/check/driverfloor.go); driver %s installed%s",
					b.key, b.imageKey, orUnknown(image), driver, supports)
				r.Fix = fmt.Sprintf("look up the CUDA version of %s and the driver NVIDIA lists for it (%s) and add a row to ImageFloors in tasks/check/driverfloor.go, or pass %s=N to check against driver N",
					orUnknown(image), srcTritonMatrix, EnvMinDriver)
				break
			}
			r, ok = floorResult(b, image, f, driver, installed, supports, class, which)
		}
		if ok {
			runs = append(runs, b.key)
		}
		if r.Status == Fail {
			failed = append(failed, len(res))
		}
		res = append(res, r)
	}
	// Checking every backend, one the driver does not run is a WARN while
	// another runs (as for the compute capability).
	if o.Backend == "" && len(runs) > 0 {
		var targets []string
		for _, k := range runs {
			targets = append(targets, EnvBackend+k)
		}
		for _, i := range failed {
			res[i].Status = Warn
			res[i].Fix += "; with this driver use " + strings.Join(targets, " or ")
		}
	}
	return res
}

func minDriverResult(o Options, key, driver string, installed gpu.DriverVersion, supports string) (Result, bool) {
	r := Result{Name: "driver." + key}
	if installed[0] >= o.MinDriver {
		r.Status = Pass
		r.Detail = fmt.Sprintf("%s: driver %s >= %d (%s=%d)%s", key, driver, o.MinDriver, EnvMinDriver, o.MinDriver, supports)
		return r, true
	}
	r.Status = Fail
	r.Detail = fmt.Sprintf("%s: driver %s < %d (%s=%d)%s", key, driver, o.MinDriver, EnvMinDriver, o.MinDriver, supports)
	r.Fix = fmt.Sprintf("install NVIDIA driver %d or newer (%s), or pass %s=%d to accept this driver",
		o.MinDriver, driverGuide, EnvMinDriver, installed[0])
	return r, false
}

func floorResult(b gpuNeed, image string, f ImageFloor, driver string, installed gpu.DriverVersion, supports string, class gpu.Class, which *gpu.GPU) (Result, bool) {
	r := Result{Name: "driver." + b.key}
	floor, err := gpu.ParseDriverVersion(f.Driver)
	if err != nil { // a bad row: the table test catches it
		r.Status = Warn
		r.Detail = fmt.Sprintf("%s: bad ImageFloors row for %s: %v", b.key, image, err)
		r.Fix = "fix the row in tasks/check/driverfloor.go"
		return r, false
	}
	what := fmt.Sprintf("%s (CUDA %s)", image, f.CUDA)
	if installed.Compare(floor) >= 0 {
		r.Status = Pass
		r.Detail = fmt.Sprintf("%s: driver %s >= %s required by %s%s", b.key, driver, f.Driver, what, supports)
		return r, true
	}
	cudaMajor, _, _ := strings.Cut(f.CUDA, ".")
	base := firstDriverOfCUDA[cudaMajor]
	gpuName := ""
	if which != nil {
		gpuName = fmt.Sprintf("gpu %d %s", which.Index, which.Name)
	}
	upgrade := fmt.Sprintf("upgrade the NVIDIA driver to %s or newer (%s)", f.Driver, driverGuide)
	if base > 0 && installed[0] >= base {
		switch class {
		case gpu.ClassDataCenter:
			r.Status = Warn
			r.Detail = fmt.Sprintf("%s: driver %s < %s that %s lists; %s is a data center GPU, so the image runs on this R%d driver through CUDA forward compatibility (its cuda-compat package, %s)%s",
				b.key, driver, f.Driver, what, gpuName, base, srcForwardCompat, supports)
			r.Fix = upgrade + " to run it without forward compatibility"
			return r, true
		case gpu.ClassUnknown:
			r.Status = Warn
			r.Detail = fmt.Sprintf("%s: driver %s < %s that %s lists, and nvidia-smi does not tell whether %s is a data center GPU: a data center GPU runs the image through CUDA forward compatibility (%s), a GeForce or workstation GPU does not%s",
				b.key, driver, f.Driver, what, gpuName, srcForwardCompat, supports)
			r.Fix = upgrade
			return r, false
		}
	}
	r.Status = Fail
	why := fmt.Sprintf("%s is %s, which gets no CUDA forward compatibility (%s)", gpuName, classNoun(class), srcForwardCompat)
	if base > 0 && installed[0] < base {
		why = fmt.Sprintf("R%d is the first driver of CUDA %s", base, cudaMajor)
	}
	r.Detail = fmt.Sprintf("%s: driver %s < %s required by %s; %s%s", b.key, driver, f.Driver, what, why, supports)
	pkg := "open"
	if class == gpu.ClassDataCenter {
		pkg = "server-open"
	}
	fixes := []string{fmt.Sprintf("install NVIDIA driver %s or newer (%s; Ubuntu: `sudo apt install nvidia-driver-%d-%s`, then reboot)", f.Driver, driverGuide, floor[0], pkg)}
	if alt := olderImage(f, image, installed); alt != "" {
		fixes = append(fixes, fmt.Sprintf("or set %s=%s in deploy/.env (the newest image NVIDIA lists for this driver)", b.imageKey, alt))
	} else if cu129, _ := gpu.ParseDriverVersion("575.51.03"); b.key == string(backend.VLLM) && !strings.HasSuffix(image, "-cu129") && installed.Compare(cu129) >= 0 {
		fixes = append(fixes, fmt.Sprintf("or set %s to the same vLLM version with the -cu129 tag suffix (CUDA 12.9, driver 575.51.03)", b.imageKey))
	}
	if base > 0 && installed[0] >= base {
		fixes = append(fixes, fmt.Sprintf("or pass %s=%d to accept CUDA minor version compatibility (kernels shipped only as newer PTX fail)", EnvMinDriver, installed[0]))
	}
	r.Fix = strings.Join(fixes, ", ")
	return r, false
}
