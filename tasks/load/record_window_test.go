package load

import (
	"testing"
	"time"
)

// A request cut off by the drain timeout or Ctrl+C does not stretch the
// measured window: throughput is over the requests that finished.
func TestCanceledRequestDoesNotStretchWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	s := newStats()
	s.add(&reqRecord{intended: t0, sent: t0, first: t0.Add(10 * time.Millisecond), end: t0.Add(time.Second), outTokens: 5}, true)
	s.add(&reqRecord{kind: ErrCanceled, intended: t0.Add(100 * time.Millisecond), sent: t0.Add(100 * time.Millisecond), end: t0.Add(8 * time.Second)}, false)
	if got := s.last.Sub(s.first); got != time.Second {
		t.Fatalf("measured window %v, want 1s (the canceled request ended at 8s)", got)
	}
	if s.ok != 1 || s.canceled != 1 || s.failed != 0 {
		t.Fatalf("ok %d canceled %d failed %d", s.ok, s.canceled, s.failed)
	}
}
