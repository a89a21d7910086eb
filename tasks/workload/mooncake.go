package workload

import (
	"encoding/json"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

const mooncakeForm = `expected {"timestamp": MS, "input_length": N, "output_length": N, "hash_ids": [ID, ...]}`

// MooncakeBlock is the number of tokens one Mooncake hash id stands for.
const MooncakeBlock = 512

type mooncakeLine struct {
	Timestamp    *float64 `json:"timestamp"`
	InputLength  *int     `json:"input_length"`
	OutputLength *int     `json:"output_length"`
	HashIDs      []int64  `json:"hash_ids"`
}

// mooncakeReader reads a Mooncake trace: one request per line, its
// timestamp in milliseconds. The prompt is synthesized block by block:
// hash id i of the list stands for tokens [512i, 512(i+1)) of the input,
// and a block's text depends on its hash id only, so requests that share
// hash ids share a prefix of text as they shared the prefix cache in the
// trace. The last block holds the rest of input_length (a prefix of that
// id's full block); tokens beyond the listed ids get text of their own.
type mooncakeReader struct {
	*lines
	trace
	maxTokens int
}

// trace keeps a trace's timing: the first timestamp and the last.
type trace struct {
	started     bool
	first, last int64  // nanoseconds
	lastText    string // the last timestamp as the file gives it
}

// at returns the time of timestamp ns (nanoseconds, text as the file
// gives it) from the trace's first; a timestamp before the previous one is
// an error (traces are sorted).
func (t *trace) at(l *lines, ns int64, text string) (time.Duration, error) {
	if !t.started {
		t.started, t.first, t.last = true, ns, ns
	}
	if ns < t.last {
		return 0, l.errorf("timestamp %s is before the previous row's %s; expected the trace sorted by time", text, t.lastText)
	}
	t.last, t.lastText = ns, text
	return time.Duration(ns - t.first), nil
}

// nanos converts a timestamp ts in units of unit to nanoseconds, rounded;
// ok is false for a number out of range (±292 years) or not a number.
func nanos(ts float64, unit time.Duration) (ns int64, ok bool) {
	v := math.Round(ts * float64(unit))
	if math.IsNaN(v) || math.Abs(v) > 1<<62 {
		return 0, false
	}
	return int64(v), true
}

func (r *mooncakeReader) Next() (Request, error) {
	line, err := r.next()
	if err == io.EOF && !r.started {
		return Request{}, r.noRequests("requests", mooncakeForm)
	}
	if err != nil {
		return Request{}, err
	}
	var m mooncakeLine
	if err := r.decode(line, &m, mooncakeForm); err != nil {
		return Request{}, err
	}
	switch {
	case m.Timestamp == nil:
		return Request{}, r.errorf("missing \"timestamp\"; %s", mooncakeForm)
	case m.InputLength == nil || *m.InputLength < 1 || *m.InputLength > MaxPromptTokens:
		return Request{}, r.errorf("\"input_length\" is %s; expected an integer from 1 to %d", intText(m.InputLength), MaxPromptTokens)
	case m.OutputLength == nil || *m.OutputLength < 1:
		return Request{}, r.errorf("\"output_length\" is %s; expected a positive integer", intText(m.OutputLength))
	}
	ns, ok := nanos(*m.Timestamp, time.Millisecond)
	if !ok {
		return Request{}, r.errorf("\"timestamp\" %v is out of range; %s", *m.Timestamp, mooncakeForm)
	}
	at, err := r.at(r.lines, ns, strconv.FormatFloat(*m.Timestamp, 'f', -1, 64))
	if err != nil {
		return Request{}, err
	}
	return Request{
		ID:          r.id(),
		Prompt:      mooncakePrompt(r.n, *m.InputLength, m.HashIDs),
		InputTokens: *m.InputLength,
		MaxTokens:   capTokens(*m.OutputLength, r.maxTokens),
		Timed:       true,
		At:          at,
	}, nil
}

// mooncakePrompt synthesizes the prompt of line n: n tokens, block by
// block from the hash ids, the rest distinct to the line.
func mooncakePrompt(line, n int, hashIDs []int64) string {
	var b strings.Builder
	b.Grow(n * 6)
	left := n
	for _, h := range hashIDs {
		if left == 0 {
			break
		}
		k := min(left, MooncakeBlock)
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(blockText(h, k))
		left -= k
	}
	if left > 0 {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(tracePrompt(line, left))
	}
	return b.String()
}

// blockText is the first n words of hash id h's block: "Block-h:" and
// words drawn from a generator seeded with h.
func blockText(h int64, n int) string {
	return distinctText("Block", int(h), n, newRand(uint64(h), streamBlock))
}

// intText returns *p for an error, "missing" for nil.
func intText(p *int) string {
	if p == nil {
		return "missing"
	}
	b, _ := json.Marshal(*p)
	return string(b)
}
