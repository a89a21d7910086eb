package load

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Load shapes for open-loop runs (Options.Rate > 0).
const (
	ShapePoisson  = "poisson"  // exponential gaps, mean 1/rate
	ShapeGamma    = "gamma"    // gamma gaps: shape = burstiness, scale = 1/(rate*burstiness)
	ShapeConstant = "constant" // fixed gap 1/rate

	// ShapeClosedLoop is what results call a run without a rate.
	ShapeClosedLoop = "closed-loop"
)

// Arrivals produces the gaps between successive request arrivals of an open
// loop.
type Arrivals struct {
	shape string
	rate  float64
	k     float64 // gamma shape
	rng   *rand.Rand
}

// NewArrivals returns an arrival process. shape "" means DefaultShape.
// burstiness is used by "gamma" only (default 1, which equals poisson;
// below 1 is burstier, above 1 more even); this is the vLLM
// `--burstiness` convention.
func NewArrivals(shape string, rate, burstiness float64, seed uint64) (*Arrivals, error) {
	if !(rate > 0) || math.IsInf(rate, 0) {
		return nil, fmt.Errorf("load shape: rate %v: expected a positive finite number of requests per second", rate)
	}
	if shape == "" {
		shape = DefaultShape
	}
	a := &Arrivals{shape: shape, rate: rate, rng: rand.New(rand.NewPCG(seed, 0x61727269766c))}
	switch shape {
	case ShapePoisson, ShapeConstant:
	case ShapeGamma:
		if burstiness == 0 {
			burstiness = 1
		}
		if !(burstiness > 0) || math.IsInf(burstiness, 0) {
			return nil, fmt.Errorf("load shape: burstiness %v: expected a positive number (1 = poisson, <1 burstier, >1 smoother)", burstiness)
		}
		a.k = burstiness
	default:
		return nil, fmt.Errorf("load shape %q: expected poisson, gamma or constant", shape)
	}
	return a, nil
}

// NextSeconds returns the next gap in seconds.
func (a *Arrivals) NextSeconds() float64 {
	switch a.shape {
	case ShapeConstant:
		return 1 / a.rate
	case ShapeGamma:
		return gammaSample(a.rng, a.k) / (a.rate * a.k)
	}
	return a.rng.ExpFloat64() / a.rate
}

// Next returns the next gap.
func (a *Arrivals) Next() time.Duration {
	return time.Duration(a.NextSeconds() * float64(time.Second))
}

// gammaSample draws from Gamma(k, 1) with the Marsaglia-Tsang method
// (k < 1 uses the boost Gamma(k+1) * U^(1/k)).
func gammaSample(rng *rand.Rand, k float64) float64 {
	if k < 1 {
		u := rng.Float64()
		for u == 0 {
			u = rng.Float64()
		}
		return gammaSample(rng, k+1) * math.Pow(u, 1/k)
	}
	d := k - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if u < 1-0.0331*x*x*x*x {
			return d * v
		}
		if u > 0 && math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}
