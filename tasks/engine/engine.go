// Package engine reads container state, health and logs, and builds images,
// through the Docker Engine API (github.com/moby/moby/client).
package engine

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// Compose labels, set by both compose v2 and docker-compose on their containers.
const (
	LabelProject = "com.docker.compose.project"
	LabelService = "com.docker.compose.service"
)

// Engine is a connected Docker Engine API client.
type Engine struct {
	c *client.Client
}

// Connect connects to the engine named by DOCKER_HOST (or the default
// socket) and checks that it answers.
func Connect(ctx context.Context) (*Engine, error) {
	c, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return nil, fmt.Errorf("the Docker engine at %s does not answer (%v); start it (e.g. systemctl start docker) or set DOCKER_HOST", c.DaemonHost(), err)
	}
	return &Engine{c: c}, nil
}

// Client returns the underlying API client.
func (e *Engine) Client() *client.Client { return e.c }

// Close releases the client.
func (e *Engine) Close() error { return e.c.Close() }

// Container is the state of one compose container.
type Container struct {
	ID       string
	Name     string
	Service  string
	Image    string
	State    string // created, running, restarting, exited, dead, ...
	ExitCode int
	// Health is "", "starting", "healthy" or "unhealthy"; "" when the
	// container has no health check.
	Health    string
	HealthLog string // output of the last failed health check, if any
	OOMKilled bool
}

// Ready reports whether the container is running and, if it has a health
// check, healthy.
func (c Container) Ready() bool {
	return c.State == "running" && (c.Health == "" || c.Health == "healthy")
}

// Failed reports whether the container can no longer become ready: it
// exited, died, or its health check failed past its retries.
func (c Container) Failed() bool {
	switch c.State {
	case "exited", "dead":
		return true
	}
	return c.Health == "unhealthy"
}

// Describe returns a short state for tables: "running (healthy)", "exited (3)".
func (c Container) Describe() string {
	switch {
	case c.State == "exited" || c.State == "dead":
		s := fmt.Sprintf("%s (exit code %d)", c.State, c.ExitCode)
		if c.OOMKilled {
			s += ", out of memory"
		}
		return s
	case c.Health != "":
		return fmt.Sprintf("%s (%s)", c.State, c.Health)
	default:
		return c.State + " (no health check)"
	}
}

