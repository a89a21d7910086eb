package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SIGINT or SIGTERM (the canceled context) ends a run with its results
// written; a bounded run cut short exits 3, an unbounded one 0.
func TestInterruptedRun(t *testing.T) {
	srv := fakeVLLM(t, "hi")
	for _, c := range []struct {
		bound string
		code  int
	}{
		{"-duration=60s", 3},
		{"-duration=0", 0},
	} {
		out := filepath.Join(t.TempDir(), "r.json")
		ctx, cancel := context.WithCancelCause(context.Background())
		time.AfterFunc(300*time.Millisecond, func() { cancel(errors.New("terminated signal received")) })
		var stdout, stderr bytes.Buffer
		code := run(ctx, []string{"-url", srv.URL, "-max-tokens", "9", "-out", out, "-quiet", c.bound}, &stdout, &stderr, false)
		cancel(nil)
		if code != c.code {
			t.Errorf("%s: exit %d, want %d\n%s", c.bound, code, c.code, stderr.String())
		}
		if b, err := os.ReadFile(out); err != nil || !strings.Contains(string(b), `"stopped_by": "canceled"`) {
			t.Errorf("%s: results %v %.300s", c.bound, err, b)
		}
		if c.code == 3 && !strings.Contains(stderr.String(), "interrupted (terminated signal received) before the run's end") {
			t.Errorf("stderr %q", stderr.String())
		}
	}
}
