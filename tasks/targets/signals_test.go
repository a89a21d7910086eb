package targets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitThenReturn is a target that writes its results once its context
// ends, then returns err.
func waitThenReturn(err error, sawCause *error) func(context.Context) error {
	return func(ctx context.Context) error {
		<-ctx.Done()
		*sawCause = context.Cause(ctx)
		return err
	}
}

func TestInterruptibleSignals(t *testing.T) {
	for _, c := range []struct {
		name    string
		sig     os.Signal
		outcome string // "": unbounded
		ret     error
		status  int    // want an *InterruptedError with this exit status; 0: want ret
		log     string // on stderr
	}{
		{"SIGTERM bounded", syscall.SIGTERM, cutRun, nil, 143, "SIGTERM: cancelling mage targets, waiting up to 60 seconds for cleanup"},
		{"SIGINT bounded", os.Interrupt, cutRun, nil, 130, ""},
		{"SIGTERM, context.Canceled", syscall.SIGTERM, cutUp, fmt.Errorf("waiting: %w", context.Canceled), 143, "SIGTERM"},
		{"SIGTERM unbounded", syscall.SIGTERM, "", nil, 0, "SIGTERM: cancelling"},
		{"SIGINT unbounded", os.Interrupt, "", nil, 0, ""},
		{"SIGTERM, the target's own error", syscall.SIGTERM, cutRun, errors.New("SLO broken"), 0, "SIGTERM"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sigs := make(chan os.Signal, 2)
			sigs <- c.sig
			var log bytes.Buffer
			var cause error
			err := runInterruptible(context.Background(), sigs, time.Minute, &log, c.outcome, waitThenReturn(c.ret, &cause))
			var ie *InterruptedError
			if !errors.As(cause, &ie) || ie.Signal != c.sig {
				t.Errorf("the target's context ended with cause %v, want the signal %v", cause, c.sig)
			}
			switch {
			case c.status != 0:
				if !errors.As(err, &ie) || ie.ExitStatus() != c.status {
					t.Fatalf("err %v, want an interruption with exit status %d", err, c.status)
				}
				if want := "interrupted by " + sigName(c.sig) + " " + c.outcome; err.Error() != want {
					t.Errorf("message %q, want %q", err, want)
				}
			case err != c.ret:
				t.Errorf("err %v, want the target's %v", err, c.ret)
			}
			if c.log == "" && log.Len() > 0 {
				t.Errorf("logged %q; Mage itself says it for SIGINT", log.String())
			}
			if !strings.Contains(log.String(), c.log) {
				t.Errorf("logged %q, want %q", log.String(), c.log)
			}
		})
	}
}

func TestInterruptibleNoSignal(t *testing.T) {
	want := errors.New("boom")
	err := runInterruptible(context.Background(), make(chan os.Signal), time.Minute, &bytes.Buffer{}, cutRun, func(ctx context.Context) error {
		if ctx.Err() != nil {
			t.Error("context ended without a signal")
		}
		return want
	})
	if err != want {
		t.Fatalf("err %v, want the target's", err)
	}
	err = runInterruptible(context.Background(), make(chan os.Signal), time.Minute, &bytes.Buffer{}, cutRun, func(ctx context.Context) error {
		panic("bad")
	})
	if err == nil || !strings.Contains(err.Error(), "panic: bad") {
		t.Fatalf("a panic: err %v", err)
	}
}

// A target that does not return within the cleanup window, or a second
// signal, ends the wait as Mage does after SIGINT.
func TestInterruptibleGivesUp(t *testing.T) {
	stuck := make(chan struct{})
	defer close(stuck)
	hang := func(ctx context.Context) error { <-stuck; return nil }

	sigs := make(chan os.Signal, 2)
	sigs <- syscall.SIGTERM
	err := runInterruptible(context.Background(), sigs, time.Millisecond, &bytes.Buffer{}, cutRun, hang)
	if err == nil || !strings.Contains(err.Error(), "SIGTERM: cleanup timeout exceeded") {
		t.Fatalf("err %v, want the cleanup timeout", err)
	}

	// A second SIGTERM after the grace forces the exit.
	defer func(g time.Duration) { repeatGrace = g }(repeatGrace)
	repeatGrace = 20 * time.Millisecond
	sigs <- syscall.SIGTERM
	go func() { time.Sleep(50 * time.Millisecond); sigs <- syscall.SIGTERM }()
	err = runInterruptible(context.Background(), sigs, time.Hour, &bytes.Buffer{}, cutRun, hang)
	if err == nil || !strings.Contains(err.Error(), "SIGTERM again: exit forced") {
		t.Fatalf("err %v, want exit forced", err)
	}
}

// timeout(1) sends SIGTERM to its child and again to the process group:
// one stop, delivered twice at once, lets the target write its results.
func TestInterruptibleSameSignalTwiceAtOnce(t *testing.T) {
	sigs := make(chan os.Signal, 2)
	sigs <- syscall.SIGTERM
	sigs <- syscall.SIGTERM
	wrote := false
	err := runInterruptible(context.Background(), sigs, time.Hour, &bytes.Buffer{}, cutRun, func(ctx context.Context) error {
		<-ctx.Done()
		time.Sleep(10 * time.Millisecond) // the second signal is read meanwhile
		wrote = true
		return nil
	})
	var ie *InterruptedError
	if !errors.As(err, &ie) || ie.ExitStatus() != 143 || !wrote {
		t.Fatalf("err %v (results written: %v), want the target to finish and exit 143", err, wrote)
	}
}

func TestLoadFlagsBounded(t *testing.T) {
	d, zero, n := 5*time.Second, time.Duration(0), 10
	for _, c := range []struct {
		f    LoadFlags
		want bool
	}{
		{LoadFlags{}, false},
		{LoadFlags{Duration: &zero}, false},
		{LoadFlags{Duration: &d}, true},
		{LoadFlags{Requests: &n}, true},
	} {
		if got := c.f.bounded(); got != c.want {
			t.Errorf("%+v: bounded %v, want %v", c.f, got, c.want)
		}
	}
}

// A target that learns as it runs that it has an end of its own (a load
// run that turns out to replay a trace) fails when a signal cuts it; one
// that does not exits 0.
func TestInterruptibleOutcomeLearnedLate(t *testing.T) {
	for _, finite := range []bool{true, false} {
		sigs := make(chan os.Signal, 1)
		sigs <- syscall.SIGTERM
		learned := false
		outcome := func() string {
			if learned {
				return cutRun
			}
			return ""
		}
		err := runInterruptibleWhen(context.Background(), sigs, time.Minute, &bytes.Buffer{}, outcome, func(ctx context.Context) error {
			<-ctx.Done()
			learned = finite
			return nil
		})
		var ie *InterruptedError
		if got := errors.As(err, &ie) && ie.ExitStatus() == 143 && strings.Contains(err.Error(), cutRun); got != finite {
			t.Errorf("finite %v: err %v", finite, err)
		}
	}
}
