// Package scripts runs the testscript scripts in testdata/: each Mage target
// as a user types it, with its output and exit code.
//
// The targets run from a mage binary compiled once from magefile.go; every
// script's $WORK is a copy of the project's deploy/, serving/ and
// dashboards/. Fakes of docker, docker-compose and nvidia-smi are this test
// binary under those names: they record their arguments when
// FAKE_DOCKER_LOG is set and otherwise run the real program.
//
// Scripts that need something of the host say so with conditions, and skip
// where it is missing, naming the Debian package:
//
//	[engine]        a Docker engine answers (docker.io)
//	[compose]       docker compose (v2) or docker-compose answers (docker-compose)
//	[tool:NAME]     NAME is on the host's PATH, not a fake (needs.Packages names the package)
//	[image:NAME]    the test image NAME is built (see images_test.go); false
//	                when the engine or a host tool it needs is missing
//	[portfree:PORT] nothing listens on 127.0.0.1:PORT (a deliberate skip)
//
// In strict mode (CI=true or LOP_STRICT=1, see tasks/needs) the first four
// fail the script where something is missing, instead of letting it skip.
// A test image whose build fails fails the script in either mode.
package scripts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/llm-observability-pack/llm-observability-pack/scripts/fakes"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/engine"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/gpu/gpufake"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/needs"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/trt/trttest"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"docker":         func() { os.Exit(fakes.Docker()) },
		"docker-compose": func() { os.Exit(fakes.DockerCompose()) },
		"nvidia-smi":     func() { os.Exit(gpufake.FakeNvidiaSmi()) },
	})
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
	root, _   = filepath.Abs("..")
)

// buildMage compiles the magefile into a mage binary, and the simulator
// into a static binary for the images the real-engine scripts build.
func buildMage(t *testing.T) string {
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "lop-scripts-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "run", "./mage", "-compile", filepath.Join(binDir, "mage"))
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("compiling the magefile: %v\n%s", err, out)
			return
		}
		if _, err := os.Stat(filepath.Join(root, "cmd", "sim")); err == nil {
			cmd = exec.Command("go", "build", "-trimpath", "-o", filepath.Join(binDir, "sim-static"), "./cmd/sim")
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("building the simulator: %v\n%s", err, out)
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// hostPATH is PATH before testscript.Main puts the fakes first: where the
// host's own programs are looked up.
var hostPATH = os.Getenv("PATH")

const imageBuildTimeout = 5 * time.Minute

var (
	engineOnce sync.Once
	engineErr  error // no engine answers: real-engine scripts skip (fail in strict mode)
)

// realEngine finds out, once, whether a Docker engine answers.
func realEngine() {
	engineOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		eng, err := engine.Connect(ctx)
		if err != nil {
			engineErr = err
			return
		}
		eng.Close()
	})
}

func engineMissing() *needs.Missing {
	realEngine()
	if engineErr != nil {
		return &needs.Missing{What: "no usable Docker engine: " + engineErr.Error(), Package: "docker.io"}
	}
	return nil
}

// lookHost finds a program on the host's PATH (never a fake of this test).
func lookHost(name string) (string, *needs.Missing) {
	for _, dir := range filepath.SplitList(hostPATH) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	pkg := needs.Packages[name]
	if pkg == "" {
		pkg = name
	}
	return "", &needs.Missing{What: name + " not found on PATH", Package: pkg}
}

var (
	composeOnce sync.Once
	composeMiss *needs.Missing
)

// composeMissing: neither `docker compose` (v2) nor docker-compose answers.
func composeMissing() *needs.Missing {
	composeOnce.Do(func() {
		if p, m := lookHost("docker"); m == nil {
			if exec.Command(p, "compose", "version").Run() == nil {
				return
			}
		}
		if p, m := lookHost("docker-compose"); m == nil {
			if exec.Command(p, "version").Run() == nil {
				return
			}
		}
		composeMiss = &needs.Missing{What: "neither docker compose (v2) nor docker-compose answers", Package: "docker-compose"}
	})
	return composeMiss
}

