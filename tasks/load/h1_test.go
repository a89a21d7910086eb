package load

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/wire/stream"
)

// parseAll feeds a whole response to h1Resp in pieces of step bytes (the
// reads of a connection) and returns its status, body and error.
func parseAll(raw []byte, step int) (p h1Resp, body []byte, err error) {
	buf := []byte{}
	sink := func(b []byte) error { body = append(body, b...); return nil }
	for off := 0; ; {
		eof := off >= len(raw)
		if !eof {
			end := min(off+step, len(raw))
			buf = append(buf, raw[off:end]...)
			off = end
		}
		n := 0
		if !p.headDone {
			if n, err = p.parseHead(buf); err != nil {
				return p, body, err
			}
			if !p.headDone {
				if eof {
					return p, body, errEOFBeforeHead
				}
				continue
			}
		}
		m, err := p.body.decode(buf[n:], eof, sink)
		if err != nil {
			return p, body, err
		}
		buf = append(buf[:0], buf[n+m:]...)
		if p.body.done {
			return p, body, nil
		}
		if eof {
			return p, body, io.ErrUnexpectedEOF
		}
	}
}

func TestH1Chunked(t *testing.T) {
	const head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
	cases := []struct {
		name, raw, body string
		err             string // substring of the error; "" none
	}{
		{"plain", head + "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", ""},
		{"extensions", head + "5;name=val;x\r\nhello\r\n0;end\r\n\r\n", "hello", ""},
		{"upper hex and spaces", head + "A \r\n0123456789\r\n0\r\n\r\n", "0123456789", ""},
		{"trailers", head + "3\r\nabc\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n", "abc", ""},
		{"bare LF", "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n", "abc", ""},
		{"bad size", head + "zz\r\nabc\r\n0\r\n\r\n", "", "bad chunk size"},
		{"empty size", head + "\r\nabc\r\n0\r\n\r\n", "", "bad chunk size"},
		{"size overflow", head + "1000000000000000\r\n", "", "bad chunk size"},
		{"no CRLF after data", head + "3\r\nabcX\r\n0\r\n\r\n", "", "not followed by CRLF"},
		{"cut inside a chunk", head + "5\r\nhel", "", "unexpected EOF"},
		{"cut before the last chunk", head + "3\r\nabc\r\n", "", "unexpected EOF"},
		{"cut inside the trailer", head + "3\r\nabc\r\n0\r\nX: 1\r\n", "", "unexpected EOF"},
		{"size line too long", head + strings.Repeat("0", maxChunkLine+10), "", "too long"},
	}
	for _, c := range cases {
		for _, step := range []int{1, 2, 3, 7, 1 << 20} {
			p, body, err := parseAll([]byte(c.raw), step)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Errorf("%s, step %d: err %v, want %q", c.name, step, err, c.err)
				}
				continue
			}
			if err != nil || string(body) != c.body || p.status != 200 || !p.body.chunked || p.close {
				t.Errorf("%s, step %d: status %d body %q err %v close %v, want %q", c.name, step, p.status, body, err, p.close, c.body)
			}
		}
	}
}

