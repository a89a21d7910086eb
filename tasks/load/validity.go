package load

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"
)

// The checks that a run measured the server and not the load generator
// (Result.Valid, Result.Invalid). Each threshold is far from what a
// generator with room to spare shows, so that a run is called invalid
// only when its own figures were distorted.
const (
	// MaxGeneratorDelayP99 bounds the generator's own delay at p99: the
	// time from when a request could go (its arrival in an open loop, or
	// the in-flight cap's free slot; a closed-loop worker's previous
	// response's end) to its send. The cap's wait is the server's and is
	// left out. Go timers wake about 1 ms late on an idle machine (p99
	// about 1 ms at high rates, BenchmarkAccuracy), so 25 ms is 25 times
	// the normal figure, and 1.25 % of the default TTFT objective (2 s);
	// past it the intended-time latencies carry the generator's queueing.
	MaxGeneratorDelayP99 = 25 * time.Millisecond
	// MinDelaySamples: with fewer measured requests a p99 is a few
	// requests' maximum, which one GC pause or page fault can make; the
	// delay check needs at least this many.
	MinDelaySamples = 100
	// MaxGeneratorCPU bounds the process's CPU time over the run's wall
	// time, as a share of the cores it may use (GOMAXPROCS, which follows
	// the CPU affinity and the cgroup's quota). Past 90 % its goroutines
	// queue for a core, and every timestamp it takes comes late.
	MaxGeneratorCPU = 0.9
	// MinCPUWall: a shorter run's CPU share is mostly its start (TLS,
	// connections, the workload) and says little; the check needs this long.
	MinCPUWall = time.Second
)

// Generator is what the load generator measured of itself (the results
// file's "generator").
type Generator struct {
	// Cores it may use: GOMAXPROCS, at most the CPUs of its affinity.
	Cores int `json:"cores"`
	// CPUUtilization is its CPU time over the run's wall time, per core
	// (0-1); omitted where the system does not say.
	CPUUtilization *float64 `json:"cpu_utilization,omitempty"`
	// Delay: per measured request, from when it could go to its send
	// (see MaxGeneratorDelayP99).
	Delay Quantiles `json:"delay_seconds"`
}

// cpuMeter measures the process's CPU use over a run.
type cpuMeter struct {
	wall0 time.Time
	cpu0  time.Duration
	ok    bool
}

func startCPU() cpuMeter {
	cpu, ok := processCPU()
	return cpuMeter{wall0: time.Now(), cpu0: cpu, ok: ok}
}

// share is the CPU used since the start per core of cores, with the wall
// time it covers; ok false when the system does not say.
func (m cpuMeter) share(cores int) (share float64, wall time.Duration, ok bool) {
	cpu, ok := processCPU()
	wall = time.Since(m.wall0)
	if !ok || !m.ok || wall <= 0 || cores < 1 {
		return 0, wall, false
	}
	return (cpu - m.cpu0).Seconds() / wall.Seconds() / float64(cores), wall, true
}

// generatorCores is the number of cores the generator may use.
func generatorCores() int { return max(1, min(runtime.GOMAXPROCS(0), runtime.NumCPU())) }

// selfCheck is what the validity checks look at.
type selfCheck struct {
	delay        Quantiles     // the generator's delay, seconds
	cpu          *float64      // CPU share of its cores, nil when unknown
	cpuWall      time.Duration // the wall time cpu covers
	cores        int
	clientErrors int64 // requests that failed in the generator (kind client)
	requests     int64 // every measured request
}

// invalidReasons returns one line per check that failed: what was
// measured, against which threshold, and what to do about it.
func invalidReasons(c selfCheck) []string {
	const fix = "run fewer streams or a lower rate per generator, give it more cores, or run cmd/loadgen on another host"
	var out []string
	if p99 := secondsDur(c.delay.P99); c.delay.Count >= MinDelaySamples && p99 > MaxGeneratorDelayP99 {
		out = append(out, fmt.Sprintf("the generator sent requests late: its own delay (from when a request could go to its send) is %s at p99, max %s, over %d requests (threshold p99 %s), and the latencies include it; %s",
			ms(c.delay.P99), ms(c.delay.Max), c.delay.Count, MaxGeneratorDelayP99, fix))
	}
	if c.cpu != nil && c.cpuWall >= MinCPUWall && *c.cpu > MaxGeneratorCPU {
		out = append(out, fmt.Sprintf("the generator was short of CPU: it used %.0f%% of its %d core(s) over %.1fs (threshold %.0f%%), so its timestamps come late; %s",
			100**c.cpu, c.cores, c.cpuWall.Seconds(), 100*MaxGeneratorCPU, fix))
	}
	if c.clientErrors > 0 {
		out = append(out, fmt.Sprintf("%d of %d requests failed in the load generator itself (kind client: file descriptors or local ports ran out), so the server got less load than asked; fix the client (see the error samples) and run again",
			c.clientErrors, c.requests))
	}
	return out
}

func secondsDur(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// checkSelf fills r.Generator, r.Invalid and r.Valid from the run's
// stats and its CPU use since cpu's start.
func (r *Result) checkSelf(s *stats, cpu cpuMeter) {
	c := selfCheck{delay: quantiles(s.delay), cores: generatorCores(), clientErrors: s.client,
		requests: s.ok + s.failed + s.canceled + s.inFlightAtEnd + s.client}
	if share, wall, ok := cpu.share(c.cores); ok {
		c.cpu, c.cpuWall = &share, wall
	}
	r.Generator = Generator{Cores: c.cores, CPUUtilization: c.cpu, Delay: c.delay}
	r.Invalid = append(r.Invalid, invalidReasons(c)...)
	r.Valid = len(r.Invalid) == 0
}

// ErrInvalid is wrapped by the error of InvalidError.
var ErrInvalid = errors.New("load: the run measured the load generator, not only the server")

// InvalidError returns an error wrapping ErrInvalid that gives every
// reason the run is invalid, or nil when it is valid. Run does not return
// it (a bench decides what an invalid step means); the command lines do,
// for a bounded run, with an exit status of its own.
func (r *Result) InvalidError() error {
	if r.Valid || len(r.Invalid) == 0 {
		return nil
	}
	msg := r.Invalid[0]
	for _, why := range r.Invalid[1:] {
		msg += "; " + why
	}
	return fmt.Errorf("%w: %s", ErrInvalid, msg)
}

// InvalidOutcome is res.InvalidError() for a run that ended on its own
// (res.Finite, ctx not canceled) with no error but broken SLOs (err, as
// Run returned it), else nil. The command lines end such a run with an
// exit status of its own, in place of the SLO verdict.
func InvalidOutcome(ctx context.Context, res *Result, err error) error {
	if res == nil || !res.Finite || ctx.Err() != nil || (err != nil && !errors.Is(err, ErrSLO)) {
		return nil
	}
	return res.InvalidError()
}
