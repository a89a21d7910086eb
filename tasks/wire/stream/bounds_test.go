package stream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

// endless is a reader that never ends: prefix, then fill forever.
type endless struct {
	prefix []byte
	fill   byte
	n      int64
}

func (e *endless) Read(p []byte) (int, error) {
	n := copy(p, e.prefix)
	e.prefix = e.prefix[n:]
	for i := n; i < len(p); i++ {
		p[i] = e.fill
	}
	e.n += int64(len(p))
	return len(p), nil
}

func isOversized(err error) bool {
	var oe *OversizedError
	return errors.Is(err, ErrOversized) && errors.As(err, &oe)
}

// A data line that never ends fails the stream as oversized after the limit
// has been read, for both protocols; memory stays bounded (a loose bound
// of a few limits), where an unbounded reader would read forever.
func TestEndlessLineIsOversized(t *testing.T) {
	for _, proto := range []string{"openai", "triton"} {
		for _, start := range []string{`data: {"choices":[{"text":"`, `: comment `, `data: x`} {
			t.Run(proto+"/"+start, func(t *testing.T) {
				src := &endless{prefix: []byte(start), fill: 'a'}
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				var rd Reader
				if proto == "triton" {
					tr := NewTritonReader(src)
					tr.SetMaxEventBytes(256 << 10)
					rd = tr
				} else {
					oa := NewOpenAIReader(src)
					oa.SetMaxEventBytes(256 << 10)
					rd = oa
				}
				ev := rd.Next()
				runtime.ReadMemStats(&after)
				if !isOversized(ev.Err) {
					t.Fatalf("end = %+v, want an *OversizedError", ev)
				}
				if !strings.Contains(ev.Err.Error(), "SSE line longer than 262144 bytes") {
					t.Fatalf("message %q", ev.Err)
				}
				if src.n > 300<<10 {
					t.Fatalf("read %d bytes before giving up, want about the 256 KiB limit", src.n)
				}
				if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
					t.Fatalf("allocated %d bytes for a 256 KiB limit", alloc)
				}
				if again := rd.Next(); !isOversized(again.Err) {
					t.Fatalf("not sticky: %+v", again)
				}
			})
		}
	}
}

// Many short data lines of one event (never dispatched) are bounded too.
func TestEndlessEventIsOversized(t *testing.T) {
	src := strings.NewReader(strings.Repeat("data: 0123456789\n", 20000)) // 340 KB, no blank line
	s := NewSSEReader(src)
	s.SetMaxEventBytes(64 << 10)
	_, err := s.Next()
	if !isOversized(err) || !strings.Contains(err.Error(), "SSE event data") {
		t.Fatalf("err = %v", err)
	}
}

// Lines and events up to the limit are read in full, with any buffer size
// and any split of the input; one byte more is refused.
func TestLimitIsExact(t *testing.T) {
	const limit = 100
	for _, bufSize := range []int{16, 64, 4096} {
		for _, crlf := range []bool{false, true} {
			nl := "\n"
			if crlf {
				nl = "\r\n"
			}
			line := func(n int) string { return "data:" + strings.Repeat("x", n-5) + nl + nl }
			read := func(in string) (Frame, error) {
				s := NewSSEReaderSize(iotest.HalfReader(strings.NewReader(in)), bufSize)
				s.SetMaxEventBytes(limit)
				return s.Next()
			}
			name := fmt.Sprintf("buf%d/crlf=%v", bufSize, crlf)
			if f, err := read(line(limit)); err != nil || len(f.Data) != limit-5 {
				t.Errorf("%s: a line of exactly the limit: %v, %d bytes", name, err, len(f.Data))
			}
			if _, err := read(line(limit + 1)); !isOversized(err) {
				t.Errorf("%s: a line one byte over: %v", name, err)
			}
			// Two data lines joined by "\n": exactly the limit, then one over.
			two := "data:" + strings.Repeat("y", 50) + nl + "data:" + strings.Repeat("z", limit-51) + nl + nl
			if f, err := read(two); err != nil || len(f.Data) != limit {
				t.Errorf("%s: an event of exactly the limit: %v, %d bytes", name, err, len(f.Data))
			}
			over := "data:" + strings.Repeat("y", 50) + nl + "data:" + strings.Repeat("z", limit-50) + nl + nl
			if _, err := read(over); !isOversized(err) {
				t.Errorf("%s: an event one byte over: %v", name, err)
			}
		}
	}
}

