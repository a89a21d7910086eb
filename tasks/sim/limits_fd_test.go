//go:build linux || darwin

package sim

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The idle-connection test: a child process (this test binary, running
// TestIdleClientHelper) opens more connections than the server's process
// may have files, half of them after one request (idle keep-alive), half
// silent; /health must still answer. The server's timeouts are far longer
// than the test, so only the connection cap can keep it answering: without
// it the accepted connections use up the descriptors, the server cannot
// accept /health's, and this process cannot even open one.
const (
	idleFilesLimit = 4096 // this process's soft limit during the test
	idleConns      = 6000 // the child's connections, more than that limit
)

func TestIdleConnectionsDoNotStarveHealth(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("cannot read the open-files limit: %v", err)
	}
	conns := idleConns
	if v, err := strconv.Atoi(os.Getenv("SIM_TEST_IDLE_CONNS")); err == nil && v > 0 {
		conns = v // e.g. 20000 where the hard limit allows
	}
	if lim.Max < uint64(conns)+256 {
		t.Skipf("the open-files hard limit is %d: the child process cannot hold %d connections (raise it with ulimit -Hn, or set SIM_TEST_IDLE_CONNS lower)", lim.Max, conns)
	}
	// Lower this process's soft limit (the child gets it back: Go raises its
	// own soft limit to the hard one at start-up), so that the server runs
	// out of descriptors long before the child does.
	low := lim
	low.Cur = min(lim.Cur, idleFilesLimit)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Skipf("cannot lower the open-files limit: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) })

	cfg := fastConfig(PersonalityVLLM)
	cfg.DCGMAddr = ""
	cfg.ReadHeaderTimeout, cfg.ReadTimeout, cfg.IdleTimeout = 10*time.Minute, 10*time.Minute, 10*time.Minute
	if v, err := strconv.Atoi(os.Getenv("SIM_TEST_MAX_CONNECTIONS")); err == nil {
		cfg.MaxConnections = v // 1000000 shows the test failing without the cap
	}
	s, run := startServer(t, cfg)
	t.Logf("open-files limit %d, connection cap %d, child connections %d", low.Cur, s.conns.max, conns)

	child := exec.Command(os.Args[0], "-test.run=^TestIdleClientHelper$", "-test.v")
	child.Env = append(os.Environ(), "SIM_IDLE_HELPER_ADDR="+strings.TrimPrefix(run.APIURL, "http://"), fmt.Sprint("SIM_IDLE_HELPER_CONNS=", conns))
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = child.Wait() })
	sc := bufio.NewScanner(out)
	var report string
	for sc.Scan() {
		if r, ok := strings.CutPrefix(sc.Text(), "idle-helper: "); ok {
			report = r
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	if report == "" {
		t.Fatal("the child process ended without opening its connections")
	}
	t.Logf("child: %s", report)

	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range 3 {
		resp, err := client.Get(run.APIURL + "/health")
		if err != nil {
			open, evicted, refused := s.conns.stats()
			t.Fatalf("/health %d with %d idle connections: %v (server: %d open, %d evicted, %d refused)", i, conns, err, open, evicted, refused)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("/health: HTTP %d", resp.StatusCode)
		}
	}
	if resp, err := client.Get(run.APIURL + "/metrics"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/metrics with %d idle connections: %v", conns, err)
	} else {
		resp.Body.Close()
	}
	open, evicted, _ := s.conns.stats()
	if open > s.conns.max || evicted == 0 {
		t.Errorf("server: %d open (cap %d), %d evicted; want at most the cap open and some evicted", open, s.conns.max, evicted)
	}
}

// TestIdleClientHelper is the child of TestIdleConnectionsDoNotStarveHealth.
func TestIdleClientHelper(t *testing.T) {
	addr := os.Getenv("SIM_IDLE_HELPER_ADDR")
	if addr == "" {
		t.Skip("runs only as the child process of TestIdleConnectionsDoNotStarveHealth")
	}
	n, _ := strconv.Atoi(os.Getenv("SIM_IDLE_HELPER_CONNS"))
	var held []net.Conn
	keepAlive, failed := 0, ""
	for i := 0; i < n && failed == ""; i++ {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			failed = err.Error()
			break
		}
		held = append(held, c)
		if i%2 == 1 {
			continue // silent: never sends a byte
		}
		// one request, then idle on a keep-alive connection
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		fmt.Fprint(c, "GET /health HTTP/1.1\r\nHost: sim\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			failed = "request: " + err.Error() // the server stopped answering
			break
		}
		resp.Body.Close()
		keepAlive++
		_ = c.SetDeadline(time.Time{})
	}
	fmt.Printf("idle-helper: %d connections open (%d after a request), stopped by: %q\n", len(held), keepAlive, failed)
	_, _ = io.Copy(io.Discard, os.Stdin) // hold them until the parent is done
	for _, c := range held {
		c.Close()
	}
}
