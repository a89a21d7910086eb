//go:build unix

package load

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// fakeTransport is an in-process server: it answers every request with a
// canned OpenAI SSE stream, one event per Read, without a network. The
// generator's own CPU is then all the CPU the process uses.
type fakeTransport struct {
	events [][]byte
	// hold, when set, blocks every stream after its first event until closed.
	hold    chan struct{}
	entered atomic.Int64
}

func newFakeTransport(tokens int) *fakeTransport {
	f := &fakeTransport{}
	for i := 0; i < tokens; i++ {
		f.events = append(f.events, []byte("data: "+chatChunk(fmt.Sprintf(" tok%d", i))+"\n\n"))
	}
	f.events = append(f.events, []byte("data: "+usageChunk(20, tokens)+"\n\n"), []byte("data: [DONE]\n\n"))
	return f
}

func (f *fakeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	return &http.Response{StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"text/event-stream"}}, Request: r,
		Body: &fakeBody{f: f, ctx: r.Context()}}, nil
}

type fakeBody struct {
	f    *fakeTransport
	ctx  context.Context
	i    int
	held bool
}

func (b *fakeBody) Read(p []byte) (int, error) {
	if b.i >= len(b.f.events) {
		return 0, io.EOF
	}
	if b.i == 1 && b.f.hold != nil && !b.held {
		b.held = true
		b.f.entered.Add(1)
		select {
		case <-b.f.hold:
		case <-b.ctx.Done():
			return 0, b.ctx.Err()
		}
	}
	n := copy(p, b.f.events[b.i])
	b.i++
	return n, nil
}

func (b *fakeBody) Close() error { return nil }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGeneratorCPU: closed loop at concurrency 1000 against the
// in-process fake server, 64 tokens per stream. Reports the generator's CPU
// time per 1000 output tokens (process CPU: there is no server work).
func BenchmarkGeneratorCPU(b *testing.B) {
	ft := newFakeTransport(64)
	client := &http.Client{Transport: ft}
	b.ReportAllocs()
	reqs := max(b.N, 2000)
	b.ResetTimer()
	cpu0 := cpuTime()
	t0 := time.Now()
	res, err := Run(context.Background(), Options{URL: "http://fake", Model: "m", Stream: true, Concurrency: 1000,
		Requests: reqs, HTTPClient: client, SLO: SLO{Availability: -1, TTFTP95: -1, ITLP95: -1}})
	cpu := cpuTime() - cpu0
	wall := time.Since(t0)
	b.StopTimer()
	if err != nil || res.Requests.OK != int64(reqs) {
		b.Fatalf("%v %+v", err, res.Requests)
	}
	tokens := float64(res.Tokens.Output)
	b.ReportMetric(float64(cpu.Microseconds())/tokens*1000, "cpu-µs/1000tok")
	b.ReportMetric(tokens/wall.Seconds(), "tok/s")
	b.ReportMetric(float64(reqs)/wall.Seconds(), "req/s")
}

// BenchmarkGeneratorLoopback: the same over real loopback TCP with an
// httptest server at concurrency 1000 (CPU includes the server's).
func BenchmarkGeneratorLoopback(b *testing.B) {
	ft := newFakeTransport(64)
	srv := newServer(b, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		for _, ev := range ft.events {
			w.Write(ev)
			fl.Flush()
		}
	})
	reqs := max(b.N, 2000)
	b.ResetTimer()
	cpu0 := cpuTime()
	t0 := time.Now()
	res, err := Run(context.Background(), Options{URL: srv.URL, Model: "m", Stream: true, Concurrency: 1000,
		Requests: reqs, SLO: SLO{Availability: -1, TTFTP95: -1, ITLP95: -1}})
	cpu := cpuTime() - cpu0
	wall := time.Since(t0)
	b.StopTimer()
	if err != nil || res.Requests.OK != int64(reqs) {
		b.Fatalf("%v %+v %+v", err, res.Requests, res.ErrorSamples)
	}
	tokens := float64(res.Tokens.Output)
	b.ReportMetric(float64(cpu.Microseconds())/tokens*1000, "cpu-µs/1000tok(incl-server)")
	b.ReportMetric(tokens/wall.Seconds(), "tok/s")
}

// BenchmarkMemoryPerStream holds 1000 streams open at once (each blocked
// after its first event) and reports heap+stack bytes per open stream: the
// fake transport variant is the generator alone; the loopback variant adds
// the real HTTP connections and the in-process server's side.
func BenchmarkMemoryPerStream(b *testing.B) {
	const streams = 1000
	for _, mode := range []string{"fake-transport", "loopback-incl-server"} {
		b.Run(mode, func(b *testing.B) {
			for b.Loop() {
				ft := newFakeTransport(8)
				ft.hold = make(chan struct{})
				o := Options{URL: "http://fake", Model: "m", Stream: true, Concurrency: streams, Requests: streams,
					SLO: SLO{Availability: -1, TTFTP95: -1, ITLP95: -1}}
				if mode == "fake-transport" {
					o.HTTPClient = &http.Client{Transport: ft}
				} else {
					srv := newServer(b, func(w http.ResponseWriter, r *http.Request) {
						io.Copy(io.Discard, r.Body)
						w.Header().Set("Content-Type", "text/event-stream")
						w.Write(ft.events[0])
						w.(http.Flusher).Flush()
						ft.entered.Add(1)
						<-ft.hold
						for _, ev := range ft.events[1:] {
							w.Write(ev)
						}
					})
					o.URL = srv.URL
				}
				before := memInUse()
				var wg sync.WaitGroup
				wg.Add(1)
				go func() {
					defer wg.Done()
					if res, err := Run(context.Background(), o); err != nil || res.Requests.OK != streams {
						b.Errorf("%v %+v", err, res.Requests)
					}
				}()
				for ft.entered.Load() < streams {
					time.Sleep(time.Millisecond)
				}
				time.Sleep(20 * time.Millisecond) // let the readers block
				during := memInUse()
				close(ft.hold)
				wg.Wait()
				b.ReportMetric(float64(during-before)/streams, "B/stream")
			}
		})
	}
}

func memInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// BenchmarkSchedulingLag: an open loop at 2000 req/s (poisson) against the
// fake server; reports the p99 and max of actual-minus-intended send time.
func BenchmarkSchedulingLag(b *testing.B) {
	ft := newFakeTransport(16)
	client := &http.Client{Transport: ft}
	reqs := max(b.N, 4000)
	b.ResetTimer()
	res, err := Run(context.Background(), Options{URL: "http://fake", Model: "m", Stream: true, Rate: 2000,
		Requests: reqs, HTTPClient: client, SLO: SLO{Availability: -1, TTFTP95: -1, ITLP95: -1}})
	b.StopTimer()
	if err != nil || res.Requests.OK != int64(reqs) {
		b.Fatalf("%v %+v", err, res.Requests)
	}
	b.ReportMetric(res.SchedulingLag.P50*1e6, "lag-p50-µs")
	b.ReportMetric(res.SchedulingLag.P99*1e6, "lag-p99-µs")
	b.ReportMetric(res.SchedulingLag.Max*1e6, "lag-max-µs")
	b.ReportMetric(float64(reqs)/res.DurationSeconds, "achieved-req/s")
}
