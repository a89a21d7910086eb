package sim

import (
	"context"
	"testing"
)

// A writer takes the ends (requests whose last token is out) before the
// other requests waiting, each queue in order, and a queue that never
// empties (a writer behind) keeps only what waits.
func TestSinkShardEndsFirst(t *testing.T) {
	sh := &sinkShard{wake: make(chan struct{}, 1)}
	me := &writerToken{}
	sh.cur = me
	rs := make([]*request, 6)
	for i := range rs {
		rs[i] = &request{seq: uint64(i)}
	}
	sh.push(rs[:3], nil)
	sh.push(nil, rs[3:5])
	ctx := context.Background()
	var got []uint64
	for range 5 {
		got = append(got, sh.next(ctx, me).seq)
	}
	if want := []uint64{3, 4, 0, 1, 2}; !equalSeqs(got, want) {
		t.Errorf("order taken %v, want %v (ends first)", got, want)
	}
	sh.push(rs[:1], nil) // one always waits
	for i := range 10000 {
		sh.push([]*request{rs[(i+1)%len(rs)]}, nil)
		if r := sh.next(ctx, me); r != rs[i%len(rs)] {
			t.Fatalf("take %d: got request %d, want %d", i, r.seq, i%len(rs))
		}
	}
	if len(sh.queue)-sh.head != 1 || cap(sh.queue) > 64 {
		t.Errorf("queue of %d, %d waiting, capacity %d: the taken part is kept", len(sh.queue), len(sh.queue)-sh.head, cap(sh.queue))
	}
}

func equalSeqs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
