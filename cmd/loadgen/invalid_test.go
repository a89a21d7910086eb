package main

import (
	"bytes"
	"context"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
)

// A bounded run that starves its generator of CPU (one core, busy
// goroutines beside an open loop at a high rate) says why and exits 4.
func TestRunInvalidExits4(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: burns a core for two seconds")
	}
	srv := fakeVLLM(t, "x")
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var stop atomic.Bool
	defer stop.Store(true)
	for range 4 {
		go func() {
			for !stop.Load() {
			}
		}()
	}
	out := filepath.Join(t.TempDir(), "r.json")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-url", srv.URL, "-rate", "2000", "-shape", "constant", "-duration", "2s",
		"-max-tokens", "9", "-out", out, "-quiet"}, &stdout, &stderr, false)
	stop.Store(true)
	if code != exitInvalid || !strings.Contains(stdout.String(), "INVALID: the generator") || !strings.Contains(stderr.String(), "measured the load generator") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	res, err := load.ReadResult(out)
	if err != nil || res.Valid || len(res.Invalid) == 0 {
		t.Errorf("results file: %v valid %v invalid %q", err, res.Valid, res.Invalid)
	}
}
