package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
)

// DockerInfo is the part of the Docker Engine API the host checks use, so
// they can be tested without an engine.
type DockerInfo interface {
	// Info returns GET /info; the error says which engine was asked.
	Info(ctx context.Context) (system.Info, error)
}

// Engine is the real engine, configured from the environment (DOCKER_HOST,
// DOCKER_API_VERSION, DOCKER_CERT_PATH, DOCKER_TLS_VERIFY) plus Opts.
type Engine struct {
	Opts []client.Opt
}

// Info asks the engine for its system information.
func (e Engine) Info(ctx context.Context) (system.Info, error) {
	c, err := client.New(append([]client.Opt{client.FromEnv}, e.Opts...)...)
	if err != nil {
		return system.Info{}, fmt.Errorf("docker client: %w", err)
	}
	defer c.Close()
	res, err := c.Info(ctx, client.InfoOptions{})
	if err != nil {
		return system.Info{}, fmt.Errorf("docker engine at %s: %w", c.DaemonHost(), err)
	}
	return res.Info, nil
}

const toolkitGuide = "https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html"

func hostChecks(ctx context.Context, o Options) []Result {
	ctx, cancel := withTimeout(ctx, o.Timeout)
	defer cancel()
	d := o.Docker
	if d == nil {
		d = Engine{}
	}
	info, err := d.Info(ctx)
	res := []Result{engineResult(info, err)}
	res = append(res, composeResult(ctx, o))
	res = append(res, runtimeResult(info, err))
	return res
}

func engineResult(info system.Info, err error) Result {
	r := Result{Name: "docker.engine"}
	if err != nil {
		r.Status = Fail
		r.Detail = "docker engine not reachable: " + err.Error()
		r.Fix = "start Docker (`sudo systemctl start docker`); if it runs, let your user use it (`sudo usermod -aG docker $USER`, then log in again) or point DOCKER_HOST at it"
		return r
	}
	r.Status = Pass
	r.Detail = fmt.Sprintf("docker engine %s reachable (%s/%s, default runtime %s)",
		orUnknown(info.ServerVersion), orUnknown(info.OSType), orUnknown(info.Architecture), orUnknown(info.DefaultRuntime))
	return r
}

// runtimeResult: the NVIDIA runtime registered with Docker, or NVIDIA CDI
// devices (GPU access via --device nvidia.com/gpu=all).
func runtimeResult(info system.Info, infoErr error) Result {
	r := Result{Name: "docker.nvidia"}
	if infoErr != nil {
		r.Status = Skip
		r.Detail = "nvidia container runtime: not checked, the docker engine is not reachable"
		return r
	}
	runtimes := make([]string, 0, len(info.Runtimes))
	for name := range info.Runtimes {
		runtimes = append(runtimes, name)
	}
	slices.Sort(runtimes)
	var found []string
	if _, ok := info.Runtimes["nvidia"]; ok {
		s := "nvidia runtime registered"
		if info.DefaultRuntime == "nvidia" {
			s += " (the default)"
		}
		found = append(found, s)
	}
	var cdi []string
	for _, d := range info.DiscoveredDevices {
		if strings.HasPrefix(d.ID, "nvidia.com/gpu") {
			cdi = append(cdi, d.ID)
		}
	}
	if len(cdi) > 0 {
		found = append(found, "CDI devices "+strings.Join(cdi, ", "))
	} else if specs := nvidiaCDISpecs(info.CDISpecDirs); len(specs) > 0 {
		found = append(found, "CDI specs for nvidia.com/gpu in "+strings.Join(specs, ", "))
	}
	if len(found) > 0 {
		r.Status = Pass
		r.Detail = "nvidia container runtime: " + strings.Join(found, "; ")
		return r
	}
	r.Status = Fail
	r.Detail = fmt.Sprintf("no NVIDIA runtime or CDI GPU devices registered with docker (runtimes: %s; CDI spec dirs: %s)",
		strings.Join(runtimes, ", "), orNone(info.CDISpecDirs))
	r.Fix = "install the NVIDIA Container Toolkit (" + toolkitGuide + "), then `sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker`; " +
		"or use CDI: `sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml` (Docker 25+, with the cdi feature enabled before Docker 28)"
	return r
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

// nvidiaCDISpecs lists the CDI spec files in dirs that define nvidia.com/gpu
// devices. Engines older than API 1.50 do not report discovered devices; the
// spec directories are readable when the engine is local.
func nvidiaCDISpecs(dirs []string) []string {
	var out []string
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			ext := filepath.Ext(e.Name())
			if e.IsDir() || (ext != ".yaml" && ext != ".yml" && ext != ".json") {
				continue
			}
			p := filepath.Join(dir, e.Name())
			b, err := os.ReadFile(p)
			if err == nil && bytes.Contains(b, []byte("nvidia.com/gpu")) {
				out = append(out, p)
			}
		}
	}
	return out
}

var reVersion = regexp.MustCompile(`v?(\d+)\.(\d+)\.(\d+)`)

// composeResult runs `docker compose version`, else `docker-compose version`.
func composeResult(ctx context.Context, o Options) Result {
	r := Result{Name: "docker.compose"}
	var tried []string
	for _, argv := range [][]string{{o.DockerCLI, "compose", "version"}, {o.ComposeCLI, "version"}} {
		out, err := runQuiet(ctx, argv[0], argv[1:]...)
		cmd := strings.Join(argv, " ")
		if err != nil {
			tried = append(tried, fmt.Sprintf("`%s`: %v", cmd, err))
			continue
		}
		m := reVersion.FindStringSubmatch(out)
		if m == nil {
			tried = append(tried, fmt.Sprintf("`%s` printed no version: %q", cmd, firstLine(out)))
			continue
		}
		major, _ := strconv.Atoi(m[1])
		version := m[1] + "." + m[2] + "." + m[3]
		if major < 2 {
			r.Status = Warn
			r.Detail = fmt.Sprintf("compose %s (`%s`) is Compose v1, end of life since 2023", version, cmd)
			r.Fix = "install Compose v2: `sudo apt-get install docker-compose-plugin` from Docker's apt repository (https://docs.docker.com/compose/install/linux/)"
			return r
		}
		r.Status = Pass
		r.Detail = fmt.Sprintf("compose %s (`%s`)", version, cmd)
		return r
	}
	r.Status = Fail
	r.Detail = "docker compose not available: " + strings.Join(tried, "; ")
	r.Fix = "install the Compose plugin: `sudo apt-get install docker-compose-plugin` from Docker's apt repository (https://docs.docker.com/compose/install/linux/)"
	return r
}

func runQuiet(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 2 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if msg := firstLine(stderr.String()); msg != "" {
			var xe *exec.ExitError
			if errors.As(err, &xe) {
				return "", fmt.Errorf("exit status %d: %s", xe.ExitCode(), msg)
			}
		}
		return "", err
	}
	return stdout.String(), nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	if len(line) > 200 {
		line = line[:200] + "..."
	}
	return strings.TrimSpace(line)
}
