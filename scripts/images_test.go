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
	"sort"
	"strings"
	"sync"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/engine"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/needs"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/trt/trttest"
)

// Test images for the real-engine scripts. No registry is reachable, so
// each is built here, FROM scratch, from what the test can build itself:
// scripts/imagebin (static Go: the wget of the health checks, a file server
// standing in for Grafana's health endpoint, two broken simulators) and the
// stand-in of the TensorRT-LLM image (a fast one and one whose trtllm-build
// takes a minute). Only the Prometheus image needs a host tool: the host's
// prometheus binary with its shared libraries (Debian: prometheus). Each
// image is built on first use, on its own, so a missing prometheus skips
// only the scripts that need that image. Each tag is a hash of what goes
// in, so a changed input builds a new image instead of reusing a stale one.
//
// Scripts name the images they need: [image:NAME] is true when NAME can be
// built here (false, or an error in strict mode, when a host tool it needs
// is missing; an error when the build fails), and `testimages NAME...`
// exports the tags as these variables.
const (
	PrometheusImageVar   = "PROMETHEUS_TEST_IMAGE"
	PromStandinImageVar  = "PROMETHEUS_STANDIN_IMAGE"
	GrafanaImageVar      = "GRAFANA_TEST_IMAGE"
	SimExitsImageVar     = "SIM_EXITS_IMAGE"
	SimUnhealthyImageVar = "SIM_UNHEALTHY_IMAGE"
	TRTStandinImageVar   = "TRT_STANDIN_IMAGE"
	TRTSlowImageVar      = "TRT_SLOW_IMAGE"
	AlertmanagerImageVar = "ALERTMANAGER_TEST_IMAGE"
	AMStandinImageVar    = "ALERTMANAGER_STANDIN_IMAGE"
)

// testImage is one image (or, for the TensorRT-LLM stand-ins, two built
// together): what it needs from the host and how it is built.
type testImage struct {
	needs func() *needs.Missing // a host tool it needs; nil: none
	build func(ctx context.Context, eng *engine.Engine, tags map[string]string) error

	once    sync.Once
	tags    map[string]string
	missing *needs.Missing
	err     error
}

var trtImages = &testImage{build: buildTRTStandin}

// testImages by the name scripts use.
var testImages = map[string]*testImage{
	"prometheus":           {needs: hostPrometheusMissing, build: buildPrometheusImage},
	"prometheus-standin":   {build: buildPromStandinImage},
	"grafana":              {build: buildGrafanaImage},
	"alertmanager":         {needs: hostAlertmanagerMissing, build: buildAlertmanagerImage},
	"alertmanager-standin": {build: buildAMStandinImage},
	"sim-exits":            {build: simImage(SimExitsImageVar, "llmobs-test/sim-exits", "exit3")},
	"sim-unhealthy":        {build: simImage(SimUnhealthyImageVar, "llmobs-test/sim-unhealthy", "never-ready")},
	"trt-standin":          trtImages,
	"trt-slow":             trtImages,
}

func imageNames() string {
	var names []string
	for n := range testImages {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// ensureImage builds the image name once. It returns its tags, or what is
// missing for it (the engine or a host tool), or the error of its build.
func ensureImage(name string) (map[string]string, *needs.Missing, error) {
	img, ok := testImages[name]
	if !ok {
		return nil, nil, fmt.Errorf("no test image %q (there are: %s)", name, imageNames())
	}
	if m := engineMissing(); m != nil {
		return nil, m, nil
	}
	img.once.Do(func() {
		if img.needs != nil {
			if img.missing = img.needs(); img.missing != nil {
				return
			}
		}
		eng, err := engine.Connect(context.Background())
		if err != nil {
			img.err = err
			return
		}
		defer eng.Close()
		ctx, cancel := context.WithTimeout(context.Background(), imageBuildTimeout)
		defer cancel()
		img.tags = map[string]string{}
		if err := img.build(ctx, eng, img.tags); err != nil {
			img.err = fmt.Errorf("building the test image %s: %w", name, err)
		}
	})
	return img.tags, img.missing, img.err
}

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

// buildTagged builds dockerfile with files as repo:<hash> unless that
// exists, and records the tag under v.
func buildTagged(ctx context.Context, eng *engine.Engine, tags map[string]string, v, repo, dockerfile string, files ...engine.BuildFile) error {
	tag := contentTag(repo, dockerfile, files)
	tags[v] = tag
	if ok, err := eng.ImageExists(ctx, tag); err != nil || ok {
		return err
	}
	return eng.BuildImage(ctx, tag, dockerfile, files, nil)
}

var (
	imagebinOnce sync.Once
	imagebinData []byte
	imagebinErr  error
)

// imagebin compiles scripts/imagebin static, once.
func imagebin() ([]byte, error) {
	imagebinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lop-imagebin-")
		if err != nil {
			imagebinErr = err
			return
		}
		defer os.RemoveAll(dir)
		bin := filepath.Join(dir, "imagebin")
		cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./scripts/imagebin")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			imagebinErr = fmt.Errorf("building scripts/imagebin: %v\n%s", err, out)
			return
		}
		imagebinData, imagebinErr = os.ReadFile(bin)
	})
	return imagebinData, imagebinErr
}

