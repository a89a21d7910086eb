package load

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockstep is a fake clock driven by the test server. The server sets the
// clock to an event's time, writes the event, and waits until the client has
// read the clock once (the generator reads it exactly once per stream event),
// so the latencies the generator measures are exact and independent of the
// machine's speed.
type lockstep struct {
	mu    sync.Mutex
	t     time.Time
	reads chan struct{}
}

func newLockstep() *lockstep {
	return &lockstep{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), reads: make(chan struct{}, 1024)}
}

func (l *lockstep) now() time.Time {
	l.mu.Lock()
	t := l.t
	l.mu.Unlock()
	l.reads <- struct{}{}
	return t
}

func (l *lockstep) advance(d time.Duration) {
	l.mu.Lock()
	l.t = l.t.Add(d)
	l.mu.Unlock()
}

// drain forgets the clock reads made before the request reached the server.
func (l *lockstep) drain() {
	for {
		select {
		case <-l.reads:
		default:
			return
		}
	}
}

// sseEvent is one event the fake server sends after advancing the clock by gap.
type sseEvent struct {
	gap  time.Duration
	data string // written as "data: <data>\n\n"
}

// serveLockstep writes events in lockstep with the clock (clock may be nil
// for real-time tests).
func serveLockstep(w http.ResponseWriter, clock *lockstep, events []sseEvent) {
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	fl := w.(http.Flusher)
	fl.Flush()
	if clock != nil {
		clock.drain()
	}
	for _, ev := range events {
		if clock != nil {
			clock.advance(ev.gap)
		}
		fmt.Fprintf(w, "data: %s\n\n", ev.data)
		fl.Flush()
		if clock != nil {
			select {
			case <-clock.reads:
			case <-time.After(10 * time.Second):
				return
			}
		}
	}
}

func chatChunk(content string) string {
	b, _ := json.Marshal(map[string]any{"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
		"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": content}, "logprobs": nil, "finish_reason": nil}},
		"usage":   nil})
	return string(b)
}

func completionChunk(text string) string {
	b, _ := json.Marshal(map[string]any{"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m",
		"choices": []any{map[string]any{"index": 0, "text": text, "logprobs": nil, "finish_reason": nil}}, "usage": nil})
	return string(b)
}

func usageChunk(prompt, completion int) string {
	return fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":%d,"total_tokens":%d,"completion_tokens":%d}}`,
		prompt, prompt+completion, completion)
}

func tritonChunk(model, text string) string {
	b, _ := json.Marshal(map[string]any{"model_name": model, "model_version": "1", "text_output": text})
	return string(b)
}

// requestLog records the decoded JSON bodies a fake server received.
type requestLog struct {
	mu     sync.Mutex
	bodies []map[string]any
	paths  []string
}

func (l *requestLog) add(t testing.TB, r *http.Request) map[string]any {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Errorf("read body: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Errorf("request body is not JSON: %v: %s", err, b)
	}
	l.mu.Lock()
	l.bodies = append(l.bodies, m)
	l.paths = append(l.paths, r.URL.Path)
	l.mu.Unlock()
	return m
}

func (l *requestLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.bodies)
}

// newServer starts an httptest server with a /v1/models endpoint and h for
// everything else.
func newServer(t testing.TB, h http.HandlerFunc) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"object":"list","data":[{"id":"test-model","object":"model","owned_by":"vllm"}]}`)
	})
	mux.HandleFunc("/", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// hdrNear reports whether an HDR-derived value is within the histogram's
// precision (3 significant digits, plus 1 µs) of want.
func hdrNear(got, want float64) bool {
	d := got - want
	if d < 0 {
		d = -d
	}
	return d <= want*0.001+1e-6
}

func approx(a, b float64) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d <= 1e-9+1e-9*b
}

func mustContain(t testing.TB, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("output lacks %q:\n%s", sub, s)
		}
	}
}

// runReport is Run followed by Report, as the command lines call them: the
// summary goes to o.Status and the results to o.Out. A Report error
// replaces Run's.
func runReport(ctx context.Context, o Options) (*Result, error) {
	res, err := Run(ctx, o)
	if res == nil {
		return nil, err
	}
	if rerr := Report(o, res); rerr != nil {
		return res, rerr
	}
	return res, err
}
