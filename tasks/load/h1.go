package load

// The load path's own HTTP/1.1 client. net/http costs, per streamed chunk,
// two reads (one that returns the data and one that returns EAGAIN and
// parks the goroutine), its body wrappers and a second copy through the SSE
// reader's buffer. This client writes a request in one write, parses the
// response head and the chunked, Content-Length or close-delimited body in
// place from one read buffer, and on a plain TCP connection reads through
// syscall.RawConn (h1_unix.go) so that the goroutine waits for readability
// after a read that did not fill the buffer instead of issuing a read that
// returns EAGAIN: one read per chunk.
//
// net/http stays for what is not the load path: the one GET /v1/models of
// discoverModel (client.go), and Options.HTTPClient, which lets tests and
// users with a custom transport or TLS set-up replace this client.

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/wire/stream"
)

// h1ReadBuffer is a connection's read buffer; it grows (up to the header
// bound) only for a response head longer than that.
const h1ReadBuffer = 16 << 10

// h1IdleTimeout drops idle connections older than this (net/http's
// IdleConnTimeout of the client it replaces).
const h1IdleTimeout = 90 * time.Second

// h1Client sends the requests of one run to one endpoint over a keep-alive
// pool of HTTP/1.1 connections.
type h1Client struct {
	addr    string // host:port to dial
	tlsConf *tls.Config
	dialer  net.Dialer
	head    []byte // request line and the run's fixed header fields
	maxIdle int

	mu   sync.Mutex
	idle []*h1Conn

	reqPool sync.Pool // *[]byte: one request's bytes
}

// h1Conn is one connection with its read buffer: buf[r:w] is read and not
// yet parsed.
type h1Conn struct {
	nc     net.Conn
	raw    rawReader // nil: read with nc.Read
	buf    []byte
	r, w   int
	idleAt time.Time
	// eager: read again after a short read (a body that ends with the
	// connection; h1_unix.go).
	eager bool
	// canceled is set before the deadline that interrupts the
	// connection's I/O (a cancellation, a timeout).
	canceled atomic.Bool
}

