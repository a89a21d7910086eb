package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Servers that misbehave: each test fails without the timeouts, bounds and
// classifications of guard.go. Timeouts are short so the tests are quick;
// nothing asserts how long anything took.

var hostileProtos = []Protocol{ProtocolOpenAIChat, ProtocolTritonGenerate}

// goodReply writes a complete two-token response in the protocol.
func goodReply(w http.ResponseWriter, p Protocol) {
	w.Header().Set("Content-Type", "text/event-stream")
	if p.Triton() {
		io.WriteString(w, "data: "+tritonChunk("vllm_model", "a")+"\n\ndata: "+tritonChunk("vllm_model", "b")+"\n\n")
		return
	}
	io.WriteString(w, "data: "+chatChunk("a")+"\n\ndata: "+chatChunk("b")+"\n\ndata: "+usageChunk(3, 2)+"\n\ndata: [DONE]\n\n")
}

// oneToken writes the headers and one token, flushed.
func oneToken(w http.ResponseWriter, p Protocol) {
	w.Header().Set("Content-Type", "text/event-stream")
	if p.Triton() {
		io.WriteString(w, "data: "+tritonChunk("vllm_model", "a")+"\n\n")
	} else {
		io.WriteString(w, "data: "+chatChunk("a")+"\n\n")
	}
	w.(http.Flusher).Flush()
}

func hostileOptions(u string, p Protocol) Options {
	// Duration and DrainTimeout end a run whose requests hang (without the
	// timeouts under test) instead of leaving it running.
	return Options{URL: u, Model: "vllm_model", Protocol: p, Stream: true, Concurrency: 1, Requests: 3,
		Duration: 5 * time.Second, DrainTimeout: 2 * time.Second}
}

// checkAllFailed asserts that every request of a 3-request run failed with
// kind, the run went on (no worker stopped) and broke the availability SLO.
func checkAllFailed(t *testing.T, res *Result, err error, kind ErrorKind, msg string) {
	t.Helper()
	if !errors.Is(err, ErrSLO) {
		t.Fatalf("err = %v, want the availability SLO broken", err)
	}
	if res.Requests.Failed != 3 || res.Requests.ByError[string(kind)] != 3 || res.Requests.OK != 0 ||
		res.Requests.InFlightAtEnd != 0 || res.Requests.Canceled != 0 {
		t.Fatalf("requests %+v, want 3 failed with %s; samples %+v", res.Requests, kind, res.ErrorSamples)
	}
	if len(res.ErrorSamples) == 0 || res.ErrorSamples[0].Kind != kind || !strings.Contains(res.ErrorSamples[0].Message, msg) {
		t.Fatalf("samples %+v, want %s: ...%s...", res.ErrorSamples, kind, msg)
	}
	if !strings.HasPrefix(res.StoppedBy, "requests") || strings.Contains(res.StoppedBy, "drain") {
		t.Fatalf("stopped by %q: the requests should have ended by their timeout, not the drain", res.StoppedBy)
	}
}

// One request in five is accepted and never answered (no headers). A
// bounded run reports each as a timeout, availability is below the SLO,
// and the measured window and throughput count every request sent.
func TestHungRequestsAreFailures(t *testing.T) {
	for _, p := range hostileProtos {
		t.Run(string(p), func(t *testing.T) {
			var served atomic.Int64
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				if served.Add(1)%5 == 0 {
					<-r.Context().Done() // accepted, never answered
					return
				}
				goodReply(w, p)
			})
			o := hostileOptions(srv.URL, p)
			o.Concurrency, o.Requests, o.Duration = 2, 0, 600*time.Millisecond
			o.DrainTimeout = 10 * time.Second
			o.TimeoutFirstByte = 150 * time.Millisecond
			var out bytes.Buffer
			o.Status = &out
			res, err := runReport(context.Background(), o)
			if !errors.Is(err, ErrSLO) {
				t.Fatalf("err = %v, want the availability SLO broken\n%s", err, out.String())
			}
			timeouts := res.Requests.ByError[string(ErrTimeout)]
			if timeouts == 0 || res.Requests.Failed != timeouts || res.Requests.InFlightAtEnd != 0 || res.Requests.Canceled != 0 {
				t.Fatalf("requests %+v, want the hung ones failed as timeouts", res.Requests)
			}
			if a := *res.Requests.Availability; a >= 0.999 || a <= 0 {
				t.Fatalf("availability %v", a)
			}
			if res.StoppedBy != "duration" {
				t.Fatalf("stopped by %q, want duration (the hung requests end by their timeout)", res.StoppedBy)
			}
			// Every request the server saw is in the window: the window is
			// at least the run's duration, so req/s cannot exceed what was sent.
			if res.DurationSeconds < o.Duration.Seconds() {
				t.Fatalf("measured window %.3fs shorter than the %v run", res.DurationSeconds, o.Duration)
			}
			if rps := res.Throughput.RequestsPerSecond; rps > float64(served.Load())/o.Duration.Seconds() {
				t.Fatalf("%.1f req/s from %d requests in %v", rps, served.Load(), o.Duration)
			}
			mustContain(t, out.String(), "timeout", "first-byte timeout: no response headers 150ms after sending")
			if !strings.Contains(out.String(), "SLO availability") || !strings.Contains(out.String(), "FAIL") {
				t.Fatalf("summary:\n%s", out.String())
			}
		})
	}
}

