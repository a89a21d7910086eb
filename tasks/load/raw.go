package load

import (
	"fmt"
	"sort"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// RawStats is what a results file keeps so that results merge exactly
// (load.Merge, `mage load:merge`, the workers of `mage k8s:load`): the
// counts behind every figure and the latency distributions as HDR
// histograms in HdrHistogram's V2 compressed encoding (base64; the format
// of HdrHistogram's Java, C and Go libraries, readable by their tools).
// Merging histograms of the same geometry is exact: the merged
// percentiles are those of one histogram fed every sample, within its
// precision (3 significant digits).
//
//	"raw": {"ok": 120, "failed": 1, ..., "by_error": {"http_5xx": 1},
//	        "output_sources": {"usage": 120},
//	        "first_intended": "2026-01-02T15:04:05.123456789Z",
//	        "last_end": "2026-01-02T15:04:35.2Z",
//	        "histograms": {"ttft": "HISTFAAA...", "ttft_from_intended": ..., "itl": ...,
//	                       "tpot": ..., "e2e": ..., "e2e_from_intended": ...,
//	                       "scheduling_lag": ..., "generator_delay": ...}}
type RawStats struct {
	OK              int64             `json:"ok"`
	Failed          int64             `json:"failed"`
	Canceled        int64             `json:"canceled"`
	InFlightAtEnd   int64             `json:"in_flight_at_end"`
	Client          int64             `json:"client_errors"`
	Warmup          int64             `json:"warmup"`
	Good            int64             `json:"good"`
	ByError         map[string]int64  `json:"by_error,omitempty"`
	OutputTokens    int64             `json:"output_tokens"`
	PromptTokens    int64             `json:"prompt_tokens"`
	PromptFromUsage int64             `json:"prompt_from_usage"`
	OutputSources   map[string]int64  `json:"output_sources,omitempty"`
	FirstIntended   string            `json:"first_intended,omitempty"` // RFC3339 with nanoseconds
	LastEnd         string            `json:"last_end,omitempty"`
	Histograms      map[string]string `json:"histograms"`
}

// rawHistNames names s.hists() in the results file, in the same order.
var rawHistNames = [...]string{"ttft", "ttft_from_intended", "itl", "tpot", "e2e", "e2e_from_intended",
	"scheduling_lag", "generator_delay"}

// raw encodes s for the results file.
func (s *stats) raw() (*RawStats, error) {
	r := &RawStats{OK: s.ok, Failed: s.failed, Canceled: s.canceled, InFlightAtEnd: s.inFlightAtEnd,
		Client: s.client, Warmup: s.warmup, Good: s.good, OutputTokens: s.outTokens,
		PromptTokens: s.promptTokens, PromptFromUsage: s.promptFromUsage, Histograms: map[string]string{}}
	for i, k := range allKinds {
		if n := s.byKind[i]; n > 0 {
			if r.ByError == nil {
				r.ByError = map[string]int64{}
			}
			r.ByError[string(k)] = n
		}
	}
	for i, src := range tokenSources {
		if n := s.outSources[i]; n > 0 {
			if r.OutputSources == nil {
				r.OutputSources = map[string]int64{}
			}
			r.OutputSources[src] = n
		}
	}
	if !s.first.IsZero() {
		r.FirstIntended = s.first.UTC().Format(time.RFC3339Nano)
	}
	if !s.last.IsZero() {
		r.LastEnd = s.last.UTC().Format(time.RFC3339Nano)
	}
	for i, h := range s.hists() {
		b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
		if err != nil {
			return nil, fmt.Errorf("load: encode the %s histogram: %w", rawHistNames[i], err)
		}
		r.Histograms[rawHistNames[i]] = string(b)
	}
	return r, nil
}

// stats decodes r; an error names the field at fault.
func (r *RawStats) stats() (stats, error) {
	s := newStats()
	s.ok, s.failed, s.canceled, s.inFlightAtEnd = r.OK, r.Failed, r.Canceled, r.InFlightAtEnd
	s.client, s.warmup, s.good = r.Client, r.Warmup, r.Good
	s.outTokens, s.promptTokens, s.promptFromUsage = r.OutputTokens, r.PromptTokens, r.PromptFromUsage
	for _, n := range []int64{s.ok, s.failed, s.canceled, s.inFlightAtEnd, s.client, s.warmup, s.good,
		s.outTokens, s.promptTokens, s.promptFromUsage} {
		if n < 0 {
			return s, fmt.Errorf("raw: a count is negative (%d); counts are >= 0", n)
		}
	}
	for k, n := range r.ByError {
		i := kindIndex(ErrorKind(k))
		if i < 0 || n < 0 {
			return s, fmt.Errorf("raw.by_error: %q: %d; the kinds are %s, with counts >= 0", k, n, kindList())
		}
		s.byKind[i] = n
	}
	for k, n := range r.OutputSources {
		i := sourceIndex(k)
		if i < 0 || n < 0 {
			return s, fmt.Errorf("raw.output_sources: %q: %d; the sources are %v, with counts >= 0", k, n, tokenSources)
		}
		s.outSources[i] = n
	}
	var err error
	if s.first, err = rawTime("first_intended", r.FirstIntended); err != nil {
		return s, err
	}
	if s.last, err = rawTime("last_end", r.LastEnd); err != nil {
		return s, err
	}
	dst := s.hists()
	for i, name := range rawHistNames {
		enc, ok := r.Histograms[name]
		if !ok {
			return s, fmt.Errorf("raw.histograms: no %q histogram; a results file written by this version has all of %v", name, rawHistNames)
		}
		h, err := hdrhistogram.Decode([]byte(enc))
		if err != nil {
			return s, fmt.Errorf("raw.histograms.%s: not an HDR histogram in V2 compressed base64 encoding: %w", name, err)
		}
		if h.LowestTrackableValue() != hdrMinMicros || h.HighestTrackableValue() != hdrMaxMicros || h.SignificantFigures() != hdrSigFigs {
			return s, fmt.Errorf("raw.histograms.%s: geometry %d..%d µs, %d digits; this generator's histograms are %d..%d µs, %d digits",
				name, h.LowestTrackableValue(), h.HighestTrackableValue(), h.SignificantFigures(), hdrMinMicros, hdrMaxMicros, hdrSigFigs)
		}
		dst[i].Merge(h)
	}
	if want := s.ok; s.ttft.TotalCount() != want || s.e2e.TotalCount() != want {
		return s, fmt.Errorf("raw: %d ok requests but %d TTFT and %d E2E samples; the file was edited or is damaged",
			want, s.ttft.TotalCount(), s.e2e.TotalCount())
	}
	return s, nil
}

func rawTime(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return t, fmt.Errorf("raw.%s: %q is not an RFC 3339 time (like 2026-01-02T15:04:05.123Z)", field, v)
	}
	return t, nil
}

func sourceIndex(src string) int {
	for i, s := range tokenSources {
		if s == src {
			return i
		}
	}
	return -1
}

func kindList() string {
	names := make([]string, len(allKinds))
	for i, k := range allKinds {
		names[i] = string(k)
	}
	sort.Strings(names)
	return fmt.Sprint(names)
}
