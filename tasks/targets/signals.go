package targets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"
)

// cleanupWindow is how long a target has to finish after SIGINT or SIGTERM:
// Mage's generated main waits 5 s after SIGINT, then exits; SIGTERM gets
// the same bound here.
const cleanupWindow = 5 * time.Second

// repeatGrace: the same signal again this soon after the first is the
// same request, not a second one. timeout(1) sends SIGTERM to its child
// and then to the child's process group, and kill -TERM -PGID, systemd
// and container runtimes do the like, so one stop often arrives twice
// within microseconds; only a repeat after this forces the exit.
var repeatGrace = time.Second

// InterruptedError ends a target with an end of its own (a run given
// -duration or -requests, a bench's steps, up's wait, a build) that a
// signal cut short, after what was measured has been written. Its exit
// status is the shell's for the signal: 130 for SIGINT, 143 for SIGTERM.
type InterruptedError struct {
	Signal  os.Signal
	Outcome string // what the cut leaves, e.g. cutRun
}

func (e *InterruptedError) Error() string {
	return fmt.Sprintf("interrupted by %s %s", sigName(e.Signal), e.Outcome)
}

// What a signal leaves of a target, for its error.
const (
	cutRun   = "before the run's end; what was measured is written, but the run is incomplete"
	cutUp    = "before the stack was up (mage status shows what runs; mage down stops it)"
	cutBuild = "before the build's end; any builder container is removed and the previous engine, if any, kept"
)

// ExitStatus is read by Mage's generated main.
func (e *InterruptedError) ExitStatus() int {
	if s, ok := e.Signal.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}

// ExitInvalid is the exit status of a bounded load run that measured the
// load generator rather than the server (load.Result.Valid false), as
// cmd/loadgen's.
const ExitInvalid = 4

// InvalidRunError ends a bounded load run whose result is invalid (its
// reasons are in Err, which wraps load.ErrInvalid), after the summary and
// the results file: exit status ExitInvalid.
type InvalidRunError struct{ Err error }

func (e *InvalidRunError) Error() string { return e.Err.Error() }
func (e *InvalidRunError) Unwrap() error { return e.Err }

// ExitStatus is read by Mage's generated main.
func (e *InvalidRunError) ExitStatus() int { return ExitInvalid }

func sigName(s os.Signal) string {
	switch s {
	case syscall.SIGTERM:
		return "SIGTERM"
	case os.Interrupt:
		return "SIGINT (Ctrl+C)"
	}
	return s.String()
}

// interruptible runs a measuring target (load, bench, demo) so that
// SIGTERM (timeout, CI runners, systemd, Kubernetes) does what SIGINT does
// under Mage: the target's context is canceled, it writes its results, and
// it has cleanupWindow to return. When bounded, a target that returns nil
// (or context.Canceled) after a signal returns an *InterruptedError
// instead: a run cut short is not a success. An unbounded one (until
// Ctrl+C) exits 0. A second signal, or the window running out, ends the
// target with an error at once, as Mage does.
func interruptible(ctx context.Context, bounded bool, fn func(context.Context) error) error {
	return interruptibleWhen(ctx, func() bool { return bounded }, fn)
}

// interruptibleWhen is interruptible for a target that learns only as it
// runs whether it has an end of its own (a load run replaying a trace):
// bounded is asked once the target has returned after a signal.
func interruptibleWhen(ctx context.Context, bounded func() bool, fn func(context.Context) error) error {
	return interruptibleOutcome(ctx, func() string {
		if bounded() {
			return cutRun
		}
		return ""
	}, fn)
}

// interruptibleAs is interruptible for any target; outcome says what a
// signal leaves of it ("": the signal is its normal end, exit 0).
func interruptibleAs(ctx context.Context, outcome string, fn func(context.Context) error) error {
	return interruptibleOutcome(ctx, func() string { return outcome }, fn)
}

func interruptibleOutcome(ctx context.Context, outcomeOf func() string, fn func(context.Context) error) error {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	return runInterruptibleWhen(ctx, sigs, cleanupWindow, os.Stderr, outcomeOf, fn)
}

func runInterruptible(ctx context.Context, sigs <-chan os.Signal, window time.Duration, log io.Writer, outcome string, fn func(context.Context) error) error {
	return runInterruptibleWhen(ctx, sigs, window, log, func() string { return outcome }, fn)
}

// runInterruptibleWhen is runInterruptible with the outcome asked after fn
// has returned.
func runInterruptibleWhen(ctx context.Context, sigs <-chan os.Signal, window time.Duration, log io.Writer, outcomeOf func() string, fn func(context.Context) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		done <- fn(ctx)
	}()
	var sig os.Signal
	select {
	case err := <-done:
		return err
	case sig = <-sigs:
	}
	interrupted := &InterruptedError{Signal: sig, Outcome: outcomeOf()}
	cancel(interrupted)
	if sig != os.Interrupt {
		// Mage says this itself for SIGINT.
		fmt.Fprintf(log, "%s: cancelling mage targets, waiting up to %g seconds for cleanup...\n", sigName(sig), window.Seconds())
	}
	first := time.Now()
	t := time.NewTimer(window)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			if outcome := outcomeOf(); outcome != "" && (err == nil || errors.Is(err, context.Canceled)) {
				interrupted.Outcome = outcome
				return interrupted
			}
			return err
		case <-t.C:
			return fmt.Errorf("%s: cleanup timeout exceeded (%s); results may be incomplete", sigName(sig), window)
		case s := <-sigs:
			if s == sig && time.Since(first) < repeatGrace {
				continue // the same stop, delivered twice
			}
			return fmt.Errorf("%s again: exit forced", sigName(s))
		}
	}
}

// bounded: a load run given -duration or -requests, which a signal cuts
// short; until Ctrl+C (neither) is the normal way to stop.
func (f LoadFlags) bounded() bool {
	return (f.Duration != nil && *f.Duration > 0) || (f.Requests != nil && *f.Requests > 0) || (f.Stages != nil && *f.Stages != "")
}