// imagebinAs is scripts/imagebin as a build file named name (the name it
// will be invoked under in the image).
func imagebinAs(name string) (engine.BuildFile, error) {
	data, err := imagebin()
	return engine.BuildFile{Name: name, Mode: 0o755, Data: data}, err
}

// sharedLibs lists the shared libraries of a binary, from ldd; none for a
// static binary.
func sharedLibs(bin string) ([]string, error) {
	out, err := exec.Command("ldd", bin).CombinedOutput()
	if bytes.Contains(out, []byte("not a dynamic executable")) || bytes.Contains(out, []byte("statically linked")) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %v: %s", bin, err, out)
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

func hostPrometheusMissing() *needs.Missing {
	if _, m := needs.Look("prometheus"); m != nil {
		m.What += ": the Prometheus test image copies the host's binary"
		return m
	}
	return nil
}

// buildPrometheusImage: the host's prometheus with its shared libraries and
// the Go wget of the health check. No shell and no RUN step: Docker creates
// the mount points, Prometheus its tsdb directory.
func buildPrometheusImage(ctx context.Context, eng *engine.Engine, tags map[string]string) error {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		return err
	}
	prom, err := readFile(promBin)
	if err != nil {
		return err
	}
	libs, err := sharedLibs(promBin)
	if err != nil {
		return err
	}
	wget, err := imagebinAs("wget")
	if err != nil {
		return err
	}
	df := "FROM scratch\nENV PATH=/bin\nCOPY wget /bin/wget\nCOPY prometheus /bin/prometheus\n"
	files := []engine.BuildFile{wget, prom}
	for i, l := range libs {
		f, err := readFile(l)
		if err != nil {
			return err
		}
		f.Name = fmt.Sprintf("lib%d", i)
		files = append(files, f)
		df += fmt.Sprintf("COPY %s %s\n", f.Name, l)
	}
	df += `ENTRYPOINT ["/bin/prometheus"]` + "\n"
	return buildTagged(ctx, eng, tags, PrometheusImageVar, "llmobs-test/prometheus", df, files...)
}

func hostAlertmanagerMissing() *needs.Missing {
	if _, m := needs.Look("prometheus-alertmanager", "alertmanager"); m != nil {
		m.What += ": the Alertmanager test image copies the host's binary"
		return m
	}
	return nil
}

// buildAlertmanagerImage: the host's Alertmanager (Debian's
// prometheus-alertmanager) with its shared libraries and the Go wget of the
// health check, as /bin/alertmanager, the prom/alertmanager image's path.
func buildAlertmanagerImage(ctx context.Context, eng *engine.Engine, tags map[string]string) error {
	bin, m := needs.Look("prometheus-alertmanager", "alertmanager")
	if m != nil {
		return m
	}
	am, err := readFile(bin)
	if err != nil {
		return err
	}
	am.Name = "alertmanager"
	libs, err := sharedLibs(bin)
	if err != nil {
		return err
	}
	wget, err := imagebinAs("wget")
	if err != nil {
		return err
	}
	df := "FROM scratch\nENV PATH=/bin\nCOPY wget /bin/wget\nCOPY alertmanager /bin/alertmanager\n"
	files := []engine.BuildFile{wget, am}
	for i, l := range libs {
		f, err := readFile(l)
		if err != nil {
			return err
		}
		f.Name = fmt.Sprintf("lib%d", i)
		files = append(files, f)
		df += fmt.Sprintf("COPY %s %s\n", f.Name, l)
	}
	// Debian's build reads its notification templates from files.
	for i, tmpl := range []string{"/usr/share/prometheus/alertmanager/default.tmpl", "/usr/share/prometheus/alertmanager/email.tmpl"} {
		f, err := readFile(tmpl)
		if os.IsNotExist(err) {
			continue // a build with the templates built in
		}
		if err != nil {
			return err
		}
		f.Name = fmt.Sprintf("tmpl%d", i)
		files = append(files, f)
		df += fmt.Sprintf("COPY %s %s\n", f.Name, tmpl)
	}
	df += `ENTRYPOINT ["/bin/alertmanager"]` + "\n"
	return buildTagged(ctx, eng, tags, AlertmanagerImageVar, "llmobs-test/alertmanager", df, files...)
}

