//go:build unix

package load

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// rawReader reads a plain TCP connection through its syscall.RawConn.
type rawReader = *rawConn

type rawConn struct{ rc syscall.RawConn }

// newRawReader returns the raw reader of a *net.TCPConn, or nil.
func newRawReader(nc net.Conn) rawReader {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return &rawConn{rc}
}

// pump is h1Conn.pump on the raw descriptor, in one RawConn.Read: a read
// that did not fill the buffer drained the socket, so the callback
// returns false and the poller waits for readability (Go's netpoll is
// edge-triggered, and readiness that arrives after that read is kept for
// the wait, since the wait is inside the same RawConn.Read) instead of
// issuing a read that would return EAGAIN.
//
// A short read does not say whether the peer's FIN or RST is queued
// behind the data it returned: when both came before the poller looked,
// no readiness follows. So the wait is bounded: every rawProbe the read
// deadline ends it, and a new RawConn.Read starts with a read, which
// returns the end of the stream or the error. A connection closed in the
// middle of a response is seen at most rawProbe late; the responses the
// generator times end with their framing (the last chunk, the length),
// and a body that ends with the connection is read eagerly (cn.eager).
func (r *rawConn) pump(cn *h1Conn, now func() time.Time, fn func(b []byte, at time.Time, eof bool) (int, bool, error)) error {
	for {
		cn.nc.SetReadDeadline(time.Now().Add(rawProbe))
		if cn.canceled.Load() {
			cn.nc.SetDeadline(aLongTimeAgo)
		}
		err := r.pump1(cn, now, fn)
		if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && !cn.canceled.Load() {
			continue
		}
		return err
	}
}

// rawProbe bounds a wait for readability after a short read (pump).
const rawProbe = 200 * time.Millisecond

func (r *rawConn) pump1(cn *h1Conn, now func() time.Time, fn func(b []byte, at time.Time, eof bool) (int, bool, error)) error {
	var ferr, rerr error
	eof := false
	err := r.rc.Read(func(fd uintptr) bool {
		for {
			if ferr = cn.room(); ferr != nil {
				return true
			}
			n, err := syscall.Read(int(fd), cn.buf[cn.w:])
			switch err {
			case nil:
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false
			default:
				rerr = os.NewSyscallError("read", err)
				return true
			}
			at := now()
			full := cn.w+n == len(cn.buf)
			cn.w += n
			m, done, e := fn(cn.buf[cn.r:cn.w], at, n == 0)
			cn.r += m
			if done || e != nil {
				ferr = e
				return true
			}
			if n == 0 {
				eof = true
				return true
			}
			if !full && !cn.eager {
				return false
			}
		}
	})
	switch {
	case err != nil:
		return err
	case ferr != nil:
		return ferr
	case rerr != nil:
		return rerr
	case eof:
		return io.ErrUnexpectedEOF
	}
	return nil
}

// alive reports whether an idle connection is still open and has sent
// nothing: a peek that would block. A server that closed it (keep-alive
// timeout) makes it read as the end of the stream.
func (cn *h1Conn) alive() bool {
	nc := cn.nc
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, e := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = e == syscall.EAGAIN
		return true
	})
	return err == nil && alive
}
