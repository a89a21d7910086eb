package sim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLimitFlagsAndEnv(t *testing.T) {
	cfg := DefaultConfig(PersonalityVLLM)
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse([]string{"-max-body-size=4MiB", "-idle-timeout=5s"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SIM_MAX_BODY_MEMORY": "1GiB", "SIM_READ_HEADER_TIMEOUT": "3s", "SIM_READ_TIMEOUT": "7s", "SIM_MAX_CONNECTIONS": "500",
		"SIM_MAX_BODY_SIZE": "1KiB"} // the flag wins over its variable
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if err := ApplyEnv(fs, lookup); err != nil {
		t.Fatal(err)
	}
	if cfg.MaxBodySize != 4<<20 || cfg.MaxBodyMemory != 1<<30 || cfg.IdleTimeout != 5*time.Second ||
		cfg.ReadHeaderTimeout != 3*time.Second || cfg.ReadTimeout != 7*time.Second || cfg.MaxConnections != 500 {
		t.Errorf("limits from flags and env: %+v", cfg)
	}
	if got := fs.Lookup("max-body-memory").DefValue; got != "64MiB" {
		t.Errorf("-max-body-memory default shows as %q, want 64MiB", got)
	}
	for in, want := range map[string]int64{"1048576": 1 << 20, "512KiB": 512 << 10, "8 MiB": 8 << 20, "100B": 100} {
		if got, err := parseByteSize(in); err != nil || got != want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"8MB", "-1", "1.5MiB", "", "9999999999GiB"} {
		if _, err := parseByteSize(in); err == nil || !strings.Contains(err.Error(), "8MiB") {
			t.Errorf("parseByteSize(%q): error %v should name the expected form", in, err)
		}
	}
	fresh := DefaultConfig(PersonalityVLLM)
	fs = flag.NewFlagSet("sim", flag.ContinueOnError)
	fresh.RegisterFlags(fs)
	err := ApplyEnv(fs, func(k string) (string, bool) {
		if k == "SIM_MAX_BODY_MEMORY" {
			return "lots", true
		}
		return "", false
	})
	if err == nil || !strings.Contains(err.Error(), "SIM_MAX_BODY_MEMORY") || !strings.Contains(err.Error(), "512KiB") {
		t.Errorf("bad SIM_MAX_BODY_MEMORY: %v", err)
	}

	bad := DefaultConfig(PersonalityVLLM)
	bad.MaxBodySize, bad.MaxBodyMemory, bad.IdleTimeout, bad.MaxConnections = 8<<20, 1<<20, -time.Second, -1
	err = bad.Validate()
	for _, want := range []string{"-max-body-memory (SIM_MAX_BODY_MEMORY) 1048576 is less than -max-body-size", "-idle-timeout (SIM_IDLE_TIMEOUT)", "-max-connections"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v; want it to say %q", err, want)
		}
	}
}

// chatBody is a valid chat request of about size bytes: its content is
// mostly spaces (no tokens), so it fits any max_model_len.
func chatBody(size int) []byte {
	head, tail := `{"model":"qwen","max_tokens":1,"messages":[{"role":"user","content":"hi`, `"}]}`
	return []byte(head + strings.Repeat(" ", max(0, size-len(head)-len(tail))) + tail)
}

// chunked hides the length so that the client sends the body chunked.
type chunked struct{ r io.Reader }

func (c chunked) Read(p []byte) (int, error) { return c.r.Read(p) }

func postBody(t *testing.T, url string, body io.Reader) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// vllmError decodes vLLM's {"error":{...}} body.
func vllmError(t *testing.T, b []byte) (msg, typ string, code int) {
	t.Helper()
	var e struct {
		Error struct {
			Message, Type string
			Code          int
		}
	}
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Message == "" {
		t.Fatalf("not vLLM's error body (%v): %s", err, b)
	}
	return e.Error.Message, e.Error.Type, e.Error.Code
}

