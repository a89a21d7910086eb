package sim

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The stream writers frame the chunks themselves and write them to the
// connection (rawConn): the answer must stay valid chunked HTTP/1.1 as
// net/http's client reads it (sizes, CRLFs, the zero-length last chunk),
// and the connection must serve the next request (keep-alive).
func TestRawChunksKeepAlive(t *testing.T) {
	cfg := fastConfig(PersonalityVLLM)
	cfg.ConstantTTFT, cfg.ConstantITL = time.Millisecond, 200*time.Microsecond
	_, run := startServer(t, cfg)
	addr := strings.TrimPrefix(run.APIURL, "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i, tokens := range []int{1, 37, 300} {
		body := fmt.Sprintf(`{"model":"qwen","prompt":"hi","max_tokens":%d,"ignore_eos":true,"stream":true,`+
			`"stream_options":{"include_usage":true,"continuous_usage_stats":true}}`, tokens)
		if _, err := fmt.Fprintf(c, "POST /v1/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", addr, len(body), body); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d on one connection: %v", i+1, err)
		}
		b, err := io.ReadAll(resp.Body) // net/http's chunked reader: a bad frame is an error
		resp.Body.Close()
		if err != nil {
			t.Fatalf("request %d: reading the chunked body: %v (%.300q)", i+1, err, b)
		}
		if resp.StatusCode != 200 || len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" || resp.Close {
			t.Errorf("request %d: HTTP %d, transfer encoding %v, close %v; want 200, chunked, keep-alive", i+1, resp.StatusCode, resp.TransferEncoding, resp.Close)
		}
		if got := bytes.Count(b, []byte(`"text":`)); got != tokens {
			t.Errorf("request %d: %d text events, want %d (one per token)", i+1, got, tokens)
		}
		want := fmt.Sprintf(`"completion_tokens":%d}}`+"\n\ndata: [DONE]\n\n", tokens)
		if !bytes.HasSuffix(b, []byte(want)) {
			t.Errorf("request %d: the stream ends %q, want the usage of %d tokens then [DONE]", i+1, b[max(0, len(b)-120):], tokens)
		}
	}
}

// An HTTP/1.0 request cannot be answered chunked: its stream goes through
// net/http's ResponseWriter, which ends it by closing the connection.
func TestStreamHTTP10(t *testing.T) {
	cfg := fastConfig(PersonalityVLLM)
	cfg.ConstantTTFT, cfg.ConstantITL = time.Millisecond, 200*time.Microsecond
	_, run := startServer(t, cfg)
	addr := strings.TrimPrefix(run.APIURL, "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := `{"model":"qwen","prompt":"hi","max_tokens":20,"ignore_eos":true,"stream":true}`
	if _, err := fmt.Fprintf(c, "POST /v1/completions HTTP/1.0\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", addr, len(body), body); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	all, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading until the server closes: %v (%.300q)", err, all)
	}
	head, b, ok := bytes.Cut(all, []byte("\r\n\r\n"))
	if !ok || !bytes.HasPrefix(head, []byte("HTTP/1.0 200")) || bytes.Contains(bytes.ToLower(head), []byte("transfer-encoding")) {
		t.Fatalf("answer head %q: want HTTP/1.0 200 without a transfer encoding", head)
	}
	if got := bytes.Count(b, []byte(`"text":`)); got != 20 || !bytes.HasSuffix(b, []byte("data: [DONE]\n\n")) {
		t.Errorf("HTTP/1.0 body: %d text events, ends %q; want 20 and [DONE], unframed", got, b[max(0, len(b)-40):])
	}
}
