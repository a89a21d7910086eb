package workload

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// maxLine bounds one line of a line-based file (JSONL, CSV): 64 MiB.
const maxLine = 64 << 20

// lines reads a line-based file one non-blank line at a time and names the
// line in errors.
type lines struct {
	sc    *bufio.Scanner
	name  string
	n     int // the number of the line last returned, from 1
	close io.Closer
}

func newLines(r io.Reader, name string, c io.Closer) *lines {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	return &lines{sc: sc, name: name, close: c}
}

// next returns the next non-blank line, without surrounding space, or
// io.EOF after the last.
func (l *lines) next() ([]byte, error) {
	for l.sc.Scan() {
		l.n++
		if line := bytes.TrimSpace(l.sc.Bytes()); len(line) > 0 {
			return line, nil
		}
	}
	if err := l.sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: read: %w", l.name, l.n+1, err)
	}
	return nil, io.EOF
}

// errorf returns an error naming the file and the line last returned.
func (l *lines) errorf(format string, args ...any) error {
	return fmt.Errorf("%s:%d: "+format, append([]any{l.name, l.n}, args...)...)
}

// id is the Request.ID of the line last returned: "name:line".
func (l *lines) id() string { return fmt.Sprintf("%s:%d", l.name, l.n) }

// decode decodes the line last returned, one JSON value, into v; form is
// what its errors say a line should be.
func (l *lines) decode(line []byte, v any, form string) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(v); err != nil {
		return l.errorf("invalid JSON: %v; %s", err, form)
	}
	if dec.More() {
		return l.errorf("more than one JSON value on the line; %s", form)
	}
	return nil
}

// optionalPositive reads an optional positive integer field (absent or
// null: 0).
func (l *lines) optionalPositive(field string, raw json.RawMessage) (int, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return 0, nil
	}
	var v int
	if err := json.Unmarshal(raw, &v); err != nil || v <= 0 {
		return 0, l.errorf("%q is %s; expected a positive integer", field, raw)
	}
	return v, nil
}

func (l *lines) Close() error {
	if l.close == nil {
		return nil
	}
	return l.close.Close()
}

// capTokens caps n at limit when limit > 0.
func capTokens(n, limit int) int {
	if limit > 0 && n > limit {
		return limit
	}
	return n
}

// noRequests is the error of a file that has none of what it should:
// "name: no WHAT; FORM on each line".
func (l *lines) noRequests(what, form string) error {
	return fmt.Errorf("%s: no %s; %s on each line", l.name, what, form)
}
