package load

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/wire"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/workload"
)

// sessionFeed hands the sessions of a conversation file to the workers,
// one at a time; after the reader's end or error it gives that again.
type sessionFeed struct {
	mu  sync.Mutex
	rd  workload.SessionReader
	err error
	b   *bodies
}

func (f *sessionFeed) next() (workload.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return workload.Session{}, f.err
	}
	s, err := f.rd.Next()
	f.err = err
	return s, err
}

// sessionWorker replays sessions turn by turn: each turn is sent with the
// history so far (the earlier turns and the server's answers), then the
// worker waits ThinkTime. A turn without an answer (a failed request)
// ends its session: the next turn would not have its history.
func (g *gen) sessionWorker(w int) {
	sh := g.shards[w%len(g.shards)]
	for {
		s, err := g.sessions.next()
		if err != nil {
			if err != io.EOF {
				g.feedEnd(err)
			}
			return
		}
		if !g.replay(w, sh, s) {
			return
		}
	}
}

// replay sends the turns of one session; it reports false when the run
// stopped.
func (g *gen) replay(w int, sh *shard, s workload.Session) bool {
	var history []wire.Message
	for t, turn := range s.Turns {
		if t > 0 && g.o.Prompts.ThinkTime > 0 {
			tm := time.NewTimer(g.o.Prompts.ThinkTime)
			select {
			case <-tm.C:
			case <-g.stopCh:
				tm.Stop()
				return false
			}
		}
		history = append(history, wireMessages(turn.Messages)...)
		spec, err := g.sessions.b.wireSpec(wire.Request{Messages: history, MaxTokens: turn.MaxTokens})
		if err != nil {
			g.feedEnd(fmt.Errorf("session %s turn %d: %w", s.ID, t+1, err))
			return false
		}
		pre := item{spec: &spec, source: s.ID, session: s.ID, turn: t + 1, answer: new(strings.Builder)}
		intended := g.now()
		idx, warm, it, ok := g.take(intended, &pre)
		if !ok {
			return false
		}
		g.do(idx, &it, intended, warm, sh, w)
		if it.answer.Len() == 0 {
			return true
		}
		history = append(history, wire.Message{Role: "assistant", Content: it.answer.String()})
	}
	return true
}

// turnStats holds the TTFT of the measured successful requests of each
// turn index of the sessions.
type turnStats struct {
	mu   sync.Mutex
	ttft []*hdrhistogram.Histogram // [turn-1]
}

func (t *turnStats) add(turn int, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.ttft) < turn {
		t.ttft = append(t.ttft, newHist())
	}
	recordDur(t.ttft[turn-1], d)
}

// TurnLatency is the TTFT of the requests of one turn index of the
// sessions (-sessions): with a prefix cache, turn 2 onward reuse the
// history's blocks.
type TurnLatency struct {
	Turn int       `json:"turn"` // counted from 1
	TTFT Quantiles `json:"ttft_seconds"`
}

// byTurn returns the TTFT by turn index (nil without sessions).
func (t *turnStats) byTurn() []TurnLatency {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []TurnLatency
	for i, h := range t.ttft {
		out = append(out, TurnLatency{Turn: i + 1, TTFT: quantiles(h)})
	}
	return out
}
