package sim

// Defences against hostile or broken clients: timeouts, a cap on open
// connections that evicts idle ones instead of starving new ones, and a
// budget of request-body bytes held in memory across all requests.

import (
	"container/list"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the limits (DefaultConfig).
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultMaxBodySize       = 8 << 20
	DefaultMaxBodyMemory     = 64 << 20
)

// registerLimitFlags defines the flags of the limits (called by RegisterFlags).
func (c *Config) registerLimitFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.ReadHeaderTimeout, "read-header-timeout", c.ReadHeaderTimeout, "a request's line and headers must arrive within this, else the connection is closed (0: -read-timeout)")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", c.ReadTimeout, "a request, headers and body, must arrive within this; answers and streams are not limited (0: no limit)")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "a keep-alive connection with no request is closed after this (0: -read-timeout)")
	fs.IntVar(&c.MaxConnections, "max-connections", c.MaxConnections, "open connections across all listeners; beyond it the longest idle one is closed (0: the open-files limit less a reserve)")
	fs.Var((*byteSize)(&c.MaxBodySize), "max-body-size", "largest request body (e.g. 8MiB); larger ones get 413 (vllm) or 400 (Triton)")
	fs.Var((*byteSize)(&c.MaxBodyMemory), "max-body-memory", "request-body bytes held across all requests in flight (e.g. 64MiB); beyond it requests get 503 with Retry-After")
}

// limitErrors checks the limits (called by Validate).
func (c *Config) limitErrors() []error {
	var errs []error
	bad := func(flagName, want string, got any) {
		errs = append(errs, fmt.Errorf("-%s (%s): want %s, got %v", flagName, EnvName(flagName), want, got))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"read-header-timeout", c.ReadHeaderTimeout}, {"read-timeout", c.ReadTimeout}, {"idle-timeout", c.IdleTimeout}} {
		if d.v < 0 {
			bad(d.name, "a duration >= 0 such as 10s", d.v)
		}
	}
	if c.MaxConnections < 0 {
		bad("max-connections", "an integer >= 0 (0: from the open-files limit)", c.MaxConnections)
	}
	if c.MaxBodySize < 1 {
		bad("max-body-size", "a size >= 1 byte such as 8MiB", c.MaxBodySize)
	}
	if c.MaxBodyMemory < c.MaxBodySize {
		errs = append(errs, fmt.Errorf("-max-body-memory (%s) %d is less than -max-body-size (%s) %d: no request of the largest size could ever be read; raise -max-body-memory or lower -max-body-size",
			EnvName("max-body-memory"), c.MaxBodyMemory, EnvName("max-body-size"), c.MaxBodySize))
	}
	return errs
}

// byteSize is a flag value of bytes: 1048576, 512KiB, 8MiB, 1GiB.
type byteSize int64

