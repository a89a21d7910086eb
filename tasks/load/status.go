package load

import (
	"fmt"
	"strings"
	"time"
)

// statusLoop writes the live status line until done is closed.
func (g *gen) statusLoop(done <-chan struct{}) {
	every := g.o.StatusInterval
	if every <= 0 {
		every = time.Second
		if !g.o.IsTerminal {
			every = 5 * time.Second
		}
	}
	t := time.NewTicker(every)
	defer t.Stop()
	s := newStats()
	wrote := false
	for {
		select {
		case <-done:
			if wrote && g.o.IsTerminal && g.o.Status != nil {
				fmt.Fprintln(g.o.Status)
			}
			return
		case <-t.C:
			g.snapshot(&s)
			if g.o.Progress != nil {
				g.o.Progress(progressOf(&s, time.Since(g.start)))
			}
			if g.o.Status == nil {
				continue
			}
			line := g.statusLine(&s, time.Since(g.start))
			if g.o.IsTerminal {
				fmt.Fprintf(g.o.Status, "\r%s\x1b[K", line)
			} else {
				fmt.Fprintln(g.o.Status, line)
			}
			wrote = true
		}
	}
}

// statusLine renders one status line from a snapshot.
func (g *gen) statusLine(s *stats, elapsed time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%6s  ok %d  failed %d", elapsed.Truncate(time.Second), s.ok, s.failed)
	if s.client > 0 {
		fmt.Fprintf(&b, "  client errors %d (suspect)", s.client)
	}
	if s.warmup > 0 && s.ok+s.failed == 0 {
		fmt.Fprintf(&b, " (warm-up %d)", s.warmup)
	}
	win := 0.0
	if !s.first.IsZero() {
		win = time.Since(s.first).Seconds()
	}
	rps, tps := 0.0, 0.0
	if win > 0 {
		rps, tps = float64(s.ok)/win, float64(s.outTokens)/win
	}
	fmt.Fprintf(&b, "  %.1f req/s  %.0f tok/s", rps, tps)
	q := func(us int64) string { return ms(float64(us) / 1e6) }
	if s.ttftSched.TotalCount() > 0 {
		fmt.Fprintf(&b, "  TTFT p50 %s p95 %s", q(s.ttftSched.ValueAtQuantile(50)), q(s.ttftSched.ValueAtQuantile(95)))
	}
	if s.itl.TotalCount() > 0 {
		fmt.Fprintf(&b, "  ITL p50 %s p95 %s", q(s.itl.ValueAtQuantile(50)), q(s.itl.ValueAtQuantile(95)))
	}
	fmt.Fprintf(&b, "  in-flight %d", g.inFlight.Load())
	g.mu.Lock()
	draining := g.stopped && g.o.bounded()
	g.mu.Unlock()
	if draining {
		fmt.Fprintf(&b, " (sending stopped; waiting up to %v for them)", g.o.DrainTimeout)
	}
	var broken []string
	nodata := true
	for _, v := range evalSLO(g.o.SLO, s) {
		if !v.NoData {
			nodata = false
		}
		if !v.OK && !v.NoData {
			broken = append(broken, strings.TrimSuffix(strings.TrimSuffix(v.Name, "_seconds"), "_p95"))
		}
	}
	switch {
	case len(broken) > 0:
		b.WriteString("  SLO BREACH " + strings.Join(broken, ","))
	case nodata:
		b.WriteString("  SLO -")
	default:
		b.WriteString("  SLO ok")
	}
	return b.String()
}

// Progress is what a run has measured so far, for Options.Progress.
type Progress struct {
	Elapsed       time.Duration `json:"elapsed_ns"`
	OK            int64         `json:"ok"`
	Failed        int64         `json:"failed"`
	ClientErrors  int64         `json:"client_errors"`
	Warmup        int64         `json:"warmup"`
	OutputTokens  int64         `json:"output_tokens"`
	FirstIntended time.Time     `json:"first_intended"` // start of the measured window; zero before it
}

// RequestsPerSecond is OK over the measured window up to now.
func (p Progress) RequestsPerSecond(now time.Time) float64 {
	if p.FirstIntended.IsZero() || !now.After(p.FirstIntended) {
		return 0
	}
	return float64(p.OK) / now.Sub(p.FirstIntended).Seconds()
}

func progressOf(s *stats, elapsed time.Duration) Progress {
	return Progress{Elapsed: elapsed, OK: s.ok, Failed: s.failed + s.inFlightAtEnd, ClientErrors: s.client,
		Warmup: s.warmup, OutputTokens: s.outTokens, FirstIntended: s.first}
}
