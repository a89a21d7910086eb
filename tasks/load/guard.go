package load

// Defences against servers that misbehave and against the client's own
// limits: per-request timeouts (first byte, first token, stall), bounds on
// every buffer the server fills, the classification of the generator's
// own failures (descriptors, local ports), and the check that the results
// file can be written before any request is sent.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/wire/stream"
)

// Default per-request timeouts (Options.TimeoutFirstByte, TimeoutFirstToken,
// TimeoutStall). They are far above what a healthy server under heavy load
// takes (30 times the 2 s TTFT objective; 200 times the 150 ms ITL
// objective), so they only catch requests that a user would have given up
// on: a hung request, not a slow one.
const (
	DefaultTimeoutFirstByte  = 60 * time.Second
	DefaultTimeoutFirstToken = 60 * time.Second
	DefaultTimeoutStall      = 30 * time.Second
)

// DefaultMaxEventBytes bounds one SSE line, one SSE event's data and one
// non-streamed response body (Options.MaxEventBytes).
const DefaultMaxEventBytes = stream.DefaultMaxEventBytes

// MaxResponseHeaderBytes bounds the header block of a response (the
// built-in client's Transport.MaxResponseHeaderBytes). Inference servers
// send well under 1 KB.
const MaxResponseHeaderBytes = 64 << 10

// errorBodyBytes is how much of a non-2xx answer's body is kept as its message.
const errorBodyBytes = 2048

// Values of Options.InFlightAtEnd (flags -inflight-at-end, -inflightatend).
const (
	InFlightAtEndFail   = "fail"   // not successful for the availability SLO (default)
	InFlightAtEndIgnore = "ignore" // left out of availability
)

// ParseInFlightAtEnd reads the -inflight-at-end flag: "fail" (or empty)
// or "ignore"; it returns whether to ignore them.
func ParseInFlightAtEnd(s string) (ignore bool, err error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", InFlightAtEndFail:
		return false, nil
	case InFlightAtEndIgnore:
		return true, nil
	}
	return false, fmt.Errorf("in-flight-at-end %q: expected fail (requests still running when a bounded run ends count against availability) or ignore (they are left out)", s)
}

// TimeoutFlag converts a timeout flag, where 0 means off, to the Options
// convention (0: the default, negative: off).
func TimeoutFlag(d time.Duration) (time.Duration, error) {
	switch {
	case d < 0:
		return 0, fmt.Errorf("timeout %v: expected a duration >= 0 such as 60s (0 turns it off)", d)
	case d == 0:
		return -1, nil
	}
	return d, nil
}

