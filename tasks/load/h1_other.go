//go:build !unix

package load

import (
	"net"
	"time"
)

// rawReader is unused where there is no syscall.RawConn read path: the
// connection is read with net.Conn.Read.
type rawReader = *rawConn

type rawConn struct{}

func newRawReader(net.Conn) rawReader { return nil }

func (*rawConn) pump(*h1Conn, func() time.Time, func([]byte, time.Time, bool) (int, bool, error)) error {
	panic("unreachable")
}

// alive cannot check an idle connection here; a closed one fails its
// next request.
func (cn *h1Conn) alive() bool { return true }
