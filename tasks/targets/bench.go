package targets

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/bench"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/env"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/workload"
)

// BenchFlags are the optional flags of the bench targets.
type BenchFlags struct {
	Mode      *string        // concurrency (default), rate, or search (the capacity under the SLOs)
	Start     *float64       // first load (default 1)
	Max       *float64       // highest load (default 32 workers, or 16 req/s)
	Steps     *string        // explicit loads, e.g. "1,2,4,8" (instead of -start/-max)
	Step      *time.Duration // measured length of each step (default 30s)
	Warmup    *time.Duration // unmeasured warm-up before each step (default a sixth of -step, at most 5s)
	Shape     *string        // rate mode: poisson (default), gamma or constant
	Cap       *int           // rate mode: at most this many requests in flight (0 = no cap)
	URL       *string        // server base URL (default from deploy/.env)
	Scrape    *string        // server metrics URL (default from deploy/.env), or "off"
	Out       *string        // directory for bench.json and report.html
	MaxTokens *int           // output tokens per request (default 128)
	Dataset   *string        // prompts or conversations: a path, or a URL with -checksum
	Checksum  *string        // sha256:HEX of a -dataset URL
	TTFT      *time.Duration // p95 TTFT SLO (default 2s; negative: off)
	ITL       *time.Duration // p95 ITL SLO (default 150ms; negative: off)

	// The search's (-mode=search): the final bracket's relative width
	// (default 5%), each probe's shortest time to a pass (default 5s)
	// and longest (default 60s), and the goodput objective as a share of
	// the offered rate (default off).
	Tolerance          *float64
	ProbeMin, ProbeMax *time.Duration
	Goodput            *float64

	// DatasetFormat is -dataset's format (default auto); a trace's
	// requests are swept like prompts, their times not kept, except by
	// -mode=search, which scales the trace's speed to each probe's rate.
	DatasetFormat *string
}

// MetricsURLFor is where a backend's server metrics are, from the backend
// table: vLLM's API port (/metrics), Triton's METRICS_PORT; the simulator's
// as the server its SIM_PERSONALITY imitates. apiURL gives the host (a -url).
func MetricsURLFor(name string, cfg *env.Config, apiURL string) (string, error) {
	b, err := backend.Lookup(name)
	if err != nil {
		return "", err
	}
	if b, err = b.Speaks(cfg.Get); err != nil {
		return "", err
	}
	return b.MetricsURL(cfg.Get, apiURL)
}

// Bench sweeps the load on a backend and writes bench.json and
// report.html, after every step and at the end. It fails when no step met
// every SLO, or on errors; Ctrl+C or SIGTERM keeps what was measured and
// fails (the sweep is incomplete).
func Bench(ctx context.Context, backend string, f BenchFlags) error {
	return interruptible(ctx, true, func(ctx context.Context) error { return runBench(ctx, backend, f) })
}

