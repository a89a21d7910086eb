package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/wire"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/workload"
)

// item is one request of the run's workload, its body built.
type item struct {
	spec   *requestSpec
	source string // the workload's id of the request (workload.Request.ID)
	// at is a trace request's time from the trace's start (timed feeds).
	at time.Duration
	// session and turn (from 1) of a -sessions request; answer, when set,
	// collects the text of the server's answer.
	session string
	turn    int
	answer  *strings.Builder
	// ready is when the generator could first send it, when later than
	// its intended time: the in-flight cap let it through, or a
	// closed-loop worker's previous response ended (zero: its intended
	// time). The delay from ready to the send is the generator's own.
	ready time.Time
}

// feed gives the requests of a run, in the order the scheduler admits
// them (take); next returns io.EOF at the end of a workload played once
// (a trace, or a dataset with -once).
type feed interface {
	next(idx int64) (item, error)
	close() error
}

// cycleFeed is a small workload held whole: request idx is the
// (idx mod n)-th, or io.EOF past the end when played once.
type cycleFeed struct {
	specs []requestSpec
	ids   []string
	once  bool
}

func (f *cycleFeed) next(idx int64) (item, error) {
	n := int64(len(f.specs))
	if f.once && idx >= n {
		return item{}, io.EOF
	}
	i := idx % n
	return item{spec: &f.specs[i], source: f.ids[i]}, nil
}

func (f *cycleFeed) close() error { return nil }

// streamFeed reads a workload one request at a time (a 1 GB trace is not
// held whole) and builds each body as it is read; after the reader's end
// or error it gives that again.
type streamFeed struct {
	mu  sync.Mutex
	rd  workload.Reader
	err error
	b   *bodies
}

func (f *streamFeed) next(int64) (item, error) {
	f.mu.Lock()
	var req workload.Request
	err := f.err
	if err == nil {
		req, err = f.rd.Next()
		f.err = err
	}
	f.mu.Unlock()
	if err != nil {
		return item{}, err
	}
	spec, err := f.b.spec(req.Prompt, req.Messages, req.MaxTokens)
	if err != nil {
		return item{}, err
	}
	return item{spec: &spec, source: req.ID, at: req.At}, nil
}

func (f *streamFeed) close() error { return f.rd.Close() }

// DefaultTraceSpeed is the speed a trace is replayed at.
const DefaultTraceSpeed = 1

// opened is a run's workload once opened, before its bodies are built
// (the model may still have to be discovered).
type opened struct {
	reqs     []workload.Request // a workload held whole, cycled
	rd       workload.Reader    // a streamed one: a trace or a dataset played once
	sessions workload.SessionReader
	timed    bool // a trace: sent at its own times
	skipped  int  // records the format's filter left out, of a workload read whole
}

// skippedCount is what the workload's filter has left out so far.
func (w *opened) skippedCount() int {
	n := w.skipped
	for _, r := range []any{w.rd, w.sessions} {
		if s, ok := r.(workload.Skipper); ok {
			n += s.Skipped()
		}
	}
	return n
}

// finite reports whether the workload's end ends the run.
func (w *opened) finite() bool { return w.rd != nil || w.sessions != nil }

func (w *opened) close() {
	if w.rd != nil {
		w.rd.Close()
	}
	if w.sessions != nil {
		w.sessions.Close()
	}
}

// openWorkload opens what o.Prompts selects: the given or default
// prompts, synthetic prompts or a dataset, held whole and cycled (or
// played once: a dataset is then streamed), a trace (streamed), or a
// conversation file (-sessions).
func openWorkload(ctx context.Context, o *Options) (*opened, error) {
	p := &o.Prompts
	if err := p.validate(o.Protocol, o.Rate); err != nil {
		return nil, err
	}
	if p.Sessions {
		sr, err := workload.OpenSessions(ctx, workload.Source{Path: p.Dataset, Checksum: p.Checksum, Format: p.Format, MaxTokens: o.MaxTokens})
		if err != nil {
			return nil, err
		}
		return &opened{sessions: sr}, nil
	}
	if p.Dataset == "" && p.SyntheticTokens == 0 {
		prompts, err := LoadPrompts(ctx, *p)
		if err != nil {
			return nil, err
		}
		reqs := make([]workload.Request, len(prompts))
		for i, pr := range prompts {
			reqs[i] = workload.Request{ID: fmt.Sprintf("prompt:%d", i+1), Prompt: pr.Text, Messages: pr.Messages, MaxTokens: pr.MaxTokens}
		}
		return &opened{reqs: reqs}, nil
	}
	rd, format, err := p.open(ctx, o.MaxTokens)
	if err != nil {
		return nil, err
	}
	timed := format.Timed()
	switch {
	case timed && o.Rate > 0:
		rd.Close()
		return nil, fmt.Errorf("prompts: a %s trace is replayed at its own times: drop the rate (a trace speed replays it faster)", format)
	case timed || p.Once:
		return &opened{rd: rd, timed: timed}, nil
	}
	defer rd.Close()
	reqs, err := readAll(rd)
	if err != nil {
		return nil, err
	}
	w := &opened{reqs: reqs}
	if s, ok := rd.(workload.Skipper); ok {
		w.skipped = s.Skipped()
	}
	return w, nil
}

// readAll reads a workload to its end.
func readAll(rd workload.Reader) ([]workload.Request, error) {
	var reqs []workload.Request
	for {
		r, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, r)
	}
	if len(reqs) == 0 {
		return nil, errors.New("prompts: the workload has no requests")
	}
	return reqs, nil
}

// feed builds the run's feed of an opened workload (nil for sessions,
// which build their bodies turn by turn).
func (w *opened) feed(b *bodies, once bool) (feed, error) {
	switch {
	case w.sessions != nil:
		return nil, nil
	case w.rd != nil:
		return &streamFeed{rd: w.rd, b: b}, nil
	}
	f := &cycleFeed{specs: make([]requestSpec, len(w.reqs)), ids: make([]string, len(w.reqs)), once: once}
	for i, r := range w.reqs {
		s, err := b.spec(r.Prompt, r.Messages, r.MaxTokens)
		if err != nil {
			return nil, err
		}
		f.specs[i], f.ids[i] = s, r.ID
	}
	return f, nil
}

// wireMessages converts workload messages for package wire.
func wireMessages(ms []workload.Message) []wire.Message {
	if len(ms) == 0 {
		return nil
	}
	out := make([]wire.Message, len(ms))
	for i, m := range ms {
		out[i] = wire.Message(m)
	}
	return out
}
