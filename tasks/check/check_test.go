package check

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/gpu/gpufake"
	"github.com/moby/moby/api/types/system"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain puts the fake nvidia-smi first on PATH, so GPU() runs it.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"nvidia-smi": func() { os.Exit(gpufake.FakeNvidiaSmi()) },
	})
}

func captureDir(name string) string { return filepath.Join("..", "gpu", "testdata", name) }

// TestGPUOnH200Capture runs the GPU checks end to end: the fake nvidia-smi
// answers from the real H200 capture.
func TestGPUOnH200Capture(t *testing.T) {
	t.Setenv("FAKE_NVIDIA_SMI_DIR", captureDir("h200"))
	var out bytes.Buffer
	res, err := GPU(context.Background(), withImages(Options{Backend: "vllm", Model: "Qwen/Qwen2.5-1.5B-Instruct", MaxModelLen: 4096, Out: &out}))
	if err != nil {
		t.Fatal(err)
	}
	want := `PASS  nvidia-smi lists 1 GPU
PASS  gpu 0: NVIDIA H200, compute 9.0, 143771 MiB, driver 580.159.04, CUDA 13.0
PASS  vllm: driver 580.159.04 >= 580.65.06 required by vllm/vllm-openai:v0.20.0 (CUDA 13.0) (supports CUDA 13.0)
PASS  vllm: compute capability 9.0 (gpu 0 NVIDIA H200) >= 7.5 required by vLLM's CUDA 13 images
PASS  memory: Qwen/Qwen2.5-1.5B-Instruct needs ~4.8 GiB (1.5B params × 2 B bf16 = 2.8 GiB weights + 1.8 GiB overhead + 0.2 GiB KV cache); gpu 0 offers 126.4 GiB (143771 MiB × 0.90)
`
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	if Failed(res) != nil {
		t.Errorf("Failed = %v", Failed(res))
	}
}

func TestGPUTuringTRT(t *testing.T) {
	t.Setenv("FAKE_NVIDIA_SMI_DIR", captureDir("rtx2070-535"))
	var out bytes.Buffer
	res, err := GPU(context.Background(), withImages(Options{Backend: "trt", Out: &out}))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("output:\n%s", out.String())
	}
	if !strings.HasPrefix(lines[2], "FAIL  trt: driver 535.104.05 < 590.44.01 required by "+exampleTRT+" (CUDA 13.1.0); R580 is the first driver of CUDA 13 (supports CUDA 12.2) — fix: install NVIDIA driver 590.44.01 or newer") {
		t.Errorf("driver line %q", lines[2])
	}
	if !strings.HasPrefix(lines[3], "FAIL  trt: compute capability 7.5 (gpu 0 NVIDIA GeForce RTX 2070) < 8.0 required by TensorRT-LLM — fix: TensorRT-LLM needs Ampere") {
		t.Errorf("compute line %q", lines[3])
	}
	if err := Failed(res); err == nil || err.Error() != "2 checks failed: driver.trt, compute.trt" {
		t.Errorf("Failed = %v", err)
	}
}

func TestGPUNoDriverAndMissing(t *testing.T) {
	t.Setenv("FAKE_NVIDIA_SMI_DIR", captureDir("nodriver"))
	t.Setenv("FAKE_NVIDIA_SMI_EXIT", "9")
	res, err := GPU(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkWants(t, res, []want{{"nvidia-smi", Fail, []string{"exited with status 9"}, []string{"lsmod"}}})

	res, err = GPU(context.Background(), Options{NvidiaSmi: filepath.Join(t.TempDir(), "nvidia-smi")})
	if err != nil {
		t.Fatal(err)
	}
	checkWants(t, res, []want{{"nvidia-smi", Fail, []string{"nvidia-smi not found at "}, []string{"install the NVIDIA driver"}}})
}

func TestGPUTimeout(t *testing.T) {
	dir := t.TempDir()
	hang := script(t, dir, "nvidia-smi", "exec sleep 30")
	res, err := GPU(context.Background(), Options{NvidiaSmi: hang, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	checkWants(t, res, []want{{"nvidia-smi", Fail, []string{"did not answer in time"}, []string{"Xid"}}})
}

func TestAllJSON(t *testing.T) {
	t.Setenv("FAKE_NVIDIA_SMI_DIR", captureDir("h200"))
	dir := t.TempDir()
	docker := script(t, dir, "docker", `echo "Docker Compose version v2.39.1"`)
	engine := fakeDocker{info: system.Info{ServerVersion: "28.3.1", Runtimes: map[string]system.RuntimeWithStatus{"runc": {}}}}
	var out bytes.Buffer
	res, err := All(context.Background(), withImages(Options{Docker: engine, DockerCLI: docker, JSON: true, Out: &out}))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OK      bool           `json:"ok"`
		Counts  map[string]int `json:"counts"`
		Results []map[string]string
	}
	dec := json.NewDecoder(&out)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	// The H200 on R580 runs the Triton images through forward
	// compatibility: 2 WARN.
	if doc.OK || doc.Counts["FAIL"] != 1 || doc.Counts["WARN"] != 2 || doc.Counts["PASS"] != len(res)-4 || doc.Counts["SKIP"] != 1 || len(doc.Results) != len(res) {
		t.Errorf("doc %+v", doc)
	}
	last := doc.Results[len(doc.Results)-1]
	if last["name"] != "docker.nvidia" || last["status"] != "FAIL" || !strings.Contains(last["fix"], "nvidia-ctk") || last["detail"] == "" {
		t.Errorf("last result %v", last)
	}
	for _, r := range doc.Results {
		if _, ok := r["fix"]; !ok {
			t.Errorf("result %v has no fix key", r)
		}
	}
	if err := Failed(res); err == nil || err.Error() != "1 check failed: docker.nvidia" {
		t.Errorf("Failed = %v", err)
	}
}

func TestPrint(t *testing.T) {
	res := []Result{
		{Name: "a", Status: Pass, Detail: "all\nfine", Fix: "ignored for PASS"},
		{Name: "b", Status: Warn, Detail: "meh", Fix: "do x"},
		{Name: "c", Status: Fail, Detail: "bad", Fix: "do  y\n now"},
		{Name: "d", Status: Skip, Detail: "not checked"},
	}
	var b bytes.Buffer
	if err := Print(&b, res, false); err != nil {
		t.Fatal(err)
	}
	want := "PASS  all fine\nWARN  meh — fix: do x\nFAIL  bad — fix: do y now\nSKIP  not checked\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	b.Reset()
	if err := Print(&b, nil, true); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(strings.Fields(b.String()), ""); got != `{"ok":true,"counts":{},"results":[]}` {
		t.Errorf("empty JSON %s", got)
	}
	if err := Print(failWriter{}, res, false); err == nil {
		t.Error("write error lost")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestFailed(t *testing.T) {
	if err := Failed([]Result{{Status: Pass}, {Status: Warn}, {Status: Skip}}); err != nil {
		t.Errorf("WARN/SKIP failed: %v", err)
	}
	err := Failed([]Result{{Name: "x", Status: Fail}, {Name: "y", Status: Pass}, {Name: "z", Status: Fail}})
	if err == nil || err.Error() != "2 checks failed: x, z" {
		t.Errorf("Failed = %v", err)
	}
}
