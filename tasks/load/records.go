package load

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// RequestIDHeader is the header every request carries its id in, so that
// a user can join the per-request records with the server's logs.
const RequestIDHeader = "X-Request-Id"

// newRunID returns a short random prefix, unique to one run, of the
// request ids: RUNID-SEQ, SEQ counting the run's requests from 0.
func newRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail
	return hex.EncodeToString(b[:])
}

// requestID is the id of the run's idx-th request.
func (g *gen) requestID(idx int64) string { return g.runID + "-" + strconv.FormatInt(idx, 10) }

// Record is one line of the per-request records file (Options.Records),
// one JSON object per request sent, warm-up ones included (Warmup set);
// open-loop arrivals never sent (not_sent in the results) have none.
// Times are absolute, RFC 3339 with nanoseconds in UTC (to join the
// server's logs), and also seconds since the run's start (SentSeconds,
// IntendedSeconds); latencies are seconds. A field that does not apply
// is left out: TTFT without generated text, the tokens of a request
// that got none, Error and Message of a successful request.
type Record struct {
	ID              string  `json:"id"`     // the X-Request-Id header it was sent with
	Worker          int     `json:"worker"` // the closed-loop worker; -1 in an open loop
	Source          string  `json:"source,omitempty"`
	Session         string  `json:"session,omitempty"`
	Turn            int     `json:"turn,omitempty"` // counted from 1
	Warmup          bool    `json:"warmup,omitempty"`
	Intended        string  `json:"intended"` // intended send time
	Sent            string  `json:"sent"`     // actual send time
	IntendedSeconds float64 `json:"intended_seconds"`
	SentSeconds     float64 `json:"sent_seconds"`
	// TTFT and E2E are measured from the actual send, the *FromIntended
	// ones from the intended send; E2E ends at the failure of a failed
	// request.
	TTFT             *float64 `json:"ttft_seconds,omitempty"`
	TTFTFromIntended *float64 `json:"ttft_from_intended_seconds,omitempty"`
	E2E              float64  `json:"e2e_seconds"`
	E2EFromIntended  float64  `json:"e2e_from_intended_seconds"`
	// PromptTokens is the server's count (PromptSource "usage") or the
	// prompt's words (PromptSource "estimated_words").
	PromptTokens int    `json:"prompt_tokens,omitempty"`
	PromptSource string `json:"prompt_tokens_source,omitempty"`
	// OutputTokens comes from OutputSource: usage, counted_chunks or
	// estimated_words (see the results' output_tokens_source).
	OutputTokens int    `json:"output_tokens,omitempty"`
	OutputSource string `json:"output_tokens_source,omitempty"`
	// MaxGap is the longest gap between two chunks of generated text.
	MaxGap  *float64  `json:"max_gap_seconds,omitempty"`
	Error   ErrorKind `json:"error,omitempty"`
	Message string    `json:"message,omitempty"`
}

// record makes r's line of the records file; start is the run's start.
func (r *reqRecord) record(start time.Time) Record {
	sec := func(d time.Duration) float64 { return d.Seconds() }
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	rec := Record{ID: r.meta.id, Worker: r.meta.worker, Source: r.meta.source, Session: r.meta.session,
		Turn: r.meta.turn, Warmup: r.warm, Intended: ts(r.intended), Sent: ts(r.sent),
		IntendedSeconds: sec(r.intended.Sub(start)), SentSeconds: sec(r.sent.Sub(start)),
		E2E: sec(r.e2e()), E2EFromIntended: sec(r.e2eSched()), Error: r.kind, Message: r.msg}
	if !r.first.IsZero() {
		t, ti := sec(r.ttft()), sec(r.ttftSched())
		rec.TTFT, rec.TTFTFromIntended = &t, &ti
	}
	if r.promptTokens > 0 {
		rec.PromptTokens, rec.PromptSource = r.promptTokens, SourceWords
		if r.promptUsage {
			rec.PromptSource = SourceUsage
		}
	}
	if r.outTokens > 0 {
		rec.OutputTokens, rec.OutputSource = r.outTokens, tokenSources[r.outSource]
		if r.kind != "" {
			rec.OutputSource = SourceChunks // a failed stream counts the chunks it got
		}
	}
	if len(r.gaps) > 0 {
		m := r.gaps[0]
		for _, x := range r.gaps[1:] {
			m = max(m, x)
		}
		s := float64(m) / 1e6
		rec.MaxGap = &s
	}
	return rec
}

// recordsBuffer is how many records may wait for the writer; past it a
// request's goroutine blocks until the writer catches up (records are
// never dropped).
const recordsBuffer = 4096

// recordWriter writes the records file from one goroutine: the requests
// hand it their records through a buffered channel, and it encodes them
// through a buffered writer.
type recordWriter struct {
	path string
	f    *os.File
	ch   chan Record
	done chan error
}

// openRecords creates (truncates) the records file at path, and its
// directory, before any request is sent, and starts its writer.
func openRecords(path string) (*recordWriter, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("load: records file %s: %w; pass -records with a path in a writable directory", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("load: records file %s is a directory; pass a file name (-records=%s)", path, filepath.Join(path, "records.jsonl"))
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("load: records file %s: %w; pass -records with a path in a writable directory", path, err)
	}
	w := &recordWriter{path: path, f: f, ch: make(chan Record, recordsBuffer), done: make(chan error, 1)}
	go w.loop()
	return w, nil
}

func (w *recordWriter) loop() {
	bw := bufio.NewWriterSize(w.f, 64<<10)
	enc := json.NewEncoder(bw)
	var err error
	for rec := range w.ch {
		if err == nil {
			err = enc.Encode(rec)
		}
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		err = fmt.Errorf("load: records file %s: %w", w.path, err)
	}
	w.done <- err
}

// add queues one record; it blocks while the buffer is full.
func (w *recordWriter) add(rec Record) { w.ch <- rec }

// close writes what is queued, closes the file and returns the first
// write error. Call it once, after the last add.
func (w *recordWriter) close() error {
	close(w.ch)
	return <-w.done
}
