// Package trttest builds what tests of mage compile:trt need on an engine
// without a GPU or a registry: the stand-in builder image (scripts/trtstandin
// copied FROM scratch under the names of the real image's tools, laid out as
// the real image) and a local git repository that looks like a TensorRT-LLM
// release (for -examples).
package trttest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/engine"
)

// StandinImage is the default tag of the stand-in image.
const StandinImage = "llmobs-test/trtllm-standin:v1"

// StartedDir is where the stand-in marks each step started
// (TRTLLM_STANDIN_STARTED_DIR): the builder's Hugging Face cache (trt.HFMount,
// which this package cannot import), a host directory a test knows.
const StartedDir = "/work/hf"

// Tools are the names the stand-in answers to in the image.
var Tools = []string{"hf", "huggingface-cli", "python3", "trtllm-build", "sleep", "true"}

// BuildStandin compiles scripts/trtstandin statically into dir and returns
// the binary's path. root is the project root.
func BuildStandin(root, dir string) (string, error) {
	bin := filepath.Join(dir, "trtstandin")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./scripts/trtstandin")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the stand-in: %v\n%s", err, out)
	}
	return bin, nil
}

// BuildImage builds the stand-in image tag from the binary at bin unless it
// exists, with env (e.g. TRTLLM_STANDIN_DELAY_BUILD=60s) set in the image.
// The stand-in lays the image out as the real one (trtstandin setup-image):
// /root owned by root with mode 0700, TensorRT-LLM's examples under
// /app/examples and the Triton model templates under /app/all_models.
func BuildImage(ctx context.Context, eng *engine.Engine, tag, bin string, env map[string]string) error {
	if ok, err := eng.ImageExists(ctx, tag); err != nil || ok {
		return err
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	return eng.BuildImage(ctx, tag, Dockerfile(env), []engine.BuildFile{{Name: "trtstandin", Mode: 0o755, Data: data}}, nil)
}

// Dockerfile is the stand-in image's Dockerfile, with env set in it.
func Dockerfile(env map[string]string) string {
	var df strings.Builder
	df.WriteString("FROM scratch\nENV PATH=/usr/local/bin:/usr/bin:/bin\n")
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&df, "ENV %s=%s\n", k, env[k])
	}
	df.WriteString("COPY trtstandin /usr/bin/trtstandin\n")
	for _, t := range Tools {
		fmt.Fprintf(&df, "COPY trtstandin /usr/bin/%s\n", t)
	}
	df.WriteString(`RUN ["/usr/bin/trtstandin", "setup-image"]` + "\n")
	df.WriteString(`CMD ["sleep", "infinity"]` + "\n")
	return df.String()
}

// GitRelease creates a git repository in dir that looks like a TensorRT-LLM
// release for the qwen family (the converter and the two Triton Python
// models), tagged ref, and returns its go-getter source.
func GitRelease(dir, ref string, extra map[string]string) (string, error) {
	files := map[string]string{
		"examples/models/core/qwen/convert_checkpoint.py":                          "# stand-in converter\n",
		"examples/models/core/llama/convert_checkpoint.py":                         "# stand-in converter\n",
		"triton_backend/all_models/inflight_batcher_llm/preprocessing/1/model.py":  "# preprocessing model.py " + ref + "\n",
		"triton_backend/all_models/inflight_batcher_llm/postprocessing/1/model.py": "# postprocessing model.py " + ref + "\n",
		"README.md": "TensorRT-LLM fixture\n",
	}
	for k, v := range extra {
		files[k] = v
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	for _, args := range [][]string{
		{"init", "-q"},
		{"add", "-A"},
		{"-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-q", "-m", "release"},
		{"tag", ref},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return "git::file://" + filepath.ToSlash(dir) + "?ref=" + ref, nil
}
