// Package simtest starts the simulator in-process for other packages'
// tests, on free ports, and stops it when the test ends.
package simtest

import (
	"context"
	"testing"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/sim"
)

// Start runs cfg's simulator on free 127.0.0.1 ports (the API, and the
// metrics port for the Triton personalities; DCGM off) until tb ends.
func Start(tb testing.TB, cfg sim.Config) *sim.Running {
	tb.Helper()
	cfg.Addr, cfg.DCGMAddr = "127.0.0.1:0", ""
	if cfg.Personality != sim.PersonalityVLLM || cfg.MetricsAddr != "" {
		cfg.MetricsAddr = "127.0.0.1:0"
	}
	srv, err := sim.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	run, err := srv.Start(ctx)
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cancel(); <-run.Done })
	return run
}
