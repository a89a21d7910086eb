// Package netx has a listener that accepts on several addresses at once.
package netx

import (
	"errors"
	"net"
	"sync"
)

// Multi accepts connections from every listener it holds; Close closes
// them all. Addr is the first listener's.
type Multi struct {
	lns   []net.Listener
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// Listen listens on every address; it fails if any fails.
func Listen(addrs ...string) (*Multi, error) {
	if len(addrs) == 0 {
		return nil, errors.New("netx: no address")
	}
	m := &Multi{conns: make(chan net.Conn), done: make(chan struct{})}
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			m.Close()
			return nil, err
		}
		m.lns = append(m.lns, ln)
	}
	for _, ln := range m.lns {
		go m.serve(ln)
	}
	return m, nil
}

func (m *Multi) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		select {
		case m.conns <- c:
		case <-m.done:
			c.Close()
			return
		}
	}
}

// Accept returns the next connection from any listener.
func (m *Multi) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case <-m.done:
		return nil, net.ErrClosed
	}
}

// Close closes every listener.
func (m *Multi) Close() error {
	var err error
	m.once.Do(func() {
		close(m.done)
		for _, ln := range m.lns {
			err = errors.Join(err, ln.Close())
		}
	})
	return err
}

// Addr is the first listener's address.
func (m *Multi) Addr() net.Addr { return m.lns[0].Addr() }

// Addrs are every listener's address.
func (m *Multi) Addrs() []net.Addr {
	var a []net.Addr
	for _, ln := range m.lns {
		a = append(a, ln.Addr())
	}
	return a
}