// With the timeouts off, requests still running when the drain ends are
// reported as in_flight_at_end and break availability, unless ignored.
func TestInFlightAtEnd(t *testing.T) {
	var served atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if served.Add(1) > 4 {
			oneToken(w, ProtocolOpenAIChat)
			<-r.Context().Done()
			return
		}
		goodReply(w, ProtocolOpenAIChat)
	})
	for _, ignore := range []bool{false, true} {
		t.Run(fmt.Sprint("ignore=", ignore), func(t *testing.T) {
			served.Store(0)
			o := hostileOptions(srv.URL, ProtocolOpenAIChat)
			o.Concurrency, o.Requests, o.Duration = 2, 0, 300*time.Millisecond
			o.TimeoutFirstByte, o.TimeoutFirstToken, o.TimeoutStall = -1, -1, -1
			o.DrainTimeout = 200 * time.Millisecond
			o.SLO.IgnoreInFlightAtEnd = ignore
			o.Out = filepath.Join(t.TempDir(), "r.json")
			var out bytes.Buffer
			o.Status = &out
			res, err := runReport(context.Background(), o)
			if res.Requests.InFlightAtEnd != 2 || res.Requests.OK != 4 || res.Requests.Failed != 0 || res.Requests.Canceled != 0 ||
				res.Requests.ByError[string(ErrInFlightAtEnd)] != 2 {
				t.Fatalf("requests %+v, want 4 ok and the 2 hung ones in flight at the end", res.Requests)
			}
			if res.StoppedBy != "duration+drain_timeout" {
				t.Fatalf("stopped by %q", res.StoppedBy)
			}
			back, rerr := ReadResult(o.Out)
			if rerr != nil || back.Requests.InFlightAtEnd != 2 {
				t.Fatalf("results file: %v %+v", rerr, back)
			}
			mustContain(t, out.String(), "in flight at end 2", "2 requests were still running when the drain period (0.2s) ended")
			if ignore {
				if err != nil || *res.Requests.Availability != 1 || back.Config.InFlightAtEnd != "ignore" {
					t.Fatalf("ignored: err %v, availability %v, config %q", err, *res.Requests.Availability, back.Config.InFlightAtEnd)
				}
				return
			}
			if !errors.Is(err, ErrSLO) || !approx(*res.Requests.Availability, 4.0/6) || back.Config.InFlightAtEnd != "fail" {
				t.Fatalf("err %v, availability %v (want 4/6), config %q", err, *res.Requests.Availability, back.Config.InFlightAtEnd)
			}
			// The cut requests were sent in the window and stretch it to the cut.
			if res.DurationSeconds < (o.Duration + o.DrainTimeout).Seconds() {
				t.Fatalf("window %.3fs, want at least duration + drain", res.DurationSeconds)
			}
		})
	}
}

// Headers, then nothing: the first-token timeout.
func TestHangAfterHeaders(t *testing.T) {
	for _, p := range hostileProtos {
		t.Run(string(p), func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body) // so the server notices the client leaving
				w.Header().Set("Content-Type", "text/event-stream")
				w.WriteHeader(200)
				w.(http.Flusher).Flush()
				<-r.Context().Done()
			})
			o := hostileOptions(srv.URL, p)
			o.TimeoutFirstToken = 150 * time.Millisecond
			res, err := runReport(context.Background(), o)
			checkAllFailed(t, res, err, ErrTimeout, "first-token timeout: no generated text 150ms after sending")
		})
	}
}