// ProjectContainers returns every container of the compose project, with
// its health, sorted by service.
func (e *Engine) ProjectContainers(ctx context.Context, project string) ([]Container, error) {
	res, err := e.c.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", LabelProject+"="+project),
	})
	if err != nil {
		return nil, fmt.Errorf("listing containers of project %s: %w", project, err)
	}
	var out []Container
	for _, s := range res.Items {
		c := Container{
			ID:      s.ID,
			Service: s.Labels[LabelService],
			Image:   s.Image,
			State:   string(s.State),
		}
		if len(s.Names) > 0 {
			c.Name = strings.TrimPrefix(s.Names[0], "/")
		}
		ins, err := e.c.ContainerInspect(ctx, s.ID, client.ContainerInspectOptions{})
		if err != nil {
			if isNotFound(err) {
				continue // removed between list and inspect
			}
			return nil, fmt.Errorf("inspecting container %s: %w", c.Name, err)
		}
		if st := ins.Container.State; st != nil {
			c.State = string(st.Status)
			c.ExitCode = st.ExitCode
			c.OOMKilled = st.OOMKilled
			if st.Health != nil {
				c.Health = string(st.Health.Status)
				if n := len(st.Health.Log); n > 0 && st.Health.Log[n-1].ExitCode != 0 {
					c.HealthLog = strings.TrimSpace(st.Health.Log[n-1].Output)
				}
			}
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	return out, nil
}

func isNotFound(err error) bool {
	return err != nil && strings.Contains(strings.ToLower(err.Error()), "no such container")
}

// Tail returns the last n lines of a container's output (stdout and stderr
// interleaved as far as the engine keeps them).
func (e *Engine) Tail(ctx context.Context, id string, n int) (string, error) {
	rc, err := e.c.ContainerLogs(ctx, id, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Tail: fmt.Sprint(n),
	})
	if err != nil {
		return "", err
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := stdcopy.StdCopy(&buf, &buf, rc); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// Follow streams the logs of the given containers to w, each line prefixed
// with its service name, until ctx is cancelled or every stream ends.
// tail lines of history are shown first ("all" for everything).
func (e *Engine) Follow(ctx context.Context, w io.Writer, containers []Container, tail string) error {
	width := 0
	for _, c := range containers {
		width = max(width, len(c.Service))
	}
	lines := make(chan string, 256)
	errs := make(chan error, len(containers))
	for _, c := range containers {
		go func(c Container) {
			rc, err := e.c.ContainerLogs(ctx, c.ID, client.ContainerLogsOptions{
				ShowStdout: true, ShowStderr: true, Follow: true, Tail: tail,
			})
			if err != nil {
				errs <- fmt.Errorf("logs of %s: %w", c.Service, err)
				return
			}
			defer rc.Close()
			pr, pw := io.Pipe()
			go func() {
				_, err := stdcopy.StdCopy(pw, pw, rc)
				pw.CloseWithError(err)
			}()
			sc := bufio.NewScanner(pr)
			sc.Buffer(make([]byte, 64*1024), 1024*1024)
			prefix := fmt.Sprintf("%-*s | ", width, c.Service)
			for sc.Scan() {
				select {
				case lines <- prefix + sc.Text():
				case <-ctx.Done():
					errs <- nil
					return
				}
			}
			errs <- nil
		}(c)
	}
	open := len(containers)
	var firstErr error
	for open > 0 {
		select {
		case l := <-lines:
			fmt.Fprintln(w, l)
		case err := <-errs:
			open--
			if err != nil && firstErr == nil && ctx.Err() == nil {
				firstErr = err
			}
		}
	}
	// Drain what arrived before the last stream ended.
	for {
		select {
		case l := <-lines:
			fmt.Fprintln(w, l)
		default:
			return firstErr
		}
	}
}

// BuildFile is one file of an image build context.
type BuildFile struct {
	Name string
	Mode int64
	Data []byte
}

// BuildImage builds an image tagged tag from a Dockerfile and files, with the
// engine's classic builder (no registry needed for FROM scratch). Build
// output lines go to progress (may be nil).
func (e *Engine) BuildImage(ctx context.Context, tag, dockerfile string, files []BuildFile, progress io.Writer) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	all := append([]BuildFile{{Name: "Dockerfile", Mode: 0o644, Data: []byte(dockerfile)}}, files...)
	for _, f := range all {
		if err := tw.WriteHeader(&tar.Header{Name: f.Name, Mode: f.Mode, Size: int64(len(f.Data)), ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	res, err := e.c.ImageBuild(ctx, &buf, client.ImageBuildOptions{
		Tags: []string{tag}, Remove: true, ForceRemove: true, Dockerfile: "Dockerfile",
	})
	if err != nil {
		return fmt.Errorf("building image %s: %w", tag, err)
	}
	defer res.Body.Close()
	dec := json.NewDecoder(res.Body)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("building image %s: reading build output: %w", tag, err)
		}
		if m.Error != nil {
			return fmt.Errorf("building image %s: %s", tag, m.Error.Message)
		}
		if progress != nil && strings.TrimSpace(m.Stream) != "" {
			fmt.Fprint(progress, m.Stream)
		}
	}
}

// ImageExists reports whether the engine has an image named ref.
func (e *Engine) ImageExists(ctx context.Context, ref string) (bool, error) {
	_, err := e.c.ImageInspect(ctx, ref)
	if err == nil {
		return true, nil
	}
	if strings.Contains(strings.ToLower(err.Error()), "no such image") {
		return false, nil
	}
	return false, err
}

// BridgeGateway returns the host's address on the default bridge network
// (docker0): what containers reach as host.docker.internal with
// host-gateway, and what other hosts do not reach.
func (e *Engine) BridgeGateway(ctx context.Context) (string, error) {
	res, err := e.c.NetworkInspect(ctx, "bridge", client.NetworkInspectOptions{})
	if err != nil {
		return "", err
	}
	for _, c := range res.Network.IPAM.Config {
		if c.Gateway.IsValid() {
			return c.Gateway.String(), nil
		}
		// Older engines report only the subnet: the gateway is this host's
		// address inside it.
		if c.Subnet.IsValid() {
			if a := localAddrIn(c.Subnet); a.IsValid() {
				return a.String(), nil
			}
		}
	}
	return "", errors.New("the bridge network has no gateway address")
}

// localAddrIn returns an address of this host inside p, if any.
func localAddrIn(p netip.Prefix) netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && p.Contains(ip.Unmap()) {
				return ip.Unmap()
			}
		}
	}
	return netip.Addr{}
}