// missingFor evaluates a condition on the host: what is missing for it
// (nil: it holds), or an error for a condition it does not know or a test
// image that failed to build.
func missingFor(cond string) (*needs.Missing, error) {
	kind, arg, _ := strings.Cut(cond, ":")
	switch kind {
	case "engine":
		return engineMissing(), nil
	case "compose":
		return composeMissing(), nil
	case "tool":
		if _, ok := needs.Packages[arg]; !ok {
			return nil, fmt.Errorf("[tool:%s]: no Debian package known for %q: add it to needs.Packages", arg, arg)
		}
		_, m := lookHost(arg)
		return m, nil
	case "image":
		_, m, err := ensureImage(arg)
		return m, err
	case "docker":
		return nil, fmt.Errorf("[docker] is gone: use [engine] (a Docker engine answers), [compose], [tool:docker] (the CLI) or [image:NAME]")
	}
	return nil, fmt.Errorf("unknown condition %q", cond)
}

func TestScripts(t *testing.T) {
	bin := buildMage(t)
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Deadline:            time.Now().Add(15 * time.Minute),
		Setup: func(e *testscript.Env) error {
			for _, dir := range []string{"deploy", "serving", "dashboards"} {
				if err := copyTree(filepath.Join(root, dir), filepath.Join(e.WorkDir, dir)); err != nil {
					return err
				}
			}
			e.Setenv("PATH", bin+string(os.PathListSeparator)+e.Getenv("PATH"))
			e.Setenv("LOP_PLAIN", "1")
			e.Setenv("HOME", filepath.Join(e.WorkDir, ".home"))
			e.Setenv("SIM_BIN", filepath.Join(bin, "sim-static"))
			e.Setenv("REPO_ROOT", root) // read-only use: targets that need the Go source
			e.Setenv("GOCACHE", goEnv("GOCACHE"))
			e.Setenv("GOPATH", goEnv("GOPATH"))
			e.Setenv("GOFLAGS", os.Getenv("GOFLAGS"))
			e.Setenv("GPU_CAPTURES", filepath.Join(root, "tasks", "gpu", "testdata"))
			// A project name of its own per script, so that scripts on the
			// real engine never touch each other's containers.
			sum := sha256.Sum256([]byte(e.WorkDir))
			project := "lopt" + hex.EncodeToString(sum[:4])
			e.Setenv("TEST_PROJECT", project)
			// testscript passes only a few variables on; keep the engine's address.
			if v, ok := os.LookupEnv("DOCKER_HOST"); ok {
				e.Setenv("DOCKER_HOST", v)
			}
			e.Defer(func() { removeProject(project) })
			return nil
		},
		Condition: func(cond string) (bool, error) {
			if port, ok := strings.CutPrefix(cond, "portfree:"); ok {
				// [portfree:9100]: nothing listens on 127.0.0.1:9100. A
				// port in use is no missing tool: a skip in strict mode too.
				l, err := net.Listen("tcp", "127.0.0.1:"+port)
				if l != nil {
					l.Close()
				}
				return err == nil, nil
			}
			m, err := missingFor(cond)
			if err != nil {
				return false, err
			}
			return needs.Condition(m)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"fakeengine":  cmdFakeEngine,
			"freeports":   cmdFreePorts,
			"whyskip":     cmdWhySkip,
			"httpget":     cmdHTTPGet,
			"waitfile":    cmdWaitFile,
			"waithttp":    cmdWaitHTTP,
			"testimages":  cmdTestImages,
			"engineclean": cmdEngineClean,
			"trtrelease":  cmdTRTRelease,
		},
	})
}

// removeProject removes every container, network and volume of a test
// project from the real engine, whatever the script left behind.
func removeProject(project string) {
	realEngine()
	if engineErr != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, args := range [][]string{
		{"ps", "-aq", "--filter", "label=com.docker.compose.project=" + project},
		{"network", "ls", "-q", "--filter", "label=com.docker.compose.project=" + project},
		{"volume", "ls", "-q", "--filter", "label=com.docker.compose.project=" + project},
	} {
		out, _ := exec.CommandContext(ctx, "docker", args...).Output()
		ids := strings.Fields(string(out))
		if len(ids) == 0 {
			continue
		}
		rm := map[string][]string{"ps": {"rm", "-f", "-v"}, "network": {"network", "rm"}, "volume": {"volume", "rm", "-f"}}[args[0]]
		exec.CommandContext(ctx, "docker", append(rm, ids...)...).Run()
	}
	// The simulator image up:sim built for this project, if any.
	exec.CommandContext(ctx, "docker", "rmi", "-f", "llmobs-test/sim-"+project+":local").Run()
}