// newH1Client parses the endpoint and renders the fixed part of every
// request: the request line, Host, and header (User-Agent, Content-Type,
// Accept, Authorization). Header values with a line break are refused.
func newH1Client(endpoint string, header http.Header, conns int) (*h1Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("load: url %q: %w; expected http://host:port or https://host:port", endpoint, err)
	}
	c := &h1Client{dialer: net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}, maxIdle: conns}
	if c.maxIdle <= 0 {
		c.maxIdle = 1024
	}
	port := u.Port()
	switch u.Scheme {
	case "http":
		if port == "" {
			port = "80"
		}
	case "https":
		if port == "" {
			port = "443"
		}
		c.tlsConf = &tls.Config{ServerName: u.Hostname(), NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
	default:
		return nil, fmt.Errorf("load: url %q: scheme %q: expected http or https", endpoint, u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("load: url %q has no host; expected http://host:port", endpoint)
	}
	c.addr = net.JoinHostPort(u.Hostname(), port)
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: Go-http-client/1.1\r\n", u.RequestURI(), u.Host)
	keys := make([]string, 0, len(header))
	for k := range header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range header[k] {
			if strings.ContainsAny(k, "\r\n: ") || strings.ContainsAny(v, "\r\n") {
				return nil, fmt.Errorf("load: header %q holds a line break or is not a field name; remove it (an API key is one line)", k)
			}
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	c.head = b.Bytes()
	c.reqPool.New = func() any { s := make([]byte, 0, 1024); return &s }
	return c, nil
}

// request renders one request: the fixed head, its id, its length, body.
func (c *h1Client) request(id string, body []byte) *[]byte {
	bp := c.reqPool.Get().(*[]byte)
	b := append((*bp)[:0], c.head...)
	b = append(b, RequestIDHeader...)
	b = append(b, ": "...)
	b = append(b, id...)
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	*bp = b
	return bp
}

// get returns an idle connection that is still open, or dials one.
func (c *h1Client) get(ctx context.Context) (*h1Conn, error) {
	now := time.Now()
	for {
		c.mu.Lock()
		n := len(c.idle)
		if n == 0 {
			c.mu.Unlock()
			break
		}
		cn := c.idle[n-1]
		c.idle[n-1] = nil
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		if now.Sub(cn.idleAt) < h1IdleTimeout && cn.alive() {
			return cn, nil
		}
		cn.nc.Close()
	}
	nc, err := c.dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, err
	}
	if c.tlsConf != nil {
		tc := tls.Client(nc, c.tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		if p := tc.ConnectionState().NegotiatedProtocol; p != "" && p != "http/1.1" {
			tc.Close()
			return nil, fmt.Errorf("tls: the server chose protocol %q; the load generator speaks http/1.1", p)
		}
		cn := &h1Conn{nc: tc, buf: make([]byte, h1ReadBuffer)}
		return cn, nil
	}
	return &h1Conn{nc: nc, raw: newRawReader(nc), buf: make([]byte, h1ReadBuffer)}, nil
}

// put returns a connection whose response ended cleanly to the pool.
func (c *h1Client) put(cn *h1Conn) {
	cn.r, cn.w, cn.eager = 0, 0, false
	cn.nc.SetReadDeadline(time.Time{})
	if len(cn.buf) > h1ReadBuffer {
		cn.buf = make([]byte, h1ReadBuffer)
	}
	cn.idleAt = time.Now()
	c.mu.Lock()
	if len(c.idle) < c.maxIdle {
		c.idle = append(c.idle, cn)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	cn.nc.Close()
}

// closeIdle closes the idle connections (the end of a run).
func (c *h1Client) closeIdle() {
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	for _, cn := range idle {
		cn.nc.Close()
	}
}

// errBufferFull: pump's handler consumed nothing from a full buffer.
var errBufferFull = errors.New("http: response head larger than the read buffer")

// pump hands what the connection has read, buf[r:w], to fn with the time
// of the read, until fn says done or fails; fn returns how much it
// consumed. At the end of the stream fn is called with eof set (and
// whatever was left unconsumed). A read error other than the end of the
// stream is returned.
func (cn *h1Conn) pump(now func() time.Time, fn func(b []byte, at time.Time, eof bool) (n int, done bool, err error)) error {
	if cn.w > cn.r {
		n, done, err := fn(cn.buf[cn.r:cn.w], now(), false)
		cn.r += n
		if done || err != nil {
			return err
		}
	}
	if cn.raw != nil {
		return cn.raw.pump(cn, now, fn)
	}
	for {
		if err := cn.room(); err != nil {
			return err
		}
		n, rerr := cn.nc.Read(cn.buf[cn.w:])
		at := now()
		cn.w += n
		if n > 0 || rerr == io.EOF {
			m, done, err := fn(cn.buf[cn.r:cn.w], at, rerr == io.EOF)
			cn.r += m
			if done || err != nil {
				return err
			}
		}
		if rerr != nil {
			if rerr == io.EOF {
				return io.ErrUnexpectedEOF // fn did not end at the end of the stream
			}
			return rerr
		}
	}
}

// room makes room at the end of the buffer: it moves the unparsed bytes to
// the front, or grows the buffer up to the header bound.
func (cn *h1Conn) room() error {
	if cn.r == cn.w {
		cn.r, cn.w = 0, 0
	}
	if cn.w < len(cn.buf) {
		return nil
	}
	if cn.r > 0 {
		cn.w = copy(cn.buf, cn.buf[cn.r:cn.w])
		cn.r = 0
		return nil
	}
	if len(cn.buf) >= MaxResponseHeaderBytes+h1ReadBuffer {
		return errBufferFull
	}
	nb := make([]byte, 2*len(cn.buf))
	cn.w = copy(nb, cn.buf[cn.r:cn.w])
	cn.r = 0
	cn.buf = nb
	return nil
}

// headersTooLarge is the error for a response head over the bound.
func headersTooLarge() error {
	return fmt.Errorf("response headers larger than %d bytes: abandoned: %w", MaxResponseHeaderBytes, stream.ErrOversized)
}

// h1Resp parses one response: its head, then its body, handed to sink in
// pieces that alias the read buffer.
type h1Resp struct {
	status     int
	statusText string // "503 Service Unavailable"
	headDone   bool
	close      bool // the connection cannot be reused after this response
	body       h1Body
}

// parseHead parses the response head at the front of b; n is 0 while it
// is incomplete. 1xx responses are skipped.
func (p *h1Resp) parseHead(b []byte) (n int, err error) {
	for {
		end := headEnd(b[n:])
		if end < 0 {
			if len(b)-n > MaxResponseHeaderBytes {
				return 0, headersTooLarge()
			}
			return 0, nil
		}
		if end > MaxResponseHeaderBytes {
			return 0, headersTooLarge()
		}
		head := b[n : n+end]
		n += end
		if err := p.head(head); err != nil {
			return 0, err
		}
		if p.status >= 200 || p.status == 101 {
			p.headDone = true
			return n, nil
		}
	}
}

// headEnd is the length of the head at the front of b, blank line
// included, or -1.
func headEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		if i < len(b) && b[i] == '\n' {
			return i + 1
		}
		if i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n' {
			return i + 2
		}
		if i >= len(b) || (b[i] == '\r' && i+1 >= len(b)) {
			return -1
		}
	}
}

