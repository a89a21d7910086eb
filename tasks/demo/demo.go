// Package demo is `mage demo`: the whole main job with no GPU and no
// Docker. The simulator runs in-process, a bounded load run drives it with
// the live status line, and the summary sets the client's TTFT and ITL
// beside the server's own, computed from the simulator's histograms.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/bench"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/sim"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/ui"
)

// Options of a demo run.
type Options struct {
	Duration    time.Duration // default 20s
	Concurrency int           // default 16
	Out         string        // results file; default results/demo-TIME.json
	W           io.Writer     // default os.Stdout
	Seed        uint64        // simulator and load seed; default 1
}

// Run runs the demo. It fails when the run breaks an SLO, as a bounded
// load run does.
func Run(ctx context.Context, o Options) error {
	if o.Duration <= 0 {
		o.Duration = 20 * time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.W == nil {
		o.W = os.Stdout
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Out == "" {
		o.Out = filepath.Join("results", "demo-"+time.Now().Format("20060102-150405")+".json")
	}
	if err := CheckOut(o.Out); err != nil {
		return err
	}

	cfg := sim.DefaultConfig(sim.PersonalityVLLM)
	cfg.Addr, cfg.MetricsAddr, cfg.Seed = "127.0.0.1:0", "", o.Seed
	srv, err := sim.New(cfg)
	if err != nil {
		return err
	}
	simCtx, stopSim := context.WithCancel(context.Background())
	defer stopSim()
	run, err := srv.Start(simCtx)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.W, "demo: the simulator imitates vLLM %s serving %s at %s (max %d running sequences, %d KV blocks of %d tokens)\n",
		cfg.VLLMVersion, cfg.ServedModelName, run.APIURL, cfg.MaxNumSeqs, cfg.NumGPUBlocks, cfg.BlockSize)

	client := &http.Client{Timeout: 10 * time.Second}
	before, err := bench.Scrape(ctx, client, run.MetricsURL)
	if err != nil {
		return fmt.Errorf("scraping the simulator: %w", err)
	}
	lo, err := load.Preset(string(backend.Sim), o.Concurrency)
	if err != nil {
		return err
	}
	lo.URL, lo.Model, lo.Duration, lo.Seed, lo.Out = run.APIURL, cfg.ServedModelName, o.Duration, o.Seed, o.Out
	lo.Status, lo.IsTerminal = o.W, ui.IsTerminal(o.W)
	fmt.Fprintf(o.W, "demo: %d concurrent workers stream chat completions for %s (Ctrl+C stops early; the results are kept)\n", o.Concurrency, o.Duration)
	res, runErr := load.Run(ctx, lo)
	if res == nil {
		return runErr
	}
	if err := load.Report(lo, res); err != nil {
		runErr = err // the results file could not be written; the comparison still shows
	}
	// The server's own view of the same requests: the quantiles of its
	// histograms' increase over the run (as histogram_quantile computes them).
	after, err := bench.Scrape(context.Background(), client, run.MetricsURL)
	if err != nil {
		return errors.Join(runErr, fmt.Errorf("scraping the simulator: %w", err))
	}
	PrintComparison(o.W, res, bench.ServerStats(before, after, ""))
	return runErr
}

// CheckOut makes sure the results file can be written before the demo
// starts: its directory is created and a temporary file made in it.
func CheckOut(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("-out=%s is a directory; -out names the results file, e.g. -out=results/demo.json", path)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("-out=%s: cannot create %s: %v; choose a writable place for the results file", path, dir, pathErr(err))
	}
	f, err := os.CreateTemp(dir, ".demo-write-check-*")
	if err != nil {
		return fmt.Errorf("-out=%s: cannot write in %s: %v; choose a writable place for the results file", path, dir, pathErr(err))
	}
	f.Close()
	return os.Remove(f.Name())
}

func pathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// PrintComparison prints the client's TTFT and ITL quantiles beside the
// server's.
func PrintComparison(w io.Writer, res *load.Result, sv *bench.Server) {
	ms := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf("%.1fms", *p*1e3)
	}
	cms := func(v float64) string { return fmt.Sprintf("%.1fms", v*1e3) }
	fmt.Fprintln(w, "\nclient (what users feel) beside server (vllm:* histograms, bucket-interpolated):")
	rows := [][]string{{"", "p50", "p90", "p95", "p99"}}
	rows = append(rows, []string{"TTFT client", cms(res.TTFT.P50), cms(res.TTFT.P90), cms(res.TTFT.P95), cms(res.TTFT.P99)})
	if d := sv.TTFT; d != nil {
		rows = append(rows, []string{"TTFT server", ms(d.P50), ms(d.P90), ms(d.P95), ms(d.P99)})
	}
	rows = append(rows, []string{"ITL client", cms(res.ITL.P50), cms(res.ITL.P90), cms(res.ITL.P95), cms(res.ITL.P99)})
	if d := sv.ITL; d != nil {
		rows = append(rows, []string{"ITL server", ms(d.P50), ms(d.P90), ms(d.P95), ms(d.P99)})
	}
	ui.Table(w, rows)
	fmt.Fprintln(w, "(server quantiles interpolate within vLLM's buckets, so they are coarse; the client's come from an HDR histogram)")
}
