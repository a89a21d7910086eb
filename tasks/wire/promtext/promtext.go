// Package promtext reads the Prometheus text exposition format (the page a
// server serves at /metrics) with github.com/prometheus/common/expfmt, and
// answers the questions bench, smoke and check:config ask of such a page:
// does a family exist, what do the samples of a name (with some labels)
// add up to, what are a histogram's buckets, which series does the page
// expose. Pages come from servers, so any input either parses or returns
// an error; nothing panics.
package promtext

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// MaxBytes bounds one page (a vLLM page is ~100 KB); the rest is not read.
const MaxBytes = 32 << 20

// Page is one parsed metrics page.
type Page struct {
	// Families are the page's metric families by name, as expfmt reads
	// them: a histogram's _bucket, _sum and _count samples are one family,
	// and a family without samples is left out.
	Families map[string]*dto.MetricFamily
	// declared holds the names of HELP and TYPE lines, samples or not.
	declared map[string]bool
}

// Parse reads a page in the text exposition format, names with ':'
// (vllm:*) and quoted UTF-8 names included. A page cut after its last
// sample (no final newline, as some captures are) is accepted. Errors are
// "reading: ..." or "not the Prometheus text format: ..."; callers add
// where the page came from.
func Parse(r io.Reader) (*Page, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxBytes))
	if err != nil {
		return nil, fmt.Errorf("reading: %w", err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("not the Prometheus text format: %w", err)
	}
	return &Page{Families: fams, declared: declaredNames(b)}, nil
}

// FromFamilies makes a page of gathered families (a registry's Gather),
// each family kept, samples or not.
func FromFamilies(mfs []*dto.MetricFamily) *Page {
	p := &Page{Families: make(map[string]*dto.MetricFamily, len(mfs))}
	for _, mf := range mfs {
		p.Families[mf.GetName()] = mf
	}
	return p
}

// declaredNames returns the names on the HELP and TYPE lines of a page
// that expfmt accepted.
func declaredNames(b []byte) map[string]bool {
	names := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), MaxBytes)
	for sc.Scan() {
		line := strings.TrimLeft(sc.Text(), " \t")
		rest, ok := strings.CutPrefix(line, "# HELP ")
		if !ok {
			rest, ok = strings.CutPrefix(line, "# TYPE ")
		}
		if !ok {
			continue
		}
		rest = strings.TrimLeft(rest, " \t")
		if q, err := strconv.QuotedPrefix(rest); err == nil {
			if name, err := strconv.Unquote(q); err == nil && name != "" {
				names[name] = true
			}
			continue
		}
		if end := strings.IndexAny(rest, " \t"); end >= 0 {
			rest = rest[:end]
		}
		if rest != "" {
			names[rest] = true
		}
	}
	return names
}

// Series returns the names of the page's samples as Prometheus stores
// them, sorted: a histogram family as name_bucket, name_sum and name_count,
// a summary as name, name_sum and name_count.
func (p *Page) Series() []string {
	set := p.seriesSet()
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (p *Page) seriesSet() map[string]bool {
	set := map[string]bool{}
	if p == nil {
		return set
	}
	for n, mf := range p.Families {
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			set[n+"_bucket"], set[n+"_sum"], set[n+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			set[n], set[n+"_sum"], set[n+"_count"] = true, true, true
		default:
			set[n] = true
		}
	}
	return set
}

// familySuffixes are the suffixes a family's samples may carry.
var familySuffixes = []string{"_bucket", "_count", "_sum", "_total"}

// Has reports whether the page has family: a series or a HELP or TYPE line
// of that name, or of that name with one of the suffixes _bucket, _count,
// _sum or _total (a histogram's or a counter's samples).
func (p *Page) Has(family string) bool {
	if p == nil {
		return false
	}
	set := p.seriesSet()
	for n := range p.declared {
		set[n] = true
	}
	if set[family] {
		return true
	}
	for _, s := range familySuffixes {
		if set[family+s] {
			return true
		}
	}
	return false
}

// LabelsMatch reports whether m carries every label of want.
func LabelsMatch(m *dto.Metric, want map[string]string) bool {
	for k, v := range want {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == k && lp.GetValue() == v {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Sum adds the counter, gauge and untyped samples of the family name whose
// labels include want; ok is false when no sample matched. A name_count or
// name_sum of a histogram or summary family name adds that family's counts
// or sums.
func (p *Page) Sum(name string, want map[string]string) (sum float64, ok bool) {
	if p == nil {
		return 0, false
	}
	if f, found := p.Families[name]; found {
		n := 0
		for _, m := range f.GetMetric() {
			if !LabelsMatch(m, want) {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			case m.GetUntyped() != nil:
				sum += m.GetUntyped().GetValue()
			default:
				continue
			}
			n++
		}
		return sum, n > 0
	}
	for _, suffix := range []string{"_count", "_sum"} {
		base, cut := strings.CutSuffix(name, suffix)
		if !cut {
			continue
		}
		if h, found := p.Histogram(base, want); found {
			if suffix == "_count" {
				return h.Count, true
			}
			return h.Sum, true
		}
		if c, s, found := p.summary(base, want); found {
			if suffix == "_count" {
				return c, true
			}
			return s, true
		}
	}
	return 0, false
}

func (p *Page) summary(name string, want map[string]string) (count, sum float64, ok bool) {
	f, found := p.Families[name]
	if !found || f.GetType() != dto.MetricType_SUMMARY {
		return 0, 0, false
	}
	for _, m := range f.GetMetric() {
		if s := m.GetSummary(); s != nil && LabelsMatch(m, want) {
			count += float64(s.GetSampleCount())
			sum += s.GetSampleSum()
			ok = true
		}
	}
	return count, sum, ok
}

// Histogram is the sum over the series of a histogram family: cumulative
// counts by upper bound (the +Inf bucket always present), the observation
// count and the sum of the observations.
type Histogram struct {
	Buckets map[float64]float64
	Count   float64
	Sum     float64
}

// Histogram sums the buckets, counts and sums of the series of the
// histogram family name whose labels include want; ok is false when the
// family is not a histogram or no series matched.
func (p *Page) Histogram(name string, want map[string]string) (h *Histogram, ok bool) {
	if p == nil {
		return nil, false
	}
	f, found := p.Families[name]
	if !found || f.GetType() != dto.MetricType_HISTOGRAM {
		return nil, false
	}
	h = &Histogram{Buckets: map[float64]float64{}}
	n := 0
	for _, m := range f.GetMetric() {
		hh := m.GetHistogram()
		if hh == nil || !LabelsMatch(m, want) {
			continue
		}
		n++
		inf := false
		for _, b := range hh.GetBucket() {
			h.Buckets[b.GetUpperBound()] += float64(b.GetCumulativeCount())
			inf = inf || math.IsInf(b.GetUpperBound(), 1)
		}
		if !inf { // the +Inf bucket is the sample count
			h.Buckets[math.Inf(1)] += float64(hh.GetSampleCount())
		}
		h.Count += float64(hh.GetSampleCount())
		h.Sum += hh.GetSampleSum()
	}
	return h, n > 0
}
