package workload

import (
	"math"
	"strings"
	"testing"
)

func TestSyntheticMatchesLoad(t *testing.T) {
	// package load's SyntheticPrompts(6, 3, 7) and (2, 2, 0), as it gave them.
	for _, c := range []struct {
		s    Synthetic
		want []string
	}{
		{Synthetic{InputTokens: 6, Count: 3, Seed: 7}, []string{
			"Request-0: reach pose black might verb",
			"Request-1: pull here against night there",
			"Request-2: behind then rain some sound",
		}},
		{Synthetic{InputTokens: 2, Count: 2}, []string{"Request-0: fine", "Request-1: map"}},
	} {
		got := synthetic(t, c.s)
		if len(got) != len(c.want) {
			t.Fatalf("%+v: %d prompts", c.s, len(got))
		}
		for i, r := range got {
			if r.Prompt != c.want[i] || r.InputTokens != c.s.InputTokens || r.MaxTokens != 0 {
				t.Errorf("%+v: prompt %d = %+v, want %q", c.s, i, r, c.want[i])
			}
		}
	}
	if n := len(synthetic(t, Synthetic{InputTokens: 3})); n != DefaultSyntheticCount {
		t.Errorf("default count %d", n)
	}
}

// synthetic reads every prompt of s.
func synthetic(t *testing.T, s Synthetic) []Request {
	t.Helper()
	r, err := s.Reader()
	if err != nil {
		t.Fatal(err)
	}
	var out []Request
	for {
		req, err := r.Next()
		if err != nil {
			return out
		}
		out = append(out, req)
	}
}

func TestSyntheticPrefixesAndLengths(t *testing.T) {
	s := Synthetic{InputTokens: 50, InputDist: Dist{Kind: DistUniform, Lo: 10, Hi: 20},
		OutputTokens: 30, OutputDist: Dist{Kind: DistNormal, Spread: 5},
		PrefixTokens: 40, PrefixGroups: 3, Count: 30, Seed: 9}
	reqs := synthetic(t, s)
	prefixes := map[string]bool{}
	firsts := map[string]bool{}
	for i, r := range reqs {
		words := strings.Fields(r.Prompt)
		if EstimateTokens(r.Prompt) != r.InputTokens || r.InputTokens < 50 || r.InputTokens > 60 {
			t.Errorf("prompt %d: %d tokens, InputTokens %d", i, len(words), r.InputTokens)
		}
		prefix := strings.Join(words[:40], " ")
		if want := "Prefix-" + string(rune('0'+i%3)) + ":"; words[0] != want {
			t.Errorf("prompt %d starts %q, want %q", i, words[0], want)
		}
		prefixes[prefix] = true
		if own := words[40]; firsts[own] {
			t.Errorf("own part %q repeated", own)
		} else {
			firsts[own] = true
		}
		if r.MaxTokens < 1 {
			t.Errorf("MaxTokens %d", r.MaxTokens)
		}
	}
	if len(prefixes) != 3 {
		t.Errorf("%d distinct prefixes, want 3", len(prefixes))
	}
	again := synthetic(t, s)
	for i := range reqs {
		if reqs[i].Prompt != again[i].Prompt || reqs[i].MaxTokens != again[i].MaxTokens {
			t.Fatal("not deterministic")
		}
	}
	for _, bad := range []Synthetic{
		{}, {InputTokens: -1}, {InputTokens: 5, PrefixTokens: 3}, {InputTokens: 5, PrefixGroups: 2},
		{InputTokens: 5, OutputTokens: -1}, {InputTokens: 5, Count: -1}, {InputTokens: MaxPromptTokens + 1},
		{InputTokens: 5, InputDist: Dist{Kind: DistUniform, Lo: 3, Hi: 2}}, {InputTokens: 5, OutputDist: Dist{Kind: "zipf"}},
	} {
		if _, err := bad.Reader(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestParseDist(t *testing.T) {
	for in, want := range map[string]Dist{
		"":                {Kind: DistFixed},
		"fixed":           {Kind: DistFixed},
		"uniform:10:20":   {Kind: DistUniform, Lo: 10, Hi: 20},
		"normal:25":       {Kind: DistNormal, Spread: 25},
		"lognormal:0.5":   {Kind: DistLognormal, Spread: 0.5},
		" lognormal:0.5 ": {Kind: DistLognormal, Spread: 0.5},
	} {
		d, err := ParseDist(in)
		if err != nil || d != want {
			t.Errorf("ParseDist(%q) = %+v, %v; want %+v", in, d, err, want)
		}
		if again, err := ParseDist(d.String()); err != nil || again != d {
			t.Errorf("%q: String %q does not parse back: %+v %v", in, d.String(), again, err)
		}
	}
	for _, bad := range []string{"fixed:1", "uniform", "uniform:0:5", "uniform:5:4", "uniform:a:b", "normal", "normal:-1",
		"normal:x", "lognormal:NaN", "lognormal:Inf", "zipf:1.1", "uniform:1:2:3"} {
		_, err := ParseDist(bad)
		if err == nil || !strings.Contains(err.Error(), "expected fixed, uniform:LO:HI") {
			t.Errorf("ParseDist(%q): %v", bad, err)
		}
	}
}

func TestDistStatistics(t *testing.T) {
	const n = 200000
	for _, c := range []struct {
		d            Dist
		mean         int
		wantMean, sd float64 // the sample's expected mean and standard deviation
	}{
		{Dist{Kind: DistFixed}, 100, 100, 0},
		{Dist{Kind: DistUniform, Lo: 10, Hi: 30}, 999, 20, math.Sqrt((21*21 - 1) / 12.0)},
		{Dist{Kind: DistNormal, Spread: 20}, 500, 500, 20},
		{Dist{Kind: DistLognormal, Spread: 0.5}, 1000, 1000, 1000 * math.Sqrt(math.Exp(0.25)-1)},
	} {
		rng := newRand(42, streamLength)
		var sum, sq float64
		lo, hi := math.MaxInt, 0
		for range n {
			v := c.d.Sample(rng, c.mean)
			lo, hi = min(lo, v), max(hi, v)
			sum += float64(v)
			sq += float64(v) * float64(v)
		}
		mean := sum / n
		sd := math.Sqrt(sq/n - mean*mean)
		if math.Abs(mean-c.wantMean) > 0.01*c.wantMean || math.Abs(sd-c.sd) > 0.03*c.sd+0.01 {
			t.Errorf("%v around %d: mean %.2f sd %.2f, want %.2f and %.2f", c.d, c.mean, mean, sd, c.wantMean, c.sd)
		}
		if lo < 1 || (c.d.Kind == DistUniform && (lo != c.d.Lo || hi != c.d.Hi)) {
			t.Errorf("%v: samples from %d to %d", c.d, lo, hi)
		}
	}
	// Clamped at 1 and at 100 times the mean.
	rng := newRand(1, streamLength)
	for range 10000 {
		if v := (Dist{Kind: DistNormal, Spread: 1000}).Sample(rng, 2); v < 1 || v > 200 {
			t.Fatalf("normal sample %d outside [1, 200]", v)
		}
		if v := (Dist{Kind: DistLognormal, Spread: 4}).Sample(rng, 10); v < 1 || v > 1000 {
			t.Fatalf("lognormal sample %d outside [1, 1000]", v)
		}
	}
}
