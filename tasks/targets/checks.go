package targets

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/check"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/env"
)

// checkOptions fills the check options from deploy/.env when there is one;
// without one the checks still run, with the defaults.
func checkOptions(backend string, jsonOut *bool, minDriver *int) (check.Options, error) {
	o := check.Options{Backend: backend, JSON: Flag(jsonOut), Out: os.Stdout}
	if minDriver != nil {
		o.MinDriver = *minDriver
	}
	cfg, err := settings()
	var pe *fs.PathError
	switch {
	case err == nil:
		applyConfig(&o, cfg)
	case errors.As(err, &pe) || isNoEnv(err):
		// An unreadable .env, or neither file: check with env.example's
		// defaults where there is one, else the checks' own.
		if ex, err := env.Example("."); err == nil {
			applyConfig(&o, ex)
		}
	default:
		return o, err
	}
	return o, nil
}

func isNoEnv(err error) bool {
	_, statErr := os.Stat(env.DotEnvPath)
	return err != nil && errors.Is(statErr, fs.ErrNotExist)
}

func applyConfig(o *check.Options, cfg *env.Config) {
	o.Model = cfg.Get("MODEL_NAME")
	o.Dtype = cfg.Get("DTYPE")
	o.GPUMemoryUtilization, _ = strconv.ParseFloat(cfg.Get("GPU_MEMORY_UTILIZATION"), 64)
	o.MaxModelLen, _ = strconv.Atoi(cfg.Get("MAX_MODEL_LEN"))
	// The driver floor of each backend comes from its image's tag.
	o.VLLMImage = cfg.Get(check.EnvVLLMImage)
	o.TritonImage = cfg.Get(check.EnvTritonImage)
	o.TRTImage = cfg.Get(check.EnvTRTImage)
}

// CheckGPU runs the GPU checks and fails on any FAIL.
func CheckGPU(ctx context.Context, jsonOut *bool, minDriver *int) error {
	o, err := checkOptions("", jsonOut, minDriver)
	if err != nil {
		return err
	}
	o.Out = nil
	res, err := check.GPU(ctx, o)
	if err != nil {
		return err
	}
	return printChecks(res, o.JSON)
}

// CheckAll runs every check of the GPU and the host.
func CheckAll(ctx context.Context, jsonOut *bool, minDriver *int) error {
	o, err := checkOptions("", jsonOut, minDriver)
	if err != nil {
		return err
	}
	o.Out = nil
	res, err := check.All(ctx, o)
	if err != nil {
		return err
	}
	return printChecks(res, o.JSON)
}

func printChecks(res []check.Result, jsonOut bool) error {
	if err := check.Print(os.Stdout, res, jsonOut); err != nil {
		return err
	}
	return check.Failed(res)
}

// preflight runs the checks that apply to a GPU profile before it starts.
func preflight(ctx context.Context, backend string, cfg *env.Config) error {
	o := check.Options{Backend: backend}
	applyConfig(&o, cfg)
	res, err := check.All(ctx, o)
	if err != nil {
		return err
	}
	fmt.Println("preflight checks (skip them with -nocheck):")
	if err := check.Print(os.Stdout, res, false); err != nil {
		return err
	}
	if err := check.Failed(res); err != nil {
		return fmt.Errorf("%w; nothing was started (fix the FAIL lines above, or pass -nocheck to start anyway)", err)
	}
	return nil
}
