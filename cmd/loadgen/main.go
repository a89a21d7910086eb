// Command loadgen is the container entry point of the load generator
// (package tasks/load). It streams requests to an LLM inference server,
// prints a live status line and a summary, writes a results file, serves
// its own Prometheus metrics, and exits non-zero when a bounded run breaks
// an SLO.
//
// Exit status: 0 success (or an unbounded run stopped by SIGINT/SIGTERM),
// 1 an SLO broken in a bounded run or the run failed, 2 bad flags, 3 a
// bounded run (-duration, -requests) cut short by SIGINT/SIGTERM: its
// results are written, but it is incomplete, 4 a finished run that
// measured the generator rather than the server (the summary's INVALID
// lines and the results' "invalid" say why; its SLO verdicts do not count).
//
// The API key, if the server needs one, is read from LOADGEN_API_KEY (not a
// flag, to keep it out of process listings).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/k8s/loadjob"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/ui"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, ui.IsTerminal(os.Stdout)))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, term bool) int {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	// The flags of load:*, with the container's own defaults: a bounded
	// run, a per-request timeout and a results file in the working directory.
	f := load.DefaultFlags()
	f.Base.Duration, f.Base.RequestTimeout, f.Base.Out = 30*time.Second, 10*time.Minute, "loadgen-results.json"
	f.RegisterFlags(fs)
	quiet := fs.Bool("quiet", false, "no live status line (the summary is still printed)")
	job := fs.String("k8sjob", "", "run as a worker pod of `mage k8s:load`'s Indexed Job NAME: take this pod's share of the load, wait for the agreed start, publish progress and result to the job's ConfigMaps")
	workers := fs.Int("workers", 1, "-k8sjob: the job's number of worker pods (the load flags give the whole load)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "loadgen: unexpected argument %q; all options are flags (see -h)\n", fs.Arg(0))
		return 2
	}
	switch {
	case f.Base.Rate <= 0 && f.Base.Concurrency < 1:
		fmt.Fprintf(stderr, "loadgen: -concurrency %d: a closed loop needs at least 1 worker, e.g. -concurrency 4 (with -rate, 0 means no cap on in-flight requests)\n", f.Base.Concurrency)
		return 2
	case f.Base.Concurrency < 0:
		fmt.Fprintf(stderr, "loadgen: -concurrency %d: with -rate it caps in-flight requests: 0 for no cap or a positive cap\n", f.Base.Concurrency)
		return 2
	}
	o, err := f.Options()
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}
	if (o.Rate > 0 || len(o.Stages) > 0) && !flagSet(fs, "concurrency") {
		o.Concurrency = 0 // an open loop has no in-flight cap unless one is asked for
	}
	if len(o.Stages) > 0 && !flagSet(fs, "duration") {
		o.Duration = 0 // the stages set the run's length
	}
	o.APIKey = os.Getenv("LOADGEN_API_KEY")
	o.Status, o.IsTerminal = stdout, term
	if *quiet {
		o.StatusInterval = 365 * 24 * time.Hour
	}

	var worker *loadjob.Worker
	if *job != "" {
		var err error
		if worker, err = k8sWorker(ctx, &o, *job, *workers, stderr); err != nil {
			fmt.Fprintf(stderr, "loadgen: worker: %v\n", err)
			if worker != nil {
				_ = worker.Publish(nil, err)
			}
			return 1
		}
	}

	res, err := load.Run(ctx, o)
	if worker != nil {
		if perr := worker.Publish(res, err); perr != nil {
			fmt.Fprintf(stderr, "loadgen: worker: publish the result: %v\n", perr)
			if err == nil {
				err = perr
			}
		}
	}
	if res != nil {
		if rerr := load.Report(o, res); rerr != nil {
			err = rerr
		}
	}
	if ierr := load.InvalidOutcome(ctx, res, err); ierr != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", ierr)
		return exitInvalid
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 1
	}
	if ctx.Err() != nil && (o.Duration > 0 || o.Requests > 0) {
		fmt.Fprintf(stderr, "loadgen: interrupted (%v) before the run's end; the results are written, but the run is incomplete\n", context.Cause(ctx))
		return 3
	}
	return 0
}

// exitInvalid: the run measured the generator, not the server.
const exitInvalid = 4

// flagSet reports whether the flag was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
