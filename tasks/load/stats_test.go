package load

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/workload"
)

// exactQuantile is the nearest-rank quantile of sorted values (HDR's
// definition: the smallest value with at least q of the samples at or below it).
func exactQuantile(sorted []int64, q float64) int64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

func TestPercentilesMatchExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, dist := range []string{"uniform", "lognormal", "bimodal"} {
		t.Run(dist, func(t *testing.T) {
			s := newStats()
			var vals []int64
			for i := 0; i < 20000; i++ {
				var us int64
				switch dist {
				case "uniform":
					us = 1 + rng.Int64N(5_000_000)
				case "lognormal":
					us = int64(math.Exp(10 + 1.5*rng.NormFloat64()))
				case "bimodal":
					us = 20_000 + rng.Int64N(1000)
					if rng.IntN(100) < 3 { // 3% slow tail
						us = 2_000_000 + rng.Int64N(500_000)
					}
				}
				us = max(us, 1)
				vals = append(vals, us)
				recordMicros(s.ttft, us)
			}
			slices.Sort(vals)
			q := quantiles(s.ttft)
			check := func(name string, got float64, p float64) {
				want := float64(exactQuantile(vals, p)) / 1e6
				// HDR with 3 significant digits: within 0.1% (one unit of
				// resolution at microsecond scale).
				if math.Abs(got-want) > want*0.001+1e-6 {
					t.Errorf("%s = %.6f, exact %.6f", name, got, want)
				}
			}
			check("p50", q.P50, 0.50)
			check("p90", q.P90, 0.90)
			check("p95", q.P95, 0.95)
			check("p99", q.P99, 0.99)
			check("p999", q.P999, 0.999)
			check("max", q.Max, 1)
			var sum float64
			for _, v := range vals {
				sum += float64(v)
			}
			if mean := sum / float64(len(vals)) / 1e6; math.Abs(q.Mean-mean) > mean*0.001 {
				t.Errorf("mean %v, exact %v", q.Mean, mean)
			}
			if q.Count != int64(len(vals)) {
				t.Errorf("count %d", q.Count)
			}
		})
	}
}

func TestShardMergeEqualsSingle(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	all := newStats()
	parts := []stats{newStats(), newStats(), newStats()}
	for i := 0; i < 3000; i++ {
		v := 1 + rng.Int64N(1_000_000)
		recordMicros(all.itl, v)
		recordMicros(parts[i%3].itl, v)
	}
	merged := newStats()
	for i := range parts {
		merged.merge(&parts[i])
	}
	if quantiles(merged.itl) != quantiles(all.itl) {
		t.Fatalf("merged %+v != single %+v", quantiles(merged.itl), quantiles(all.itl))
	}
	merged.reset()
	if merged.itl.TotalCount() != 0 || merged.ok != 0 {
		t.Fatal("reset kept data")
	}
}

func TestRecordClamps(t *testing.T) {
	s := newStats()
	recordDur(s.e2e, 5*time.Hour)
	recordDur(s.e2e, -time.Second)
	if s.e2e.TotalCount() != 2 || s.e2e.Max() < hdrMaxMicros*999/1000 {
		t.Fatalf("count %d max %d", s.e2e.TotalCount(), s.e2e.Max())
	}
}

