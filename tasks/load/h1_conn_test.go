package load

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// roundTrip sends one request over c and returns the response's status
// and body, parsed as executeH1 does.
func roundTrip(t *testing.T, c *h1Client) (*h1Conn, int, string, bool) {
	t.Helper()
	cn, err := c.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	bp := c.request("id-1", []byte("{}"))
	if _, err := cn.nc.Write(*bp); err != nil {
		t.Fatal(err)
	}
	var p h1Resp
	var body []byte
	sink := func(b []byte) error { body = append(body, b...); return nil }
	err = cn.pump(time.Now, func(b []byte, _ time.Time, eof bool) (int, bool, error) {
		n := 0
		if !p.headDone {
			m, err := p.parseHead(b)
			if err != nil || !p.headDone {
				return 0, false, err
			}
			n = m
		}
		m, err := p.body.decode(b[n:], eof, sink)
		return n + m, p.body.done, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return cn, p.status, string(body), p.close
}

func TestH1TLSAndReuse(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: %d %s %s\n\n", i, r.Header.Get(RequestIDHeader), r.Header.Get("Authorization"))
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	c, err := newH1Client(srv.URL+"/v1/completions", requestHeader(&Options{Stream: true, APIKey: "k"}), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer c.closeIdle()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c.tlsConf.RootCAs = pool
	want := "data: 0 id-1 Bearer k\n\ndata: 1 id-1 Bearer k\n\ndata: 2 id-1 Bearer k\n\n"
	cn, status, body, closed := roundTrip(t, c)
	if status != 200 || body != want || closed || cn.raw != nil {
		t.Fatalf("status %d body %q close %v raw %v", status, body, closed, cn.raw != nil)
	}
	c.put(cn)
	cn2, status, body, _ := roundTrip(t, c)
	if cn2 != cn || status != 200 || body != want {
		t.Fatalf("second request: same conn %v, %d %q", cn2 == cn, status, body)
	}
}

// An idle connection the server closed is not reused.
func TestH1DeadIdle(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	c, err := newH1Client(srv.URL+"/x", requestHeader(&Options{}), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer c.closeIdle()
	cn, status, body, _ := roundTrip(t, c)
	if status != 200 || body != "ok" || cn.raw == nil {
		t.Fatalf("%d %q raw %v", status, body, cn.raw != nil)
	}
	c.put(cn)
	srv.CloseClientConnections()
	time.Sleep(50 * time.Millisecond)
	cn2, status, body, _ := roundTrip(t, c)
	if cn2 == cn || status != 200 || body != "ok" {
		t.Fatalf("reused a closed connection (%v) or %d %q", cn2 == cn, status, body)
	}
}
