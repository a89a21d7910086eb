package workload

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

const (
	azureForm    = "expected the CSV header TIMESTAMP,ContextTokens,GeneratedTokens and rows like 2023-11-16 18:15:46.6805900,4808,10"
	burstGPTForm = "expected the CSV header Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type and rows like 5,ChatGPT,472,18,490,Conversation log"
)

// csvTrace reads the rows of a trace CSV after its header, naming the row's
// line in errors.
type csvTrace struct {
	*lines // for errorf, id and noRequests; fed by the csv.Reader's line
	r      *csv.Reader
	trace
	maxTokens     int
	read, skipped int
	form          string
}

// newCSVTrace reads the header of a trace CSV and checks that it starts
// with the columns header names (case and surrounding space aside).
func newCSVTrace(r io.Reader, name string, c io.Closer, header []string, form string, maxTokens int) (*csvTrace, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	cr.TrimLeadingSpace = true
	t := &csvTrace{lines: &lines{name: name, close: c}, r: cr, maxTokens: maxTokens, form: form}
	row, err := t.row()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: the file is empty; %s", name, form)
	}
	if err != nil {
		return nil, err
	}
	if !csvHeaderIs(row, header) {
		return nil, t.errorf("the header is %q; %s", strings.Join(row, ","), form)
	}
	return t, nil
}

// csvHeaderIs reports whether row starts with the names of header.
func csvHeaderIs(row, header []string) bool {
	if len(row) < len(header) {
		return false
	}
	for i, h := range header {
		if !strings.EqualFold(strings.TrimSpace(row[i]), h) {
			return false
		}
	}
	return true
}

// row returns the next row and sets the line errors name.
func (t *csvTrace) row() ([]string, error) {
	row, err := t.r.Read()
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		if pe, ok := err.(*csv.ParseError); ok {
			t.n = pe.StartLine
			return nil, t.errorf("invalid CSV: %v; %s", pe.Err, t.form)
		}
		return nil, fmt.Errorf("%s: read: %w", t.name, err)
	}
	t.n, _ = t.r.FieldPos(0)
	return row, nil
}

// tokens parses column i of row as a count of tokens from lo to
// MaxPromptTokens.
func (t *csvTrace) tokens(row []string, i int, column string, lo int) (int, error) {
	if i >= len(row) {
		return 0, t.errorf("no %s column; %s", column, t.form)
	}
	v, err := strconv.Atoi(strings.TrimSpace(row[i]))
	if err != nil || v < lo || v > MaxPromptTokens {
		return 0, t.errorf("%s is %q; expected an integer from %d to %d", column, row[i], lo, MaxPromptTokens)
	}
	return v, nil
}

func (t *csvTrace) Skipped() int { return t.skipped }

// nextRequest returns the request of the next row that has an output: a
// distinct prompt of its input tokens at its time from the first row's.
// parse reads a row's timestamp in nanoseconds and its input and output
// tokens; rows of 0 output tokens are skipped and counted.
func (t *csvTrace) nextRequest(parse func(row []string) (ns int64, input, output int, err error)) (Request, error) {
	for {
		row, err := t.row()
		switch {
		case err == io.EOF && !t.started:
			return Request{}, fmt.Errorf("%s: no rows after the header; %s", t.name, t.form)
		case err == io.EOF && t.read == 0:
			return Request{}, fmt.Errorf("%s: every row (%d) has 0 output tokens: no request to send", t.name, t.skipped)
		}
		if err != nil {
			return Request{}, err
		}
		ns, input, output, err := parse(row)
		if err != nil {
			return Request{}, err
		}
		at, err := t.at(t.lines, ns, row[0])
		if err != nil {
			return Request{}, err
		}
		if output == 0 {
			t.skipped++
			continue
		}
		t.read++
		return Request{
			ID:          t.id(),
			Prompt:      tracePrompt(t.n, input),
			InputTokens: input,
			MaxTokens:   capTokens(output, t.maxTokens),
			Timed:       true,
			At:          at,
		}, nil
	}
}

// azureReader reads the Azure LLM inference trace: a request per row at
// its TIMESTAMP, with a distinct prompt of ContextTokens tokens and
// GeneratedTokens as MaxTokens (capped by Source.MaxTokens). Rows with 0
// generated tokens are skipped and counted (Skipped).
type azureReader struct{ *csvTrace }

var azureHeader = []string{"TIMESTAMP", "ContextTokens", "GeneratedTokens"}

func (r azureReader) Next() (Request, error) {
	return r.nextRequest(func(row []string) (ns int64, input, output int, err error) {
		ts, err := parseAzureTime(strings.TrimSpace(row[0]))
		if err != nil {
			return 0, 0, 0, r.errorf("TIMESTAMP %q: expected a time like 2023-11-16 18:15:46.6805900", row[0])
		}
		if input, err = r.tokens(row, 1, "ContextTokens", 1); err != nil {
			return 0, 0, 0, err
		}
		output, err = r.tokens(row, 2, "GeneratedTokens", 0)
		return ts.UnixNano(), input, output, err
	})
}

// parseAzureTime parses the trace's timestamps: a date and a time of day
// separated by a space or a T, with any number of fractional digits
// (nanoseconds kept, the rest dropped) and an optional zone (Z or ±hh:mm;
// none is UTC).
func parseAzureTime(s string) (time.Time, error) {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j-i-1 > 9 {
			s = s[:i+10] + s[j:]
		}
	}
	s = strings.Replace(s, "T", " ", 1)
	var err error
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999 Z07:00"} {
		var t time.Time
		if t, err = time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, err
}

// burstGPTReader reads the BurstGPT trace: a request per row at its
// Timestamp (seconds from the trace's start), with a distinct prompt of
// Request tokens (at least 1) and Response tokens as MaxTokens (capped by
// Source.MaxTokens). Rows with 0 response tokens are the trace's failed
// requests: they are skipped and counted (Skipped).
type burstGPTReader struct{ *csvTrace }

var burstGPTHeader = []string{"Timestamp", "Model", "Request tokens", "Response tokens"}

func (r burstGPTReader) Next() (Request, error) {
	return r.nextRequest(func(row []string) (ns int64, input, output int, err error) {
		ts, err := strconv.ParseFloat(strings.TrimSpace(row[0]), 64)
		ns, ok := nanos(ts, time.Second)
		if err != nil || !ok {
			return 0, 0, 0, r.errorf("Timestamp %q: expected seconds, like 5 or 5.25", row[0])
		}
		if input, err = r.tokens(row, 2, "Request tokens", 0); err != nil {
			return 0, 0, 0, err
		}
		output, err = r.tokens(row, 3, "Response tokens", 0)
		return ns, max(input, 1), output, err
	})
}
