package sim

import (
	"context"
	"net/http"
	"strconv"
	"unicode/utf8"
)

// HTTP helpers that every personality's handlers share.

// writeJSON answers with status and a JSON body of known length.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// flushWrite writes a chunk of a stream and, when fl is not nil, flushes
// it to the client.
func flushWrite(w http.ResponseWriter, fl http.Flusher, b []byte) error {
	if _, err := w.Write(b); err != nil {
		return err
	}
	if fl != nil {
		fl.Flush()
	}
	return nil
}

// waitDone waits for r to finish (or ctx to end) and returns its last
// progress.
func waitDone(ctx context.Context, r *request) (progress, error) {
	have := 0
	for {
		p, err := r.next(ctx, have)
		if err != nil {
			return p, err
		}
		if p.done {
			return p, nil
		}
		have = p.produced
	}
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, s[i:i+n]...)
			}
			i += n
			continue
		}
		switch c {
		case '"':
			b = append(b, `\"`...)
		case '\\':
			b = append(b, `\\`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		default:
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		}
		i++
	}
	return append(b, '"')
}