func TestBodyOverLimit(t *testing.T) {
	cfg := fastConfig(PersonalityVLLM)
	cfg.MaxBodySize = 64 << 10
	_, run := startServer(t, cfg)
	url := run.APIURL + "/v1/chat/completions"

	if st, _, b := postBody(t, url, bytes.NewReader(chatBody(64<<10))); st != 200 {
		t.Fatalf("a body of exactly -max-body-size: HTTP %d %s", st, b)
	}
	for name, body := range map[string]io.Reader{
		"Content-Length": bytes.NewReader(chatBody(64<<10 + 1)),
		"chunked":        chunked{bytes.NewReader(chatBody(200 << 10))},
	} {
		st, _, b := postBody(t, url, body)
		if st != http.StatusRequestEntityTooLarge {
			t.Errorf("%s body over the limit: HTTP %d %s, want 413", name, st, b)
			continue
		}
		msg, typ, code := vllmError(t, b)
		if code != 413 || typ != "RequestEntityTooLargeError" || !strings.Contains(msg, "-max-body-size, SIM_MAX_BODY_SIZE") || !strings.Contains(msg, "65536 bytes") {
			t.Errorf("%s: error %q type %q code %d should be vLLM's form and name the limit and its flag", name, msg, typ, code)
		}
	}

	tcfg := fastConfig(PersonalityTritonVLLM)
	tcfg.MaxBodySize = 1 << 10
	_, trun := startServer(t, tcfg)
	big := `{"text_input":"` + strings.Repeat(" ", 2<<10) + `","parameters":{"max_tokens":1}}`
	st, _, b := postBody(t, trun.APIURL+"/v2/models/qwen/generate", strings.NewReader(big))
	if st != 400 {
		t.Fatalf("triton body over the limit: HTTP %d %s, want 400 as Triton answers", st, b)
	}
	if msg := errorOf(t, b); !strings.Contains(msg, fmt.Sprintf("Request JSON size of %d exceeds the maximum allowed value of 1024 bytes", len(big))) ||
		!strings.Contains(msg, "--http-max-input-size") || !strings.Contains(msg, "SIM_MAX_BODY_SIZE") {
		t.Errorf("triton error %q: want Triton's message and the simulator's flag", msg)
	}
}

// holdBody sends the headers and part of a body of n bytes, so that the
// server reserves n bytes and waits for the rest.
func holdBody(t *testing.T, addr string, n int) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: sim\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"model\"", n)
	return c
}

// waitUntil polls cond until it holds; the test fails after a minute.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

