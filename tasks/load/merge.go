package load

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// WorkerSummary is one input of a merged result: a results file of
// `mage load:merge`, or a worker pod of `mage k8s:load`.
type WorkerSummary struct {
	Name              string   `json:"name"`
	URL               string   `json:"url,omitempty"`
	Started           string   `json:"started,omitempty"`
	StoppedBy         string   `json:"stopped_by,omitempty"`
	DurationSeconds   float64  `json:"duration_seconds"`
	Concurrency       int      `json:"concurrency"`
	Rate              float64  `json:"rate"`
	OK                int64    `json:"ok"`
	Failed            int64    `json:"failed"`
	Availability      *float64 `json:"availability,omitempty"`
	RequestsPerSecond float64  `json:"requests_per_second"`
	TTFTP50           float64  `json:"ttft_p50_seconds"`
	TTFTP95           float64  `json:"ttft_p95_seconds"`
	ITLP95            float64  `json:"itl_p95_seconds"`
	Valid             bool     `json:"valid"`
	Invalid           []string `json:"invalid,omitempty"`
}

// MergeInput is one result to merge and the name the merged result gives
// it (a file path, a pod).
type MergeInput struct {
	Name   string
	Result *Result
}

// ErrNoRaw: a result without the raw counts and histograms cannot be
// merged exactly.
var ErrNoRaw = errors.New("load: the results file has no \"raw\" section (counts and HDR histograms)")

// Merge combines the results of runs that loaded one server at the same
// time, or of separate runs of one configuration, into one result of the
// same schema: counts add up, the latency histograms merge exactly (the
// percentiles are those of one histogram fed every request's samples,
// within HDR precision), the measured window runs from the earliest
// worker's first intended send to the latest worker's last end, and the
// throughput and the SLO verdicts are computed again over the merged
// figures. Each worker keeps its latencies on its own clock; clock skew
// between hosts stretches or shrinks only the window. Valid is true only
// when every worker's run was; Invalid keeps each worker's reasons, named.
// Per-stage and per-turn figures are left out (each worker's own files
// keep them). missing names workers that never reported: the result is
// then Partial.
func Merge(in []MergeInput, missing []string) (*Result, error) {
	if len(in) == 0 {
		return nil, errors.New("load: merge: no results to merge; name two or more results files (a.json,b.json)")
	}
	first := in[0].Result
	slo, err := sloOf(first)
	if err != nil {
		return nil, fmt.Errorf("load: merge %s: %w", in[0].Name, err)
	}
	all := newStats()
	out := &Result{
		Schema: first.Schema, Backend: first.Backend, Model: first.Model, Protocol: first.Protocol,
		URL: first.URL, Config: first.Config, StoppedBy: first.StoppedBy, SLOLatencyBasis: first.SLOLatencyBasis,
		Valid: true, Missing: append([]string(nil), missing...), Partial: len(missing) > 0,
		OutputTokensSource: SourceNone,
	}
	out.Config.Concurrency, out.Config.Rate, out.Config.Requests = 0, 0, 0
	var started time.Time
	var urls []string // every input's, in order
	var cpuTime, cpuCores float64
	cpuKnown := true
	for _, w := range in {
		r := w.Result
		if r == nil {
			return nil, fmt.Errorf("load: merge %s: no result", w.Name)
		}
		if r.Raw == nil {
			return nil, fmt.Errorf("%w: %s; it was written by an older version of the generator: run it again to merge it", ErrNoRaw, w.Name)
		}
		if err := sameRun(first, r); err != nil {
			return nil, fmt.Errorf("load: merge %s with %s: %w", w.Name, in[0].Name, err)
		}
		s, err := r.Raw.stats()
		if err != nil {
			return nil, fmt.Errorf("load: merge %s: %w", w.Name, err)
		}
		all.merge(&s)
		if t, err := time.Parse(time.RFC3339, r.Started); err == nil && (started.IsZero() || t.Before(started)) {
			started = t
		}
		if r.StoppedBy != out.StoppedBy {
			out.StoppedBy = "mixed"
		}
		if !slices.Contains(urls, r.URL) {
			urls = append(urls, r.URL)
		}
		out.Config.Concurrency += r.Config.Concurrency
		out.Config.Rate += r.Config.Rate
		out.Config.Requests += r.Config.Requests
		out.Requests.NotSent += r.Requests.NotSent
		out.DatasetSkipped += r.DatasetSkipped
		for _, e := range r.ErrorSamples {
			if len(out.ErrorSamples) < maxErrorSamples {
				e.Message = w.Name + ": " + e.Message
				out.ErrorSamples = append(out.ErrorSamples, e)
			}
		}
		for _, why := range r.Invalid {
			out.Invalid = append(out.Invalid, w.Name+": "+why)
		}
		out.Valid = out.Valid && r.Valid
		out.Generator.Cores += r.Generator.Cores
		if u := r.Generator.CPUUtilization; u != nil && r.DurationSeconds > 0 {
			cpuTime += *u * float64(r.Generator.Cores) * r.DurationSeconds
			cpuCores += float64(r.Generator.Cores) * r.DurationSeconds
		} else {
			cpuKnown = false
		}
		out.Workers = append(out.Workers, summarize(w.Name, r))
	}
	out.URL = strings.Join(urls, ",")
	if !started.IsZero() {
		out.Started = started.UTC().Format(time.RFC3339)
	}
	out.fill(&all, slo)
	out.Generator.Delay = quantiles(all.delay)
	if cpuKnown && cpuCores > 0 {
		u := cpuTime / cpuCores
		out.Generator.CPUUtilization = &u
	}
	if raw, err := all.raw(); err == nil {
		out.Raw = raw
	}
	return out, nil
}

