// Package stream reads the streamed responses of LLM inference servers:
// OpenAI-compatible Server-Sent Events (chat and completions, as served by
// vLLM and the Triton OpenAI frontend) and the Triton generate_stream SSE
// framing (vLLM backend and TensorRT-LLM ensemble).
//
// The readers are built for a load generator: the SSE framing layer
// (SSEReader) does not allocate per byte or per line (it reuses its buffers
// and bufio.Reader.ReadSlice), and the protocol readers decode each event's
// JSON into a reused struct.
//
// Framing rules (a strict reading of the SSE specification, with one
// documented leniency):
//   - lines end with "\n" or "\r\n" (a lone "\r" line ending is not
//     supported; no inference server emits it);
//   - a blank line dispatches the event; several "data:" lines in one event
//     are joined with "\n";
//   - lines starting with ":" are comments (keep-alives) and are ignored, as
//     are the "id:" and "retry:" fields and unknown fields;
//   - "event: error" marks the event's data as a server error;
//   - the stream is truncated (ErrTruncated) when it ends inside a line or
//     inside an event (data lines not yet closed by a blank line), or when
//     the transport reports an unexpected EOF (a chunked body cut before its
//     last chunk). Leniency: a pending "data: [DONE]" without its blank line
//     at EOF still counts as the end of an OpenAI stream;
//   - memory is bounded whatever the server sends: a line, or the data of
//     one event, longer than the reader's limit (DefaultMaxEventBytes unless
//     SetMaxEventBytes says otherwise) ends the stream with an
//     *OversizedError (errors.Is ErrOversized) instead of growing a buffer.
package stream

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrTruncated reports a stream that ended without its final event
// (OpenAI: "data: [DONE]") or was cut inside an event.
var ErrTruncated = errors.New("stream truncated: the response ended inside an event or without its final event")

// DefaultBufferSize is the read buffer of an SSEReader. Lines longer than the
// buffer are still read (they are assembled in a side buffer that grows up
// to the reader's limit).
const DefaultBufferSize = 8 << 10

// DefaultMaxEventBytes bounds one SSE line and the data of one event. A real
// token delta is well under 1 KB (a few KB with logprobs); a non-streamed
// answer framed as a single event is tens of KB; 4 MiB is a hundred times
// that.
const DefaultMaxEventBytes = 4 << 20

// keepBuffers is the capacity up to which a reader keeps its grown buffers
// across Reset; larger ones (left by one unusual stream) are dropped so a
// pool of readers does not hold them.
const keepBuffers = 64 << 10

// ErrOversized is matched (errors.Is) by an *OversizedError.
var ErrOversized = errors.New("oversized")

// OversizedError reports a line, event or body longer than its limit. The
// stream is abandoned at that point: nothing more is buffered.
type OversizedError struct {
	What  string // "SSE line", "SSE event data", "response body"
	Limit int    // bytes
}

func (e *OversizedError) Error() string {
	return fmt.Sprintf("%s longer than %d bytes: abandoned (no response of an inference server needs that much; raise the limit if this one is legitimate)", e.What, e.Limit)
}

// Is makes errors.Is(err, ErrOversized) true.
func (e *OversizedError) Is(target error) bool { return target == ErrOversized }

// Frame is one dispatched SSE event. Event and Data alias the reader's
// buffers and are valid until the next call to Next.
type Frame struct {
	Event []byte // value of the "event:" field; empty when absent
	Data  []byte // the "data:" lines joined with "\n"
}

// SSEReader splits a byte stream into SSE events.
type SSEReader struct {
	br         *bufio.Reader
	data       []byte
	event      []byte
	long       []byte
	max        int   // limit of a line and of an event's data
	err        error // sticky: an oversized line leaves the framing unknown
	hasData    bool
	started    bool
	dispatched bool
}

// NewSSEReader returns a reader with a buffer of DefaultBufferSize.
func NewSSEReader(r io.Reader) *SSEReader {
	return NewSSEReaderSize(r, DefaultBufferSize)
}

// NewSSEReaderSize returns a reader with a read buffer of size bytes.
func NewSSEReaderSize(r io.Reader, size int) *SSEReader {
	return &SSEReader{br: bufio.NewReaderSize(r, size), data: make([]byte, 0, 512), max: DefaultMaxEventBytes}
}

// SetMaxEventBytes sets the limit of one line and of one event's data
// (n <= 0: DefaultMaxEventBytes). It survives Reset.
func (s *SSEReader) SetMaxEventBytes(n int) {
	if n <= 0 {
		n = DefaultMaxEventBytes
	}
	s.max = n
}

// Reset makes the reader read from r, keeping its buffers (for pooling).
func (s *SSEReader) Reset(r io.Reader) {
	s.br.Reset(r)
	if cap(s.data) > keepBuffers {
		s.data = make([]byte, 0, 512)
	}
	if cap(s.long) > keepBuffers {
		s.long = nil
	}
	if cap(s.event) > keepBuffers {
		s.event = nil
	}
	s.err = nil
	s.data = s.data[:0]
	s.event = s.event[:0]
	s.hasData = false
	s.started = false
	s.dispatched = false
}