func TestArrivalShapes(t *testing.T) {
	const n = 200_000
	meanVar := func(a *Arrivals) (float64, float64) {
		var sum, sq float64
		for i := 0; i < n; i++ {
			x := a.NextSeconds()
			if x < 0 {
				t.Fatalf("negative gap %v", x)
			}
			sum += x
			sq += x * x
		}
		m := sum / n
		return m, sq/n - m*m
	}
	// Poisson at 50 req/s: mean gap 20 ms, CV^2 = 1. With 200k samples the
	// standard error of the mean is 0.22%, so 1% is > 4 sigma.
	a, err := NewArrivals(ShapePoisson, 50, 0, 42)
	if err != nil {
		t.Fatal(err)
	}
	m, v := meanVar(a)
	if math.Abs(m-0.02)/0.02 > 0.01 {
		t.Errorf("poisson mean gap %v, want 0.02", m)
	}
	if cv2 := v / (m * m); math.Abs(cv2-1) > 0.03 {
		t.Errorf("poisson CV^2 %v, want 1", cv2)
	}
	// Mean rate over many arrivals.
	a, _ = NewArrivals("", 50, 0, 43)
	var total time.Duration
	for i := 0; i < n; i++ {
		total += a.Next()
	}
	if rate := n / total.Seconds(); math.Abs(rate-50)/50 > 0.01 {
		t.Errorf("poisson rate %v, want 50", rate)
	}
	// Gamma: mean 1/rate, CV^2 = 1/burstiness.
	for _, k := range []float64{0.25, 1, 4} {
		a, err := NewArrivals(ShapeGamma, 10, k, 9)
		if err != nil {
			t.Fatal(err)
		}
		m, v := meanVar(a)
		if math.Abs(m-0.1)/0.1 > 0.02 {
			t.Errorf("gamma k=%v mean %v, want 0.1", k, m)
		}
		if cv2 := v / (m * m); math.Abs(cv2-1/k)/(1/k) > 0.06 {
			t.Errorf("gamma k=%v CV^2 %v, want %v", k, cv2, 1/k)
		}
	}
	// Constant: exact gaps.
	a, _ = NewArrivals(ShapeConstant, 4, 0, 1)
	for i := 0; i < 10; i++ {
		if g := a.Next(); g != 250*time.Millisecond {
			t.Fatalf("constant gap %v", g)
		}
	}
	// Same seed, same sequence.
	a1, _ := NewArrivals(ShapeGamma, 3, 0.5, 5)
	a2, _ := NewArrivals(ShapeGamma, 3, 0.5, 5)
	for i := 0; i < 100; i++ {
		if a1.Next() != a2.Next() {
			t.Fatal("not deterministic")
		}
	}
	for _, bad := range []struct {
		shape       string
		rate, burst float64
	}{{"poisson", 0, 0}, {"poisson", math.Inf(1), 0}, {"gamma", 1, -1}, {"uniform", 1, 0}} {
		if _, err := NewArrivals(bad.shape, bad.rate, bad.burst, 1); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// Synthetic prompts (package workload makes them; its tests check the
// words) have the length asked for and distinct beginnings, and repeat
// with the seed.
func TestSyntheticPrompts(t *testing.T) {
	src := PromptSource{SyntheticTokens: 200, SyntheticCount: 10, Seed: 3}
	ps, err := LoadPrompts(context.Background(), src)
	if err != nil || len(ps) != 10 {
		t.Fatal(err, len(ps))
	}
	seen := map[string]bool{}
	for _, p := range ps {
		if n := workload.EstimateTokens(p.Text); n != 200 {
			t.Errorf("words %d, want 200", n)
		}
		first := strings.Join(strings.Fields(p.Text)[:3], " ")
		if seen[first] {
			t.Errorf("prefix %q repeated", first)
		}
		seen[first] = true
	}
	again, _ := LoadPrompts(context.Background(), src)
	if !slices.EqualFunc(ps, again, func(a, b Prompt) bool { return a.Text == b.Text && a.MaxTokens == b.MaxTokens }) {
		t.Error("not deterministic")
	}
	got, err := LoadPrompts(context.Background(), PromptSource{SyntheticTokens: 32})
	if err != nil || len(got) != 100 || workload.EstimateTokens(got[0].Text) != 32 {
		t.Fatalf("LoadPrompts synthetic: %v %d", err, len(got))
	}
	if d, _ := LoadPrompts(context.Background(), PromptSource{}); len(d) != 5 {
		t.Fatalf("default prompts %d", len(d))
	}
	if _, err := LoadPrompts(context.Background(), PromptSource{SyntheticTokens: 5, Dataset: "x"}); err == nil {
		t.Error("two sources accepted")
	}
}

func TestDatasetSources(t *testing.T) {
	content := []byte(`{"prompt": "from the web", "max_tokens": 9}` + "\n" + `{"text": "second"}` + "\n")
	sum := sha256.Sum256(content)
	good := "sha256:" + hex.EncodeToString(sum[:])
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		if r.URL.Path != "/data.jsonl" {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Get("checksum") != "" {
			t.Errorf("checksum leaked to the server: %s", r.URL)
		}
		w.Write(content)
	}))
	defer srv.Close()
	ctx := context.Background()

	ps, err := LoadPrompts(ctx, PromptSource{Dataset: srv.URL + "/data.jsonl?checksum=" + good})
	if err != nil || len(ps) != 2 || ps[0].Text != "from the web" || ps[0].MaxTokens != 9 {
		t.Fatalf("URL with checksum: %v %+v", err, ps)
	}
	ps, err = LoadPrompts(ctx, PromptSource{Dataset: srv.URL + "/data.jsonl", Checksum: good})
	if err != nil || len(ps) != 2 {
		t.Fatalf("checksum option: %v", err)
	}
	before := hits
	_, err = LoadPrompts(ctx, PromptSource{Dataset: srv.URL + "/data.jsonl"})
	if err == nil || !strings.Contains(err.Error(), "no checksum") || hits != before {
		t.Fatalf("no checksum: %v (server hit %d times)", err, hits-before)
	}
	wrong := "sha256:" + strings.Repeat("0", 64)
	if _, err = LoadPrompts(ctx, PromptSource{Dataset: srv.URL + "/data.jsonl", Checksum: wrong}); err == nil {
		t.Fatal("wrong checksum accepted")
	}
	for _, c := range []string{"md5:" + strings.Repeat("0", 32), "file:" + srv.URL + "/sums", "sha256:xyz"} {
		_, err = LoadPrompts(ctx, PromptSource{Dataset: srv.URL + "/data.jsonl", Checksum: c})
		if err == nil || !strings.Contains(err.Error(), "expected sha256") {
			t.Errorf("checksum %q: %v", c, err)
		}
	}
	if _, err = LoadPrompts(ctx, PromptSource{Dataset: "git::https://example.com/x.git"}); err == nil {
		t.Error("git source accepted")
	}
	if _, err = LoadPrompts(ctx, PromptSource{Dataset: "s3://bucket/x.jsonl", Checksum: good}); err == nil ||
		!strings.Contains(err.Error(), "not supported") {
		t.Errorf("s3: %v", err)
	}

	// Local path (no checksum needed) and file:// URL.
	dir := t.TempDir()
	p := filepath.Join(dir, "local.jsonl")
	os.WriteFile(p, content, 0o644)
	for _, src := range []string{p, "file://" + p} {
		ps, err = LoadPrompts(ctx, PromptSource{Dataset: src})
		if err != nil || len(ps) != 2 {
			t.Errorf("%s: %v", src, err)
		}
	}
	os.WriteFile(p, []byte("{\"prompt\": \"ok\"}\nnot json\n"), 0o644)
	if _, err = LoadPrompts(ctx, PromptSource{Dataset: p}); err == nil || !strings.Contains(err.Error(), p+":2:") {
		t.Errorf("bad line: %v", err)
	}
}
