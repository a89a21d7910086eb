package sim

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func benchConfig() Config {
	c := fastConfig(PersonalityVLLM)
	c.DCGMAddr = ""
	c.MaxNumSeqs = 1024
	c.MaxWaiting = 0 // unbounded
	c.NumGPUBlocks = 1 << 20
	c.MaxNumBatchedTokens = 1 << 20
	c.EnablePrefixCaching = false
	return c
}

const benchTokens = 256

// BenchmarkServe streams completions (256 tokens each, zero latency) from
// N concurrent clients and reports the tokens per second delivered.
func BenchmarkServe(b *testing.B) {
	for _, n := range []int{1, 100, 5000} {
		b.Run(fmt.Sprintf("streams=%d", n), func(b *testing.B) {
			if n > 100 && testing.Short() {
				b.Skip("-short")
			}
			_, run := startServer(b, benchConfig())
			tr := &http.Transport{MaxIdleConnsPerHost: n, MaxIdleConns: n, DisableCompression: true}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			body := fmt.Sprintf(`{"model":"qwen","prompt":"benchmark prompt text","max_tokens":%d,"ignore_eos":true,"stream":true}`, benchTokens)
			var left atomic.Int64
			left.Store(int64(max(b.N, n)))
			var tokens atomic.Int64
			var failed atomic.Value
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					buf := make([]byte, 32<<10)
					for left.Add(-1) >= 0 {
						resp, err := client.Post(run.APIURL+"/v1/completions", "application/json", strings.NewReader(body))
						if err != nil {
							failed.Store(err)
							return
						}
						var last []byte
						for {
							k, err := resp.Body.Read(buf)
							if k > 0 {
								last = append(last[:0], buf[max(0, k-64):k]...)
							}
							if err == io.EOF {
								break
							}
							if err != nil {
								failed.Store(err)
								return
							}
						}
						_ = resp.Body.Close()
						if !bytes.HasSuffix(last, []byte("data: [DONE]\n\n")) {
							failed.Store(fmt.Errorf("stream did not end with [DONE]: %q", last))
							return
						}
						tokens.Add(benchTokens)
					}
				}()
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			if err := failed.Load(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(tokens.Load())/el.Seconds(), "tokens/s")
		})
	}
}

// BenchmarkOpenStreams holds N streams open (each has its first token; the
// constant-latency mode with a one-hour ITL keeps them open) and reports the
// server's heap+stack growth per open stream. The clients are raw TCP
// connections without goroutines, so the figure is the server's.
func BenchmarkOpenStreams(b *testing.B) {
	for _, n := range []int{1, 100, 5000} {
		b.Run(fmt.Sprintf("streams=%d", n), func(b *testing.B) {
			if n > 100 && testing.Short() {
				b.Skip("-short")
			}
			cfg := benchConfig()
			cfg.ConstantTTFT = time.Microsecond
			cfg.ConstantITL = time.Hour
			cfg.MaxNumSeqs = max(cfg.MaxNumSeqs, n) // every stream runs
			s, run := startServer(b, cfg)
			addr := strings.TrimPrefix(run.APIURL, "http://")
			body := `{"model":"qwen","prompt":"benchmark prompt text","max_tokens":1000,"ignore_eos":true,"stream":true}`
			req := []byte(fmt.Sprintf("POST /v1/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", addr, len(body), body))
			var perStream float64
			for range b.N {
				runtime.GC()
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				conns := make([]net.Conn, 0, n)
				for range n {
					c, err := net.Dial("tcp", addr)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := c.Write(req); err != nil {
						b.Fatal(err)
					}
					conns = append(conns, c)
				}
				small := make([]byte, 256)
				for _, c := range conns {
					br := bufio.NewReaderSize(c, 16)
					seen := false
					for !seen {
						line, err := br.ReadSlice('\n')
						if err != nil && err != bufio.ErrBufferFull {
							b.Fatal(err)
						}
						seen = bytes.HasPrefix(line, []byte("data: "))
					}
					_ = small
				}
				if got := s.eng.snapRunning.Load(); got != int64(n) {
					b.Fatalf("%d streams running, want %d", got, n)
				}
				runtime.GC()
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				perStream = (float64(after.HeapInuse+after.StackInuse) - float64(before.HeapInuse+before.StackInuse)) / float64(n)
				for _, c := range conns {
					_ = c.Close()
				}
				deadline := time.Now().Add(30 * time.Second)
				for s.eng.snapRunning.Load() != 0 && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
			}
			b.ReportMetric(perStream, "bytes/stream")
		})
	}
}
