// Package targets is the glue behind magefile.go: each function is one
// target's behaviour, composed from the task packages, so that the magefile
// stays a list of doc comments and one-line calls.
package targets

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/engine"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/env"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/modelrepo"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/stack"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/trt"
)

// Flag returns the value of an optional mage bool flag.
func Flag(b *bool) bool { return b != nil && *b }

// Duration returns the value of an optional mage duration flag, or def.
func Duration(d *time.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return *d
}

// Up starts a backend's profile (name is a backend.Name: vllm, triton,
// trt, sim): validate .env, prepare what the profile needs (checks,
// images, model repositories), start, wait, print URLs. Ctrl+C or SIGTERM
// stops the wait and fails.
func Up(ctx context.Context, name string, timeout *time.Duration, nocheck *bool) error {
	b, err := backend.Lookup(name)
	if err != nil {
		return err
	}
	return interruptibleAs(ctx, cutUp, func(ctx context.Context) error { return up(ctx, b, timeout, nocheck) })
}

func up(ctx context.Context, b backend.Backend, timeout *time.Duration, nocheck *bool) error {
	o := stack.Options{Timeout: Duration(timeout, 0), Out: os.Stdout}
	o.Prepare = func(ctx context.Context, cfg *env.Config) error {
		if b.Name == backend.TRT {
			if err := trt.RequireEngine("."); err != nil {
				return err
			}
		}
		if b.GPU && !Flag(nocheck) {
			if err := preflight(ctx, string(b.Name), cfg); err != nil {
				return err
			}
		}
		switch b.Name {
		case backend.Triton:
			s, err := modelrepo.VLLMSettingsFrom(cfg.Get)
			if err != nil {
				return err
			}
			if err := modelrepo.WriteVLLM(".", s); err != nil {
				return fmt.Errorf("writing the Triton model repository: %w", err)
			}
			fmt.Printf("wrote %s/%s from deploy/.env (model %s)\n", modelrepo.VLLMRepoDir, s.Name, s.Model)
		case backend.Sim:
			ref := cfg.Get(b.ImageKey)
			if !stack.IsLocalImage(ref) {
				return nil
			}
			eng, err := engine.Connect(ctx)
			if err != nil {
				return err
			}
			defer eng.Close()
			return stack.BuildSimImage(ctx, eng, ".", ref, os.Stdout)
		}
		return nil
	}
	return stack.Up(ctx, b.Profile, o)
}
