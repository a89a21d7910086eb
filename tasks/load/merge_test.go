package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

var mergeSLO = SLO{Availability: 0.999, TTFTP95: 2 * time.Second, ITLP95: 150 * time.Millisecond}

// workerRun is a synthetic worker: n requests whose latencies are drawn
// from a log-normal around ttftMedian, recorded as the generator records
// them, returned with the raw TTFT samples (µs).
func workerRun(t *testing.T, rng *rand.Rand, n int, ttftMedian time.Duration, fails int, start time.Time) (*Result, []int64) {
	t.Helper()
	s := newStats()
	var ttfts []int64
	for i := 0; i < n; i++ {
		intended := start.Add(time.Duration(i) * 10 * time.Millisecond)
		ttft := time.Duration(float64(ttftMedian) * math.Exp(0.5*rng.NormFloat64()))
		sent := intended.Add(time.Duration(rng.IntN(200)) * time.Microsecond)
		r := &reqRecord{intended: intended, sent: sent, first: sent.Add(ttft), outTokens: 16, outSource: 0}
		last := r.first
		for k := 0; k < 15; k++ {
			gap := time.Duration(5+rng.IntN(20)) * time.Millisecond
			last = last.Add(gap)
			r.gaps = append(r.gaps, gap.Microseconds())
		}
		r.end = last
		s.add(r, true)
		ttfts = append(ttfts, ttft.Microseconds())
	}
	for i := 0; i < fails; i++ {
		r := &reqRecord{intended: start, sent: start, end: start.Add(time.Millisecond), kind: ErrHTTP5xx}
		s.add(r, false)
	}
	res := &Result{Schema: "loadgen/v1", Backend: "sim", Model: "m", Protocol: "openai-chat", URL: "http://x",
		Started: start.UTC().Format(time.RFC3339), StoppedBy: "requests",
		Config: RunConfig{Concurrency: 4, Stream: true, InFlightAtEnd: InFlightAtEndFail}, Valid: true}
	res.fill(&s, mergeSLO)
	raw, err := s.raw()
	if err != nil {
		t.Fatal(err)
	}
	res.Raw = raw
	// Through the results file, as load:merge reads it.
	path := filepath.Join(t.TempDir(), "r.json")
	if err := WriteResult(path, res); err != nil {
		t.Fatal(err)
	}
	back, err := ReadResult(path)
	if err != nil {
		t.Fatal(err)
	}
	return back, ttfts
}