func TestH1Head(t *testing.T) {
	cases := []struct {
		name, raw  string
		status     int
		text, body string
		close      bool
		err        string
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcextra", 200, "200 OK", "abc", false, ""},
		{"zero length", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 200, "200 OK", "", false, ""},
		{"close delimited", "HTTP/1.1 200 OK\r\n\r\nall of it", 200, "200 OK", "all of it", true, ""},
		{"http/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nab", 200, "200 OK", "ab", true, ""},
		{"connection close", "HTTP/1.1 503 Service Unavailable\r\nConnection: keep-alive, close\r\nContent-Length: 4\r\n\r\nbusy", 503, "503 Service Unavailable", "busy", true, ""},
		{"1xx skipped", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, "200 OK", "ok", false, ""},
		{"no reason", "HTTP/1.1 204\r\n\r\n", 204, "204", "", false, ""},
		{"TE wins over CL", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", 200, "200 OK", "ok", true, ""},
		{"bad status line", "HTTP/2 200\r\n\r\n", 0, "", "", false, "status line"},
		{"bad code", "HTTP/1.1 2x0 OK\r\n\r\n", 0, "", "", false, "bad status code"},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0, "", "", false, "Content-Length"},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 0, "", "", false, "two different"},
		{"bad field", "HTTP/1.1 200 OK\r\nno colon\r\n\r\n", 0, "", "", false, "malformed HTTP response header"},
		{"cut in head", "HTTP/1.1 200 OK\r\nContent-Le", 0, "", "", false, "before answering"},
		{"cut in body", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", 200, "", "", false, "unexpected EOF"},
	}
	for _, c := range cases {
		for _, step := range []int{1, 5, 1 << 20} {
			p, body, err := parseAll([]byte(c.raw), step)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Errorf("%s, step %d: err %v, want %q", c.name, step, err, c.err)
				}
				continue
			}
			if err != nil || p.status != c.status || p.statusText != c.text || string(body) != c.body || p.close != c.close {
				t.Errorf("%s, step %d: %d %q body %q close %v err %v; want %d %q %q close %v", c.name, step,
					p.status, p.statusText, body, p.close, err, c.status, c.text, c.body, c.close)
			}
		}
	}
}

func TestH1HeadBound(t *testing.T) {
	big := "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", MaxResponseHeaderBytes) + "\r\n\r\n"
	_, _, err := parseAll([]byte(big), 4096)
	if !errors.Is(err, stream.ErrOversized) || !strings.Contains(err.Error(), "response headers larger than 65536 bytes") {
		t.Fatalf("err %v, want the header bound", err)
	}
	trailer := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " + strings.Repeat("a", MaxResponseHeaderBytes) + "\r\n\r\n"
	if _, _, err := parseAll([]byte(trailer), 4096); !errors.Is(err, stream.ErrOversized) {
		t.Fatalf("trailer: err %v, want the header bound", err)
	}
}

// The feed lets the reader see complete events only, counts them as the
// SSE reader dispatches them, and bounds what it keeps.
func TestSSEFeed(t *testing.T) {
	const body = "\xEF\xBB\xBFdata: {\"choices\":[{\"text\":\"a\"}]}\r\n\r\n: keep-alive\n\n" +
		"data: {\"choices\":[{\"text\":\"b\"}]}\n\nevent: x\ndata:\n\n" +
		"data: {\"choices\":\ndata: [{\"text\":\"c\"}]}\n\ndata: [DONE]\n\n"
	for _, step := range []int{1, 2, 5, 1 << 20} {
		var f sseFeed
		f.reset(1 << 10)
		rd := stream.NewOpenAIReader(&f)
		var text strings.Builder
		done := false
		for off := 0; off < len(body) && !done; off += step {
			f.add([]byte(body[off:min(off+step, len(body))]))
			for ; f.ready > 0 && !done; f.ready-- {
				ev := rd.Next()
				if ev.Err != nil {
					t.Fatalf("step %d: %v", step, ev.Err)
				}
				text.WriteString(ev.Text)
				done = ev.Done
			}
		}
		if !done || text.String() != "abc" {
			t.Fatalf("step %d: done %v text %q, want abc and done", step, done, text.String())
		}
		if len(f.pend)-f.off != 0 {
			t.Fatalf("step %d: %d bytes kept after the last event", step, len(f.pend)-f.off)
		}
	}
	// A partial event at the end of the body is truncated; the reader sees
	// it only once the feed is finished.
	var f sseFeed
	f.reset(1 << 10)
	rd := stream.NewOpenAIReader(&f)
	f.add([]byte("data: {\"choices\":[{\"text\":\"a\"}]}\n"))
	if f.ready != 0 {
		t.Fatalf("ready %d before the blank line", f.ready)
	}
	f.finish(io.EOF)
	if ev := rd.Next(); !errors.Is(ev.Err, stream.ErrTruncated) {
		t.Fatalf("event %+v, want truncated", ev)
	}
	// Keep-alives between events are dropped, not kept.
	f.reset(64)
	for range 1000 {
		f.add([]byte(": ping\n\n"))
	}
	if len(f.pend) != 0 || f.err != nil {
		t.Fatalf("%d bytes kept for keep-alives (err %v)", len(f.pend), f.err)
	}
	// Bounds: a line, an event's data, comments inside one event.
	for _, c := range []struct{ in, want string }{
		{"data: " + strings.Repeat("x", 100), "SSE line longer than 64"},
		{"data: " + strings.Repeat("x", 40) + "\ndata: " + strings.Repeat("x", 40) + "\n", "SSE event data longer than 64"},
		{"data: x\n" + strings.Repeat(": c\n", 100), "SSE event longer than 128"},
	} {
		f.reset(64)
		f.add([]byte(c.in))
		if f.err == nil || !strings.Contains(f.err.Error(), c.want) || !errors.Is(f.err, stream.ErrOversized) {
			t.Errorf("%.20q: err %v, want %q", c.in, f.err, c.want)
		}
	}
}