// One token, then silence, or keep-alive comments only: a stall.
func TestHangAfterOneToken(t *testing.T) {
	for _, p := range hostileProtos {
		for _, keepAlive := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/keepalive=%v", p, keepAlive), func(t *testing.T) {
				srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
					io.Copy(io.Discard, r.Body)
					oneToken(w, p)
					if !keepAlive {
						<-r.Context().Done()
						return
					}
					for r.Context().Err() == nil {
						io.WriteString(w, ": ping\n\n")
						w.(http.Flusher).Flush()
						time.Sleep(10 * time.Millisecond)
					}
				})
				o := hostileOptions(srv.URL, p)
				o.TimeoutStall = 150 * time.Millisecond
				res, err := runReport(context.Background(), o)
				checkAllFailed(t, res, err, ErrStall, "stall: no generated text for 150ms")
				if res.Requests.Failed != 3 {
					t.Fatal("unreachable")
				}
			})
		}
	}
}

// allocDuring returns the bytes allocated while f ran.
func allocDuring(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A data line that never ends (up to 256 MiB, until the client leaves):
// every request fails as oversized, the run completes and its memory stays
// bounded. Without the bound the generator would buffer the whole line.
func TestEndlessLineIsBounded(t *testing.T) {
	for _, p := range hostileProtos {
		t.Run(string(p), func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, `data: {"text_output":"`)
				buf := bytes.Repeat([]byte("x"), 64<<10)
				for i := 0; i < 4096; i++ { // 256 MiB
					if _, err := w.Write(buf); err != nil {
						return
					}
				}
			})
			o := hostileOptions(srv.URL, p)
			o.Requests = 2
			var res *Result
			var err error
			alloc := allocDuring(func() { res, err = runReport(context.Background(), o) })
			if !errors.Is(err, ErrSLO) || res.Requests.ByError[string(ErrOversized)] != 2 || res.Requests.Failed != 2 {
				t.Fatalf("err %v, requests %+v", err, res.Requests)
			}
			if !strings.Contains(res.ErrorSamples[0].Message, "SSE line longer than 4194304 bytes") {
				t.Fatalf("samples %+v", res.ErrorSamples)
			}
			if alloc > 96<<20 {
				t.Fatalf("allocated %d MiB for two requests with a 4 MiB limit", alloc>>20)
			}
		})
	}
}

// A non-streamed body that never ends is bounded the same way.
func TestEndlessBodyIsBounded(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"choices":[{"message":{"content":"`)
		buf := bytes.Repeat([]byte("y"), 64<<10)
		for i := 0; i < 4096; i++ {
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	})
	o := hostileOptions(srv.URL, ProtocolOpenAIChat)
	o.Stream, o.MaxEventBytes = false, 1<<20
	var res *Result
	var err error
	alloc := allocDuring(func() { res, err = runReport(context.Background(), o) })
	checkAllFailed(t, res, err, ErrOversized, "response body longer than 1048576 bytes")
	if alloc > 48<<20 {
		t.Fatalf("allocated %d MiB for three requests with a 1 MiB limit", alloc>>20)
	}
}

// A 20 MB response header is oversized, not a connection failure.
func TestHugeHeaderIsOversized(t *testing.T) {
	big := strings.Repeat("h", 20<<20)
	for _, p := range hostileProtos {
		t.Run(string(p), func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Padding", big)
				goodReply(w, p)
			})
			res, err := runReport(context.Background(), hostileOptions(srv.URL, p))
			checkAllFailed(t, res, err, ErrOversized, "response headers larger than 65536 bytes")
		})
	}
}

// The connection reset after one token: truncated, not a timeout.
func TestResetMidStream(t *testing.T) {
	for _, p := range hostileProtos {
		t.Run(string(p), func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				oneToken(w, p)
				conn, buf, err := http.NewResponseController(w).Hijack()
				if err == nil {
					buf.Flush()
					if tc, ok := conn.(*net.TCPConn); ok {
						tc.SetLinger(0) // a reset, not a clean close
					}
					conn.Close()
				}
			})
			res, err := runReport(context.Background(), hostileOptions(srv.URL, p))
			checkAllFailed(t, res, err, ErrStreamTruncated, "connection reset")
		})
	}
}

