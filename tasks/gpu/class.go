package gpu

import (
	"regexp"
	"strings"
)

// Class is the kind of product a GPU is. It decides whether the GPU gets
// CUDA forward compatibility, which lets an image built for a newer CUDA run
// on an older driver through the image's cuda-compat package. NVIDIA
// documents it for "NVIDIA Data Center GPUs", "select NGC Server Ready SKUs
// of RTX cards" and Jetson boards only
// (https://docs.nvidia.com/deploy/cuda-compatibility/forward-compatibility.html):
// not for GeForce, TITAN, Quadro or RTX workstation cards. Which RTX SKUs are
// NGC Server Ready cannot be read from nvidia-smi, so workstation cards count
// as not supported.
type Class string

const (
	ClassUnknown     Class = ""
	ClassDataCenter  Class = "data center"
	ClassConsumer    Class = "GeForce"
	ClassWorkstation Class = "workstation"
)

// ForwardCompatible reports whether NVIDIA documents CUDA forward
// compatibility for GPUs of this class.
func (c Class) ForwardCompatible() bool { return c == ClassDataCenter }

var (
	// First word of a data center product name without "NVIDIA ": A100,
	// A800, A30, A40, A10, A10G, A16, A2, H100, H200, H800, H20, GH200,
	// B100, B200, B300, GB200, GB300, L40, L40S, L20, L4, L2, T4, V100, P100,
	// P40, P4, K80, M60, ... ("NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB
	// HBM3", "NVIDIA GH200 480GB"). GB10 (DGX Spark) has two digits and is
	// not matched: NVIDIA does not list it as a data center GPU.
	reDataCenter = regexp.MustCompile(`^(?:[ABHL]\d{1,3}[A-Z]?|G[BH]\d{3}|[TVPKM]\d{1,3}[A-Z]?)$`)
	// Workstation products: Quadro, NVS, RTX A6000 (A-series), RTX 6000 Ada,
	// RTX PRO 6000 Blackwell Workstation/Max-Q, T1000/T400/T600.
	reWorkstation = regexp.MustCompile(`^(?:quadro|nvs|rtx a\d{3,4}|rtx \d{4}|rtx pro|t\d{3,4}\b)`)
)

// Classify tells data center, GeForce and workstation GPUs apart by the
// product name nvidia-smi reports ("NVIDIA H200", "Tesla T4", "NVIDIA
// GeForce RTX 4090", "NVIDIA RTX A6000"), and by the product brand of
// `nvidia-smi -q` (Tesla, GeForce, Titan, Quadro, NVIDIA RTX, ...) when the
// name says nothing. Current data center GPUs report the brand "NVIDIA",
// which decides nothing; "" is returned when neither decides.
func Classify(name, brand string) Class {
	n := strings.ToLower(strings.Join(strings.Fields(name), " "))
	n = strings.TrimPrefix(n, "nvidia ")
	switch {
	case n == "":
	case strings.Contains(n, "server edition"), // RTX PRO 6000 Blackwell Server Edition
		strings.HasPrefix(n, "tesla "), strings.HasPrefix(n, "grid "):
		return ClassDataCenter
	case strings.Contains(n, "geforce"), strings.Contains(n, "titan"):
		return ClassConsumer
	case reWorkstation.MatchString(n):
		return ClassWorkstation
	default:
		words := strings.FieldsFunc(n, func(r rune) bool { return r == ' ' || r == '-' })
		if len(words) > 0 && reDataCenter.MatchString(strings.ToUpper(words[0])) {
			return ClassDataCenter
		}
	}
	switch strings.ToLower(strings.TrimSpace(brand)) {
	case "tesla":
		return ClassDataCenter
	case "geforce", "geforce rtx", "titan", "titan rtx":
		return ClassConsumer
	case "quadro", "quadro rtx", "nvidia rtx", "nvs":
		return ClassWorkstation
	}
	return ClassUnknown
}

// Class classifies g by its name and, when known, its brand.
func (g GPU) Class() Class { return Classify(g.Name, g.Brand) }
