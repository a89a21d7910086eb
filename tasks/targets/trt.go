package targets

import (
	"context"
	"os"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/check"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/env"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/trt"
)

// TRTFlags are the optional flags of compile:trt.
type TRTFlags struct {
	Model                         *string
	MaxBatch, MaxInput, MaxOutput *int
	DType                         *string
	TP                            *int
	Force, NoCheck                *bool
	Examples, Checksum            *string
}

func intv(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// CompileTRT builds a TensorRT-LLM engine and the Triton repository that
// serves it, in a builder container.
func CompileTRT(ctx context.Context, f TRTFlags) error {
	cfg, err := env.Load(".")
	if err != nil {
		return err
	}
	o := trt.Options{
		Root: ".", Config: cfg, Out: os.Stdout,
		Model: str(f.Model), MaxBatchSize: intv(f.MaxBatch), MaxInputLen: intv(f.MaxInput),
		MaxOutputLen: intv(f.MaxOutput), DType: str(f.DType), TPSize: intv(f.TP), Force: Flag(f.Force),
		Examples: str(f.Examples), Checksum: str(f.Checksum),
	}
	if os.Getenv(trt.EnvNoGPU) == "" && !Flag(f.NoCheck) {
		o.Preflight = func(ctx context.Context) error {
			co := check.Options{Backend: string(backend.TRT)}
			applyConfig(&co, cfg)
			if o.Model != "" {
				co.Model = o.Model
			}
			res, err := check.GPU(ctx, co)
			if err != nil {
				return err
			}
			if err := check.Print(os.Stdout, res, false); err != nil {
				return err
			}
			return check.Failed(res)
		}
	}
	return interruptibleAs(ctx, cutBuild, func(ctx context.Context) error { return trt.Build(ctx, o) })
}