// Failures of the client's own machine (no descriptors, no local ports)
// are kind client: not counted against the server's availability, and the
// result says it is suspect, with the fix.
func TestClientErrorsAreNotTheServers(t *testing.T) {
	for _, c := range []struct {
		errno syscall.Errno
		fix   string
	}{{syscall.EMFILE, "ulimit -n"}, {syscall.EADDRNOTAVAIL, "ip_local_port_range"}} {
		t.Run(c.errno.Error(), func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Connection", "close") // every request dials
				goodReply(w, ProtocolOpenAIChat)
			})
			var dials atomic.Int64
			d := &net.Dialer{}
			tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if dials.Add(1)%2 == 0 {
					return nil, &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError("socket", c.errno)}
				}
				return d.DialContext(ctx, network, addr)
			}}
			defer tr.CloseIdleConnections()
			o := hostileOptions(srv.URL, ProtocolOpenAIChat)
			o.Requests, o.HTTPClient = 6, &http.Client{Transport: tr}
			var out bytes.Buffer
			o.Status = &out
			res, err := runReport(context.Background(), o)
			if err != nil {
				t.Fatalf("err = %v: client errors must not break the server's SLOs", err)
			}
			if res.Requests.ClientErrors != 3 || res.Requests.ByError[string(ErrClient)] != 3 || res.Requests.Failed != 0 ||
				res.Requests.OK != 3 || *res.Requests.Availability != 1 {
				t.Fatalf("requests %+v", res.Requests)
			}
			if len(res.Suspect) != 1 || !strings.Contains(res.Suspect[0], "3 of 6 requests") {
				t.Fatalf("suspect %q", res.Suspect)
			}
			if len(res.ErrorSamples) == 0 || !strings.Contains(res.ErrorSamples[0].Message, c.fix) {
				t.Fatalf("samples %+v, want the fix %q", res.ErrorSamples, c.fix)
			}
			mustContain(t, out.String(), "client errors 3", "SUSPECT:", c.fix)
		})
	}
}

// The results file is checked before any request is sent.
func TestOutCheckedBeforeRequests(t *testing.T) {
	var served atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		goodReply(w, ProtocolOpenAIChat)
	})
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ out, want string }{
		{filepath.Join(file, "sub", "r.json"), "cannot create the directory " + filepath.Join(file, "sub")},
		{dir, "is a directory"},
	} {
		o := hostileOptions(srv.URL, ProtocolOpenAIChat)
		o.Out = c.out
		_, err := runReport(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), c.out) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "-out") {
			t.Errorf("out %s: err = %v, want the path, %q and the fix", c.out, err, c.want)
		}
	}
	if served.Load() != 0 {
		t.Fatalf("%d requests were sent before the results file was found unwritable", served.Load())
	}
	// A directory that does not exist yet is created.
	o := hostileOptions(srv.URL, ProtocolOpenAIChat)
	o.Out = filepath.Join(dir, "new", "deeper", "r.json")
	if _, err := runReport(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(o.Out); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "new", "deeper", ".loadgen-*")); len(m) != 0 {
		t.Fatalf("left behind %v", m)
	}
}

func TestParseInFlightAtEnd(t *testing.T) {
	for in, want := range map[string]bool{"": false, "fail": false, "IGNORE": true} {
		if got, err := ParseInFlightAtEnd(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := ParseInFlightAtEnd("drop"); err == nil || !strings.Contains(err.Error(), "expected fail") {
		t.Errorf("drop: %v", err)
	}
}

// While a bounded run drains, the status line says why req/s falls.
func TestStatusLineWhileDraining(t *testing.T) {
	g := &gen{o: Options{Duration: time.Second, DrainTimeout: time.Minute, SLO: DefaultSLO()}}
	s := newStats()
	if line := g.statusLine(&s, time.Second); strings.Contains(line, "sending stopped") {
		t.Fatalf("running: %q", line)
	}
	g.stopped = true
	g.inFlight.Store(3)
	s.client = 2
	line := g.statusLine(&s, 2*time.Second)
	mustContain(t, line, "in-flight 3 (sending stopped; waiting up to 1m0s for them)", "client errors 2 (suspect)")
}
