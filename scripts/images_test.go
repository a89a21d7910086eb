package scripts

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/engine"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/trt/trttest"
)

// Test images for the real-engine scripts. No registry is reachable, so
// each is built here: busybox-static for a shell and wget, the host's
// Prometheus with its shared libraries, a busybox httpd standing in for
// Grafana's health endpoint, and two broken simulators.
const (
	PrometheusImage    = "llmobs-test/prometheus:v1"
	GrafanaImage       = "llmobs-test/grafana:v1"
	SimExitsImage      = "llmobs-test/sim-exits:v1"
	SimUnhealthyImage  = "llmobs-test/sim-unhealthy:v1"
	TRTSlowImage       = "llmobs-test/trtllm-standin-slow:v1"
	busyboxPath        = "/bin/busybox"
	busyboxInstallStep = `COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
`
)

func readFile(path string) (engine.BuildFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return engine.BuildFile{}, err
	}
	return engine.BuildFile{Name: filepath.Base(path), Mode: 0o755, Data: data}, nil
}

// sharedLibs lists the shared libraries of a binary, from ldd.
func sharedLibs(bin string) ([]string, error) {
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", bin, err)
	}
	var libs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		for _, f := range strings.Fields(sc.Text()) {
			if strings.HasPrefix(f, "/") {
				libs = append(libs, f)
			}
		}
	}
	return libs, nil
}

// BuildTestImages builds every test image that is missing.
func BuildTestImages(ctx context.Context, eng *engine.Engine) error {
	if err := buildTRTStandin(ctx, eng); err != nil {
		return err
	}
	bb, err := readFile(busyboxPath)
	if err != nil {
		return fmt.Errorf("%w (apt-get install busybox-static)", err)
	}
	build := func(tag, dockerfile string, files ...engine.BuildFile) error {
		if ok, err := eng.ImageExists(ctx, tag); err != nil || ok {
			return err
		}
		return eng.BuildImage(ctx, tag, dockerfile, append([]engine.BuildFile{bb}, files...), nil)
	}

	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		return fmt.Errorf("prometheus not found (apt-get install prometheus): %w", err)
	}
	prom, err := readFile(promBin)
	if err != nil {
		return err
	}
	libs, err := sharedLibs(promBin)
	if err != nil {
		return err
	}
	df := "FROM scratch\n" + busyboxInstallStep + "COPY prometheus /bin/prometheus\n"
	files := []engine.BuildFile{prom}
	for i, l := range libs {
		f, err := readFile(l)
		if err != nil {
			return err
		}
		f.Name = fmt.Sprintf("lib%d", i)
		files = append(files, f)
		df += fmt.Sprintf("COPY %s %s\n", f.Name, l)
	}
	df += `RUN ["/bin/mkdir", "-p", "/prometheus", "/etc/prometheus"]
ENTRYPOINT ["/bin/prometheus"]
`
	if err := build(PrometheusImage, df, files...); err != nil {
		return err
	}

	if err := build(GrafanaImage, "FROM scratch\n"+busyboxInstallStep+
		"COPY health /www/api/health\n"+
		`ENTRYPOINT ["/bin/busybox", "httpd", "-f", "-v", "-p", "3000", "-h", "/www"]`+"\n",
		engine.BuildFile{Name: "health", Mode: 0o644, Data: []byte(`{"database":"ok","version":"stand-in"}`)}); err != nil {
		return err
	}

	if err := build(SimExitsImage, "FROM scratch\n"+busyboxInstallStep+
		`ENTRYPOINT ["/bin/sh", "-c", "echo loading model qwen; echo 'RuntimeError: CUDA error: no kernel image is available for execution on the device' >&2; exit 3", "sim"]`+"\n"); err != nil {
		return err
	}

	script := "#!/bin/sh\ncase \"$*\" in *-healthcheck*) echo 'not ready: model still loading'; exit 1;; esac\necho 'simulator starting; it never becomes ready'\nexec sleep 3600\n"
	return build(SimUnhealthyImage, "FROM scratch\n"+busyboxInstallStep+"COPY sim /sim\nENTRYPOINT [\"/sim\"]\n",
		engine.BuildFile{Name: "sim", Mode: 0o755, Data: []byte(script)})
}

// buildTRTStandin builds the stand-in of the TensorRT-LLM Triton image:
// scripts/trtstandin FROM scratch under the names of the real image's tools.
func buildTRTStandin(ctx context.Context, eng *engine.Engine) error {
	have, err := eng.ImageExists(ctx, trttest.StandinImage)
	if err != nil {
		return err
	}
	haveSlow, err := eng.ImageExists(ctx, TRTSlowImage)
	if err != nil || (have && haveSlow) {
		return err
	}
	dir, err := os.MkdirTemp("", "lop-trt-standin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := trttest.BuildStandin(root, dir)
	if err != nil {
		return err
	}
	if err := trttest.BuildImage(ctx, eng, trttest.StandinImage, bin, nil); err != nil {
		return err
	}
	// The same tools with a trtllm-build that takes a minute: a build to interrupt.
	return trttest.BuildImage(ctx, eng, TRTSlowImage, bin, map[string]string{"TRTLLM_STANDIN_DELAY_BUILD": "60s"})
}
