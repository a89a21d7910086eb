package workload

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// The Dist kinds.
const (
	DistFixed     = "fixed"
	DistUniform   = "uniform"
	DistNormal    = "normal"
	DistLognormal = "lognormal"
)

// distForms is what ParseDist accepts, for its errors.
const distForms = "expected fixed, uniform:LO:HI (1 <= LO <= HI), normal:SD (SD >= 0) or lognormal:SIGMA (SIGMA >= 0)"

// maxSampleFactor bounds a sample at this many times the mean, so a
// lognormal tail does not ask for a prompt longer than any model takes.
const maxSampleFactor = 100

func parseDist(s string) (Dist, error) {
	kind, arg, hasArg := strings.Cut(strings.TrimSpace(s), ":")
	switch kind {
	case "", DistFixed:
		if hasArg {
			return Dist{}, fmt.Errorf("distribution %q: fixed takes no argument; %s", s, distForms)
		}
		return Dist{Kind: DistFixed}, nil
	case DistUniform:
		lo, hi, ok := strings.Cut(arg, ":")
		l, err1 := strconv.Atoi(lo)
		h, err2 := strconv.Atoi(hi)
		if !ok || err1 != nil || err2 != nil || l < 1 || h < l {
			return Dist{}, fmt.Errorf("distribution %q: %s", s, distForms)
		}
		return Dist{Kind: DistUniform, Lo: l, Hi: h}, nil
	case DistNormal, DistLognormal:
		v, err := strconv.ParseFloat(arg, 64)
		if !hasArg || err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return Dist{}, fmt.Errorf("distribution %q: %s", s, distForms)
		}
		return Dist{Kind: kind, Spread: v}, nil
	}
	return Dist{}, fmt.Errorf("distribution %q: %s", s, distForms)
}

// String returns d in the form ParseDist reads.
func (d Dist) String() string {
	switch d.Kind {
	case DistUniform:
		return fmt.Sprintf("uniform:%d:%d", d.Lo, d.Hi)
	case DistNormal, DistLognormal:
		return d.Kind + ":" + strconv.FormatFloat(d.Spread, 'g', -1, 64)
	case "", DistFixed:
		return DistFixed
	}
	return d.Kind // not a kind: ParseDist refuses it
}

// Sample draws one length around mean (which uniform ignores). It is at
// least 1 and, but for uniform, at most 100 times the mean; normal and
// lognormal samples are rounded to the nearest integer. Lognormal's mu is
// ln(mean) - SIGMA²/2, so the samples' mean is mean.
func (d Dist) Sample(rng *rand.Rand, mean int) int {
	var v float64
	switch d.Kind {
	case DistUniform:
		return d.Lo + rng.IntN(d.Hi-d.Lo+1)
	case DistNormal:
		v = float64(mean) + d.Spread*rng.NormFloat64()
	case DistLognormal:
		mu := math.Log(float64(max(mean, 1))) - d.Spread*d.Spread/2
		v = math.Exp(mu + d.Spread*rng.NormFloat64())
	default:
		return max(mean, 1)
	}
	hi := float64(max(mean, 1)) * maxSampleFactor
	return int(math.Round(min(max(v, 1), hi)))
}

// DefaultSyntheticCount is the number of synthetic prompts when
// Synthetic.Count is 0.
const DefaultSyntheticCount = 100

func (s Synthetic) reader() (Reader, error) {
	switch {
	case s.InputTokens <= 0:
		return nil, fmt.Errorf("synthetic prompts: %d input tokens; expected a positive number", s.InputTokens)
	case s.InputTokens > MaxPromptTokens || s.PrefixTokens > MaxPromptTokens:
		return nil, fmt.Errorf("synthetic prompts: more than %d tokens", MaxPromptTokens)
	case s.OutputTokens < 0:
		return nil, fmt.Errorf("synthetic prompts: %d output tokens; expected a positive number, or 0 for the run's", s.OutputTokens)
	case s.PrefixTokens < 0 || s.PrefixGroups < 0 || (s.PrefixTokens > 0) != (s.PrefixGroups > 0):
		return nil, fmt.Errorf("synthetic prompts: prefix of %d tokens in %d groups; expected both positive, or both 0 for no shared prefix",
			s.PrefixTokens, s.PrefixGroups)
	case s.Count < 0:
		return nil, fmt.Errorf("synthetic prompts: count %d; expected a positive number", s.Count)
	}
	for _, d := range []Dist{s.InputDist, s.OutputDist} {
		if _, err := parseDist(d.String()); err != nil {
			return nil, fmt.Errorf("synthetic prompts: %w", err)
		}
	}
	count := s.Count
	if count == 0 {
		count = DefaultSyntheticCount
	}
	seed := s.Seed
	if seed == 0 {
		seed = 1
	}
	r := &syntheticReader{
		s:      s,
		count:  count,
		words:  newRand(seed, streamPrompt),
		length: newRand(seed, streamLength),
	}
	if s.PrefixGroups > 0 {
		r.prefixes = make([]string, s.PrefixGroups)
		rng := newRand(seed, streamPrefix)
		for g := range r.prefixes {
			r.prefixes[g] = distinctText("Prefix", g, s.PrefixTokens, rng)
		}
	}
	return r, nil
}

// syntheticReader generates the prompts one at a time. Without a length
// distribution or a prefix, prompt i is "Request-i:" and InputTokens-1
// words of one seeded stream: package load's SyntheticPrompts, word for
// word. Lengths and prefixes come from streams of their own, so they do
// not change the words.
type syntheticReader struct {
	s             Synthetic
	count, i      int
	words, length *rand.Rand
	prefixes      []string
}

func (r *syntheticReader) Next() (Request, error) {
	if r.i >= r.count {
		return Request{}, io.EOF
	}
	i := r.i
	r.i++
	n := min(r.s.InputDist.Sample(r.length, r.s.InputTokens), MaxPromptTokens)
	req := Request{ID: fmt.Sprintf("synthetic:%d", i), InputTokens: n}
	req.Prompt = distinctText("Request", i, n, r.words)
	if len(r.prefixes) > 0 {
		req.Prompt = r.prefixes[i%len(r.prefixes)] + " " + req.Prompt
		req.InputTokens += r.s.PrefixTokens
	}
	if r.s.OutputTokens > 0 {
		req.MaxTokens = r.s.OutputDist.Sample(r.length, r.s.OutputTokens)
	}
	return req, nil
}

func (r *syntheticReader) Close() error { return nil }
