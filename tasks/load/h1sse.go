package load

import (
	"bytes"
	"errors"
	"io"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/wire/stream"
)

// sseFeed turns the pushed pieces of a response body into the io.Reader
// the stream package's pull readers read, so that they can run inside a
// connection's read callback: it scans the SSE lines as they arrive (the
// framing rules of stream.SSEReader) and lets the reader see the body only
// up to the end of the last complete event. The caller calls Next once per
// complete event (ready), so the reader never asks for bytes that have not
// arrived; at the end of the body it sees everything, then end.
type sseFeed struct {
	pend  []byte // body bytes not yet read by the reader
	off   int    // pend[:off] was read
	lim   int    // the reader may read pend[:lim]: up to the end of the last complete event
	scan  int    // pend[:scan] is scanned
	line  int    // start of the line being scanned
	ready int    // complete events the reader has not returned yet
	max   int    // limit of a line and of an event's data
	err   error  // an oversized line or event found by the scan
	end   error  // the end of the body: io.EOF, or the error that cut it
	data  int    // length of the pending event's data
	has   bool   // the pending event has a data line
	begun bool   // the first line was seen (a BOM is dropped there)
}

// errFeedStarved would mean the scan and the reader disagree on where an
// event ends.
var errFeedStarved = errors.New("load: internal error: the SSE reader asked for bytes past the last complete event")

func (f *sseFeed) reset(max int) {
	if cap(f.pend) > keepFeed {
		f.pend = nil
	}
	*f = sseFeed{pend: f.pend[:0], max: max}
}

// keepFeed is the capacity up to which a pooled feed keeps its buffer.
const keepFeed = 64 << 10

// Read implements io.Reader for the stream reader.
func (f *sseFeed) Read(p []byte) (int, error) {
	if f.off < f.lim {
		n := copy(p, f.pend[f.off:f.lim])
		f.off += n
		return n, nil
	}
	if f.end != nil {
		return 0, f.end
	}
	return 0, errFeedStarved
}

// finish marks the end of the body (err: io.EOF, or what cut it): the
// reader may read the rest.
func (f *sseFeed) finish(err error) {
	f.end = err
	f.lim = len(f.pend)
}

var (
	bomPrefix = []byte("\xEF\xBB\xBF")
	dataField = []byte("data")
)

// add appends body bytes and scans the complete lines among them.
func (f *sseFeed) add(b []byte) {
	if f.err != nil {
		return
	}
	if f.off > 0 && f.off == f.lim {
		// Everything handed out was read: drop it.
		k := copy(f.pend, f.pend[f.off:])
		f.pend = f.pend[:k]
		f.scan -= f.off
		f.line -= f.off
		f.lim -= f.off
		f.off = 0
	}
	f.pend = append(f.pend, b...)
	for {
		i := bytes.IndexByte(f.pend[f.scan:], '\n')
		if i < 0 {
			f.scan = len(f.pend)
			switch {
			case len(f.pend)-f.line > f.max+1:
				f.err = &stream.OversizedError{What: "SSE line", Limit: f.max}
			case len(f.pend)-f.lim > 2*f.max+2:
				// Lines that are not data (comments) inside one event.
				f.err = &stream.OversizedError{What: "SSE event", Limit: 2 * f.max}
			}
			return
		}
		nl := f.scan + i
		line := f.pend[f.line:nl]
		f.scan, f.line = nl+1, nl+1
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if !f.begun {
			f.begun = true
			line = bytes.TrimPrefix(line, bomPrefix)
		}
		if len(line) > f.max {
			f.err = &stream.OversizedError{What: "SSE line", Limit: f.max}
			return
		}
		if len(line) == 0 {
			if f.has && f.data > 0 {
				f.ready++
				f.lim = nl + 1
			} else {
				// A blank line that dispatches nothing leaves the reader
				// as it was: drop the lines since the last event
				// (keep-alive comments) instead of keeping them.
				k := copy(f.pend[f.lim:], f.pend[nl+1:])
				f.pend = f.pend[:f.lim+k]
				f.scan, f.line = f.lim, f.lim
			}
			f.has, f.data = false, 0
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if j := bytes.IndexByte(line, ':'); j >= 0 {
			field, value = line[:j], line[j+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		if bytes.Equal(field, dataField) {
			n := f.data + len(value)
			if f.has {
				n++
			}
			if n > f.max {
				f.err = &stream.OversizedError{What: "SSE event data", Limit: f.max}
				return
			}
			f.has, f.data = true, n
		}
	}
}

var _ io.Reader = (*sseFeed)(nil)
