package engine

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
)

// Containers that are not part of a compose project: one-off workers such as
// the TensorRT-LLM engine builder, started, driven with execs and removed by
// the code that created them.

// PullImage pulls ref from its registry, calling progress with one short line
// per status message (may be nil). It fails with the registry's message when
// the pull fails part-way.
func (e *Engine) PullImage(ctx context.Context, ref string, progress func(line string)) error {
	res, err := e.c.ImagePull(ctx, ref, client.ImagePullOptions{})
	if err != nil {
		return fmt.Errorf("pulling image %s: %w", ref, err)
	}
	defer res.Close()
	for m, err := range res.JSONMessages(ctx) {
		if err != nil {
			return fmt.Errorf("pulling image %s: %w", ref, err)
		}
		if m.Error != nil {
			return fmt.Errorf("pulling image %s: %s", ref, m.Error.Message)
		}
		if progress == nil || m.Status == "" {
			continue
		}
		line := m.Status
		if m.ID != "" {
			line = m.ID + ": " + line
		}
		if m.Progress != nil && m.Progress.Total > 0 {
			line += fmt.Sprintf(" %.1f/%.1f MB", float64(m.Progress.Current)/1e6, float64(m.Progress.Total)/1e6)
		}
		progress(line)
	}
	return nil
}

// ImageID returns the ID of the local image ref, or "" when there is none.
func (e *Engine) ImageID(ctx context.Context, ref string) (string, error) {
	res, err := e.c.ImageInspect(ctx, ref)
	if err == nil {
		return res.ID, nil
	}
	if notFound(err) {
		return "", nil
	}
	return "", fmt.Errorf("inspecting image %s: %w", ref, err)
}

// Rootless reports whether the engine runs rootless (files its containers
// write as root belong to the calling user on the host).
func (e *Engine) Rootless(ctx context.Context) (bool, error) {
	res, err := e.c.Info(ctx, client.InfoOptions{})
	if err != nil {
		return false, fmt.Errorf("reading the engine's info: %w", err)
	}
	return slices.ContainsFunc(res.Info.SecurityOptions, func(s string) bool {
		return strings.Contains(s, "name=rootless")
	}), nil
}

// EnsureVolume creates the named volume with labels unless it exists.
func (e *Engine) EnsureVolume(ctx context.Context, name string, labels map[string]string) error {
	if _, err := e.c.VolumeInspect(ctx, name, client.VolumeInspectOptions{}); err == nil {
		return nil
	} else if !notFound(err) {
		return fmt.Errorf("inspecting volume %s: %w", name, err)
	}
	if _, err := e.c.VolumeCreate(ctx, client.VolumeCreateOptions{Name: name, Labels: labels}); err != nil {
		return fmt.Errorf("creating volume %s: %w", name, err)
	}
	return nil
}

// LabeledContainer is a container found by its labels.
type LabeledContainer struct {
	ID     string
	Name   string
	State  string
	Labels map[string]string
}

// ContainersWithLabels returns every container (running or not) that has
// all of the given labels ("key=value" or "key").
func (e *Engine) ContainersWithLabels(ctx context.Context, labels ...string) ([]LabeledContainer, error) {
	f := make(client.Filters)
	for _, l := range labels {
		f = f.Add("label", l)
	}
	res, err := e.c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("listing containers labelled %s: %w", strings.Join(labels, ", "), err)
	}
	out := make([]LabeledContainer, 0, len(res.Items))
	for _, s := range res.Items {
		c := LabeledContainer{ID: s.ID, State: string(s.State), Labels: s.Labels}
		if len(s.Names) > 0 {
			c.Name = strings.TrimPrefix(s.Names[0], "/")
		}
		out = append(out, c)
	}
	return out, nil
}

// CreateContainer creates a container and returns its ID.
func (e *Engine) CreateContainer(ctx context.Context, opts client.ContainerCreateOptions) (string, error) {
	res, err := e.c.ContainerCreate(ctx, opts)
	if err != nil {
		image := opts.Image
		if image == "" && opts.Config != nil {
			image = opts.Config.Image
		}
		// The options may hold secrets in Env: never print them.
		return "", fmt.Errorf("creating container %s from image %s: %w", opts.Name, image, err)
	}
	return res.ID, nil
}