// head reads a status line and header fields.
func (p *h1Resp) head(head []byte) error {
	line, rest, _ := bytes.Cut(head, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	proto, status, ok := bytes.Cut(line, []byte(" "))
	if !ok || !bytes.HasPrefix(proto, []byte("HTTP/1.")) || len(proto) != 8 {
		return fmt.Errorf("malformed HTTP response %q: expected HTTP/1.x status line", cut(line, 64))
	}
	code := status
	if i := bytes.IndexByte(status, ' '); i >= 0 {
		code = status[:i]
	}
	c, err := strconv.Atoi(string(code))
	if err != nil || len(code) != 3 || c < 100 {
		return fmt.Errorf("malformed HTTP response %q: bad status code", cut(line, 64))
	}
	p.status, p.statusText = c, string(bytes.TrimSpace(status))
	p.close = proto[7] == '0'
	p.body = h1Body{length: -1}
	var te, cl []byte
	haveCL := false
	for len(rest) > 0 {
		var l []byte
		l, rest, _ = bytes.Cut(rest, []byte("\n"))
		l = bytes.TrimSuffix(l, []byte("\r"))
		if len(l) == 0 {
			break
		}
		k, v, ok := bytes.Cut(l, []byte(":"))
		if !ok || len(k) == 0 || k[0] == ' ' || k[0] == '\t' {
			return fmt.Errorf("malformed HTTP response header %q", cut(l, 64))
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			te = v
		case bytes.EqualFold(k, []byte("Content-Length")):
			if haveCL && !bytes.Equal(cl, v) {
				return errors.New("malformed HTTP response: two different Content-Length fields")
			}
			cl, haveCL = v, true
		case bytes.EqualFold(k, []byte("Connection")):
			for _, t := range bytes.Split(v, []byte(",")) {
				if bytes.EqualFold(bytes.TrimSpace(t), []byte("close")) {
					p.close = true
				}
			}
		}
	}
	switch {
	case p.status == 204 || p.status == 304 || p.status < 200:
		p.body.length = 0
	case len(te) > 0:
		codings := bytes.Split(te, []byte(","))
		if bytes.EqualFold(bytes.TrimSpace(codings[len(codings)-1]), []byte("chunked")) {
			p.body.chunked = true
		} else {
			p.close = true // read to the end of the connection
		}
		if haveCL {
			p.close = true
		}
	case haveCL:
		n, err := strconv.ParseInt(string(cl), 10, 64)
		if err != nil || n < 0 || cl[0] == '+' {
			return fmt.Errorf("malformed HTTP response: bad Content-Length %q", cut(cl, 32))
		}
		p.body.length = n
	default:
		p.close = true
	}
	return nil
}

func cut(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// h1Body decodes a response body: chunked, of a known length, or to the end
// of the connection (length -1).
type h1Body struct {
	chunked bool
	length  int64 // bytes left of a length-delimited body, or of the current chunk
	state   uint8
	trailer int // bytes of trailer read
	done    bool
}

// Chunked decoder states.
const (
	chunkSize    = iota // expecting a chunk-size line
	chunkData           // inside a chunk's data (length left)
	chunkDataEnd        // expecting the CRLF after a chunk's data
	chunkTrailer        // expecting trailer lines up to a blank line
)

// maxChunkLine bounds a chunk-size line (its extensions included).
const maxChunkLine = 4096

// decode consumes body framing from b, handing the body's bytes to sink;
// it returns how much of b it consumed. At eof the body must be complete
// (a close-delimited body ends there).
func (d *h1Body) decode(b []byte, eof bool, sink func([]byte) error) (int, error) {
	n := 0
loop:
	for !d.done {
		if !d.chunked {
			if d.length < 0 {
				if len(b) > n {
					if err := sink(b[n:]); err != nil {
						return n, err
					}
					n = len(b)
				}
				if eof {
					d.done = true
				}
				break
			}
			k := min(int64(len(b)-n), d.length)
			if k > 0 {
				if err := sink(b[n : n+int(k)]); err != nil {
					return n, err
				}
			}
			n += int(k)
			d.length -= k
			if d.length == 0 {
				d.done = true
			}
			break
		}
		rest := b[n:]
		switch d.state {
		case chunkSize:
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				if len(rest) > maxChunkLine {
					return n, errors.New("malformed chunked encoding: chunk-size line too long")
				}
				break loop
			}
			size, err := parseChunkSize(rest[:i])
			if err != nil {
				return n, err
			}
			n += i + 1
			if size == 0 {
				d.state = chunkTrailer
			} else {
				d.length, d.state = size, chunkData
			}
		case chunkData:
			if len(rest) == 0 {
				break loop
			}
			k := min(int64(len(rest)), d.length)
			if err := sink(rest[:k]); err != nil {
				return n, err
			}
			n += int(k)
			if d.length -= k; d.length == 0 {
				d.state = chunkDataEnd
			}
		case chunkDataEnd:
			switch {
			case len(rest) >= 1 && rest[0] == '\n':
				n++
			case len(rest) >= 2 && rest[0] == '\r' && rest[1] == '\n':
				n += 2
			case len(rest) == 0 || (len(rest) == 1 && rest[0] == '\r'):
				break loop
			default:
				return n, errors.New("malformed chunked encoding: chunk data not followed by CRLF")
			}
			d.state = chunkSize
		case chunkTrailer:
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				if d.trailer+len(rest) > MaxResponseHeaderBytes {
					return n, headersTooLarge()
				}
				break loop
			}
			d.trailer += i + 1
			if d.trailer > MaxResponseHeaderBytes {
				return n, headersTooLarge()
			}
			n += i + 1
			if i == 0 || (i == 1 && rest[0] == '\r') {
				d.done = true
			}
		}
	}
	if eof && !d.done {
		return n, io.ErrUnexpectedEOF
	}
	return n, nil
}

// parseChunkSize reads a chunk-size line (without its "\n"): hex digits,
// then optional whitespace and ";extensions", which are ignored.
func parseChunkSize(line []byte) (int64, error) {
	line = bytes.TrimSuffix(line, []byte("\r"))
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimRight(line, " \t")
	if len(line) == 0 || len(line) > 15 {
		return 0, fmt.Errorf("malformed chunked encoding: bad chunk size %q", cut(line, 32))
	}
	var n int64
	for _, c := range line {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, fmt.Errorf("malformed chunked encoding: bad chunk size %q", cut(line, 32))
		}
		n = n<<4 | int64(v)
	}
	return n, nil
}
