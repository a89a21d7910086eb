package load

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseStages(t *testing.T) {
	ss, err := ParseStages("30s@10, 1m@2.5,30s@c40")
	if err != nil {
		t.Fatal(err)
	}
	want := Stages{{Duration: 30 * time.Second, Rate: 10}, {Duration: time.Minute, Rate: 2.5},
		{Duration: 30 * time.Second, Concurrency: 40}}
	if len(ss) != len(want) {
		t.Fatalf("%v", ss)
	}
	for i := range want {
		if ss[i] != want[i] {
			t.Fatalf("stage %d: %+v, want %+v", i+1, ss[i], want[i])
		}
	}
	if got := ss.String(); got != "30s@10,1m0s@2.5,30s@c40" {
		t.Fatalf("String %q", got)
	}
	if ss.Total() != 2*time.Minute {
		t.Fatalf("Total %v", ss.Total())
	}
	if ss, err := ParseStages(""); err != nil || ss != nil {
		t.Fatalf("empty: %v %v", ss, err)
	}
	for _, c := range []struct{ in, want string }{
		{"30s", `stage 1 "30s": no @`},
		{"30s@10,x@5", `stage 2 "x@5": duration "x"`},
		{"30s@10,0s@5", `stage 2 "0s@5": duration "0s"`},
		{"30s@-1", `rate "-1"`},
		{"30s@c0", `workers "c0"`},
		{"30s@cx", `workers "cx"`},
		{"30s@10,", `stage 2 "": no @`},
	} {
		_, err := ParseStages(c.in)
		if err == nil {
			t.Fatalf("%q: no error", c.in)
		}
		mustContain(t, err.Error(), c.want, "expected duration@rate (e.g. 30s@10", "duration@cN (e.g. 30s@c40")
	}
}

func TestStagesRefused(t *testing.T) {
	st := Stages{{Duration: time.Second, Rate: 1}}
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Stages: st, Duration: time.Second}, "leave the rate and the duration out"},
		{Options{Stages: st, Rate: 3}, "leave the rate and the duration out"},
		{Options{Stages: Stages{{Duration: time.Second, Rate: 1, Concurrency: 2}}}, `stage 1 "1s@c2": expected duration@rate`},
		{Options{Stages: Stages{{Rate: 1}}}, `stage 1 "0s@1": expected duration@rate`},
		{Options{Stages: st, Shape: "square"}, `shape "square"`},
		{Options{Stages: st, Prompts: PromptSource{Sessions: true}}, "sessions are played by workers"},
	} {
		c.o.URL = "http://127.0.0.1:1"
		if _, err := Run(context.Background(), c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
}

// A staged run goes through an open and a closed stage and ends after
// them; each stage's requests are those the records place in it, and the
// stages add up to the run's measured requests.
func TestStagedRun(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		time.Sleep(20 * time.Millisecond)
		serveLockstep(w, nil, []sseEvent{{0, chatChunk("a")}, {0, chatChunk(" b")}, {0, usageChunk(5, 2)}, {0, "[DONE]"}})
	})
	dir := t.TempDir()
	var status strings.Builder
	o := Options{URL: srv.URL, Stream: true, Stages: Stages{{Duration: 400 * time.Millisecond, Rate: 50},
		{Duration: 400 * time.Millisecond, Concurrency: 2}}, Shape: ShapeConstant, Records: filepath.Join(dir, "r.jsonl"),
		Status: &status, StatusInterval: time.Hour}
	start := time.Now()
	res, err := runReport(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 800*time.Millisecond || el > 5*time.Second {
		t.Fatalf("ran %v", el)
	}
	if res.StoppedBy != stopDuration || len(res.Stages) != 2 || res.Config.Stages != "400ms@50,400ms@c2" || res.Config.DurationSeconds != 0.8 {
		t.Fatalf("stopped by %s, config %+v, stages %+v", res.StoppedBy, res.Config, res.Stages)
	}
	open, closed := res.Stages[0], res.Stages[1]
	// 50 req/s constant for 0.4 s: 20 arrivals (the first after one gap).
	if open.Requests < 18 || open.Requests > 20 || open.OK != open.Requests || open.TTFT.P50 < 0.02 {
		t.Fatalf("open stage %+v", open)
	}
	// Two workers, ~20 ms a request, 0.4 s.
	if closed.Requests < 10 || closed.OK != closed.Requests || closed.StartSeconds != 0.4 {
		t.Fatalf("closed stage %+v", closed)
	}
	if n := open.Requests + closed.Requests; n != res.Requests.OK+res.Requests.Failed {
		t.Fatalf("stages %d requests, results %+v", n, res.Requests)
	}
	for _, r := range readRecords(t, o.Records) {
		if r.IntendedSeconds < 0.4 {
			if r.Worker != -1 {
				t.Fatalf("open-stage record %+v", r)
			}
		} else if r.Worker < 0 || r.Worker > 1 {
			t.Fatalf("closed-stage record %+v", r)
		}
	}
	mustContain(t, status.String(), "load:        stages 400ms@50,400ms@c2", "stage 1:     400ms@50: ", "stage 2:     400ms@c2: ")
}