// maxErrorSamples is how many error samples a result keeps.
const maxErrorSamples = 10

// sameRun says why a and b cannot be merged: they loaded different models
// or protocols, or judged by different objectives.
func sameRun(a, b *Result) error {
	switch {
	case a.Schema != b.Schema:
		return fmt.Errorf("schema %q and %q differ", b.Schema, a.Schema)
	case a.Model != b.Model:
		return fmt.Errorf("model %q and %q differ: a merged distribution of two models means nothing", b.Model, a.Model)
	case a.Protocol != b.Protocol:
		return fmt.Errorf("protocol %q and %q differ", b.Protocol, a.Protocol)
	case a.Config.Stream != b.Config.Stream:
		return errors.New("one run streamed and the other did not")
	case a.Config.InFlightAtEnd != b.Config.InFlightAtEnd:
		return fmt.Errorf("in_flight_at_end %q and %q differ", b.Config.InFlightAtEnd, a.Config.InFlightAtEnd)
	}
	if !sameSLO(a.SLO, b.SLO) {
		return fmt.Errorf("the SLO objectives differ (%s against %s): run both with the same -slo flags", sloText(b.SLO), sloText(a.SLO))
	}
	return nil
}

func sameSLO(a, b []SLOResult) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Target != b[i].Target {
			return false
		}
	}
	return true
}

func sloText(v []SLOResult) string {
	var parts []string
	for _, s := range v {
		parts = append(parts, s.Name+" "+s.Objective)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// sloOf recovers the objectives a result was judged by.
func sloOf(r *Result) (SLO, error) {
	slo := SLO{IgnoreInFlightAtEnd: r.Config.InFlightAtEnd == InFlightAtEndIgnore}
	for _, v := range r.SLO {
		switch v.Name {
		case "availability":
			slo.Availability = v.Target
		case "ttft_p95_seconds":
			slo.TTFTP95 = secondsDur(v.Target)
		case "itl_p95_seconds":
			slo.ITLP95 = secondsDur(v.Target)
		default:
			return slo, fmt.Errorf("unknown SLO %q in the results file; this version knows availability, ttft_p95_seconds, itl_p95_seconds", v.Name)
		}
	}
	return slo, nil
}

func summarize(name string, r *Result) WorkerSummary {
	w := WorkerSummary{Name: name, URL: r.URL, Started: r.Started, StoppedBy: r.StoppedBy,
		DurationSeconds: r.DurationSeconds, Concurrency: r.Config.Concurrency, Rate: r.Config.Rate,
		OK: r.Requests.OK, Failed: r.Requests.Failed, Availability: r.Requests.Availability,
		RequestsPerSecond: r.Throughput.RequestsPerSecond, TTFTP50: r.TTFTFromIntended.P50,
		TTFTP95: r.TTFTFromIntended.P95, ITLP95: r.ITL.P95, Valid: r.Valid, Invalid: r.Invalid}
	return w
}

// printWorkers writes a merged result's workers, one line each, and what
// is missing.
func (r *Result) printWorkers(w io.Writer) {
	if len(r.Workers) == 0 && !r.Partial {
		return
	}
	fmt.Fprintf(w, "merged:      %d results\n", len(r.Workers))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  worker\tload\tok\tfailed\treq/s\tTTFT p50\tTTFT p95\tITL p95\tvalid")
	for _, x := range r.Workers {
		load := fmt.Sprintf("c=%d", x.Concurrency)
		if x.Rate > 0 {
			load = fmt.Sprintf("%g req/s", x.Rate)
		}
		valid := "yes"
		if !x.Valid {
			valid = "NO"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%.2f\t%s\t%s\t%s\t%s\n", x.Name, load, x.OK, x.Failed,
			x.RequestsPerSecond, ms(x.TTFTP50), ms(x.TTFTP95), ms(x.ITLP95), valid)
	}
	tw.Flush()
	if r.Partial {
		fmt.Fprintf(w, "PARTIAL:     no result from %s: the merged figures leave out their requests\n", strings.Join(r.Missing, ", "))
	}
}
