// Package compose runs Docker Compose for the stack: `docker compose` (v2)
// where it exists, otherwise the standalone `docker-compose`. Argument lists
// are built by pure functions (table-tested) and run without a shell.
package compose

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
)

// File and EnvFile are the compose file and env file, relative to the project root.
const (
	File    = "deploy/compose.yaml"
	EnvFile = "deploy/.env"
)

// Profiles lists every profile of deploy/compose.yaml: the backend table's.
var Profiles = backend.Profiles()

// Compose is a detected compose command and the project it acts on.
type Compose struct {
	// Argv is the command before compose's own arguments:
	// ["docker", "compose"] or ["docker-compose"].
	Argv    []string
	Root    string // absolute project root
	Project string // compose project name
	Stdout  io.Writer
	Stderr  io.Writer
}

// ErrNotFound says that neither compose variant is installed.
var ErrNotFound = errors.New("neither `docker compose` (the v2 plugin) nor `docker-compose` was found; install the Docker Compose plugin (e.g. apt-get install docker-compose-plugin) or docker-compose")

// Detect finds the compose command: `docker compose` when `docker compose
// version` succeeds, else `docker-compose` when it is on PATH.
func Detect(ctx context.Context) ([]string, error) {
	if docker, err := exec.LookPath("docker"); err == nil {
		cmd := exec.CommandContext(ctx, docker, "compose", "version")
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if cmd.Run() == nil {
			return []string{"docker", "compose"}, nil
		}
	}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}, nil
	}
	return nil, ErrNotFound
}

// New detects compose and returns a Compose for the project at root.
func New(ctx context.Context, root, project string) (*Compose, error) {
	argv, err := Detect(ctx)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	return &Compose{Argv: argv, Root: abs, Project: project, Stdout: os.Stdout, Stderr: os.Stderr}, nil
}

// Base returns the arguments every invocation starts with: the compose
// file, the env file, the project name and the active profiles.
func Base(root, project string, profiles []string) []string {
	args := []string{
		"-f", filepath.Join(root, File),
		"--env-file", filepath.Join(root, EnvFile),
		"-p", project,
	}
	for _, p := range profiles {
		args = append(args, "--profile", p)
	}
	return args
}

// UpArgs starts the profile's services in the background.
func UpArgs(root, project, profile string) []string {
	return append(Base(root, project, []string{profile}), "up", "-d")
}

// RemoveArgs stops and removes the named services of a profile.
func RemoveArgs(root, project, profile string, services []string) []string {
	args := append(Base(root, project, []string{profile}), "rm", "--stop", "--force")
	return append(args, services...)
}

// DownArgs stops every profile; volumes are removed only when asked.
func DownArgs(root, project string, volumes bool) []string {
	args := append(Base(root, project, Profiles), "down", "--remove-orphans")
	if volumes {
		args = append(args, "--volumes")
	}
	return args
}

// ConfigArgs validates and prints the resolved compose file of a profile.
func ConfigArgs(root, project, profile string) []string {
	return append(Base(root, project, []string{profile}), "config", "--quiet")
}

// Run runs compose with args; its output goes to c.Stdout and c.Stderr.
func (c *Compose) Run(ctx context.Context, args ...string) error {
	argv := append(append([]string{}, c.Argv[1:]...), args...)
	cmd := exec.CommandContext(ctx, c.Argv[0], argv...)
	cmd.Dir = c.Root
	cmd.Stdout, cmd.Stderr = c.Stdout, c.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", strings.Join(c.Argv, " "), firstVerb(args), err)
	}
	return nil
}

// firstVerb names the compose subcommand in args, for error messages.
func firstVerb(args []string) string {
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-f", "--env-file", "-p", "--profile":
			i++
		default:
			return args[i]
		}
	}
	return ""
}
