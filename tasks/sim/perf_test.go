package sim

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/sim/simproc"
)

// The simulator as a user gets it: a separate process over loopback.
const (
	perfTTFT   = 20 * time.Millisecond
	perfITL    = 5 * time.Millisecond
	perfTokens = 128
)

// BenchmarkSimProcess measures the simulator in another process (constant
// mode, TTFT 20 ms, ITL 5 ms, 128 tokens per request, -max-num-seqs above
// the stream count so nothing queues) driven by a lean raw client in the
// test process: one goroutine and one keep-alive connection per stream,
// the HTTP/1.1 request written by hand, the chunked SSE answer read with
// bufio and timed per chunk. Each stream sends its next request when the
// last one ends; the streams start evenly spread over one request's
// duration, and the measurement window starts when every stream has run
// for two request durations and lasts until the end (LOP_PERF_SECONDS,
// default 5, after the ramp). LOP_PERF_STREAMS (default "1000,2000,4000")
// lists the stream counts.
//
// Metrics:
//   - delivered/ideal: tokens received in the window over the ideal, streams
//     x window x 128 / (TTFT + 127 x ITL), the rate of a stream whose tokens
//     are all on time and whose next request leaves the instant the last
//     token arrives (so a perfect server over a zero-latency network gets
//     1; the client's request round trip costs a little);
//   - chunks/token: SSE data events carrying text in the window over the
//     tokens they carry (from continuous usage stats; 1 is one chunk per
//     token);
//   - itl-err-p50-ms, itl-err-p99-ms: the gap between consecutive chunks
//     of a request, minus the ITL, in the window (chunks read together
//     have a zero gap: -5 ms);
//   - sim-cpu-us/token: the simulator process's CPU time (user + system,
//     from /proc; Linux only) in the window over the tokens received;
//     sim-sys-us/token: of which the kernel's (on loopback the sender's
//     write also runs the receiver's TCP input);
//   - sim-writes/token: the simulator's write system calls (syscw of
//     /proc/PID/io) in the window over the tokens received (1: one write
//     per token; less: late tokens left together).
//
// With LOP_SIM_PROFILE_DIR=DIR each simulator writes a CPU profile of its
// whole run to DIR/sim-N.pprof (-cpuprofile; N the stream count).
//
// The simulator binary is $LOP_SIM_BIN, else built from ./cmd/sim into a
// temporary folder; it runs under `taskset -c $LOP_SIM_CPUS` when that is
// set (the client's cores are the caller's: taskset the test binary). For
// example, on a machine with 16 cores (sim on 2, client on 8):
//
//	go test -c -o sim.test ./tasks/sim && go build -o simbin ./cmd/sim
//	LOP_SIM_BIN=$PWD/simbin LOP_SIM_CPUS=0-1 LOP_PERF_SECONDS=10 taskset -c 2-9 \
//	  ./sim.test -test.run '^$' -test.bench BenchmarkSimProcess -test.benchtime 1x
func BenchmarkSimProcess(b *testing.B) {
	bin := simproc.Binary(b)
	window := simproc.Seconds(b, 5)
	counts := []int{1000, 2000, 4000}
	if v := os.Getenv("LOP_PERF_STREAMS"); v != "" {
		counts = nil
		for f := range strings.SplitSeq(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				b.Fatalf("LOP_PERF_STREAMS=%q: want stream counts separated by commas", v)
			}
			counts = append(counts, n)
		}
	}
	for _, n := range counts {
		b.Run(fmt.Sprintf("streams=%d", n), func(b *testing.B) {
			if testing.Short() {
				b.Skip("-short")
			}
			addr, pid := startSimProcess(b, bin, n)
			var res perfResult
			for range b.N {
				res = runPerfStreams(b, addr, pid, n, window)
			}
			b.ReportMetric(res.ratio, "delivered/ideal")
			b.ReportMetric(res.chunksPerToken, "chunks/token")
			b.ReportMetric(res.errP50, "itl-err-p50-ms")
			b.ReportMetric(res.errP99, "itl-err-p99-ms")
			if res.cpuPerToken > 0 {
				b.ReportMetric(res.cpuPerToken, "sim-cpu-us/token")
				b.ReportMetric(res.sysPerToken, "sim-sys-us/token")
			}
			if res.writesPerToken > 0 {
				b.ReportMetric(res.writesPerToken, "sim-writes/token")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkSimInProcess is BenchmarkSimProcess with the simulator in the
// test process, for profiling (go test -cpuprofile): the figures mix the
// client's costs with the simulator's.
func BenchmarkSimInProcess(b *testing.B) {
	for _, n := range []int{1000, 4000} {
		b.Run(fmt.Sprintf("streams=%d", n), func(b *testing.B) {
			cfg := DefaultConfig(PersonalityVLLM)
			cfg.Addr = "127.0.0.1:0"
			cfg.ConstantTTFT, cfg.ConstantITL = perfTTFT, perfITL
			cfg.MaxNumSeqs, cfg.MaxWaiting, cfg.MaxConnections = 2*n, 0, 2*n+100
			_, run := startServer(b, cfg)
			var res perfResult
			for range b.N {
				res = runPerfStreams(b, strings.TrimPrefix(run.APIURL, "http://"), 0, n, 3*time.Second)
			}
			b.ReportMetric(res.ratio, "delivered/ideal")
			b.ReportMetric(res.chunksPerToken, "chunks/token")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// startSimProcess starts the simulator for n streams in its own process
// and returns its API address (HOST:PORT) and process id; the process is
// stopped when b ends.
func startSimProcess(b *testing.B, bin string, n int) (string, int) {
	args := []string{"-addr", "127.0.0.1:0", "-constant-ttft", perfTTFT.String(), "-constant-itl", perfITL.String(),
		"-max-num-seqs", strconv.Itoa(2 * n), "-max-waiting-queue-length", "0", "-max-connections", strconv.Itoa(2*n + 100)}
	if dir := os.Getenv("LOP_SIM_PROFILE_DIR"); dir != "" {
		args = append(args, "-cpuprofile", filepath.Join(dir, fmt.Sprintf("sim-%d.pprof", n)))
	}
	url, pid := simproc.Start(b, bin, args...)
	return strings.TrimPrefix(url, "http://"), pid
}

type perfResult struct {
	ratio, chunksPerToken, errP50, errP99 float64
	cpuPerToken                           float64 // the simulator's CPU time per token in the window, us; 0: unknown
	sysPerToken                           float64 // of which the kernel's
	writesPerToken                        float64 // the simulator's write system calls per token; 0: unknown
}

// procStat is what /proc says of a process (Linux; zeros elsewhere):
// its user and system CPU time and its write system calls (syscw of
// /proc/PID/io).
type procStat struct {
	user, sys time.Duration
	writes    int64
}

func readProcStat(pid int) procStat {
	var ps procStat
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ps
	}
	k := bytes.LastIndexByte(b, ')')
	if k < 0 {
		return ps
	}
	f := strings.Fields(string(b[k+1:]))
	if len(f) < 13 {
		return ps
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	ps.user = time.Duration(ut) * 10 * time.Millisecond // USER_HZ is 100 on Linux
	ps.sys = time.Duration(st) * 10 * time.Millisecond
	if io, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid)); err == nil {
		for line := range strings.SplitSeq(string(io), "\n") {
			if v, ok := strings.CutPrefix(line, "syscw: "); ok {
				ps.writes, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			}
		}
	}
	return ps
}

// perfStream is what one stream saw in the window.
type perfStream struct {
	tokens, chunks int
	gaps           []int32 // microseconds, gap minus ITL
	err            error
}

// runPerfStreams runs n closed-loop streams against addr and measures the
// window after the ramp, d long.
func runPerfStreams(b *testing.B, addr string, pid, n int, d time.Duration) perfResult {
	reqDur := perfTTFT + (perfTokens-1)*perfITL
	start := time.Now()
	w0 := start.Add(reqDur + 2*reqDur)
	w1 := w0.Add(d)
	body := fmt.Sprintf(`{"model":"qwen","prompt":"benchmark prompt text","max_tokens":%d,"ignore_eos":true,"stream":true,`+
		`"stream_options":{"include_usage":true,"continuous_usage_stats":true}}`, perfTokens)
	req := []byte(fmt.Sprintf("POST /v1/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		addr, len(body), body))
	streams := make([]perfStream, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Until(start.Add(reqDur * time.Duration(i) / time.Duration(n))))
			streams[i].err = perfStreamLoop(addr, req, w0, w1, &streams[i])
		}()
	}
	var cpu0, cpu1 procStat
	cpuDone := make(chan struct{})
	go func() {
		defer close(cpuDone)
		if pid == 0 {
			return
		}
		time.Sleep(time.Until(w0))
		cpu0 = readProcStat(pid)
		time.Sleep(time.Until(w1))
		cpu1 = readProcStat(pid)
	}()
	wg.Wait()
	<-cpuDone
	var tokens, chunks int
	var gaps []int32
	for i := range streams {
		s := &streams[i]
		if s.err != nil {
			b.Fatalf("stream %d: %v", i, s.err)
		}
		tokens += s.tokens
		chunks += s.chunks
		gaps = append(gaps, s.gaps...)
	}
	slices.Sort(gaps)
	pct := func(p float64) float64 {
		if len(gaps) == 0 {
			return 0
		}
		return float64(gaps[min(len(gaps)-1, int(p*float64(len(gaps))))]) / 1000
	}
	ideal := float64(n) * d.Seconds() * perfTokens / reqDur.Seconds()
	perTok := max(float64(tokens), 1)
	return perfResult{ratio: float64(tokens) / ideal, chunksPerToken: float64(chunks) / perTok,
		errP50: pct(0.5), errP99: pct(0.99),
		cpuPerToken: float64(cpu1.user+cpu1.sys-cpu0.user-cpu0.sys) / 1000 / perTok,
		sysPerToken: float64(cpu1.sys-cpu0.sys) / 1000 / perTok, writesPerToken: float64(cpu1.writes-cpu0.writes) / perTok}
}

var (
	perfData  = []byte("data: ")
	perfDone  = []byte("data: [DONE]")
	perfUsage = []byte(`"completion_tokens":`)
)

// perfStreamLoop sends requests on one connection until w1 and counts
// what arrives within [w0, w1) into s.
func perfStreamLoop(addr string, req []byte, w0, w1 time.Time, s *perfStream) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	br := bufio.NewReaderSize(c, 8<<10)
	var data []byte
	for time.Now().Before(w1) {
		if _, err := c.Write(req); err != nil {
			return err
		}
		// Status line and headers.
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if !bytes.HasPrefix(line, []byte("HTTP/1.1 200")) {
			return fmt.Errorf("answer %q", line)
		}
		chunked := false
		for {
			line, err = br.ReadSlice('\n')
			if err != nil {
				return err
			}
			if len(line) <= 2 {
				break
			}
			if bytes.EqualFold(line, []byte("Transfer-Encoding: chunked\r\n")) {
				chunked = true
			}
		}
		if !chunked {
			return errors.New("the answer is not chunked")
		}
		var last time.Time
		have := 0
		done := false
		for !done {
			line, err = br.ReadSlice('\n')
			if err != nil {
				return err
			}
			size, err := strconv.ParseUint(strings.TrimSpace(string(line)), 16, 32)
			if err != nil {
				return fmt.Errorf("chunk size %q", line)
			}
			if size == 0 {
				if _, err := br.Discard(2); err != nil {
					return err
				}
				return errors.New("the stream ended without [DONE]")
			}
			now := time.Now()
			data = slices.Grow(data[:0], int(size)+2)[:size+2]
			if _, err := io.ReadFull(br, data); err != nil {
				return err
			}
			in := !now.Before(w0) && now.Before(w1)
			for ev := range bytes.SplitSeq(data[:size], []byte("\n\n")) {
				if !bytes.HasPrefix(ev, perfData) {
					continue
				}
				if bytes.HasPrefix(ev, perfDone) {
					done = true
					continue
				}
				k := bytes.LastIndex(ev, perfUsage)
				if k < 0 || !bytes.Contains(ev, []byte(`"text":`)) {
					continue // the final usage chunk
				}
				rest := ev[k+len(perfUsage):]
				e := bytes.IndexByte(rest, '}')
				got, err := strconv.Atoi(string(rest[:max(e, 0)]))
				if err != nil {
					return fmt.Errorf("usage in %q", ev)
				}
				if in {
					s.tokens += got - have
					s.chunks++
					if !last.IsZero() {
						s.gaps = append(s.gaps, int32((now.Sub(last)-perfITL)/time.Microsecond))
					}
				}
				have = got
				last = now
			}
		}
		// The terminating chunk.
		if line, err = br.ReadSlice('\n'); err != nil || string(line) != "0\r\n" {
			return fmt.Errorf("after [DONE]: %q %v", line, err)
		}
		if _, err := br.Discard(2); err != nil {
			return err
		}
		if have != perfTokens {
			return fmt.Errorf("%d tokens, want %d", have, perfTokens)
		}
	}
	return nil
}