// StartContainer starts a created container.
func (e *Engine) StartContainer(ctx context.Context, id string) error {
	if _, err := e.c.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("starting container %s: %w", short(id), err)
	}
	return nil
}

// RemoveContainer kills and removes a container; a container that is
// already gone is not an error. Anonymous volumes go with it, named ones stay.
func (e *Engine) RemoveContainer(ctx context.Context, id string) error {
	_, err := e.c.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !notFound(err) {
		return fmt.Errorf("removing container %s: %w", short(id), err)
	}
	return nil
}

// ExecSpec is one command run inside a running container: an argv list,
// never a shell string.
type ExecSpec struct {
	Argv       []string
	Env        []string // KEY=VALUE, added to the container's environment
	User       string   // "" for the container's user, or "uid:gid"
	WorkingDir string
}

// Exec runs spec in container id, streaming its stdout and stderr to the
// writers, and returns its exit code. When ctx ends the stream is closed and
// ctx's error returned; the process itself ends only when the container is
// removed (the Engine API cannot kill an exec).
func (e *Engine) Exec(ctx context.Context, id string, spec ExecSpec, stdout, stderr io.Writer) (int, error) {
	if len(spec.Argv) == 0 {
		return -1, errors.New("exec: empty argv")
	}
	cr, err := e.c.ExecCreate(ctx, id, client.ExecCreateOptions{
		Cmd: spec.Argv, Env: spec.Env, User: spec.User, WorkingDir: spec.WorkingDir,
		AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return -1, fmt.Errorf("creating exec %q in container %s: %w", spec.Argv[0], short(id), err)
	}
	att, err := e.c.ExecAttach(ctx, cr.ID, client.ExecAttachOptions{})
	if err != nil {
		return -1, fmt.Errorf("starting exec %q in container %s: %w", spec.Argv[0], short(id), err)
	}
	var once sync.Once
	closeConn := func() { once.Do(att.Close) }
	defer closeConn()
	stop := context.AfterFunc(ctx, closeConn)
	defer stop()
	_, copyErr := stdcopy.StdCopy(stdout, stderr, att.Reader)
	if ctx.Err() != nil {
		return -1, ctx.Err()
	}
	if copyErr != nil {
		return -1, fmt.Errorf("reading the output of %q: %w", spec.Argv[0], copyErr)
	}
	ins, err := e.c.ExecInspect(ctx, cr.ID, client.ExecInspectOptions{})
	if err != nil {
		return -1, fmt.Errorf("inspecting exec %q: %w", spec.Argv[0], err)
	}
	if ins.Running {
		return -1, fmt.Errorf("exec %q closed its output but is still running", spec.Argv[0])
	}
	return ins.ExitCode, nil
}

// ErrNotFound is returned by ReadFile for a path that does not exist.
var ErrNotFound = errors.New("not found")

// ReadFile reads one regular file from a container's filesystem (volumes
// included), at most limit bytes. A missing path gives ErrNotFound.
func (e *Engine) ReadFile(ctx context.Context, id, path string, limit int64) ([]byte, error) {
	res, err := e.c.CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: path})
	if err != nil {
		if notFound(err) {
			return nil, fmt.Errorf("%s in container %s: %w", path, short(id), ErrNotFound)
		}
		return nil, fmt.Errorf("copying %s from container %s: %w", path, short(id), err)
	}
	defer res.Content.Close()
	tr := tar.NewReader(res.Content)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("%s in container %s: empty archive: %w", path, short(id), ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s from container %s: %w", path, short(id), err)
		}
		if h.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("%s in container %s is not a regular file", path, short(id))
		}
		if h.Size > limit {
			return nil, fmt.Errorf("%s in container %s is %d bytes, over the limit of %d", path, short(id), h.Size, limit)
		}
		return io.ReadAll(io.LimitReader(tr, limit))
	}
}

func notFound(err error) bool {
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "no such") || strings.Contains(s, "not found") || strings.Contains(s, "could not find")
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
