package scripts

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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
// Grafana's health endpoint, two broken simulators, and the stand-in of the
// TensorRT-LLM image (a fast one and one whose trtllm-build takes a
// minute). Each tag is a hash of what goes in, so a changed input builds a
// new image instead of reusing a stale one. The script command `testimages`
// exports the tags as these variables.
const (
	PrometheusImageVar   = "PROMETHEUS_TEST_IMAGE"
	GrafanaImageVar      = "GRAFANA_TEST_IMAGE"
	SimExitsImageVar     = "SIM_EXITS_IMAGE"
	SimUnhealthyImageVar = "SIM_UNHEALTHY_IMAGE"
	TRTStandinImageVar   = "TRT_STANDIN_IMAGE"
	TRTSlowImageVar      = "TRT_SLOW_IMAGE"

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

// contentTag names an image by a hash of its Dockerfile and files.
func contentTag(repo, dockerfile string, files []engine.BuildFile) string {
	h := sha256.New()
	h.Write([]byte(dockerfile))
	for _, f := range files {
		fmt.Fprintf(h, "\x00%s\x00%o\x00%d\x00", f.Name, f.Mode, len(f.Data))
		h.Write(f.Data)
	}
	return repo + ":" + hex.EncodeToString(h.Sum(nil))[:12]
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

// BuildTestImages builds every test image that is missing and returns
// their tags by variable name.
func BuildTestImages(ctx context.Context, eng *engine.Engine) (map[string]string, error) {
	tags := map[string]string{}
	bb, err := readFile(busyboxPath)
	if err != nil {
		return nil, fmt.Errorf("%w (apt-get install busybox-static)", err)
	}
	build := func(v, repo, dockerfile string, files ...engine.BuildFile) error {
		files = append([]engine.BuildFile{bb}, files...)
		tag := contentTag(repo, dockerfile, files)
		tags[v] = tag
		if ok, err := eng.ImageExists(ctx, tag); err != nil || ok {
			return err
		}
		return eng.BuildImage(ctx, tag, dockerfile, files, nil)
	}

	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		return nil, fmt.Errorf("prometheus not found (apt-get install prometheus): %w", err)
	}
	prom, err := readFile(promBin)
	if err != nil {
		return nil, err
	}
	libs, err := sharedLibs(promBin)
	if err != nil {
		return nil, err
	}
	df := "FROM scratch\n" + busyboxInstallStep + "COPY prometheus /bin/prometheus\n"
	files := []engine.BuildFile{prom}
	for i, l := range libs {
		f, err := readFile(l)
		if err != nil {
			return nil, err
		}
		f.Name = fmt.Sprintf("lib%d", i)
		files = append(files, f)
		df += fmt.Sprintf("COPY %s %s\n", f.Name, l)
	}
	df += `RUN ["/bin/mkdir", "-p", "/prometheus", "/etc/prometheus"]
ENTRYPOINT ["/bin/prometheus"]
`
	if err := build(PrometheusImageVar, "llmobs-test/prometheus", df, files...); err != nil {
		return nil, err
	}

	if err := build(GrafanaImageVar, "llmobs-test/grafana", "FROM scratch\n"+busyboxInstallStep+
		"COPY health /www/api/health\n"+
		`ENTRYPOINT ["/bin/busybox", "httpd", "-f", "-v", "-p", "3000", "-h", "/www"]`+"\n",
		engine.BuildFile{Name: "health", Mode: 0o644, Data: []byte(`{"database":"ok","version":"stand-in"}`)}); err != nil {
		return nil, err
	}

	if err := build(SimExitsImageVar, "llmobs-test/sim-exits", "FROM scratch\n"+busyboxInstallStep+
		`ENTRYPOINT ["/bin/sh", "-c", "echo loading model qwen; echo 'RuntimeError: CUDA error: no kernel image is available for execution on the device' >&2; exit 3", "sim"]`+"\n"); err != nil {
		return nil, err
	}

	script := "#!/bin/sh\ncase \"$*\" in *-healthcheck*) echo 'not ready: model still loading'; exit 1;; esac\necho 'simulator starting; it never becomes ready'\nexec sleep 3600\n"
	if err := build(SimUnhealthyImageVar, "llmobs-test/sim-unhealthy", "FROM scratch\n"+busyboxInstallStep+"COPY sim /sim\nENTRYPOINT [\"/sim\"]\n",
		engine.BuildFile{Name: "sim", Mode: 0o755, Data: []byte(script)}); err != nil {
		return nil, err
	}
	return tags, buildTRTStandin(ctx, eng, tags)
}

// buildTRTStandin builds the stand-ins of the TensorRT-LLM Triton image:
// scripts/trtstandin FROM scratch under the names of the real image's tools,
// and the same with a trtllm-build that takes a minute (a build to interrupt).
func buildTRTStandin(ctx context.Context, eng *engine.Engine, tags map[string]string) error {
	dir, err := os.MkdirTemp("", "lop-trt-standin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := trttest.BuildStandin(root, dir)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	for _, img := range []struct {
		v, repo string
		env     map[string]string
	}{
		{TRTStandinImageVar, "llmobs-test/trtllm-standin", nil},
		{TRTSlowImageVar, "llmobs-test/trtllm-standin-slow", map[string]string{"TRTLLM_STANDIN_DELAY_BUILD": "60s"}},
	} {
		tag := contentTag(img.repo, fmt.Sprint(img.env), []engine.BuildFile{{Name: "trtstandin", Data: data}})
		tags[img.v] = tag
		if err := trttest.BuildImage(ctx, eng, tag, bin, img.env); err != nil {
			return err
		}
	}
	return nil
}
