package netx

import (
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
)

func TestMultiServesEveryAddress(t *testing.T) {
	m, err := Listen("127.0.0.1:0", "127.0.0.2:0")
	if err != nil {
		t.Skip("127.0.0.2 not available:", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	go srv.Serve(m)
	defer srv.Close()
	for _, a := range m.Addrs() {
		resp, err := http.Get("http://" + a.String() + "/")
		if err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "ok" {
			t.Fatalf("%s answered %q", a, b)
		}
	}
	m.Close()
	if _, err := m.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close = %v", err)
	}
	if _, err := net.Dial("tcp", m.Addr().String()); err == nil {
		t.Fatal("still listening after Close")
	}
}

func TestListenFailsWhole(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if _, err := Listen("127.0.0.1:0", busy.Addr().String()); err == nil {
		t.Fatal("a busy address was accepted")
	}
}
