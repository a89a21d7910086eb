// Command sim is the inference-server simulator (package tasks/sim): it
// imitates vLLM's OpenAI server or Triton (vLLM or TensorRT-LLM backend),
// including their Prometheus metrics, without a GPU.
//
// Flags have SIM_* environment variable defaults (see -h). With
// -healthcheck URL it only GETs URL and exits 0 on a 2xx answer, else 1 (a
// URL without a path gets the personality's readiness path), for the
// HEALTHCHECK of a FROM-scratch image.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/sim"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	cfg := sim.DefaultConfig(sim.PersonalityVLLM)
	cfg.RegisterFlags(fs)
	health := fs.String("healthcheck", "", "GET this URL and exit 0 on 2xx, else 1 (no server is started)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := sim.ApplyEnv(fs, nil); err != nil {
		fmt.Fprintln(os.Stderr, "sim:", err)
		return 2
	}
	if *health != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := sim.Healthcheck(ctx, *health, cfg.Personality); err != nil {
			fmt.Fprintln(os.Stderr, "sim:", err)
			return 1
		}
		return 0
	}
	s, err := sim.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sim:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := s.Start(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sim:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "sim: personality %s, API %s, metrics %s", cfg.Personality, r.APIURL, r.MetricsURL)
	if r.DCGMURL != "" {
		fmt.Fprintf(os.Stderr, ", dcgm %s", r.DCGMURL)
	}
	fmt.Fprintln(os.Stderr)
	<-r.Done
	return 0
}
