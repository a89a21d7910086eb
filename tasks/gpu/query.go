package gpu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"time"
)

// ExecError is a failed nvidia-smi run.
type ExecError struct {
	Path     string
	Args     []string
	ExitCode int    // -1 when it did not start or was killed
	Output   string // first lines of stderr, else stdout
	Err      error
}

func (e *ExecError) Error() string {
	cmd := strings.TrimSpace(e.Path + " " + strings.Join(e.Args, " "))
	if e.ExitCode < 0 {
		if e.Output != "" {
			return fmt.Sprintf("run %s: %v: %s", cmd, e.Err, e.Output)
		}
		return fmt.Sprintf("run %s: %v", cmd, e.Err)
	}
	if e.Output != "" {
		return fmt.Sprintf("%s exited with status %d: %s", cmd, e.ExitCode, e.Output)
	}
	return fmt.Sprintf("%s exited with status %d", cmd, e.ExitCode)
}

func (e *ExecError) Unwrap() error { return e.Err }

// IsNotFound reports whether err says nvidia-smi is not installed: not on
// PATH (exec.ErrNotFound) or a path that does not exist.
func IsNotFound(err error) bool {
	return errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist)
}

// NoDriver reports whether err is nvidia-smi failing to talk to the kernel
// driver ("NVIDIA-SMI has failed because it couldn't communicate with the
// NVIDIA driver"), i.e. the tool is there but the driver is not loaded.
func NoDriver(err error) bool {
	var ee *ExecError
	return errors.As(err, &ee) && strings.Contains(ee.Output, "couldn't communicate with the NVIDIA driver")
}

// NoDevices reports whether err is nvidia-smi finding no GPU ("No devices
// were found", exit status 6).
func NoDevices(err error) bool {
	var ee *ExecError
	return errors.As(err, &ee) && strings.Contains(ee.Output, "No devices were found")
}

// runFunc runs path with args and returns stdout and stderr.
type runFunc func(ctx context.Context, path string, args ...string) (stdout, stderr []byte, err error)

func execRun(ctx context.Context, path string, args ...string) ([]byte, []byte, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.WaitDelay = 2 * time.Second // children holding the pipes open must not outlive ctx by much
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.Bytes(), stderr.Bytes(), err
}

func wrapExec(path string, args []string, stdout, stderr []byte, err error) error {
	if err == nil {
		return nil
	}
	ee := &ExecError{Path: path, Args: args, ExitCode: -1, Err: err}
	var xe *exec.ExitError
	if errors.As(err, &xe) {
		ee.ExitCode = xe.ExitCode()
	}
	out := bytes.TrimSpace(stderr)
	if len(out) == 0 {
		out = bytes.TrimSpace(stdout)
	}
	lines := strings.Split(string(out), "\n")
	if len(lines) > 3 {
		lines = lines[:3]
	}
	ee.Output = strings.TrimSpace(strings.Join(lines, " "))
	if len(ee.Output) > 400 {
		ee.Output = ee.Output[:400] + "..."
	}
	return ee
}

var reInvalidField = regexp.MustCompile(`Field "([^"]+)" is not a valid field to query`)

// Query runs nvidia-smi (nvidiaSmi is a path or a name looked up in PATH;
// "" means "nvidia-smi") and returns its GPUs:
//
//	nvidia-smi --query-gpu=<QueryFields> --format=csv
//
// A field an older driver rejects (`Field "compute_cap" is not a valid field
// to query.`) is dropped and the query repeated; that field stays unknown.
// The CUDA version, which --query-gpu cannot report, comes from
// `nvidia-smi --version` (new drivers print "CUDA Version : 13.0") or else
// from the banner of plain `nvidia-smi`. When a GPU's name does not tell its
// Class, `nvidia-smi -q -x` is asked for its product brand. Errors are
// *ExecError or *ParseError; see IsNotFound and NoDriver.
func Query(ctx context.Context, nvidiaSmi string) ([]GPU, error) {
	return query(ctx, nvidiaSmi, execRun)
}

func query(ctx context.Context, path string, run runFunc) ([]GPU, error) {
	if path == "" {
		path = "nvidia-smi"
	}
	fields := slices.Clone(QueryFields)
	var gpus []GPU
	for {
		args := []string{"--query-gpu=" + strings.Join(fields, ","), "--format=csv"}
		stdout, stderr, err := run(ctx, path, args...)
		if err != nil {
			if m := reInvalidField.FindSubmatch(append(slices.Clone(stdout), stderr...)); m != nil {
				bad := headerName(string(m[1]))
				if i := slices.Index(fields, bad); i >= 0 && bad != "index" && bad != "name" {
					fields = slices.Delete(fields, i, i+1)
					continue
				}
			}
			return nil, wrapExec(path, args, stdout, stderr, err)
		}
		gpus, err = ParseQueryCSV(stdout)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", path, strings.Join(args, " "), err)
		}
		break
	}
	if len(gpus) == 0 {
		return gpus, nil
	}
	driver, cuda := "", ""
	if out, _, err := run(ctx, path, "--version"); err == nil {
		if v, err := ParseVersion(out); err == nil {
			driver, cuda = v.Driver, v.CUDA
		}
	}
	if cuda == "" && ctx.Err() == nil {
		if out, _, err := run(ctx, path); err == nil {
			if h, err := ParseSMIHeader(out); err == nil {
				cuda = h.CUDA
				if driver == "" {
					driver = h.Driver
				}
			}
		}
	}
	for i := range gpus {
		gpus[i].CUDA = cuda
		if gpus[i].Driver == "" {
			gpus[i].Driver = driver
		}
	}
	if ctx.Err() == nil && slices.ContainsFunc(gpus, func(g GPU) bool { return g.Class() == ClassUnknown }) {
		if out, _, err := run(ctx, path, "-q", "-x"); err == nil {
			if xs, err := ParseQueryXML(out); err == nil {
				addBrands(gpus, xs)
			}
		}
	}
	return gpus, ctx.Err()
}

// addBrands copies Brand and Architecture from the GPUs of `nvidia-smi -q
// -x` to the same GPUs (by UUID, else PCI bus id) of the CSV query.
func addBrands(gpus, fromXML []GPU) {
	for i := range gpus {
		for _, x := range fromXML {
			if (gpus[i].UUID != "" && x.UUID == gpus[i].UUID) || (gpus[i].PCIBusID != "" && strings.EqualFold(x.PCIBusID, gpus[i].PCIBusID)) {
				gpus[i].Brand, gpus[i].Architecture = x.Brand, x.Architecture
				break
			}
		}
	}
}
