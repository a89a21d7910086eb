package load

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// readRecords reads a records file.
func readRecords(t *testing.T, path string) []Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("records line %d: %v: %s", len(out)+1, err, sc.Bytes())
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// tally counts records as the results count requests: ok, warm-up, and
// the measured failures by kind.
func tally(recs []Record) (ok, warm int64, byKind map[string]int64) {
	byKind = map[string]int64{}
	for _, r := range recs {
		switch {
		case r.Warmup:
			warm++
		case r.Error == "":
			ok++
		default:
			byKind[string(r.Error)]++
		}
	}
	return ok, warm, byKind
}

// Every request carries its id in X-Request-Id, and the records of a run
// with warm-up requests and failures add up to the results file's counts.
func TestRecordsAddUpToResults(t *testing.T) {
	var n atomic.Int64
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		id := r.Header.Get(RequestIDHeader)
		mu.Lock()
		dup := seen[id]
		seen[id] = true
		mu.Unlock()
		if id == "" || dup {
			t.Errorf("X-Request-Id %q (duplicate %v)", id, dup)
		}
		switch n.Add(1) % 5 {
		case 0:
			http.Error(w, "engine dead", http.StatusServiceUnavailable)
		case 3:
			http.Error(w, "bad", http.StatusBadRequest)
		default:
			serveLockstep(w, nil, []sseEvent{{0, chatChunk("a")}, {0, chatChunk(" b")}, {0, usageChunk(5, 2)}, {0, "[DONE]"}})
		}
	})
	dir := t.TempDir()
	o := Options{URL: srv.URL, Stream: true, Concurrency: 3, Requests: 40, WarmupRequests: 4,
		Out: filepath.Join(dir, "r.json"), Records: filepath.Join(dir, "sub", "records.jsonl"),
		SLO: SLO{Availability: -1, TTFTP95: -1, ITLP95: -1}}
	if _, err := runReport(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	res, err := ReadResult(o.Out)
	if err != nil {
		t.Fatal(err)
	}
	recs := readRecords(t, o.Records)
	ok, warm, byKind := tally(recs)
	if ok != res.Requests.OK || warm != res.Requests.Warmup || warm != 4 || res.Requests.Failed == 0 {
		t.Fatalf("records: ok %d warm-up %d; results: %+v", ok, warm, res.Requests)
	}
	for k, v := range res.Requests.ByError {
		if byKind[k] != v {
			t.Errorf("%s: records %d, results %d", k, byKind[k], v)
		}
	}
	if len(byKind) != len(res.Requests.ByError) {
		t.Errorf("records by kind %v, results %v", byKind, res.Requests.ByError)
	}
	if int64(len(recs)) != n.Load() || len(recs) != len(seen) {
		t.Fatalf("%d records, %d requests served, %d ids", len(recs), n.Load(), len(seen))
	}
	idForm := regexp.MustCompile(`^[0-9a-f]{8}-[0-9]+$`)
	for _, r := range recs {
		if !seen[r.ID] || !idForm.MatchString(r.ID) {
			t.Fatalf("record id %q: not sent, or not RUNID-SEQ", r.ID)
		}
		if r.Worker < 0 || r.Worker >= 3 {
			t.Fatalf("closed-loop worker %d", r.Worker)
		}
		if _, err := time.Parse(time.RFC3339Nano, r.Sent); err != nil {
			t.Fatal(err)
		}
		if r.Error == "" {
			if r.TTFT == nil || r.OutputTokens != 2 || r.OutputSource != SourceUsage || r.PromptTokens != 5 ||
				r.PromptSource != SourceUsage || r.MaxGap == nil || r.E2E < *r.TTFT || r.Message != "" {
				t.Fatalf("ok record %+v", r)
			}
		} else if r.Message == "" || r.TTFT != nil {
			t.Fatalf("failed record %+v", r)
		}
	}
}

// An open loop's records name no worker (-1), and a run stopped by ctx
// still writes every record of the requests it sent, canceled ones too.
func TestRecordsOpenLoopCanceled(t *testing.T) {
	var n atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		n.Add(1)
		serveLockstep(w, nil, []sseEvent{{0, chatChunk("a")}})
		<-r.Context().Done() // hangs until the run is canceled
	})
	path := filepath.Join(t.TempDir(), "records.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	res, err := Run(ctx, Options{URL: srv.URL, Stream: true, Rate: 50, Shape: ShapeConstant, Records: path})
	if err != nil {
		t.Fatal(err)
	}
	recs := readRecords(t, path)
	_, _, byKind := tally(recs)
	if len(recs) == 0 || int64(len(recs)) != n.Load() || byKind[string(ErrCanceled)] != res.Requests.Canceled {
		t.Fatalf("%d records (%v), %d served, results %+v", len(recs), byKind, n.Load(), res.Requests)
	}
	for _, r := range recs {
		if r.Worker != -1 || r.TTFT == nil {
			t.Fatalf("record %+v", r)
		}
	}
}

func TestRecordsFileRefused(t *testing.T) {
	dir := t.TempDir()
	_, err := Run(context.Background(), Options{URL: "http://127.0.0.1:1", Records: dir, Requests: 1})
	if err == nil || errors.Is(err, ErrSLO) {
		t.Fatalf("err = %v, want the directory refused", err)
	}
	mustContain(t, err.Error(), "records file", "is a directory", "-records=")
}
