package trt

import (
	"io"
	"strings"
	"sync"
)

// lineWriter passes a tool's output on line by line, each line prefixed,
// with progress-bar redraws (\r) taken as line ends, a secret replaced by
// *** wherever it appears, and the last lines kept for an error message.
type lineWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	secret string
	buf    []byte
	tail   []string
}

const tailLines = 15

func newLineWriter(w io.Writer, prefix, secret string) *lineWriter {
	return &lineWriter{w: w, prefix: prefix, secret: secret}
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := strings.IndexAny(string(l.buf), "\r\n")
		if i < 0 {
			break
		}
		l.emit(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
	// A secret split across writes is redacted once the line is complete;
	// a very long line without an end is passed on in pieces.
	if len(l.buf) > 64<<10 {
		l.emit(string(l.buf))
		l.buf = l.buf[:0]
	}
	return len(p), nil
}

// Flush passes on a last line without an end.
func (l *lineWriter) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(string(l.buf))
		l.buf = l.buf[:0]
	}
}

func (l *lineWriter) emit(line string) {
	line = strings.TrimRight(line, " \t")
	if strings.TrimSpace(line) == "" {
		return
	}
	if l.secret != "" {
		line = strings.ReplaceAll(line, l.secret, "***")
	}
	io.WriteString(l.w, l.prefix+line+"\n")
	l.tail = append(l.tail, line)
	if len(l.tail) > tailLines {
		l.tail = l.tail[len(l.tail)-tailLines:]
	}
}

// Tail returns the last lines, for an error message ("" when none).
func (l *lineWriter) Tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.tail) == 0 {
		return ""
	}
	return "; last lines:\n  " + strings.Join(l.tail, "\n  ")
}
