// Package loadjob is what the pods of `mage k8s:load` share with their
// coordinator: how one load splits between N generator pods (Split), and
// the protocol through ConfigMaps by which the pods wait for one agreed
// start, report their progress and publish their results (Worker). It
// links no Kubernetes client library: cmd/loadgen, FROM scratch in its
// image, imports it; the coordinator's side (Job, Role, merge) lives in
// the program that `mage k8s:load` runs.
package loadjob

import (
	"errors"
	"fmt"
	"time"
)

// Load is the whole load of a distributed run, as the flags of load:*
// give it.
type Load struct {
	Concurrency    int     // closed loop: workers; open loop: the in-flight cap (0: none)
	Rate           float64 // open loop: requests per second (0: closed loop)
	Shape          string  // open loop: poisson (or ""), constant, gamma
	Requests       int     // bound on measured requests (0: none)
	WarmupRequests int
	Seed           uint64
}

// Share is one worker's part of a Load.
type Share struct {
	Index, Workers int
	Concurrency    int
	Rate           float64
	Requests       int
	WarmupRequests int
	Seed           uint64
	// Offset delays the worker's start after the agreed one: constant
	// arrivals interleave (worker i at i/rate), so that together they are
	// constant at the whole rate.
	Offset time.Duration
}

// seedStep separates the workers' random streams (the golden ratio of
// 2^64, as SplitMix64 steps).
const seedStep = 0x9E3779B97F4A7C15

// Split divides l between workers so that together they offer l:
//   - a closed loop's workers, a bound on requests and warm-up requests
//     are divided as evenly as integers allow (the first ones get one more);
//   - an open loop's rate is divided evenly; Poisson arrivals of
//     independent seeds add up to Poisson arrivals of the whole rate, and
//     constant arrivals, offset by 1/rate from one worker to the next,
//     to constant arrivals of the whole rate. Gamma arrivals do not split
//     (the sum of gamma streams is no gamma stream: it tends to Poisson)
//     and are refused;
//   - an in-flight cap is divided like a closed loop's workers.
func Split(l Load, workers int) ([]Share, error) {
	if workers < 1 {
		return nil, fmt.Errorf("loadjob: %d pods: a run needs at least 1 (-pods=N)", workers)
	}
	if l.Rate < 0 || l.Concurrency < 0 || l.Requests < 0 || l.WarmupRequests < 0 {
		return nil, errors.New("loadjob: negative concurrency, rate or request count")
	}
	open := l.Rate > 0
	switch {
	case !open && l.Concurrency < workers:
		return nil, fmt.Errorf("loadjob: %d concurrent streams cannot be split between %d pods: give each pod at least one (-pods=%d or fewer, or more streams)",
			l.Concurrency, workers, max(1, l.Concurrency))
	case open && l.Concurrency > 0 && l.Concurrency < workers:
		return nil, fmt.Errorf("loadjob: an in-flight cap of %d cannot be split between %d pods: raise it to at least %d, or 0 for none", l.Concurrency, workers, workers)
	case open && l.Shape == "gamma" && workers > 1:
		return nil, errors.New("loadjob: gamma arrivals do not split between pods (the sum of gamma streams is not a gamma stream: it tends to Poisson); use -shape=poisson or -shape=constant, or -pods=1")
	case open && l.Shape != "" && l.Shape != "poisson" && l.Shape != "constant" && l.Shape != "gamma":
		return nil, fmt.Errorf("loadjob: arrivals %q: poisson, constant or gamma", l.Shape)
	case l.Requests > 0 && l.Requests < workers:
		return nil, fmt.Errorf("loadjob: %d requests cannot be split between %d pods: at least one each (-requests=%d or more)", l.Requests, workers, workers)
	}
	out := make([]Share, workers)
	for i := range out {
		s := Share{Index: i, Workers: workers, Seed: l.Seed + uint64(i)*seedStep,
			Concurrency: part(l.Concurrency, workers, i), Requests: part(l.Requests, workers, i),
			WarmupRequests: part(l.WarmupRequests, workers, i)}
		if open {
			s.Rate = l.Rate / float64(workers)
			if l.Shape == "constant" {
				s.Offset = time.Duration(float64(i) / l.Rate * float64(time.Second))
			}
		}
		out[i] = s
	}
	return out, nil
}

// part is worker i's share of n between workers.
func part(n, workers, i int) int {
	p := n / workers
	if i < n%workers {
		p++
	}
	return p
}