// exactRank is the exact percentile q (0-100) of sorted samples, by the
// rank HDR histograms use: q/100 x n rounded to the nearest, at least 1.
func exactRank(sorted []int64, q float64) int64 {
	i := int(math.Floor(q/100*float64(len(sorted))+0.5)) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

func TestMergeEqualsOneHistogramOfAllSamples(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	var in []MergeInput
	var all []int64
	whole := newStats()
	medians := []time.Duration{40 * time.Millisecond, 80 * time.Millisecond, 300 * time.Millisecond, 1200 * time.Millisecond,
		55 * time.Millisecond, 70 * time.Millisecond, 90 * time.Millisecond, 2 * time.Second}
	for i, med := range medians {
		res, samples := workerRun(t, rng, 500+137*i, med, 5*(i%3), start.Add(time.Duration(i)*time.Second))
		in = append(in, MergeInput{Name: "w" + string(rune('0'+i)), Result: res})
		all = append(all, samples...)
		s, err := res.Raw.stats()
		if err != nil {
			t.Fatal(err)
		}
		whole.merge(&s)
	}
	m, err := Merge(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ok, failed int64
	for _, x := range in {
		ok += x.Result.Requests.OK
		failed += x.Result.Requests.Failed
	}
	if m.Requests.OK != ok || m.Requests.Failed != failed || m.Requests.ByError["http_5xx"] != failed {
		t.Fatalf("counts: merged ok %d failed %d (by_error %v), want %d and %d", m.Requests.OK, m.Requests.Failed, m.Requests.ByError, ok, failed)
	}
	if m.TTFT.Count != int64(len(all)) {
		t.Fatalf("TTFT count %d, want %d", m.TTFT.Count, len(all))
	}
	// Exactly the percentiles of one histogram fed every sample.
	if want := quantiles(whole.ttft); m.TTFT != want {
		t.Fatalf("merged TTFT %+v, one histogram of all samples %+v", m.TTFT, want)
	}
	if want := quantiles(whole.itl); m.ITL != want {
		t.Fatalf("merged ITL %+v, one histogram %+v", m.ITL, want)
	}
	// And within HDR precision (3 significant digits) of the exact
	// percentiles of the concatenated samples.
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	for _, c := range []struct {
		q   float64
		got float64
	}{{50, m.TTFT.P50}, {90, m.TTFT.P90}, {95, m.TTFT.P95}, {99, m.TTFT.P99}, {99.9, m.TTFT.P999}} {
		exact := float64(exactRank(all, c.q)) / 1e6
		if rel := math.Abs(c.got-exact) / exact; rel > 1e-3 {
			t.Errorf("p%g: merged %.6f s, exact %.6f s (relative error %.2g > 0.001)", c.q, c.got, exact, rel)
		}
	}
	// The window runs from the first worker's first intended send to the
	// last worker's last end; throughput is over it.
	if m.DurationSeconds <= float64(len(medians)-1) {
		t.Fatalf("merged window %.2f s: should span the workers' staggered starts", m.DurationSeconds)
	}
	if got, want := m.Throughput.RequestsPerSecond, float64(ok)/m.DurationSeconds; math.Abs(got-want) > 1e-9 {
		t.Fatalf("req/s %g, want %g", got, want)
	}
	if m.URL != "http://x" {
		t.Errorf("merged URL %q: the inputs' one URL, once", m.URL)
	}
	if len(m.Workers) != len(in) || m.Config.Concurrency != 4*len(in) {
		t.Fatalf("workers %d concurrency %d", len(m.Workers), m.Config.Concurrency)
	}
	// Availability SLO recomputed over the merged counts.
	if a := *m.Requests.Availability; math.Abs(a-float64(ok)/float64(ok+failed)) > 1e-12 || m.SLO[0].OK {
		t.Fatalf("availability %g (ok %v), want %g and FAIL", a, m.SLO[0].OK, float64(ok)/float64(ok+failed))
	}
	// A merged result merges again to the same figures.
	m2, err := Merge([]MergeInput{{Name: "merged", Result: m}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m2.TTFT != m.TTFT || m2.Requests.OK != m.Requests.OK || m2.DurationSeconds != m.DurationSeconds {
		t.Fatalf("re-merge changed the figures: %+v vs %+v", m2.TTFT, m.TTFT)
	}
}

func TestMergeRefusesWhatDoesNotMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	start := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	a, _ := workerRun(t, rng, 50, 50*time.Millisecond, 0, start)
	mk := func(edit func(r *Result)) *Result {
		b, _ := workerRun(t, rng, 50, 50*time.Millisecond, 0, start)
		edit(b)
		return b
	}
	cases := []struct {
		name string
		b    *Result
		want string
	}{
		{"model", mk(func(r *Result) { r.Model = "other" }), `model "other" and "m" differ`},
		{"slo", mk(func(r *Result) { r.SLO[1].Target = 1 }), "the SLO objectives differ"},
		{"noraw", mk(func(r *Result) { r.Raw = nil }), `no "raw" section`},
		{"hist", mk(func(r *Result) { r.Raw.Histograms["itl"] = "bm90IGEgaGlzdG9ncmFt" }), "raw.histograms.itl: not an HDR histogram"},
		{"missinghist", mk(func(r *Result) { delete(r.Raw.Histograms, "tpot") }), `no "tpot" histogram`},
		{"kind", mk(func(r *Result) { r.Raw.ByError = map[string]int64{"nope": 1} }), `raw.by_error: "nope"`},
		{"count", mk(func(r *Result) { r.Raw.OK++ }), "51 ok requests but 50 TTFT"},
		{"time", mk(func(r *Result) { r.Raw.LastEnd = "yesterday" }), `raw.last_end: "yesterday" is not an RFC 3339 time`},
	}
	for _, c := range cases {
		_, err := Merge([]MergeInput{{Name: "a.json", Result: a}, {Name: "b.json", Result: c.b}}, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "b.json") {
			t.Errorf("%s: error %v, want one naming b.json and %q", c.name, err, c.want)
		}
	}
	if _, err := Merge(nil, nil); err == nil {
		t.Error("merge of nothing: no error")
	}
}

func TestMergePartialAndInvalidAreSaid(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	start := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	a, _ := workerRun(t, rng, 100, 50*time.Millisecond, 0, start)
	b, _ := workerRun(t, rng, 100, 50*time.Millisecond, 0, start)
	b.Valid, b.Invalid = false, []string{"the generator was short of CPU"}
	m, err := Merge([]MergeInput{{Name: "pod-0", Result: a}, {Name: "pod-1", Result: b}}, []string{"pod-2"})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Partial || m.Valid || len(m.Invalid) != 1 || m.Invalid[0] != "pod-1: the generator was short of CPU" {
		t.Fatalf("partial %v valid %v invalid %q", m.Partial, m.Valid, m.Invalid)
	}
	var out bytes.Buffer
	m.PrintSummary(&out)
	for _, want := range []string{"merged:      2 results", "pod-0", "pod-1", "PARTIAL:     no result from pod-2",
		"INVALID: pod-1: the generator was short of CPU"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	j, _ := json.Marshal(m)
	if !strings.Contains(string(j), `"missing_workers":["pod-2"]`) || !strings.Contains(string(j), `"partial":true`) {
		t.Fatalf("results file lacks the missing worker: %s", j[:200])
	}
}

// Options.Progress gets the run's counts as it goes, with no status
// writer (cmd/loadgen's Kubernetes workers publish them).
func TestProgressWithoutStatus(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: %s\n\ndata: [DONE]\n\n", chatChunk("hi"))
	})
	var mu sync.Mutex
	var last Progress
	calls := 0
	res, err := Run(context.Background(), Options{Backend: "vllm", Model: "m", URL: srv.URL, Protocol: ProtocolOpenAIChat, Stream: true,
		Concurrency: 2, Duration: 600 * time.Millisecond, StatusInterval: 100 * time.Millisecond,
		Progress: func(p Progress) { mu.Lock(); last, calls = p, calls+1; mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls < 3 || last.OK == 0 || last.OK > res.Requests.OK || last.FirstIntended.IsZero() || last.Elapsed <= 0 {
		t.Fatalf("%d progress calls, last %+v (result ok %d)", calls, last, res.Requests.OK)
	}
	if rps := last.RequestsPerSecond(last.FirstIntended.Add(time.Second)); rps != float64(last.OK) {
		t.Fatalf("req/s over 1 s: %g, want %d", rps, last.OK)
	}
}
