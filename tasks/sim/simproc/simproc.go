// Package simproc runs the simulator in a process of its own, for the
// benchmarks that measure what a user gets (the client in the test
// process, the server in another, over loopback). It imports nothing of
// the simulator, so package sim's own tests can use it.
package simproc

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// Seconds is the measured window of a process benchmark: $LOP_PERF_SECONDS,
// else def seconds.
func Seconds(tb testing.TB, def float64) time.Duration {
	tb.Helper()
	secs := def
	if v := os.Getenv("LOP_PERF_SECONDS"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			tb.Fatalf("LOP_PERF_SECONDS=%q: expected a positive number of seconds", v)
		}
		secs = f
	}
	return time.Duration(secs * float64(time.Second))
}

// Binary is $LOP_SIM_BIN, else ./cmd/sim built into a temporary folder
// from the module root (the first folder above the test's package
// directory that holds go.mod).
func Binary(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("LOP_SIM_BIN"); p != "" {
		return p
	}
	root, err := moduleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	out := filepath.Join(tb.TempDir(), "sim")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/sim")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build ./cmd/sim: %v\n%s", err, msg)
	}
	return out
}

// moduleRoot is the nearest folder at or above the working directory that
// holds go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("simproc: no go.mod above the working directory")
		}
		dir = up
	}
}

var apiURL = regexp.MustCompile(`API (http://[^\s,]+)`)

// Start runs the simulator binary with args (give -addr 127.0.0.1:0) in
// its own process, under `taskset -c $LOP_SIM_CPUS` when that is set and
// taskset exists, and returns its API URL and process id once it has said
// them; the process is stopped when tb ends. What else it writes to stderr
// is passed on to the test's.
func Start(tb testing.TB, bin string, args ...string) (string, int) {
	tb.Helper()
	name := bin
	if cpus := os.Getenv("LOP_SIM_CPUS"); cpus != "" {
		if ts, err := exec.LookPath("taskset"); err == nil {
			name, args = ts, append([]string{"-c", cpus, bin}, args...)
		} else {
			tb.Logf("LOP_SIM_CPUS=%s: no taskset, the simulator runs on any CPU", cpus)
		}
	}
	cmd := exec.Command(name, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	found := make(chan string, 1)
	go func(out chan<- string) {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := apiURL.FindStringSubmatch(sc.Text()); m != nil && out != nil {
				out <- m[1]
				out = nil
			} else {
				fmt.Fprintln(os.Stderr, sc.Text())
			}
		}
		if out != nil {
			close(out)
		}
	}(found)
	select {
	case url, ok := <-found:
		if !ok {
			tb.Fatal("the simulator exited before it said its API address")
		}
		return url, cmd.Process.Pid
	case <-time.After(30 * time.Second):
		tb.Fatal("the simulator did not say its API address in 30 s")
	}
	return "", 0
}