func TestH1Request(t *testing.T) {
	h := requestHeader(&Options{Stream: true, APIKey: "sk-test"})
	c, err := newH1Client("http://127.0.0.1:8000/v1/chat/completions?x=1", h, 4)
	if err != nil {
		t.Fatal(err)
	}
	bp := c.request("run-1", []byte(`{"a":1}`))
	got := string(*bp)
	want := "POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: Go-http-client/1.1\r\n" +
		"Accept: text/event-stream\r\nAuthorization: Bearer sk-test\r\nContent-Type: application/json\r\n" +
		"X-Request-Id: run-1\r\nContent-Length: 7\r\n\r\n{\"a\":1}"
	if got != want {
		t.Fatalf("request\n%q\nwant\n%q", got, want)
	}
	if c.addr != "127.0.0.1:8000" || c.tlsConf != nil {
		t.Fatalf("addr %q tls %v", c.addr, c.tlsConf)
	}
	if c, err := newH1Client("https://example.com/v1/completions", h, 1); err != nil || c.addr != "example.com:443" ||
		c.tlsConf == nil || c.tlsConf.ServerName != "example.com" || c.tlsConf.NextProtos[0] != "http/1.1" {
		t.Fatalf("https: %+v %v", c, err)
	}
	h.Set("Authorization", "Bearer a\r\nX-Injected: 1")
	if _, err := newH1Client("http://h/", h, 1); err == nil || !strings.Contains(err.Error(), "line break") {
		t.Fatalf("header with a line break: %v", err)
	}
	if _, err := newH1Client("ftp://h/", h, 1); err == nil || !strings.Contains(err.Error(), "expected http or https") {
		t.Fatalf("ftp: %v", err)
	}
}

// FuzzH1Response: whatever a server sends, parsing ends (a body or an
// error), never panics, the body is never longer than what was sent, and
// pieces of any size give the same outcome.
func FuzzH1Response(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: 1\r\n\r\n"), uint8(3))
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"), uint8(1))
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 500 x\r\n\r\nboom"), uint8(7))
	f.Add([]byte("HTTP/1.1 200 OK\nTransfer-Encoding: gzip, chunked\n\n1\na\n0\n\n"), uint8(2))
	f.Fuzz(func(t *testing.T, raw []byte, step uint8) {
		p1, b1, err1 := parseAll(raw, int(step)%16+1)
		p2, b2, err2 := parseAll(raw, 1<<20)
		if len(b1) > len(raw) || len(b2) > len(raw) {
			t.Fatalf("body of %d/%d bytes from %d", len(b1), len(b2), len(raw))
		}
		if (err1 == nil) != (err2 == nil) || !bytes.Equal(b1, b2) && err1 == nil || p1.status != p2.status {
			t.Fatalf("step %d: %d %q %v; whole: %d %q %v", step, p1.status, b1, err1, p2.status, b2, err2)
		}
	})
}
