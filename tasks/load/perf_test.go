package load

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/sim/simproc"
	"github.com/prometheus/client_golang/prometheus"
)

// Constant-mode timing of the simulator that BenchmarkGeneratorProcess
// drives, and the output length of every request.
const (
	perfTTFT   = 50 * time.Millisecond
	perfITL    = 10 * time.Millisecond
	perfTokens = 128
)

// BenchmarkGeneratorProcess measures what a user of the generator gets: the
// simulator runs in another process (constant mode: TTFT 50 ms, ITL 10 ms,
// 128 tokens per request, no queueing) and load.Run drives it over
// loopback in a closed loop at 100 and 1000 streams, for a fixed wall time
// (LOP_PERF_SECONDS, default 10 s, measured after a 2 s warm-up) whatever
// b.N is. It reports:
//
//	cpu-µs/chunk  the generator's own CPU (getrusage RUSAGE_SELF, user+sys)
//	              over the measured window, per streamed chunk received in it
//	chunks/s      chunks received per second in the window
//	ttft-err-ms   TTFT p50 (from the send) minus the simulator's 50 ms
//	itl-err-ms    ITL p50 minus the simulator's 10 ms
//	reads/chunk   read system calls per chunk (Linux: /proc/self/io syscr)
//	sys-µs/chunk  the part of cpu-µs/chunk spent in the kernel (Linux:
//	              /proc/self/stat, in clock ticks of 10 ms)
//
// The simulator is $LOP_SIM_BIN, else built from ./cmd/sim; with
// $LOP_SIM_CPUS (e.g. "2-5") it runs under `taskset -c $LOP_SIM_CPUS`.
// The generator gets the CPUs its process gets (GOMAXPROCS), e.g. 2:
//
//	go test -c -o load.test ./tasks/load && go build -o sim ./cmd/sim
//	LOP_SIM_BIN=$PWD/sim LOP_SIM_CPUS=2-5 taskset -c 0,1 ./load.test \
//	    -test.run '^$' -test.bench BenchmarkGeneratorProcess -test.benchtime 1x
func BenchmarkGeneratorProcess(b *testing.B) {
	window := simproc.Seconds(b, 10)
	const warmup = 2 * time.Second
	url := startSimProcess(b, 4096)
	for _, streams := range []int{100, 1000} {
		b.Run(fmt.Sprintf("streams=%d", streams), func(b *testing.B) {
			for b.Loop() {
				perfRun(b, url, streams, warmup, window)
			}
		})
	}
}

// perfRun is one measured closed-loop run of BenchmarkGeneratorProcess.
func perfRun(b *testing.B, url string, streams int, warmup, window time.Duration) {
	reg := prometheus.NewRegistry()
	o := Options{URL: url, Stream: true, Concurrency: streams, MaxTokens: perfTokens, IgnoreEOS: true,
		Warmup: warmup, Duration: window, Registry: reg, SLO: SLO{Availability: -1, TTFTP95: -1, ITLP95: -1}}
	type sample struct {
		cpu    time.Duration
		chunks uint64
		reads  int64         // -1: unknown
		sys    time.Duration // -1: unknown
		at     time.Time
	}
	take := func() sample {
		cpu, _ := processCPU()
		return sample{cpu: cpu, chunks: chunksSeen(b, reg), reads: readCalls(), sys: systemCPU(), at: time.Now()}
	}
	done := make(chan [2]sample, 1)
	go func() {
		// The window: from the end of the warm-up to the end of sending.
		time.Sleep(warmup)
		s0 := take()
		time.Sleep(window)
		done <- [2]sample{s0, take()}
	}()
	res, err := Run(context.Background(), o)
	if err != nil {
		b.Fatal(err)
	}
	if res.Requests.Failed != 0 || res.Requests.OK == 0 {
		b.Fatalf("requests %+v, errors %+v", res.Requests, res.ErrorSamples)
	}
	w := <-done
	chunks := float64(w[1].chunks - w[0].chunks)
	if chunks == 0 {
		b.Fatal("no chunk in the measured window")
	}
	b.ReportMetric(float64((w[1].cpu-w[0].cpu).Nanoseconds())/1e3/chunks, "cpu-µs/chunk")
	b.ReportMetric(chunks/w[1].at.Sub(w[0].at).Seconds(), "chunks/s")
	b.ReportMetric((res.TTFT.P50-perfTTFT.Seconds())*1e3, "ttft-err-ms")
	b.ReportMetric((res.ITL.P50-perfITL.Seconds())*1e3, "itl-err-ms")
	if w[0].reads >= 0 && w[1].reads >= 0 {
		b.ReportMetric(float64(w[1].reads-w[0].reads)/chunks, "reads/chunk")
	}
	if w[0].sys >= 0 && w[1].sys >= 0 {
		b.ReportMetric(float64((w[1].sys-w[0].sys).Nanoseconds())/1e3/chunks, "sys-µs/chunk")
	}
}

// systemCPU is the CPU time the process has spent in the kernel (Linux's
// /proc/self/stat stime, assuming 100 clock ticks a second), or -1 where
// the system does not say.
func systemCPU() time.Duration {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return -1
	}
	// The fields after the command name (which may hold spaces) in
	// parentheses: state is the 3rd field, stime the 15th.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	ticks, err := strconv.ParseInt(f[12], 10, 64)
	if err != nil {
		return -1
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// readCalls is the number of read system calls the process has made
// (Linux's /proc/self/io syscr), or -1 where the system does not say.
func readCalls() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "syscr: "); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				return n
			}
		}
	}
	return -1
}

// chunksSeen is the number of content chunks of the requests finished so
// far, warm-up included: one first chunk (TTFT) plus the gaps (ITL) each.
func chunksSeen(b *testing.B, reg *prometheus.Registry) uint64 {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	var n uint64
	for _, mf := range mfs {
		switch mf.GetName() {
		case "loadgen_ttft_seconds", "loadgen_itl_seconds":
			for _, m := range mf.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return n
}

// startSimProcess starts the simulator in constant mode in its own process
// (see BenchmarkGeneratorProcess) with room for seqs streams at once, and
// returns its API URL; it is stopped when b ends.
func startSimProcess(b *testing.B, seqs int) string {
	url, _ := simproc.Start(b, simproc.Binary(b), "-addr", "127.0.0.1:0", "-constant-ttft", perfTTFT.String(), "-constant-itl", perfITL.String(),
		"-output-tokens-mean", strconv.Itoa(perfTokens), "-output-tokens-sigma", "0",
		"-max-num-seqs", strconv.Itoa(seqs), "-max-waiting-queue-length", strconv.Itoa(seqs),
		"-max-model-len", "1000000", "-num-gpu-blocks", "1000000")
	return url
}
