package load

import (
	"math"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// HDR histogram settings: microsecond resolution, 1 µs .. 1 h, 3 significant
// digits (relative error <= 0.1%). Larger values are clamped to 1 h.
const (
	hdrMinMicros = 1
	hdrMaxMicros = int64(time.Hour / time.Microsecond)
	hdrSigFigs   = 3
)

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(hdrMinMicros, hdrMaxMicros, hdrSigFigs)
}

func recordMicros(h *hdrhistogram.Histogram, us int64) {
	if us < 0 {
		us = 0
	}
	if us > hdrMaxMicros {
		us = hdrMaxMicros
	}
	_ = h.RecordValue(us)
}

func recordDur(h *hdrhistogram.Histogram, d time.Duration) { recordMicros(h, d.Microseconds()) }

// Quantiles summarises a latency distribution in seconds. Percentiles come
// from an HDR histogram (microsecond resolution, 3 significant digits), so
// each is within 0.1% of the exact nearest-rank value.
type Quantiles struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Mean  float64 `json:"mean"`
	Max   float64 `json:"max"`
}

func quantiles(h *hdrhistogram.Histogram) Quantiles {
	n := h.TotalCount()
	if n == 0 {
		return Quantiles{}
	}
	s := func(us int64) float64 { return float64(us) / 1e6 }
	return Quantiles{
		Count: n,
		P50:   s(h.ValueAtQuantile(50)),
		P90:   s(h.ValueAtQuantile(90)),
		P95:   s(h.ValueAtQuantile(95)),
		P99:   s(h.ValueAtQuantile(99)),
		P999:  s(h.ValueAtQuantile(99.9)),
		Mean:  h.Mean() / 1e6,
		Max:   s(h.Max()),
	}
}

// ErrorKind classifies a failed (or canceled) request.
type ErrorKind string

// Error kinds. Canceled requests (cut by the user's Ctrl+C) are counted
// apart and are not failures. Requests still running when a bounded run's
// drain period ends are in_flight_at_end: not successful for the
// availability SLO unless SLO.IgnoreInFlightAtEnd. Client errors are the
// load generator's own (descriptors or local ports exhausted): the server
// never saw those requests, so they do not count against its availability,
// and they make the result suspect.
const (
	ErrHTTP4xx         ErrorKind = "http_4xx"
	ErrHTTP5xx         ErrorKind = "http_5xx"
	ErrHTTPOther       ErrorKind = "http_other" // a status that is neither 2xx, 4xx nor 5xx
	ErrConnect         ErrorKind = "connect"    // dial / connection failures before a response
	ErrTimeout         ErrorKind = "timeout"    // no headers or no first token in time, or past RequestTimeout
	ErrStall           ErrorKind = "stall"      // no generated text for TimeoutStall mid-stream
	ErrOversized       ErrorKind = "oversized"  // a header block, SSE line or event, or body over its limit
	ErrStreamError     ErrorKind = "stream_error"
	ErrStreamTruncated ErrorKind = "stream_truncated"
	ErrEmptyOutput     ErrorKind = "empty_output"
	ErrClient          ErrorKind = "client"           // the generator's own resources ran out (EMFILE, EADDRNOTAVAIL)
	ErrInFlightAtEnd   ErrorKind = "in_flight_at_end" // still running when the drain period ended
	ErrCanceled        ErrorKind = "canceled"
)

const numKinds = 13

var allKinds = [numKinds]ErrorKind{ErrHTTP4xx, ErrHTTP5xx, ErrHTTPOther, ErrConnect, ErrTimeout, ErrStall,
	ErrOversized, ErrStreamError, ErrStreamTruncated, ErrEmptyOutput, ErrClient, ErrInFlightAtEnd, ErrCanceled}

func kindIndex(k ErrorKind) int {
	for i, x := range allKinds {
		if x == k {
			return i
		}
	}
	return -1
}

// Output token count sources.
const (
	SourceUsage     = "usage"           // the server's usage.completion_tokens
	SourceChunks    = "counted_chunks"  // number of streamed content chunks
	SourceWords     = "estimated_words" // words of a non-streamed response without usage
	SourceMixed     = "mixed"           // different requests used different sources
	SourceNone      = "none"            // no successful request
	numTokenSources = 3
)

var tokenSources = [numTokenSources]string{SourceUsage, SourceChunks, SourceWords}

// tokenSource says where one request's output token count came from (an
// index into tokenSources).
type tokenSource int

// The token sources of one request.
const (
	fromUsage  tokenSource = iota // SourceUsage
	fromChunks                    // SourceChunks
	fromWords                     // SourceWords
)

// reqRecord is the outcome of one request.
type reqRecord struct {
	warm     bool
	kind     ErrorKind // "" when ok
	msg      string
	intended time.Time
	// ready is when the generator could first send it (item.ready; zero:
	// its intended time), for the generator's own delay.
	ready    time.Time
	sent     time.Time
	first    time.Time
	end      time.Time
	gaps     []int64 // inter-chunk gaps, µs
	streamed bool

	outTokens    int
	outSource    tokenSource
	promptTokens int
	promptUsage  bool

	meta reqMeta
}

// reqMeta says what a request is, for its record (-records) and the
// results by turn: the feed that made the request sets it.
type reqMeta struct {
	id      string // the X-Request-Id header it was sent with
	worker  int    // the closed-loop worker that sent it; -1 in an open loop
	source  string // the workload's id of the request (workload.Request.ID)
	session string // -sessions: the session's id
	turn    int    // -sessions: the turn, counted from 1; 0 otherwise
}

