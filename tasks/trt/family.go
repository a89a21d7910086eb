package trt

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// releaseByTriton pins the TensorRT-LLM release whose examples and Triton
// models match each Triton -trtllm-python-py3 image: a build must use the
// convert scripts of the TensorRT-LLM that is installed in the image
// (version skew breaks convert_checkpoint.py and the Python models). From the
// Triton release notes and tensorrtllm_backend's
// dockerfile/Dockerfile.triton.trt_llm_backend per branch.
var releaseByTriton = map[string]string{
	"26.04": "v1.2.1",
	"26.05": "v1.2.1",
	"26.06": "v1.2.1",
	"26.07": "v1.2.1",
}

// EnvRef overrides the table: the TensorRT-LLM tag to fetch.
const EnvRef = "LOP_TRTLLM_REF"

var tritonTagRE = regexp.MustCompile(`^(\d\d\.\d\d)-trtllm-python-py3$`)
var refRE = regexp.MustCompile(`^v?[0-9]+\.[0-9]+\.[0-9]+([a-z0-9.]*)?$`)

// ReleaseFor returns the TensorRT-LLM release tag for a Triton TensorRT-LLM
// image reference such as nvcr.io/nvidia/tritonserver:26.07-trtllm-python-py3.
func ReleaseFor(image string) (string, error) {
	tag := imageTag(image)
	if m := tritonTagRE.FindStringSubmatch(tag); m != nil {
		if ref, ok := releaseByTriton[m[1]]; ok {
			return ref, nil
		}
	}
	known := make([]string, 0, len(releaseByTriton))
	for k := range releaseByTriton {
		known = append(known, k+"-trtllm-python-py3")
	}
	sort.Strings(known)
	return "", fmt.Errorf("no TensorRT-LLM release is known for image %s (TRITON_TRTLLM_IMAGE in deploy/.env); "+
		"use a tritonserver image tagged %s, or set %s=vX.Y.Z to the TensorRT-LLM version installed in the image",
		image, strings.Join(known, ", "), EnvRef)
}

// imageTag returns the tag of an image reference ("" when it has none).
func imageTag(ref string) string {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	slash := strings.LastIndexByte(ref, '/')
	if colon := strings.LastIndexByte(ref, ':'); colon > slash {
		return ref[colon+1:]
	}
	return ""
}

// ValidRef reports whether ref looks like a TensorRT-LLM release tag.
func ValidRef(ref string) bool { return refRE.MatchString(ref) }

// family is a model family with its checkpoint converter in the
// TensorRT-LLM examples (examples/models/core/<dir>/convert_checkpoint.py).
type family struct {
	Name    string
	Match   []string // lower-case substrings of the Hugging Face id
	Convert string   // path of convert_checkpoint.py under the examples root
}

var families = []family{
	{Name: "qwen", Match: []string{"qwen"}, Convert: "examples/models/core/qwen/convert_checkpoint.py"},
	{Name: "llama", Match: []string{"llama", "mistral", "vicuna", "codellama"}, Convert: "examples/models/core/llama/convert_checkpoint.py"},
	{Name: "gemma", Match: []string{"gemma"}, Convert: "examples/models/core/gemma/convert_checkpoint.py"},
	{Name: "phi", Match: []string{"phi-", "/phi"}, Convert: "examples/models/core/phi/convert_checkpoint.py"},
	{Name: "gpt2", Match: []string{"gpt2"}, Convert: "examples/models/core/gpt/convert_checkpoint.py"},
}

// familyOf returns the family of a Hugging Face model id.
func familyOf(model string) (family, error) {
	low := strings.ToLower(model)
	for _, f := range families {
		for _, m := range f.Match {
			if strings.Contains(low, m) {
				return f, nil
			}
		}
	}
	names := make([]string, len(families))
	for i, f := range families {
		names[i] = f.Name
	}
	return family{}, fmt.Errorf("model %s: no TensorRT-LLM checkpoint converter is known for its family; "+
		"supported families: %s (matched by name, e.g. Qwen/Qwen2.5-1.5B-Instruct)", model, strings.Join(names, ", "))
}
