package check

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/system"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/needs"
)

type fakeDocker struct {
	info system.Info
	err  error
}

func (f fakeDocker) Info(context.Context) (system.Info, error) { return f.info, f.err }

// script writes an executable shell script standing in for a CLI.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRuntimeResult(t *testing.T) {
	cdiDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(cdiDir, "nvidia.yaml"), []byte("cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: \"0\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	otherDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(otherDir, "intel.yaml"), []byte("kind: intel.com/gpu\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runc := map[string]system.RuntimeWithStatus{"runc": {}, "io.containerd.runc.v2": {}}
	withNvidia := map[string]system.RuntimeWithStatus{"runc": {}, "nvidia": {Runtime: system.Runtime{Path: "nvidia-container-runtime"}}}
	tests := []struct {
		name string
		info system.Info
		want want
	}{
		{"nvidia runtime", system.Info{Runtimes: withNvidia, DefaultRuntime: "runc"}, want{"docker.nvidia", Pass, []string{"nvidia runtime registered"}, nil}},
		{"nvidia default runtime", system.Info{Runtimes: withNvidia, DefaultRuntime: "nvidia"}, want{"docker.nvidia", Pass, []string{"(the default)"}, nil}},
		{"CDI devices discovered", system.Info{Runtimes: runc, CDISpecDirs: []string{"/etc/cdi", "/var/run/cdi"},
			DiscoveredDevices: []system.DeviceInfo{{Source: "cdi", ID: "nvidia.com/gpu=0"}, {Source: "cdi", ID: "nvidia.com/gpu=all"}}},
			want{"docker.nvidia", Pass, []string{"CDI devices nvidia.com/gpu=0, nvidia.com/gpu=all"}, nil}},
		{"CDI spec file on disk (engine < API 1.50)", system.Info{Runtimes: runc, CDISpecDirs: []string{filepath.Join(cdiDir, "missing"), cdiDir}},
			want{"docker.nvidia", Pass, []string{filepath.Join(cdiDir, "nvidia.yaml")}, nil}},
		{"CDI without nvidia devices", system.Info{Runtimes: runc, CDISpecDirs: []string{otherDir},
			DiscoveredDevices: []system.DeviceInfo{{Source: "cdi", ID: "intel.com/gpu=0"}}},
			want{"docker.nvidia", Fail, []string{"CDI spec dirs: " + otherDir}, []string{"nvidia-ctk cdi generate"}}},
		{"nothing", system.Info{Runtimes: runc}, want{"docker.nvidia", Fail,
			[]string{"no NVIDIA runtime or CDI GPU devices registered with docker (runtimes: io.containerd.runc.v2, runc; CDI spec dirs: none)"},
			[]string{"NVIDIA Container Toolkit", "nvidia-ctk runtime configure --runtime=docker", "nvidia-ctk cdi generate"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkWants(t, []Result{runtimeResult(tt.info, nil)}, []want{tt.want})
		})
	}
	if r := runtimeResult(system.Info{}, errors.New("down")); r.Status != Skip {
		t.Errorf("engine down: %+v", r)
	}
}

func TestHostWithFakes(t *testing.T) {
	dir := t.TempDir()
	noPlugin := script(t, dir, "docker", `echo "docker: unknown command: docker compose" >&2; exit 1`)
	v1 := script(t, dir, "docker-compose", `echo "docker-compose version 1.29.2, build unknown"; echo "docker-py version: 5.0.3"`)
	v2 := script(t, dir, "docker2", `[ "$1 $2" = "compose version" ] || exit 3; echo "Docker Compose version v2.29.7"`)
	garbage := script(t, dir, "garbage", `echo "hello"`)
	missing := filepath.Join(dir, "not-there")
	engine := fakeDocker{info: system.Info{ServerVersion: "28.3.1", OSType: "linux", Architecture: "x86_64", DefaultRuntime: "runc",
		Runtimes: map[string]system.RuntimeWithStatus{"runc": {}, "nvidia": {}}}}
	down := fakeDocker{err: errors.New("docker engine at unix:///var/run/docker.sock: permission denied")}
	tests := []struct {
		name  string
		opts  Options
		wants []want
	}{
		{"all good, compose plugin", Options{Docker: engine, DockerCLI: v2, ComposeCLI: missing}, []want{
			{"docker.engine", Pass, []string{"docker engine 28.3.1 reachable (linux/x86_64, default runtime runc)"}, nil},
			{"docker.compose", Pass, []string{"compose 2.29.7 (`" + v2 + " compose version`)"}, nil},
			{"docker.nvidia", Pass, nil, nil},
		}},
		{"only compose v1", Options{Docker: engine, DockerCLI: noPlugin, ComposeCLI: v1}, []want{
			{"docker.compose", Warn, []string{"compose 1.29.2", "Compose v1"}, []string{"docker-compose-plugin"}},
		}},
		{"no compose", Options{Docker: engine, DockerCLI: noPlugin, ComposeCLI: missing}, []want{
			{"docker.compose", Fail, []string{"unknown command: docker compose", "not-there"}, []string{"docker-compose-plugin"}},
		}},
		{"compose prints no version", Options{Docker: engine, DockerCLI: garbage, ComposeCLI: missing}, []want{
			{"docker.compose", Fail, []string{`printed no version: "hello"`}, nil},
		}},
		{"engine down", Options{Docker: down, DockerCLI: v2}, []want{
			{"docker.engine", Fail, []string{"permission denied"}, []string{"systemctl start docker", "usermod -aG docker"}},
			{"docker.compose", Pass, nil, nil},
			{"docker.nvidia", Skip, nil, nil},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Host(context.Background(), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 3 {
				t.Fatalf("%d results: %+v", len(res), res)
			}
			checkWants(t, res, tt.wants)
		})
	}
}

// TestRealEngine asks the Docker engine of this machine (DOCKER_HOST or the
// default socket). The NVIDIA runtime check must agree with what the engine
// reports; on an engine without it (as on the CI machine) it FAILs with the
// toolkit instructions.
func TestRealEngine(t *testing.T) {
	if os.Getenv("DOCKER_HOST") == "" {
		if _, err := os.Stat("/var/run/docker.sock"); err != nil {
			needs.Skip(t, "no Docker engine here (no DOCKER_HOST, no /var/run/docker.sock)", "docker.io")
		}
	}
	info, err := Engine{}.Info(context.Background())
	needs.Engine(t, err)
	if info.ServerVersion == "" || len(info.Runtimes) == 0 {
		t.Fatalf("engine info without version or runtimes: %+v", info)
	}
	res, err := Host(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkWants(t, res, []want{{"docker.engine", Pass, []string{"docker engine " + info.ServerVersion}, nil}})
	_, hasNvidia := info.Runtimes["nvidia"]
	if hasNvidia {
		checkWants(t, res, []want{{"docker.nvidia", Pass, nil, nil}})
	} else if len(info.DiscoveredDevices) == 0 && len(info.CDISpecDirs) == 0 {
		checkWants(t, res, []want{{"docker.nvidia", Fail, []string{"runc"},
			[]string{"NVIDIA Container Toolkit", "nvidia-ctk runtime configure --runtime=docker", "nvidia-ctk cdi generate"}}})
	}
	var b strings.Builder
	if err := Print(&b, res, false); err != nil {
		t.Fatal(err)
	}
	t.Logf("real engine:\n%s", b.String())
}

func TestEngineUnreachable(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no.sock"))
	_, err := Engine{}.Info(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no.sock") {
		t.Fatalf("err = %v, want one naming the socket", err)
	}
	t.Setenv("DOCKER_HOST", "bogus://x")
	if _, err := (Engine{}).Info(context.Background()); err == nil {
		t.Fatal("bogus DOCKER_HOST accepted")
	}
}