// fakeengine STATEFILE: serve a fake Docker Engine API from a JSON state
// file (re-read on each request) and point DOCKER_HOST at it.
func cmdFakeEngine(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: fakeengine STATEFILE")
	}
	url, closeFn, err := fakes.StartEngine(ts.MkAbs(args[0]))
	ts.Check(err)
	ts.Defer(closeFn)
	ts.Setenv("DOCKER_HOST", url)
}

// freeports KEY...: set each environment variable to a free TCP port.
func cmdFreePorts(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: freeports KEY...")
	}
	for _, k := range args {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		ts.Check(err)
		ts.Setenv(k, fmt.Sprint(l.Addr().(*net.TCPAddr).Port))
		l.Close()
	}
}

// whyskip COND...: log what is missing for each condition that does not
// hold (before a skip).
func cmdWhySkip(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: whyskip COND...")
	}
	for _, c := range args {
		m, err := missingFor(c)
		ts.Check(err)
		if m != nil {
			ts.Logf("[%s] does not hold: %v", c, m)
		}
	}
}

// testimages NAME...: build the named test images where missing and
// export their tags (prometheus: PROMETHEUS_TEST_IMAGE, prometheus-standin:
// PROMETHEUS_STANDIN_IMAGE, grafana:
// GRAFANA_TEST_IMAGE, sim-exits: SIM_EXITS_IMAGE, sim-unhealthy:
// SIM_UNHEALTHY_IMAGE, trt-standin and trt-slow: TRT_STANDIN_IMAGE and
// TRT_SLOW_IMAGE). Guard it with [!image:NAME] or [!engine] skips: here a
// missing tool fails.
func cmdTestImages(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: testimages NAME... (%s)", imageNames())
	}
	for _, name := range args {
		tags, m, err := ensureImage(name)
		ts.Check(err)
		if m != nil {
			ts.Fatalf("testimages %s: %v (guard the script with [!image:%s] skip)", name, m, name)
		}
		for k, v := range tags {
			ts.Setenv(k, v)
		}
	}
}

// httpget URL REGEXP: fetch URL and require a 200 whose body matches.
func cmdHTTPGet(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: httpget URL REGEXP")
	}
	body, code, err := get(args[0])
	ok := err == nil && code == 200 && matches(args[1], body)
	if ok == neg {
		ts.Fatalf("GET %s: code %d, err %v, body %.300q", args[0], code, err, body)
	}
}

// waitfile PATH: wait up to 60s for a file to exist.
func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: waitfile PATH")
	}
	p := ts.MkAbs(args[0])
	for i := 0; i < 600; i++ {
		if _, err := os.Stat(p); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	ts.Fatalf("%s did not appear within 60s", args[0])
}

// engineclean: remove this script's project from the real engine now.
func cmdEngineClean(ts *testscript.TestScript, neg bool, args []string) {
	removeProject(ts.Getenv("TEST_PROJECT"))
}

func copyTree(src, dst string) error {
	if _, err := os.Stat(src); os.IsNotExist(err) {
		return nil
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == ".env" {
			return nil // never a developer's own .env
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, _ := d.Info()
		return os.WriteFile(target, data, info.Mode().Perm())
	})
}

// trtrelease DIR REF: make a local git repository that looks like a
// TensorRT-LLM release tagged REF, and point LOP_TRTLLM_SOURCE at it.
func cmdTRTRelease(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: trtrelease DIR REF")
	}
	src, err := trttest.GitRelease(ts.MkAbs(args[0]), args[1], nil)
	ts.Check(err)
	ts.Setenv("LOP_TRTLLM_SOURCE", src)
}

// waithttp URL [SECONDS]: wait (default 30s) until URL answers 200.
func cmdWaitHTTP(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: waithttp URL [SECONDS]")
	}
	limit := 30 * time.Second
	if len(args) == 2 {
		d, err := time.ParseDuration(args[1] + "s")
		ts.Check(err)
		limit = d
	}
	deadline := time.Now().Add(limit)
	for {
		_, code, err := get(args[0])
		if err == nil && code == 200 {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not answer 200 within %s (last: code %d, err %v)", args[0], limit, code, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// goEnv returns a `go env` value, so that scripts running `go` share the
// caches of the test run.
func goEnv(key string) string {
	out, err := exec.Command("go", "env", key).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
