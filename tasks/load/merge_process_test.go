package load

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/sim/simproc"
)

// Eight generator processes that share a load, merged, report what one process
// carrying the whole load reports: the request counts exactly, and the
// latency percentiles within the jitter of real processes on one machine
// (the simulator is in constant mode: every TTFT is 40 ms and every gap
// 10 ms plus what the sockets and schedulers add). Exactness of the merge
// itself, sample for sample, is TestMergeEqualsOneHistogramOfAllSamples's.
func TestMergedProcessesAgreeWithOneProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds and runs five generator processes")
	}
	dir := t.TempDir()
	loadgen := filepath.Join(dir, "loadgen")
	build := exec.Command("go", "build", "-o", loadgen, "../../cmd/loadgen")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("build cmd/loadgen: %v", err)
	}
	url, _ := simproc.Start(t, simproc.Binary(t), "-addr", "127.0.0.1:0", "-constant-ttft", "40ms", "-constant-itl", "10ms",
		"-output-tokens-mean", "100", "-output-tokens-sigma", "0", "-max-num-seqs", "256")
	const workers, perWorker, conc = 8, 30, 2
	run := func(name string, concurrency, requests int) *Result {
		out := filepath.Join(dir, name+".json")
		cmd := exec.Command(loadgen, "-url", url, "-backend", "sim", "-concurrency", fmt.Sprint(concurrency),
			"-requests", fmt.Sprint(requests), "-maxtokens", "8", "-metrics", "off", "-quiet", "-out", out)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", name, err, b)
			return nil
		}
		r, err := ReadResult(out)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	in := make([]MergeInput, workers)
	var wg sync.WaitGroup
	for i := range in {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("w%d", i)
			in[i] = MergeInput{Name: name, Result: run(name, conc, perWorker)}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	one := run("one", workers*conc, workers*perWorker)
	if one == nil {
		t.FailNow()
	}
	m, err := Merge(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Requests.OK != workers*perWorker || m.Requests.OK != one.Requests.OK || m.Requests.Failed != 0 {
		t.Fatalf("merged ok %d failed %d; one process ok %d; want %d each", m.Requests.OK, m.Requests.Failed, one.Requests.OK, workers*perWorker)
	}
	if m.TTFT.Count != one.TTFT.Count || m.ITL.Count != one.ITL.Count || m.Tokens.Output != one.Tokens.Output {
		t.Fatalf("samples: merged TTFT %d ITL %d tokens %d; one process %d %d %d", m.TTFT.Count, m.ITL.Count, m.Tokens.Output,
			one.TTFT.Count, one.ITL.Count, one.Tokens.Output)
	}
	const jitter = 2 * time.Millisecond
	for _, c := range []struct {
		name       string
		got, truth float64
	}{{"TTFT p50", m.TTFT.P50, one.TTFT.P50}, {"ITL p50", m.ITL.P50, one.ITL.P50}, {"E2E p50", m.E2E.P50, one.E2E.P50}} {
		if d := math.Abs(c.got - c.truth); d > jitter.Seconds() {
			t.Errorf("%s: merged %.4f s, one process %.4f s: %.2f ms apart (> %s)", c.name, c.got, c.truth, d*1e3, jitter)
		}
	}
	if math.Abs(m.TTFT.P50-0.040) > 0.005 {
		t.Errorf("merged TTFT p50 %.4f s; the simulator's TTFT is 40 ms", m.TTFT.P50)
	}
	t.Logf("merged: TTFT p50 %.4f p95 %.4f ITL p50 %.4f; one process: %.4f %.4f %.4f", m.TTFT.P50, m.TTFT.P95, m.ITL.P50,
		one.TTFT.P50, one.TTFT.P95, one.ITL.P50)
}
