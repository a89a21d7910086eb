// Command sim is the inference-server simulator (package tasks/sim): it
// imitates vLLM's OpenAI server or Triton (vLLM or TensorRT-LLM backend),
// including their Prometheus metrics, without a GPU.
//
// Flags have SIM_* environment variable defaults (see -h). With
// -healthcheck URL it only GETs URL and exits 0 on a 2xx answer, else 1 (a
// URL without a path gets the personality's readiness path), for the
// HEALTHCHECK of a FROM-scratch image.
//
// Open files: Go raises the soft RLIMIT_NOFILE to the hard limit when the
// process starts (go.dev/issue/46279), so the simulator needs no code for
// it; it keeps at most -max-connections open (default: that limit less a
// reserve) and warns when the limit allows fewer than lowConnections.
//
// Garbage collection: without a GOGC environment variable the simulator
// runs with GOGC=400 (gcPercent), not Go's 100: thousands of streams
// allocate per request (the request, its parsing, its stream state) while
// little stays live, and collecting four times less often saves CPU that
// streaming needs, for a larger peak (300 MB of resident memory against
// 230 MB with 4000 streams). GOGC=100 in the environment restores Go's
// default.
//
// Scheduling: without a GOMAXPROCS environment variable the simulator
// runs with one P more than Go's default (the cores it may use) and one
// stream writer per core (sim.SpareProc): the writers of thousands of
// streams are always busy, and the spare P runs the engine's timer, the
// network poller and the handlers at once instead of when the scheduler
// preempts a writer, every 10 ms. GOMAXPROCS=N in the environment gives
// N Ps and N writers.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/sim"
)

// gcPercent is the GOGC the simulator runs with when the environment sets
// none.
const gcPercent = 400

func main() {
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(gcPercent)
	}
	if _, ok := os.LookupEnv("GOMAXPROCS"); !ok {
		sim.SpareProc()
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	cfg := sim.DefaultConfig(sim.PersonalityVLLM)
	cfg.RegisterFlags(fs)
	health := fs.String("healthcheck", "", "GET this URL and exit 0 on 2xx, else 1 (no server is started)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile (go tool pprof) of the whole run to this file, ended when the simulator stops (off by default)")
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
	if *cpuProfile != "" {
		stopProfile, err := startCPUProfile(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sim:", err)
			return 2
		}
		defer stopProfile()
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
	if cfg.MaxConnections == 0 {
		limit, _ := sim.OpenFilesLimit()
		if w := fdWarning(limit, r.MaxConnections); w != "" {
			fmt.Fprintln(os.Stderr, "sim:", w)
		}
	}
	<-r.Done
	return 0
}

// startCPUProfile starts a CPU profile written to path; the function it
// returns ends it and closes the file.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("-cpuprofile: %w (give a file in a writable folder)", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("-cpuprofile %s: %w", path, err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "sim: -cpuprofile:", err)
		}
	}, nil
}

// lowConnections is the cap below which the start-up says how to raise it.
const lowConnections = 4096

// fdWarning explains a low connection cap that comes from the open-files
// limit; "" when the cap is high enough.
func fdWarning(limit uint64, maxConns int) string {
	if maxConns >= lowConnections {
		return ""
	}
	return fmt.Sprintf("warning: the open-files limit is %d, so at most %d connections stay open (beyond that the longest idle one is closed); "+
		"raise the hard limit (ulimit -Hn, LimitNOFILE= of a systemd unit, docker run --ulimit nofile=65536, compose ulimits: nofile:) for more",
		limit, maxConns)
}