func TestBodyBudgetExhausted(t *testing.T) {
	cfg := fastConfig(PersonalityVLLM)
	cfg.MaxBodySize, cfg.MaxBodyMemory = 1<<20, 2<<20
	s, run := startServer(t, cfg)
	addr := strings.TrimPrefix(run.APIURL, "http://")
	a, b := holdBody(t, addr, 1<<20), holdBody(t, addr, 1<<20)
	waitUntil(t, "two bodies to be reserved", func() bool { return s.bodies.inUse() == 2<<20 })

	url := run.APIURL + "/v1/chat/completions"
	for name, body := range map[string]io.Reader{"Content-Length": bytes.NewReader(chatBody(100)), "chunked": chunked{bytes.NewReader(chatBody(100))}} {
		st, h, resp := postBody(t, url, body)
		if st != http.StatusServiceUnavailable || h.Get("Retry-After") != "1" {
			t.Fatalf("%s with the budget full: HTTP %d Retry-After %q %s; want 503 with Retry-After: 1", name, st, h.Get("Retry-After"), resp)
		}
		if msg, typ, code := vllmError(t, resp); code != 503 || typ != "ServiceUnavailableError" || !strings.Contains(msg, "SIM_MAX_BODY_MEMORY") {
			t.Errorf("503 body: %q %q %d", msg, typ, code)
		}
	}
	if st, _, _ := getStatus(t, run.APIURL+"/health"); st != 200 {
		t.Errorf("/health with the body budget full: HTTP %d", st)
	}
	a.Close()
	b.Close()
	waitUntil(t, "the budget to be returned", func() bool { return s.bodies.inUse() == 0 })
	if st, _, resp := postBody(t, url, bytes.NewReader(chatBody(1<<20))); st != 200 {
		t.Errorf("after the held bodies went away: HTTP %d %s", st, resp)
	}

	tcfg := fastConfig(PersonalityTritonTRT)
	tcfg.MaxBodySize, tcfg.MaxBodyMemory = 1<<20, 1<<20
	ts, trun := startServer(t, tcfg)
	c, err := net.Dial("tcp", strings.TrimPrefix(trun.APIURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /v2/models/ensemble/generate HTTP/1.1\r\nHost: sim\r\nContent-Length: %d\r\n\r\n{", 1<<20)
	waitUntil(t, "the triton body to be reserved", func() bool { return ts.bodies.inUse() == 1<<20 })
	st, h, resp := postBody(t, trun.APIURL+"/v2/models/ensemble/generate", strings.NewReader(`{"text_input":"hi","max_tokens":1}`))
	if st != 503 || h.Get("Retry-After") != "1" || !strings.Contains(errorOf(t, resp), "-max-body-memory") {
		t.Errorf("triton with the budget full: HTTP %d Retry-After %q %s", st, h.Get("Retry-After"), resp)
	}
}

func getStatus(t *testing.T, url string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// TestBodyMemoryBounded sends many large bodies at once: what the server
// holds stays near -max-body-memory instead of growing with the number of
// clients, and the requests it cannot hold get 503.
func TestBodyMemoryBounded(t *testing.T) {
	const clients, size = 48, 4 << 20
	cfg := fastConfig(PersonalityVLLM)
	cfg.MaxBodySize, cfg.MaxBodyMemory = size, 4*size
	if os.Getenv("SIM_TEST_UNBOUNDED") != "" {
		cfg.MaxBodyMemory = clients * size
	}
	s, run := startServer(t, cfg)
	body := chatBody(size) // shared by every client: the client side adds no heap per request
	url := run.APIURL + "/v1/chat/completions"

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var ok, busy, other atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var r io.Reader = bytes.NewReader(body)
			if i%2 == 1 {
				r = chunked{bytes.NewReader(body)}
			}
			resp, err := client.Post(url, "application/json", r)
			if err != nil {
				other.Add(1)
				t.Errorf("client %d: %v", i, err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case 200:
				ok.Add(1)
			case 503:
				busy.Add(1)
			default:
				other.Add(1)
				t.Errorf("client %d: HTTP %d", i, resp.StatusCode)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(stop)
	<-sampled
	grown := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("%d ok, %d busy (503); heap in use grew by %d MiB at most (budget %d MiB, peak reserved %d MiB)",
		ok.Load(), busy.Load(), grown>>20, cfg.MaxBodyMemory>>20, s.bodies.peak>>20)
	if ok.Load() == 0 || busy.Load() == 0 {
		t.Errorf("want some requests served and some refused with 503: %d ok, %d busy", ok.Load(), busy.Load())
	}
	if s.bodies.peak > cfg.MaxBodyMemory {
		t.Errorf("reserved %d bytes of bodies at once, more than -max-body-memory %d", s.bodies.peak, cfg.MaxBodyMemory)
	}
	// The bodies the server may hold (16 MiB; SIM_TEST_UNBOUNDED=1 lifts the
	// budget to show the test fails without it) cost a few times their size
	// while they are decoded, and the garbage collector lets the heap grow
	// to twice what is live: a loose bound, far below the 48 x 4 MiB x
	// that factor an unbounded server reaches.
	if bound := int64(12 * 4 * size); grown > bound {
		t.Errorf("heap in use grew by %d MiB, more than %d MiB", grown>>20, bound>>20)
	}
	if s.bodies.inUse() != 0 {
		t.Errorf("%d bytes still reserved after every answer", s.bodies.inUse())
	}
}

// readUntilClosed reads c until the server closes it (nil) or the test's
// own limit passes (an error): no statement about speed, only that the
// server, not the client, ended the connection.
func readUntilClosed(c net.Conn, limit time.Duration) ([]byte, error) {
	_ = c.SetReadDeadline(time.Now().Add(limit))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return b, fmt.Errorf("the server kept the connection open for %s", limit)
	}
	return b, nil
}

func TestSlowHeadersCut(t *testing.T) {
	cfg := fastConfig(PersonalityVLLM)
	cfg.ReadHeaderTimeout = 200 * time.Millisecond
	_, run := startServer(t, cfg)
	c, err := net.Dial("tcp", strings.TrimPrefix(run.APIURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	closed := make(chan struct{})
	go func() { // a header line every 20 ms, never the blank line that ends them
		fmt.Fprint(c, "GET /health HTTP/1.1\r\nHost: sim\r\n")
		for i := 0; ; i++ {
			select {
			case <-closed:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := fmt.Fprintf(c, "X-Slow-%d: 1\r\n", i); err != nil {
				return
			}
		}
	}()
	b, err := readUntilClosed(c, 20*cfg.ReadHeaderTimeout)
	close(closed)
	if err != nil {
		t.Fatalf("headers trickled past -read-header-timeout=%s: %v", cfg.ReadHeaderTimeout, err)
	}
	if bytes.Contains(b, []byte("200 OK")) {
		t.Errorf("the trickled request was answered: %q", b)
	}
}

func TestSlowBodyCut(t *testing.T) {
	cfg := fastConfig(PersonalityVLLM)
	cfg.ReadTimeout = 300 * time.Millisecond
	s, run := startServer(t, cfg)
	c, err := net.Dial("tcp", strings.TrimPrefix(run.APIURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := chatBody(4000)
	fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: sim\r\nContent-Length: %d\r\n\r\n", len(body))
	closed := make(chan struct{})
	go func() { // a byte every 20 ms: 80 s for the whole body
		for _, ch := range body {
			select {
			case <-closed:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := c.Write([]byte{ch}); err != nil {
				return
			}
		}
	}()
	b, err := readUntilClosed(c, 20*cfg.ReadTimeout)
	close(closed)
	if err != nil {
		t.Fatalf("body trickled past -read-timeout=%s: %v", cfg.ReadTimeout, err)
	}
	if len(b) > 0 && !bytes.Contains(b, []byte("-read-timeout")) {
		t.Errorf("answer to a body that did not arrive in time should name -read-timeout: %q", b)
	}
	waitUntil(t, "the slow body's bytes to be returned", func() bool { return s.bodies.inUse() == 0 })
}

func TestIdleKeepAliveClosed(t *testing.T) {
	cfg := fastConfig(PersonalityVLLM)
	cfg.IdleTimeout = 200 * time.Millisecond
	_, run := startServer(t, cfg)
	c, err := net.Dial("tcp", strings.TrimPrefix(run.APIURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "GET /health HTTP/1.1\r\nHost: sim\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 || resp.Close {
		t.Fatalf("keep-alive /health: %v %+v", err, resp)
	}
	resp.Body.Close()
	_ = c.SetReadDeadline(time.Now().Add(20 * cfg.IdleTimeout))
	if n, err := br.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("idle keep-alive connection past -idle-timeout=%s: read %d bytes, %v; want the server to close it", cfg.IdleTimeout, n, err)
	}
}

// TestStreamsOutliveReadTimeout: -read-timeout bounds the request, not the
// answer (net/http would cancel the request when its read deadline passes).
func TestStreamsOutliveReadTimeout(t *testing.T) {
	const tokens, itl = 30, 20 * time.Millisecond // at least 600 ms of stream
	for _, p := range []string{PersonalityVLLM, PersonalityTritonVLLM} {
		cfg := fastConfig(p)
		cfg.ReadTimeout = 100 * time.Millisecond
		cfg.ConstantTTFT, cfg.ConstantITL = time.Millisecond, itl
		_, run := startServer(t, cfg)
		var st int
		var b []byte
		if p == PersonalityVLLM {
			st, _, b = postBody(t, run.APIURL+"/v1/completions", strings.NewReader(fmt.Sprintf(`{"model":"qwen","prompt":"hi","max_tokens":%d,"ignore_eos":true,"stream":true}`, tokens)))
			var text strings.Builder
			for _, line := range strings.Split(string(b), "\n") {
				var ev struct{ Choices []struct{ Text string } }
				if data, ok := strings.CutPrefix(line, "data: {"); ok && json.Unmarshal([]byte("{"+data), &ev) == nil && len(ev.Choices) > 0 {
					text.WriteString(ev.Choices[0].Text)
				}
			}
			if n := CountTokens(text.String()); st != 200 || n != tokens || !bytes.HasSuffix(b, []byte("data: [DONE]\n\n")) {
				t.Errorf("%s: a stream longer than -read-timeout: HTTP %d, %d of %d tokens: %s", p, st, n, tokens, b)
			}
			continue
		}
		st, _, b = postBody(t, run.APIURL+"/v2/models/qwen/generate_stream", strings.NewReader(fmt.Sprintf(`{"text_input":"hi","stream":true,"parameters":{"max_tokens":%d,"ignore_eos":true}}`, tokens)))
		evs := sseEvents(t, b)
		if st != 200 || len(evs) == 0 || evs[len(evs)-1]["error"] != nil {
			t.Errorf("%s: a stream longer than -read-timeout: HTTP %d: %s", p, st, b)
		}
	}
}

func TestConnTableEvictsLongestWaiting(t *testing.T) {
	tab := &connTable{max: 2}
	pipe := func() (net.Conn, net.Conn) {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		return a, b
	}
	isClosed := func(peer net.Conn) bool {
		_ = peer.SetReadDeadline(time.Now().Add(time.Second))
		_, err := peer.Read(make([]byte, 1))
		return err == io.EOF || errors.Is(err, io.ErrClosedPipe)
	}
	a, pa := pipe()
	b, pb := pipe()
	ta, tb := tab.admit(a), tab.admit(b)
	tab.connState(ta, http.StateActive) // a is answering a request
	c, pc := pipe()
	tc := tab.admit(c) // b, new and silent, is the one to go
	if tc == nil || !isClosed(pb) {
		t.Fatal("at the cap the waiting connection should have been closed for the new one")
	}
	tab.connState(tc, http.StateActive)
	tab.connState(ta, http.StateIdle) // a finished and waits: it goes next
	d, _ := pipe()
	if td := tab.admit(d); td == nil || !isClosed(pa) {
		t.Fatal("an idle keep-alive connection should have been closed for the new one")
	}
	tab.connState(tb, http.StateClosed) // late hooks of a closed connection change nothing
	tab.connState(tb, http.StateIdle)
	if open, evicted, _ := tab.stats(); open != 2 || evicted != 2 {
		t.Errorf("open %d evicted %d, want 2 and 2", open, evicted)
	}
	e, pe := pipe()
	tab.connState(tab.idle.Front().Value.(*trackedConn), http.StateActive)
	if te := tab.admit(e); te != nil || !isClosed(pe) {
		t.Error("with every connection busy the new one should be refused")
	}
	if tc.Close() != nil || isClosed(pc) != true {
		t.Error("closing a tracked connection closes the connection")
	}
	if open, _, refused := tab.stats(); open != 1 || refused != 1 {
		t.Errorf("open %d refused %d, want 1 and 1", open, refused)
	}
}