func (b *byteSize) String() string {
	v := int64(*b)
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v != 0 && v%u.n == 0 {
			return strconv.FormatInt(v/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(v, 10)
}

func (b *byteSize) Set(s string) error {
	v, err := parseByteSize(s)
	if err != nil {
		return err
	}
	*b = byteSize(v)
	return nil
}

func parseByteSize(s string) (int64, error) {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.n
			break
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mult {
		return 0, fmt.Errorf("want a size in bytes such as 1048576, 512KiB, 8MiB or 1GiB, got %q", s)
	}
	return v * mult, nil
}

// bodyBudget is a semaphore of bytes: the request bodies held in memory.
type bodyBudget struct {
	mu        sync.Mutex
	used, max int64
	peak      int64
}

func (b *bodyBudget) tryAcquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n > b.max-b.used {
		return false
	}
	b.used += n
	b.peak = max(b.peak, b.used)
	return true
}

func (b *bodyBudget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

func (b *bodyBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// bodyError is a request body the simulator will not read. The personality
// writes it in its own format.
type bodyError struct {
	status int // 413, 503 or 400
	msg    string
	size   int64 // tooLarge: the declared size, or -1 when unknown
	limit  int64
}

const chunkReserve = 32 << 10 // bytes reserved per read of a body without Content-Length

// readRequestBody reads r's body within -max-body-size and the shared
// -max-body-memory budget: a declared Content-Length is reserved before the
// first byte is read (413 when over the size limit, 503 when the budget
// cannot hold it); a body without one is reserved as it arrives. release
// returns the bytes to the budget; call it once the body and whatever was
// decoded from it are no longer needed. Once the body has hit EOF, net/http
// lifts the connection's read deadline (-read-timeout), so that a long
// answer is not cut when it passes (TestStreamsOutliveReadTimeout).
func (s *Server) readRequestBody(w http.ResponseWriter, r *http.Request) (body []byte, release func(), berr *bodyError) {
	limit := s.cfg.MaxBodySize
	tooLarge := func(size int64) *bodyError {
		return &bodyError{status: http.StatusRequestEntityTooLarge, size: size, limit: limit,
			msg: fmt.Sprintf("The request body%s is larger than the simulator's limit of %d bytes (-max-body-size, %s).", sizeText(size), limit, EnvName("max-body-size"))}
	}
	busy := func() *bodyError {
		w.Header().Set("Retry-After", "1")
		return &bodyError{status: http.StatusServiceUnavailable,
			msg: fmt.Sprintf("The server is out of memory for request bodies: %d bytes of bodies are in flight (-max-body-memory, %s); retry later.",
				s.bodies.max, EnvName("max-body-memory"))}
	}
	readErr := func(err error) *bodyError {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(-1)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return &bodyError{status: http.StatusBadRequest,
				msg: fmt.Sprintf("The request body did not arrive within %s (-read-timeout, %s).", s.cfg.ReadTimeout, EnvName("read-timeout"))}
		}
		return &bodyError{status: http.StatusBadRequest, msg: fmt.Sprintf("Reading the request body: %v", err)}
	}
	var held int64
	var once sync.Once
	release = func() { once.Do(func() { s.bodies.release(held) }) }
	fail := func(e *bodyError) ([]byte, func(), *bodyError) {
		release()
		return nil, func() {}, e
	}
	if r.ContentLength > limit {
		return fail(tooLarge(r.ContentLength))
	}
	in := http.MaxBytesReader(w, r.Body, limit)
	if n := r.ContentLength; n >= 0 {
		if !s.bodies.tryAcquire(n) {
			return fail(busy())
		}
		held = n
		body = make([]byte, n)
		if _, err := io.ReadFull(in, body); err != nil {
			return fail(readErr(err))
		}
	} else {
		for {
			if !s.bodies.tryAcquire(chunkReserve) {
				return fail(busy())
			}
			if len(body)+chunkReserve > cap(body) {
				body = append(body, make([]byte, chunkReserve)...)[:len(body)]
			}
			k, err := in.Read(body[len(body) : len(body)+chunkReserve])
			body = body[:len(body)+k]
			held += int64(k)
			s.bodies.release(chunkReserve - int64(k))
			if err == io.EOF {
				break
			}
			if err != nil {
				return fail(readErr(err))
			}
		}
	}
	return body, release, nil
}

func sizeText(n int64) string {
	if n < 0 {
		return ""
	}
	return fmt.Sprintf(" of %d bytes", n)
}

// connTable caps the open connections of all of a server's listeners. At
// the cap, a new connection closes the one that has waited longest without
// a request in progress (a new connection that has not sent its headers
// yet, or an idle keep-alive one), as nginx reuses keep-alive connections;
// only when every connection is busy is the new one closed. So idle and
// slow clients cannot use up the process's file descriptors and starve
// /health and /metrics.
type connTable struct {
	max     int
	mu      sync.Mutex
	open    int
	idle    list.List // *trackedConn, longest waiting first
	evicted atomic.Uint64
	refused atomic.Uint64
}

type trackedConn struct {
	net.Conn
	t      *connTable
	elem   *list.Element // in t.idle while waiting; guarded by t.mu
	closed bool          // guarded by t.mu
	once   sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.t.mu.Lock()
		if c.elem != nil {
			c.t.idle.Remove(c.elem)
			c.elem = nil
		}
		c.closed = true
		c.t.open--
		c.t.mu.Unlock()
	})
	return err
}

// admit takes c into the table, closing the longest-waiting connection at
// the cap; nil: every connection is busy and c was closed.
func (t *connTable) admit(c net.Conn) net.Conn {
	var victim *trackedConn
	t.mu.Lock()
	if t.open >= t.max {
		if e := t.idle.Front(); e != nil {
			victim = e.Value.(*trackedConn)
			t.idle.Remove(e)
			victim.elem, victim.closed = nil, true
		} else {
			t.mu.Unlock()
			t.refused.Add(1)
			_ = c.Close()
			return nil
		}
	}
	tc := &trackedConn{Conn: c, t: t}
	tc.elem = t.idle.PushBack(tc)
	t.open++
	t.mu.Unlock()
	if victim != nil {
		t.evicted.Add(1)
		_ = victim.Close() // frees its slot
	}
	return tc
}

// connState is the http.Server hook: a connection reading or answering a
// request is busy; one waiting for a request is evictable.
func (t *connTable) connState(c net.Conn, st http.ConnState) {
	tc, ok := c.(*trackedConn)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch st {
	case http.StateActive, http.StateHijacked, http.StateClosed:
		if tc.elem != nil {
			t.idle.Remove(tc.elem)
			tc.elem = nil
		}
	case http.StateIdle:
		if tc.elem == nil && !tc.closed {
			tc.elem = t.idle.PushBack(tc)
		}
	}
}

func (t *connTable) stats() (open int, evicted, refused uint64) {
	t.mu.Lock()
	open = t.open
	t.mu.Unlock()
	return open, t.evicted.Load(), t.refused.Load()
}

type tableListener struct {
	net.Listener
	t *connTable
}

func (l tableListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if tc := l.t.admit(c); tc != nil {
			return tc, nil
		}
	}
}

// connReserve is what the automatic -max-connections leaves of the
// open-files limit for listeners, log files and the process's own clients.
func connReserve(limit uint64) uint64 { return max(64, limit/16) }

// maxConnections is -max-connections, or from the open-files limit.
func (c *Config) maxConnections() int {
	if c.MaxConnections > 0 {
		return c.MaxConnections
	}
	lim, ok := OpenFilesLimit()
	if !ok {
		return 1 << 20
	}
	if lim <= 2*connReserve(lim) {
		return int(max(16, lim/2))
	}
	return int(min(lim-connReserve(lim), 1<<20))
}

// vllmErrorType is the "type" of vLLM's error body for a body error.
func vllmErrorType(status int) string {
	switch status {
	case http.StatusRequestEntityTooLarge:
		return "RequestEntityTooLargeError"
	case http.StatusServiceUnavailable:
		return "ServiceUnavailableError"
	}
	return "BadRequestError"
}
