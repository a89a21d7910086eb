package targets

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/sim"
)

// Sim runs the simulator in the foreground until ctx ends (Ctrl+C or
// SIGTERM: exit 0). Every engine setting can be given as a SIM_*
// environment variable.
func Sim(ctx context.Context, personality, addr *string) error {
	return interruptibleAs(ctx, "", func(ctx context.Context) error { return runSim(ctx, personality, addr) })
}

func runSim(ctx context.Context, personality, addr *string) error {
	p := sim.PersonalityVLLM
	if personality != nil {
		p = *personality
	}
	cfg := sim.DefaultConfig(p)
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := sim.ApplyEnv(fs, nil); err != nil {
		return err
	}
	cfg.Personality = p
	if addr != nil {
		cfg.Addr = *addr
	}
	s, err := sim.New(cfg)
	if err != nil {
		return err
	}
	r, err := s.Start(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stdout, "simulator (%s) serving its API on %s and metrics on %s", p, r.APIURL, r.MetricsURL)
	if r.DCGMURL != "" {
		fmt.Fprintf(os.Stdout, ", GPU metrics on %s", r.DCGMURL)
	}
	fmt.Fprintln(os.Stdout, "; Ctrl+C stops it")
	<-r.Done
	return nil
}
