package load

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// An open loop whose in-flight cap is full at the end of a timed run
// reports the arrivals it never sent instead of dropping them silently.
func TestOpenLoopCountsArrivalsHeldByTheCap(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		time.Sleep(300 * time.Millisecond) // a server that cannot keep up
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: "+chatChunk("hi")+"\n\ndata: "+usageChunk(3, 1)+"\n\ndata: [DONE]\n\n")
	})
	var out bytes.Buffer
	o := Options{URL: srv.URL, Model: "m", Protocol: ProtocolOpenAIChat, Stream: true,
		Rate: 50, Shape: "constant", Concurrency: 1, Duration: time.Second, MaxTokens: 4,
		Status: &out, SLO: SLO{Availability: -1, TTFTP95: -1, ITLP95: -1}}
	res, err := runReport(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	// 50 arrivals were due in the second; about 4 fit through a cap of 1
	// at 300 ms each.
	if res.Requests.NotSent < 30 || res.Requests.OK > 6 {
		t.Fatalf("ok %d, not sent %d; want most of the 50 due arrivals counted as not sent", res.Requests.OK, res.Requests.NotSent)
	}
	if !strings.Contains(out.String(), "arrivals were due but the in-flight cap (1) held them") {
		t.Fatalf("summary does not say so:\n%s", out.String())
	}
	// Without a cap every due arrival is sent.
	o.Concurrency, o.Status = 0, nil
	res, err = runReport(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests.NotSent != 0 || res.Requests.OK < 40 {
		t.Fatalf("no cap: ok %d, not sent %d", res.Requests.OK, res.Requests.NotSent)
	}
}
