package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/k8s/k8sload"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/k8s/kubeapply"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/k8s/loadjob"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
	"k8s.io/client-go/kubernetes"
)

// Exit statuses of load beyond 0, 1 and 2: as load:* and cmd/loadgen.
const (
	exitInvalid     = 4   // the merged run measured its generators
	exitInterrupted = 130 // Ctrl+C or SIGTERM before the pods finished
)

// exitError carries an exit status of its own.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// loadCmd is `mage k8s:load`: the flags before "--" are the coordinator's,
// those after it cmd/loadgen's for the whole load (checked here, before
// anything is created in the cluster).
func loadCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o k8sload.Options
	var kubeconfig, kctx, out string
	fs.IntVar(&o.Pods, "pods", 1, "generator pods (an Indexed Job); the load is split between them")
	fs.StringVar(&o.Image, "image", "", "the generator image the cluster pulls (mage k8s:image builds it)")
	fs.StringVar(&o.CPU, "cpu", "", "each pod's CPU request and limit, e.g. 2 (default none)")
	fs.StringVar(&o.Name, "job", "", "the Job's name (default lop-load-TIME)")
	fs.StringVar(&o.Namespace, "namespace", "", "namespace of the Job (default: the context's, else default)")
	fs.DurationVar(&o.ReadyTimeout, "readytimeout", 5*time.Minute, "how long the pods have to be ready (image pull, scheduling); the run starts with those ready by then")
	fs.BoolVar(&o.KeepJob, "keepjob", false, "keep the finished Job and its pods' logs (for an hour); by default everything the run created is deleted")
	fs.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
	fs.StringVar(&kctx, "context", "", "kubeconfig context (default: the current one)")
	fs.StringVar(&out, "out", "", "the merged results file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	o.Args = fs.Args()
	whole, lo, err := checkLoadArgs(o.Args, o.Pods)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if lo.Duration > 0 {
		// A timed run's pods end by then, drain included; one that has not
		// published a minute later is counted as missing.
		o.ResultTimeout = lo.Warmup + lo.Duration + lo.DrainTimeout + time.Minute
	}
	if o.Image == "" {
		return fmt.Errorf("%w: -image is required: the generator image the cluster can pull (mage k8s:image builds it; push it and pass -image=REGISTRY/loadgen:TAG)", errUsage)
	}
	if o.Name == "" {
		o.Name = "lop-load-" + time.Now().Format("20060102-150405")
	}
	if out != "" {
		if err := load.CheckWritable(out); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
	}
	cfg, ns, err := kubeapply.RESTConfig(kubeconfig, kctx)
	if err != nil {
		return err
	}
	if o.Namespace == "" {
		o.Namespace = cmp.Or(ns, "default")
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	o.Status = stderr
	fmt.Fprintf(stdout, "k8s:load: %s split between %d pods in namespace %s\n", whole, o.Pods, o.Namespace)
	res, err := k8sload.Run(ctx, cs, o)
	if res == nil {
		if ctx.Err() != nil {
			return &exitError{code: exitInterrupted, err: fmt.Errorf("interrupted before any pod published a result: %w", err)}
		}
		return err
	}
	res.PrintSummary(stdout)
	if out != "" {
		if werr := load.WriteResult(out, res); werr != nil {
			return werr
		}
		fmt.Fprintf(stdout, "results written to %s\n", out)
	}
	switch {
	case ctx.Err() != nil:
		return &exitError{code: exitInterrupted, err: errors.New("interrupted before the pods finished; what they measured is merged above")}
	case err != nil:
		return err
	case res.InvalidError() != nil:
		return &exitError{code: exitInvalid, err: res.InvalidError()}
	case res.Partial:
		return fmt.Errorf("partial result: %s", strings.Join(res.Missing, "; "))
	}
	return res.SLOError()
}

// checkLoadArgs parses the generator's flags as cmd/loadgen will, and
// checks that the load splits between pods; it describes the whole load
// and returns its options.
func checkLoadArgs(args []string, pods int) (string, load.Options, error) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := load.DefaultFlags()
	f.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return "", load.Options{}, fmt.Errorf("the load's flags: %v", err)
	}
	if fs.NArg() > 0 {
		return "", load.Options{}, fmt.Errorf("the load's flags: unexpected argument %q", fs.Arg(0))
	}
	o, err := f.Options()
	if err != nil {
		return "", load.Options{}, err
	}
	set := false
	fs.Visit(func(fl *flag.Flag) { set = set || fl.Name == "concurrency" })
	if (o.Rate > 0 || len(o.Stages) > 0) && !set {
		o.Concurrency = 0 // as cmd/loadgen: an open loop has no cap unless one is asked for
	}
	switch {
	case len(o.Stages) > 0 && pods > 1:
		return "", load.Options{}, errors.New("-stages does not split between pods yet: run the stages with -pods=1, or one k8s:load per stage")
	case o.Prompts.Format.Timed() && pods > 1:
		return "", load.Options{}, fmt.Errorf("a %s trace replays its timestamps, which each pod would do in full: not split between pods yet (use -pods=1)", o.Prompts.Format)
	case (o.Prompts.Once || o.Prompts.Sessions) && pods > 1:
		return "", load.Options{}, errors.New("-once and -sessions play a dataset through, which several pods would each do: not split between pods yet (use -pods=1)")
	}
	if _, err := loadjob.Split(loadjob.Load{Concurrency: o.Concurrency, Rate: o.Rate, Shape: string(o.Shape),
		Requests: o.Requests, WarmupRequests: o.WarmupRequests}, pods); err != nil {
		return "", load.Options{}, err
	}
	if o.Rate > 0 {
		return fmt.Sprintf("%g req/s (%s)", o.Rate, o.ShapeName()), o, nil
	}
	return fmt.Sprintf("%d concurrent streams", o.Concurrency), o, nil
}