func runBench(ctx context.Context, backend string, f BenchFlags) error {
	cfg, err := settings()
	if err != nil {
		return err
	}
	ep, err := EndpointFor(backend, cfg)
	if err != nil {
		return err
	}
	lo, err := load.Preset(backend, 1)
	if err != nil {
		return err
	}
	lo.URL, lo.Protocol, lo.Model = ep.URL, ep.Protocol, ep.Model
	if f.URL != nil && *f.URL != "" {
		lo.URL = strings.TrimRight(*f.URL, "/")
	}
	if f.MaxTokens != nil {
		lo.MaxTokens = *f.MaxTokens
	}
	lo.Prompts = load.PromptSource{Dataset: str(f.Dataset), Checksum: str(f.Checksum), Format: workload.Format(str(f.DatasetFormat))}
	if f.TTFT != nil {
		lo.SLO.TTFTP95 = *f.TTFT
	}
	if f.ITL != nil {
		lo.SLO.ITLP95 = *f.ITL
	}
	o := bench.Options{Load: lo, Mode: str(f.Mode), StepList: str(f.Steps), Start: f.Start, Max: f.Max,
		StepDuration: Duration(f.Step, bench.DefaultStepDuration), Warmup: Duration(f.Warmup, 0), AutoWarmup: f.Warmup == nil, MetricsURL: str(f.Scrape), Out: os.Stdout}
	o.Load.Shape = str(f.Shape)
	if f.Cap != nil {
		o.MaxInFlight = *f.Cap
	}
	o.ProbeMin, o.ProbeMax = Duration(f.ProbeMin, 0), Duration(f.ProbeMax, 0)
	if f.Tolerance != nil {
		o.Tolerance = *f.Tolerance
	}
	if f.Goodput != nil {
		o.GoodputShare = *f.Goodput
	}
	switch o.MetricsURL {
	case "off":
		o.MetricsURL = ""
	case "":
		if o.MetricsURL, err = MetricsURLFor(backend, cfg, lo.URL); err != nil {
			return err
		}
	}
	if o, err = o.Resolve(); err != nil {
		return err
	}
	if ep.Protocol != load.ProtocolOpenAIChat && ep.Protocol != load.ProtocolOpenAICompletions {
		o.MetricsModel = lo.Model
	}
	dir := str(f.Out)
	if dir == "" {
		dir = filepath.Join("results", fmt.Sprintf("bench-%s-%s", backend, time.Now().Format("20060102-150405")))
	}
	// Before anything is sent: a sweep whose results cannot be written is
	// lost time.
	if err := bench.CheckDir(dir); err != nil {
		return err
	}
	o.Dir = dir
	if o.MetricsURL != "" {
		if _, err := bench.Scrape(ctx, nil, o.MetricsURL); err != nil {
			fmt.Printf("bench: server metrics unavailable: %v; the report has the client's figures only\n", err)
			o.MetricsURL = ""
		}
	}
	var loads []string
	for _, l := range o.Steps {
		loads = append(loads, fmt.Sprint(l))
	}
	if o.Mode == bench.ModeSearch {
		fmt.Printf("bench: %s at %s (%s), search from %s to %s req/s to %g%%, probes of %s to %s after %s warm-up\n", backend, lo.URL, lo.Protocol,
			loads[0], loads[1], o.Tolerance*100, o.ProbeMin, o.ProbeMax, o.Warmup)
	} else {
		fmt.Printf("bench: %s at %s (%s), %s %s, %s steps after %s warm-up\n", backend, lo.URL, lo.Protocol, o.Mode, strings.Join(loads, ", "), o.StepDuration, o.Warmup)
	}
	if o.MetricsURL != "" {
		fmt.Printf("bench: server metrics from %s\n", o.MetricsURL)
	}
	res, runErr := bench.Run(ctx, o)
	if res == nil {
		return runErr
	}
	jsonPath, htmlPath, err := bench.Save(dir, res)
	if err != nil {
		return errors.Join(runErr, err)
	}
	fmt.Printf("results written to %s\nreport written to %s\n", jsonPath, htmlPath)
	if errors.Is(runErr, load.ErrInvalid) {
		return &InvalidRunError{Err: runErr} // a search the generator limited
	}
	if runErr != nil {
		return runErr
	}
	if c := res.Capacity; c != nil && c.Low == 0 && c.High > 0 && res.StoppedBy != bench.StoppedCanceled {
		return fmt.Errorf("%w: no rate met every SLO, not even -start=%v req/s (see %s)", load.ErrSLO, c.High, htmlPath)
	}
	if res.BestLoadMeetingSLOs == nil && len(res.Steps) > 0 && res.StoppedBy != bench.StoppedCanceled && res.Capacity == nil {
		return fmt.Errorf("%w: no load met every SLO, not even %s %v (see %s)", load.ErrSLO, o.Mode, res.Steps[0].Load, htmlPath)
	}
	return nil
}

// BenchCompare writes one report of several sweeps side by side. list is
// comma-separated results files; out is the report file (.html) or a
// directory for compare.html (default results/compare-TIME.html).
func BenchCompare(ctx context.Context, list string, out *string) error {
	runs, err := bench.LoadRuns(list)
	if err != nil {
		return err
	}
	path := str(out)
	switch {
	case path == "":
		path = filepath.Join("results", fmt.Sprintf("compare-%s.html", time.Now().Format("20060102-150405")))
	case !strings.HasSuffix(strings.ToLower(path), ".html"):
		path = filepath.Join(path, "compare.html")
	}
	results := make([]*bench.Result, len(runs))
	names := make([]string, len(runs))
	for i, r := range runs {
		results[i], names[i] = r.Result, r.Name
	}
	bench.PrintCompare(os.Stdout, results, names)
	if err := bench.RenderFile(path, runs); err != nil {
		return err
	}
	fmt.Printf("report written to %s\n", path)
	return nil
}