// latencies of a successful request.
func (r *reqRecord) ttft() time.Duration      { return r.first.Sub(r.sent) }
func (r *reqRecord) ttftSched() time.Duration { return r.first.Sub(r.intended) }
func (r *reqRecord) e2e() time.Duration       { return r.end.Sub(r.sent) }
func (r *reqRecord) e2eSched() time.Duration  { return r.end.Sub(r.intended) }
func (r *reqRecord) lag() time.Duration       { return r.sent.Sub(r.intended) }

// delay is the generator's own delay: from when it could send the request
// (ready, or else its intended time) to the send.
func (r *reqRecord) delay() time.Duration {
	if r.ready.IsZero() {
		return r.lag()
	}
	return r.sent.Sub(r.ready)
}
func (r *reqRecord) tpot() (time.Duration, bool) {
	if !r.streamed || r.outTokens < 2 {
		return 0, false
	}
	return (r.e2e() - r.ttft()) / time.Duration(r.outTokens-1), true
}

// shard is a set of histograms and counters behind one mutex. Requests are
// spread over a few shards (by worker), so recording rarely contends, and
// memory stays bounded at high concurrency.
type shard struct {
	mu sync.Mutex
	stats
}

type stats struct {
	ttft, ttftSched, itl, tpot, e2e, e2eSched, lag *hdrhistogram.Histogram
	delay                                          *hdrhistogram.Histogram // reqRecord.delay

	ok, failed, canceled, warmup, good int64
	inFlightAtEnd, client              int64 // apart from failed: see ErrInFlightAtEnd, ErrClient
	byKind                             [numKinds]int64
	outTokens, promptTokens            int64
	promptFromUsage                    int64
	outSources                         [numTokenSources]int64
	first, last                        time.Time // measured window: first intended send, last end
}

func newStats() stats {
	return stats{ttft: newHist(), ttftSched: newHist(), itl: newHist(), tpot: newHist(), e2e: newHist(),
		e2eSched: newHist(), lag: newHist(), delay: newHist()}
}

func (s *stats) hists() []*hdrhistogram.Histogram {
	return []*hdrhistogram.Histogram{s.ttft, s.ttftSched, s.itl, s.tpot, s.e2e, s.e2eSched, s.lag, s.delay}
}

func (s *stats) reset() {
	for _, h := range s.hists() {
		h.Reset()
	}
	hs := s.hists()
	*s = stats{}
	s.ttft, s.ttftSched, s.itl, s.tpot, s.e2e, s.e2eSched, s.lag, s.delay = hs[0], hs[1], hs[2], hs[3], hs[4], hs[5], hs[6], hs[7]
}

// merge adds o into s.
func (s *stats) merge(o *stats) {
	dst, src := s.hists(), o.hists()
	for i := range dst {
		dst[i].Merge(src[i])
	}
	s.ok += o.ok
	s.failed += o.failed
	s.canceled += o.canceled
	s.inFlightAtEnd += o.inFlightAtEnd
	s.client += o.client
	s.warmup += o.warmup
	s.good += o.good
	for i := range s.byKind {
		s.byKind[i] += o.byKind[i]
	}
	s.outTokens += o.outTokens
	s.promptTokens += o.promptTokens
	s.promptFromUsage += o.promptFromUsage
	for i := range s.outSources {
		s.outSources[i] += o.outSources[i]
	}
	if !o.first.IsZero() && (s.first.IsZero() || o.first.Before(s.first)) {
		s.first = o.first
	}
	if o.last.After(s.last) {
		s.last = o.last
	}
}

// add records one measured (non-warm-up) request. good says whether it met
// every per-request SLO.
func (s *stats) add(r *reqRecord, good bool) {
	if s.first.IsZero() || r.intended.Before(s.first) {
		s.first = r.intended
	}
	if r.end.After(s.last) && r.kind != ErrCanceled {
		// A request cut off by Ctrl+C does not stretch the measured window
		// (it would understate throughput); every other request sent in
		// it, failed or still running when the drain ended, does.
		s.last = r.end
	}
	recordDur(s.lag, r.lag())
	recordDur(s.delay, r.delay())
	if r.kind != "" {
		switch r.kind {
		case ErrCanceled:
			s.canceled++
		case ErrInFlightAtEnd:
			s.inFlightAtEnd++
		case ErrClient:
			s.client++
		default:
			s.failed++
		}
		if i := kindIndex(r.kind); i >= 0 {
			s.byKind[i]++
		}
		return
	}
	s.ok++
	if good {
		s.good++
	}
	recordDur(s.ttft, r.ttft())
	recordDur(s.ttftSched, r.ttftSched())
	recordDur(s.e2e, r.e2e())
	recordDur(s.e2eSched, r.e2eSched())
	if tp, ok := r.tpot(); ok {
		recordDur(s.tpot, tp)
	}
	for _, g := range r.gaps {
		recordMicros(s.itl, g)
	}
	s.outTokens += int64(r.outTokens)
	s.outSources[r.outSource]++
	s.promptTokens += int64(r.promptTokens)
	if r.promptUsage {
		s.promptFromUsage++
	}
}

func (s *stats) outputSource() string {
	src, n := SourceNone, 0
	for i, c := range s.outSources {
		if c > 0 {
			n++
			src = tokenSources[i]
		}
	}
	if n > 1 {
		return SourceMixed
	}
	return src
}

// availability is ok / (ok + failed + in flight at the end), or
// ok / (ok + failed) when ignoreInFlight. Canceled requests and client
// errors are excluded. NaN when no request finished.
func (s *stats) availability(ignoreInFlight bool) float64 {
	n := s.ok + s.failed
	if !ignoreInFlight {
		n += s.inFlightAtEnd
	}
	if n == 0 {
		return math.NaN()
	}
	return float64(s.ok) / float64(n)
}