// effTimeout applies the convention of the timeout options: 0 takes the
// default, a negative value turns the timeout off (returned as 0).
func effTimeout(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

// timeoutCause is the cause a watchdog cancels a request with.
type timeoutCause struct {
	kind ErrorKind
	msg  string
}

func (c *timeoutCause) Error() string { return c.msg }

// causes are a run's timeout causes, built once (their messages name the
// configured limits).
type causes struct {
	firstByte, firstToken, stall *timeoutCause
}

func newCauses(o *Options) causes {
	return causes{
		firstByte:  &timeoutCause{ErrTimeout, fmt.Sprintf("first-byte timeout: no response headers %v after sending; the server accepted the request and did not answer (raise the first-byte timeout if it is only slow)", o.TimeoutFirstByte)},
		firstToken: &timeoutCause{ErrTimeout, fmt.Sprintf("first-token timeout: no generated text %v after sending (raise the first-token timeout if the server is only slow)", o.TimeoutFirstToken)},
		stall:      &timeoutCause{ErrStall, fmt.Sprintf("stall: no generated text for %v in the middle of the stream (raise the stall timeout if the server pauses that long on purpose)", o.TimeoutStall)},
	}
}

// watchdog cancels one request at its current deadline. The deadline
// moves (headers, first token, each chunk) under a mutex; the timer is
// reset only when the deadline moves earlier, and re-armed when it fires
// early, so a chunk costs a lock and no timer operation.
type watchdog struct {
	o      *Options
	c      *causes
	cancel context.CancelCauseFunc

	mu      sync.Mutex
	timer   *time.Timer
	at      time.Time // current deadline; zero: none
	why     *timeoutCause
	fireAt  time.Time // when the timer fires; zero: not armed
	sent    time.Time
	stopped bool
}

// watch returns ctx with a watchdog, or ctx and nil when every per-request
// timeout is off. All times given to the watchdog are real times.
func (g *gen) watch(ctx context.Context) (context.Context, *watchdog) {
	o := &g.o
	if o.TimeoutFirstByte <= 0 && o.TimeoutFirstToken <= 0 && o.TimeoutStall <= 0 {
		return ctx, nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	return ctx, &watchdog{o: o, c: &g.causes, cancel: cancel}
}

// set makes at (zero: none) the deadline, failing with why.
func (w *watchdog) set(at time.Time, why *timeoutCause) {
	w.mu.Lock()
	w.at, w.why = at, why
	if !at.IsZero() && !w.stopped && (w.fireAt.IsZero() || at.Before(w.fireAt)) {
		w.fireAt = at
		if w.timer == nil {
			w.timer = time.AfterFunc(time.Until(at), w.fire)
		} else {
			w.timer.Reset(time.Until(at))
		}
	}
	w.mu.Unlock()
}

func (w *watchdog) fire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fireAt = time.Time{}
	if w.at.IsZero() || w.stopped {
		return
	}
	if d := time.Until(w.at); d > 0 {
		w.fireAt = w.at
		w.timer.Reset(d)
		return
	}
	w.stopped = true
	w.cancel(w.why)
}

// start: the request is being sent now; the first byte and the first
// token are due.
func (w *watchdog) start(now time.Time) {
	if w == nil {
		return
	}
	w.sent = now
	at, why := time.Time{}, (*timeoutCause)(nil)
	if d := w.o.TimeoutFirstByte; d > 0 {
		at, why = now.Add(d), w.c.firstByte
	}
	if d := w.o.TimeoutFirstToken; d > 0 && (at.IsZero() || now.Add(d).Before(at)) {
		at, why = now.Add(d), w.c.firstToken
	}
	w.set(at, why)
}

// headers: the response headers arrived; the first token is due (for a
// non-streamed request: the whole body).
func (w *watchdog) headers() {
	if w == nil {
		return
	}
	if d := w.o.TimeoutFirstToken; d > 0 {
		w.set(w.sent.Add(d), w.c.firstToken)
	} else {
		w.set(time.Time{}, nil)
	}
}

// progress: generated text arrived now; the next is due within the stall
// timeout.
func (w *watchdog) progress(now time.Time) {
	if w == nil {
		return
	}
	if d := w.o.TimeoutStall; d > 0 {
		w.set(now.Add(d), w.c.stall)
	} else {
		w.set(time.Time{}, nil)
	}
}

func (w *watchdog) stop() {
	if w == nil {
		return
	}
	w.mu.Lock()
	w.stopped = true
	if w.timer != nil {
		w.timer.Stop()
	}
	w.mu.Unlock()
	w.cancel(nil)
}

// realNow is the wall clock for the watchdog: now itself, unless a test
// clock replaces time.Now on the request path.
func (g *gen) realNow(now time.Time) time.Time {
	if g.o.clock != nil {
		return time.Now()
	}
	return now
}

// classify maps the error that ended a request to a kind and a message.
func (g *gen) classify(ctx context.Context, err error, afterHeaders bool) (ErrorKind, string) {
	if g.hardCtx.Err() != nil {
		if g.cutAtEnd.Load() {
			return ErrInFlightAtEnd, fmt.Sprintf("still running when the drain period (%v after the run stopped sending) ended; counted as not successful by the availability SLO unless in-flight-at-end is ignore", g.o.DrainTimeout)
		}
		return ErrCanceled, err.Error()
	}
	var tc *timeoutCause
	if errors.As(context.Cause(ctx), &tc) {
		return tc.kind, tc.msg
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ErrTimeout, fmt.Sprintf("the request ran past the request timeout (%v)", g.o.RequestTimeout)
	}
	if msg, ok := clientError(err); ok {
		return ErrClient, msg + ": " + err.Error()
	}
	if errors.Is(err, stream.ErrOversized) {
		return ErrOversized, err.Error()
	}
	if strings.Contains(err.Error(), "server response headers exceeded") {
		// net/http's error has no type of its own.
		return ErrOversized, fmt.Sprintf("response headers larger than %d bytes: abandoned (%v)", MaxResponseHeaderBytes, err)
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return ErrTimeout, err.Error()
	}
	if afterHeaders {
		return ErrStreamTruncated, err.Error()
	}
	return ErrConnect, err.Error()
}

// clientError recognises a failure of the generator's own machine: it ran
// out of file descriptors or of local ports. The server never saw the
// request. The message says what to change.
func clientError(err error) (string, bool) {
	switch {
	case errors.Is(err, syscall.EMFILE):
		return fmt.Sprintf("client error: out of file descriptors (EMFILE, limit %s): raise it (ulimit -n 65536) or use fewer connections (lower the concurrency)", openFileLimit()), true
	case errors.Is(err, syscall.ENFILE):
		return "client error: the system's file table is full (ENFILE): use fewer connections (lower the concurrency) or raise fs.file-max", true
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "client error: no free local port (EADDRNOTAVAIL): use fewer connections (lower the concurrency) or widen net.ipv4.ip_local_port_range; closed connections in TIME_WAIT hold ports", true
	}
	return "", false
}

// CheckWritable makes sure a results file can be written at path before a
// run starts: it creates the directory, creates and removes a temporary
// file in it. The error names the path and the fix.
func CheckWritable(path string) error {
	dir := filepath.Dir(path)
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("load: results file %s is a directory; pass a file name (-out=%s)", path, filepath.Join(path, "results.json"))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("load: results file %s: cannot create the directory %s: %w; pass -out with a path in a writable directory", path, dir, err)
	}
	f, err := os.CreateTemp(dir, ".loadgen-check-*")
	if err != nil {
		return fmt.Errorf("load: results file %s: the directory %s is not writable: %w; pass -out with a path in a writable directory, or fix its permissions", path, dir, err)
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("load: results file %s: %w", path, err)
	}
	return nil
}
