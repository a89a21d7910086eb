package targets

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// K8sFlags are the flags of k8s:render, k8s:apply and k8s:delete, as mage
// passes them (nil: not given).
type K8sFlags struct {
	Out            *string // render: folder, or - for stdout
	Release        *string
	Namespace      *string
	Sim            *bool
	DashboardLabel *string // KEY=VALUE
	Context        *string // apply, delete: kubeconfig context
	Kubeconfig     *string // apply, delete
}

// k8sRunPkg is the program that renders and applies (Helm and client-go are
// in its build, not in the magefile's).
const k8sRunPkg = "./tasks/k8s/run"

// K8sArgs is the command line of tasks/k8s/run for subcommand sub (render,
// apply or delete) with the flags given. Each value travels as one
// argument (-name=value): no shell sees it. A flag the subcommand does not
// take is an error naming it.
func K8sArgs(sub string, f K8sFlags) ([]string, error) {
	takes := map[string]bool{"release": true, "namespace": true}
	switch sub {
	case "render":
		takes["out"], takes["sim"], takes["dashboardlabel"] = true, true, true
	case "apply":
		takes["sim"], takes["dashboardlabel"], takes["context"], takes["kubeconfig"] = true, true, true, true
	case "delete":
		takes["context"], takes["kubeconfig"] = true, true
	default:
		return nil, fmt.Errorf("k8s: no subcommand %q (render, apply or delete)", sub)
	}
	args := []string{sub}
	var bad []string
	str := func(mageName, runName string, v *string) {
		if v == nil {
			return
		}
		if !takes[mageName] {
			bad = append(bad, "-"+mageName)
			return
		}
		args = append(args, "-"+runName+"="+*v)
	}
	str("out", "out", f.Out)
	str("release", "release", f.Release)
	str("namespace", "namespace", f.Namespace)
	if f.Sim != nil {
		if !takes["sim"] {
			bad = append(bad, "-sim")
		} else {
			args = append(args, fmt.Sprintf("-sim=%t", *f.Sim))
		}
	}
	str("dashboardlabel", "dashboard-label", f.DashboardLabel)
	str("context", "context", f.Context)
	str("kubeconfig", "kubeconfig", f.Kubeconfig)
	if len(bad) > 0 {
		return nil, fmt.Errorf("k8s:%s does not take %s", sub, strings.Join(bad, ", "))
	}
	return args, nil
}

// K8s runs subcommand sub of tasks/k8s/run from the project root: it builds
// the program with `go build` into the user's cache folder (the first build
// compiles Helm and client-go, minutes on a small machine; later ones find
// it up to date in under a second) and runs it, so that its exit status
// (2: bad flags) reaches the caller, which `go run` would turn into 1.
func K8s(ctx context.Context, sub string, f K8sFlags) error {
	args, err := K8sArgs(sub, f)
	if err != nil {
		return &K8sUsageError{Sub: sub, Err: err}
	}
	return runK8s(ctx, sub, args)
}

// runK8s builds tasks/k8s/run (see K8s) and runs it with args; its exit
// status is the target's (2: bad flags; k8s:load: 1, 4 or 130 as load:*).
func runK8s(ctx context.Context, sub string, args []string) error {
	if _, err := os.Stat(k8sRunPkg); err != nil {
		return fmt.Errorf("k8s:%s runs from the project's source tree (%s not found in the working directory)", sub, k8sRunPkg)
	}
	bin, err := k8sBinary()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "k8s:%s: building the Kubernetes helper (%s; the first build compiles Helm and client-go, a few minutes)...\n", sub, k8sRunPkg)
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, k8sRunPkg)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("k8s:%s: building %s: %w", sub, k8sRunPkg, err)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// When the target is canceled (Ctrl+C, SIGTERM) the helper gets
	// SIGTERM, not a kill: it handles it as Ctrl+C and cleans up what it
	// made in the cluster (k8s:load deletes its Job), within a minute.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = time.Minute
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			switch code := ee.ExitCode(); code {
			case 2:
				return &K8sUsageError{Sub: sub}
			case -1:
			default:
				return &K8sExitError{Sub: sub, Code: code}
			}
		}
		return fmt.Errorf("k8s:%s failed (see above): %w", sub, err)
	}
	return nil
}

// K8sExitError: tasks/k8s/run failed with exit status Code (it printed
// why), which the target passes on.
type K8sExitError struct {
	Sub  string
	Code int
}

func (e *K8sExitError) Error() string {
	return fmt.Sprintf("k8s:%s failed (see above; exit status %d)", e.Sub, e.Code)
}

// ExitStatus is read by Mage's generated main.
func (e *K8sExitError) ExitStatus() int { return e.Code }

// k8sBinary is where K8s keeps the built program: the user's cache folder
// (as Go's own build cache), else the system's temporary folder.
func k8sBinary() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, "llm-observability-pack")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("k8s: cache folder for the helper: %w", err)
	}
	return filepath.Join(dir, "k8s-run"), nil
}

// K8sUsageError: tasks/k8s/run refused its command line (exit status 2, as
// Mage's own for a bad command line); the program printed why.
// Err, when set, is the problem (found before the program ran).
type K8sUsageError struct {
	Sub string
	Err error
}

func (e *K8sUsageError) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	return fmt.Sprintf("k8s:%s: bad flags (see above)", e.Sub)
}

// ExitStatus is read by Mage's generated main.
func (e *K8sUsageError) ExitStatus() int { return 2 }
