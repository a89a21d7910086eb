package sim

import (
	"bytes"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A client that stops reading blocks the write to it; the other streams,
// written by the same writers, must go on (its stream is detached).
func TestStuckClientDoesNotStallOtherStreams(t *testing.T) {
	cfg := fastConfig(PersonalityVLLM)
	cfg.ConstantTTFT, cfg.ConstantITL = time.Millisecond, 10*time.Microsecond // ~100 tokens a wake
	cfg.MaxModelLen = 1 << 21
	cfg.NumGPUBlocks = cfg.MaxModelLen / cfg.BlockSize * 2
	cfg.MaxNumSeqs = 64
	_, run := startServer(t, cfg)
	addr := strings.TrimPrefix(run.APIURL, "http://")
	body := fmt.Sprintf(`{"model":"qwen","prompt":"hi","max_tokens":%d,"ignore_eos":true,"stream":true}`, 1<<20)
	req := fmt.Sprintf("POST /v1/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", addr, len(body), body)
	for range runtime.GOMAXPROCS(0) { // one on every writer's queue
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.(*net.TCPConn).SetReadBuffer(2048) // the buffers fill sooner
		if _, err := c.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second) // their socket buffers fill
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 2 * runtime.GOMAXPROCS(0) {
			st, _, b := postBody(t, run.APIURL+"/v1/completions", strings.NewReader(`{"model":"qwen","prompt":"hi","max_tokens":50,"ignore_eos":true,"stream":true}`))
			if st != 200 || !bytes.HasSuffix(b, []byte("data: [DONE]\n\n")) || bytes.Count(b, []byte(`"text":`)) != 50 {
				t.Errorf("a stream beside stuck clients: HTTP %d, %d chunks: %.300s", st, bytes.Count(b, []byte(`"text":`)), b)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("streams beside clients that do not read did not finish in 20 s")
	}
}
