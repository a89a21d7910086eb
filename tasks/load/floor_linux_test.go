package load

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/sim/simproc"
	"golang.org/x/sys/unix"
)

// BenchmarkReadFloor measures the least CPU any client can spend per
// streamed chunk when it reads each chunk as it arrives, to put
// BenchmarkGeneratorProcess's figure next to it: against the same
// simulator in another process (constant mode: TTFT 50 ms, ITL 10 ms,
// 128 tokens), the same streams, but a client that does nothing a load
// generator must do. One epoll loop per core (edge-triggered, raw
// non-blocking sockets, no goroutine per stream, no Go netpoller) reads
// whatever a socket holds with one read when it becomes readable, counts
// "data:" lines (the usage event and [DONE] too: 2 more per 128 tokens),
// and sends the next request when a response ends; no
// parsing, no timestamps, no histograms. It reports cpu-µs/chunk (user and
// kernel, getrusage), sys-µs/chunk and reads/chunk over the window, as
// BenchmarkGeneratorProcess does. Same command (-test.bench BenchmarkReadFloor).
func BenchmarkReadFloor(b *testing.B) {
	window := floorWindow(b)
	const warmup = 2 * time.Second
	base := startSimProcess(b, 4096)
	u, err := url.Parse(base)
	if err != nil {
		b.Fatal(err)
	}
	addr, err := net.ResolveTCPAddr("tcp", u.Host)
	if err != nil {
		b.Fatal(err)
	}
	body := fmt.Sprintf(`{"model":%q,"prompt":"hello","max_tokens":%d,"ignore_eos":true,"stream":true}`, simModel(b, base), perfTokens)
	req := []byte(fmt.Sprintf("POST /v1/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", u.Host, len(body), body))
	for _, streams := range []int{100, 1000} {
		b.Run(fmt.Sprintf("streams=%d", streams), func(b *testing.B) {
			for b.Loop() {
				floorRun(b, addr, req, streams, warmup, window)
			}
		})
	}
}

func floorWindow(b *testing.B) time.Duration { return simproc.Seconds(b, 10) }

func simModel(b *testing.B, base string) string {
	m, err := discoverModel(context.Background(), http.DefaultClient, base, "")
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// floorRun is one measured run of BenchmarkReadFloor.
func floorRun(b *testing.B, addr *net.TCPAddr, req []byte, streams int, warmup, window time.Duration) {
	loops := runtime.GOMAXPROCS(0)
	var chunks, reads atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, loops)
	for l := range loops {
		n := streams / loops
		if l < streams%loops {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := epollLoop(addr, req, n, &chunks, &reads, &stop); err != nil {
				errs <- err
			}
		}()
	}
	time.Sleep(warmup)
	c0, r0, cpu0, sys0, t0 := chunks.Load(), reads.Load(), mustCPU(b), systemCPU(), time.Now()
	time.Sleep(window)
	c1, r1, cpu1, sys1, t1 := chunks.Load(), reads.Load(), mustCPU(b), systemCPU(), time.Now()
	stop.Store(true)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	n := float64(c1 - c0)
	if n == 0 {
		b.Fatal("no chunk in the window")
	}
	b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/1e3/n, "cpu-µs/chunk")
	b.ReportMetric(float64((sys1-sys0).Nanoseconds())/1e3/n, "sys-µs/chunk")
	b.ReportMetric(float64(r1-r0)/n, "reads/chunk")
	b.ReportMetric(n/t1.Sub(t0).Seconds(), "chunks/s")
}

func mustCPU(b *testing.B) time.Duration {
	cpu, ok := processCPU()
	if !ok {
		b.Skip("no process CPU time on this system")
	}
	return cpu
}

// epollLoop keeps n streams going on its own OS thread until stop.
func epollLoop(addr *net.TCPAddr, req []byte, n int, chunks, reads *atomic.Int64, stop *atomic.Bool) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(ep)
	sa := &unix.SockaddrInet4{Port: addr.Port}
	copy(sa.Addr[:], addr.IP.To4())
	tails := map[int][]byte{}
	for range n {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Connect(fd, sa); err != nil {
			return err
		}
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		if err := unix.SetNonblock(fd, true); err != nil {
			return err
		}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(fd)}); err != nil {
			return err
		}
		if _, err := unix.Write(fd, req); err != nil {
			return err
		}
		tails[fd] = nil
	}
	events := make([]unix.EpollEvent, 256)
	buf := make([]byte, 64<<10)
	data, end := []byte("data: "), []byte("\r\n0\r\n\r\n")
	for !stop.Load() {
		k, err := unix.EpollWait(ep, events, 100)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		for _, ev := range events[:k] {
			fd := int(ev.Fd)
			for {
				m, err := unix.Read(fd, buf)
				reads.Add(1)
				if err == unix.EAGAIN {
					break
				}
				if err != nil || m == 0 {
					return fmt.Errorf("read: %v (n=%d)", err, m)
				}
				got := buf[:m]
				chunks.Add(int64(bytes.Count(got, data)))
				// The response's end: the last chunk, maybe split across
				// reads (the server may send it in a write of its own).
				t := append(tails[fd], got[max(0, m-len(end)):]...)
				t = t[max(0, len(t)-len(end)):]
				tails[fd] = append(tails[fd][:0], t...)
				if bytes.HasSuffix(t, end) {
					tails[fd] = tails[fd][:0]
					if _, err := unix.Write(fd, req); err != nil {
						return err
					}
				}
				if m < len(buf) {
					break // drained: edge-triggered, the next data wakes us
				}
			}
		}
	}
	return nil
}