// Reset drops buffers grown by one huge stream, so pooled readers do not
// keep them, and clears the sticky error.
func TestResetDropsGrownBuffers(t *testing.T) {
	r := NewOpenAIReader(strings.NewReader("data: {\"choices\":[{\"text\":\"" + strings.Repeat("q", 1<<20) + "\"}]}\n\ndata: [DONE]\n\n"))
	if _, end := collect(t, r); !end.Done {
		t.Fatalf("end %+v", end)
	}
	r.Reset(strings.NewReader(vllmCompletions))
	if cap(r.sse.long) > keepBuffers || cap(r.sse.data) > keepBuffers {
		t.Fatalf("kept buffers of %d and %d bytes", cap(r.sse.long), cap(r.sse.data))
	}
	r.SetMaxEventBytes(10)
	if _, end := collect(t, r); !isOversized(end.Err) {
		t.Fatalf("limit 10: %+v", end)
	}
	r.Reset(strings.NewReader(vllmCompletions))
	r.SetMaxEventBytes(0) // back to the default
	if _, end := collect(t, r); !end.Done {
		t.Fatalf("after reset: %+v", end)
	}
}

// FuzzBoundedFraming: with a limit, the frames are those of an unbounded
// reader up to the point where the bounded one stops; it stops with an
// oversized error only when the input holds a line or an event over the
// limit, never returns data over the limit, and does not depend on the
// input's split or the buffer size.
func FuzzBoundedFraming(f *testing.F) {
	f.Add([]byte("data: a\n\ndata: b\ndata: c\n\n"), uint8(3), uint8(2))
	f.Add([]byte(": a long comment line\r\nevent: x\r\ndata: y\r\n\r\n"), uint8(1), uint8(8))
	f.Add([]byte("data: 0123456789\ndata: 0123456789\n\n"), uint8(0), uint8(15))
	f.Fuzz(func(t *testing.T, data []byte, size, limit uint8) {
		max := 1 + int(limit)
		read := func(r io.Reader, bufSize, max int) ([]string, error) {
			s := NewSSEReaderSize(r, bufSize)
			if max > 0 {
				s.SetMaxEventBytes(max)
			} else {
				s.SetMaxEventBytes(1 << 30)
			}
			var out []string
			for i := 0; ; i++ {
				fr, err := s.Next()
				if err != nil {
					return out, err
				}
				if max > 0 && len(fr.Data) > max {
					t.Fatalf("frame of %d bytes over the limit %d", len(fr.Data), max)
				}
				out = append(out, string(fr.Event)+"|"+string(fr.Data))
				if i > len(data)+1 {
					t.Fatal("more frames than input bytes")
				}
			}
		}
		free, freeErr := read(bytes.NewReader(data), 4096, 0)
		a, errA := read(bytes.NewReader(data), 4096, max)
		b, errB := read(iotest.OneByteReader(bytes.NewReader(data)), 16+int(size), max)
		if fmt.Sprint(a, errA) != fmt.Sprint(b, errB) {
			t.Fatalf("bounded frames depend on the split:\n%q %v\n%q %v", a, errA, b, errB)
		}
		if len(a) > len(free) || fmt.Sprint(a) != fmt.Sprint(free[:len(a)]) {
			t.Fatalf("bounded frames are not a prefix of the unbounded ones:\n%q\n%q", a, free)
		}
		if isOversized(errA) {
			if len(data) <= max {
				t.Fatalf("oversized with %d bytes of input and a limit of %d", len(data), max)
			}
		} else if fmt.Sprint(a, errA) != fmt.Sprint(free, freeErr) {
			t.Fatalf("not oversized, yet different from the unbounded reader:\n%q %v\n%q %v", a, errA, free, freeErr)
		}
	})
}