// buildAMStandinImage: a file server on 9093 that answers what up and
// status ask Alertmanager (/-/ready, /api/v2/status, /api/v2/alerts), for
// scripts in which Alertmanager is not under test.
func buildAMStandinImage(ctx context.Context, eng *engine.Engine, tags map[string]string) error {
	wget, err := imagebinAs("wget")
	if err != nil {
		return err
	}
	serve, err := imagebinAs("serve")
	if err != nil {
		return err
	}
	ready := engine.BuildFile{Name: "ready", Mode: 0o644, Data: []byte("OK\n")}
	status := engine.BuildFile{Name: "status", Mode: 0o644, Data: []byte(`{"cluster":{"status":"disabled"},"uptime":"2026-01-01T00:00:00Z","versionInfo":{"version":"stand-in"}}`)}
	alerts := engine.BuildFile{Name: "alerts", Mode: 0o644, Data: []byte(`[]`)}
	df := "FROM scratch\nENV PATH=/bin\nCOPY wget /bin/wget\nCOPY serve /bin/serve\n" +
		"COPY ready /www/-/ready\nCOPY status /www/api/v2/status\nCOPY alerts /www/api/v2/alerts\n" +
		`ENTRYPOINT ["/bin/serve", "0.0.0.0:9093", "/www"]` + "\n"
	return buildTagged(ctx, eng, tags, AMStandinImageVar, "llmobs-test/alertmanager-standin", df, wget, serve, ready, status, alerts)
}

// buildGrafanaImage: a file server with Grafana's /api/health on port 3000,
// and the Go wget of the health check.
func buildGrafanaImage(ctx context.Context, eng *engine.Engine, tags map[string]string) error {
	wget, err := imagebinAs("wget")
	if err != nil {
		return err
	}
	serve, err := imagebinAs("serve")
	if err != nil {
		return err
	}
	health := engine.BuildFile{Name: "health", Mode: 0o644, Data: []byte(`{"database":"ok","version":"stand-in"}`)}
	df := "FROM scratch\nENV PATH=/bin\nCOPY wget /bin/wget\nCOPY serve /bin/serve\nCOPY health /www/api/health\n" +
		`ENTRYPOINT ["/bin/serve", "0.0.0.0:3000", "/www"]` + "\n"
	return buildTagged(ctx, eng, tags, GrafanaImageVar, "llmobs-test/grafana", df, wget, serve, health)
}

// buildPromStandinImage: a file server on 9090 that answers what up and
// status ask Prometheus (/-/ready, /api/v1/targets with no targets), for
// scripts in which Prometheus itself is not under test.
func buildPromStandinImage(ctx context.Context, eng *engine.Engine, tags map[string]string) error {
	wget, err := imagebinAs("wget")
	if err != nil {
		return err
	}
	serve, err := imagebinAs("serve")
	if err != nil {
		return err
	}
	ready := engine.BuildFile{Name: "ready", Mode: 0o644, Data: []byte("Prometheus Server is Ready.\n")}
	targets := engine.BuildFile{Name: "targets", Mode: 0o644, Data: []byte(`{"status":"success","data":{"activeTargets":[],"droppedTargets":[]}}`)}
	df := "FROM scratch\nENV PATH=/bin\nCOPY wget /bin/wget\nCOPY serve /bin/serve\n" +
		"COPY ready /www/-/ready\nCOPY targets /www/api/v1/targets\n" +
		`ENTRYPOINT ["/bin/serve", "0.0.0.0:9090", "/www"]` + "\n"
	return buildTagged(ctx, eng, tags, PromStandinImageVar, "llmobs-test/prometheus-standin", df, wget, serve, ready, targets)
}

// simImage: a broken simulator at /sim (where compose's health check calls
// it), behaving as IMAGEBIN_SIM=mode says (see scripts/imagebin).
func simImage(v, repo, mode string) func(context.Context, *engine.Engine, map[string]string) error {
	return func(ctx context.Context, eng *engine.Engine, tags map[string]string) error {
		sim, err := imagebinAs("sim")
		if err != nil {
			return err
		}
		df := "FROM scratch\nENV PATH=/bin IMAGEBIN_SIM=" + mode + "\nCOPY sim /sim\n" + `ENTRYPOINT ["/sim"]` + "\n"
		return buildTagged(ctx, eng, tags, v, repo, df, sim)
	}
}

// buildTRTStandin builds the stand-ins of the TensorRT-LLM Triton image:
// scripts/trtstandin FROM scratch under the names of the real image's tools,
// laid out as the real image (/root 0700, examples and templates under
// /app), and the same with a trtllm-build that takes a minute (a build to
// interrupt) and marks each step started in the builder's Hugging Face
// cache (LOP_TRT_CACHE/hf/STEP.started on the host).
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
		{TRTSlowImageVar, "llmobs-test/trtllm-standin-slow", map[string]string{
			"TRTLLM_STANDIN_DELAY_BUILD": "60s", "TRTLLM_STANDIN_STARTED_DIR": trttest.StartedDir}},
	} {
		tag := contentTag(img.repo, trttest.Dockerfile(img.env), []engine.BuildFile{{Name: "trtstandin", Data: data}})
		tags[img.v] = tag
		if err := trttest.BuildImage(ctx, eng, tag, bin, img.env); err != nil {
			return err
		}
	}
	return nil
}
