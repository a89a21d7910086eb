package trt

import (
	"fmt"
	"strings"
)

// family is a model family with its checkpoint converter in TensorRT-LLM's
// examples (models/core/<dir>/convert_checkpoint.py since TensorRT-LLM
// 0.18, the layout of every image compile:trt supports).
type family struct {
	Name    string
	Match   []string // lower-case substrings of the Hugging Face id
	Convert string   // convert_checkpoint.py, relative to the examples directory
}

var families = []family{
	{Name: "qwen", Match: []string{"qwen"}, Convert: "models/core/qwen/convert_checkpoint.py"},
	{Name: "llama", Match: []string{"llama", "mistral", "vicuna", "codellama"}, Convert: "models/core/llama/convert_checkpoint.py"},
	{Name: "gemma", Match: []string{"gemma"}, Convert: "models/core/gemma/convert_checkpoint.py"},
	{Name: "phi", Match: []string{"phi-", "/phi"}, Convert: "models/core/phi/convert_checkpoint.py"},
	{Name: "gpt2", Match: []string{"gpt2"}, Convert: "models/core/gpt/convert_checkpoint.py"},
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