func isDoneLine(line []byte) bool {
	line = bytes.TrimSuffix(line, []byte("\r"))
	v, ok := bytes.CutPrefix(line, fieldData)
	if !ok || len(v) == 0 || v[0] != ':' {
		return false
	}
	v = v[1:]
	if len(v) > 0 && v[0] == ' ' {
		v = v[1:]
	}
	return bytes.Equal(v, doneMarker)
}

var errPartialLine = errors.New("partial line")

// readLine returns the next line without its line ending. The slice aliases
// internal buffers.
func (s *SSEReader) readLine() ([]byte, error) {
	line, err := s.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		s.long = append(s.long[:0], line...)
		for err == bufio.ErrBufferFull {
			if len(s.long) > s.max+2 { // +2: the line ending is not part of the line
				return nil, &OversizedError{What: "SSE line", Limit: s.max}
			}
			line, err = s.br.ReadSlice('\n')
			s.long = append(s.long, line...)
		}
		line = s.long
	}
	if len(line) > s.max && (err == nil || err == io.EOF) {
		n := len(line)
		if err == nil { // without its line ending
			n--
			if n > 0 && line[n-1] == '\r' {
				n--
			}
		}
		if n > s.max {
			return nil, &OversizedError{What: "SSE line", Limit: s.max}
		}
	}
	if err != nil {
		if err == io.EOF {
			if len(line) == 0 {
				return nil, io.EOF
			}
			return line, errPartialLine
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if !s.started {
		s.started = true
		line = bytes.TrimPrefix(line, utf8BOM)
	}
	return line, nil
}

var (
	utf8BOM     = []byte("\xEF\xBB\xBF")
	doneMarker  = []byte("[DONE]")
	fieldData   = []byte("data")
	fieldEvent  = []byte("event")
	eventErrorB = []byte("error")
)

// Next returns the next event. At a clean end of the stream it returns
// io.EOF; a stream cut inside an event gives ErrTruncated; a transport error
// is returned as is, except io.ErrUnexpectedEOF which is wrapped in
// ErrTruncated.
func (s *SSEReader) Next() (Frame, error) {
	if s.err != nil {
		return Frame{}, s.err
	}
	if s.dispatched {
		s.dispatched = false
		s.event = s.event[:0]
		s.data = s.data[:0]
	}
	for {
		line, err := s.readLine()
		if err != nil {
			switch {
			case errors.Is(err, ErrOversized):
				s.err = err
				return Frame{}, err
			case err == io.EOF:
				if s.hasData {
					if bytes.Equal(s.data, doneMarker) {
						s.hasData = false
						s.dispatched = true
						return Frame{Event: s.event, Data: s.data}, nil
					}
					s.hasData = false
					return Frame{}, ErrTruncated
				}
				return Frame{}, io.EOF
			case err == errPartialLine:
				// Leniency: a final "data: [DONE]" line without its line ending.
				if !s.hasData && isDoneLine(line) {
					s.dispatched = true
					return Frame{Data: doneMarker}, nil
				}
				s.hasData = false
				return Frame{}, ErrTruncated
			case errors.Is(err, io.ErrUnexpectedEOF):
				return Frame{}, errTruncatedWrap{err}
			default:
				return Frame{}, err
			}
		}
		if len(line) == 0 {
			if s.hasData {
				s.hasData = false
				if len(s.data) == 0 {
					s.event = s.event[:0]
					continue
				}
				s.dispatched = true // buffers are reset on the next call
				return Frame{Event: s.event, Data: s.data}, nil
			}
			s.event = s.event[:0]
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch {
		case bytes.Equal(field, fieldData):
			if n := len(s.data) + len(value); n > s.max || (s.hasData && n+1 > s.max) {
				s.err = &OversizedError{What: "SSE event data", Limit: s.max}
				return Frame{}, s.err
			}
			if !s.hasData {
				s.hasData = true
			} else {
				s.data = append(s.data, '\n')
			}
			s.data = append(s.data, value...)
		case bytes.Equal(field, fieldEvent):
			s.event = append(s.event[:0], value...)
		}
	}
}

// errTruncatedWrap is ErrTruncated caused by a transport error.
type errTruncatedWrap struct{ cause error }

func (e errTruncatedWrap) Error() string { return ErrTruncated.Error() + ": " + e.cause.Error() }
func (e errTruncatedWrap) Is(target error) bool {
	return target == ErrTruncated
}
func (e errTruncatedWrap) Unwrap() error { return e.cause }

// isErrorEvent reports whether the frame is an "event: error" frame.
func (f Frame) isErrorEvent() bool { return bytes.Equal(f.Event, eventErrorB) }
