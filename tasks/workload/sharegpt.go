package workload

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

const shareGPTForm = `expected a JSON array of {"id": "...", "conversations": [{"from": "human", "value": "..."}, {"from": "gpt", "value": "..."}]}`

// The ShareGPT filter, vLLM benchmark's sample_sharegpt_requests: a
// request's prompt and reply have at least shareGPTMinTokens tokens each,
// the prompt at most shareGPTMaxPrompt and both together at most
// shareGPTMaxTotal.
const (
	shareGPTMinTokens = 4
	shareGPTMaxPrompt = 1024
	shareGPTMaxTotal  = 2048
)

type shareGPTConversation struct {
	ID            json.RawMessage `json:"id"`
	Conversations []shareGPTTurn  `json:"conversations"`
}

type shareGPTTurn struct {
	From  string `json:"from"`
	Value string `json:"value"`
}

// shareGPTRole returns the chat role of a ShareGPT speaker: "user" for
// "human" and "user", "assistant" for the models' names, "system" for
// "system", "" for anything else.
func shareGPTRole(from string) string {
	switch strings.ToLower(from) {
	case "human", "user":
		return "user"
	case "gpt", "assistant", "chatgpt", "bard", "bing", "model":
		return "assistant"
	case "system":
		return "system"
	}
	return ""
}

// shareGPTArray streams the elements of a ShareGPT file, a JSON array,
// with json.Decoder: one conversation in memory at a time.
type shareGPTArray struct {
	dec   *json.Decoder
	lc    *lineCounter
	name  string
	close io.Closer
	index int // elements read
	line  int // the line of the element last read
	begun bool
	ended bool // the array's end was read: next returns io.EOF again
}

func newShareGPTArray(r io.Reader, name string, c io.Closer) *shareGPTArray {
	lc := &lineCounter{r: r}
	return &shareGPTArray{dec: json.NewDecoder(lc), lc: lc, name: name, close: c}
}

// next returns the next conversation, or io.EOF after the array.
func (a *shareGPTArray) next() (shareGPTConversation, error) {
	if a.ended {
		return shareGPTConversation{}, io.EOF
	}
	if !a.begun {
		a.begun = true
		tok, err := a.dec.Token()
		if err != nil || tok != json.Delim('[') {
			return shareGPTConversation{}, a.syntax(err, "the file does not start a JSON array", false)
		}
	}
	if !a.dec.More() {
		if _, err := a.dec.Token(); err != nil { // the closing bracket
			return shareGPTConversation{}, a.syntax(err, "", false)
		}
		if _, err := a.dec.Token(); err != io.EOF {
			return shareGPTConversation{}, a.errorf(a.lc.lineAt(a.dec.InputOffset()), "more after the array's end; %s", shareGPTForm)
		}
		a.ended = true
		return shareGPTConversation{}, io.EOF
	}
	var raw json.RawMessage
	if err := a.dec.Decode(&raw); err != nil {
		return shareGPTConversation{}, a.syntax(err, "", true)
	}
	a.index++
	a.line = a.lc.lineAt(a.dec.InputOffset() - int64(len(raw)))
	var c shareGPTConversation
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, a.errorf(a.line, "conversation %d: %v; %s", a.index, err, shareGPTForm)
	}
	return c, nil
}

// syntax returns an error for a failed read of the array, at the line of
// the syntax error: Token's errors give its offset in the file; after a
// failed Decode (relative), errorOffset finds it.
func (a *shareGPTArray) syntax(err error, what string, relative bool) error {
	off := a.dec.InputOffset()
	var se *json.SyntaxError
	switch {
	case relative:
		off += a.errorOffset()
	case errors.As(err, &se):
		off = se.Offset
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	switch {
	case what == "":
		what = fmt.Sprintf("invalid JSON: %v", err)
	case err != nil:
		what += fmt.Sprintf(" (%v)", err)
	}
	return a.errorf(a.lc.lineAt(off), "%s; %s", what, shareGPTForm)
}

// errorOffset returns the offset, from the decoder's offset, of the
// syntax error that made Decode fail, or of the end of the data read where
// it ran out. (The SyntaxError of a Decoder that has read values counts
// from none of them.) The decoder has buffered the value up to the error.
func (a *shareGPTArray) errorOffset() int64 {
	buf, _ := io.ReadAll(a.dec.Buffered())
	var raw json.RawMessage
	var se *json.SyntaxError
	if err := json.NewDecoder(bytes.NewReader(buf)).Decode(&raw); errors.As(err, &se) {
		return max(se.Offset-1, 0)
	}
	return int64(len(buf))
}

func (a *shareGPTArray) errorf(line int, format string, args ...any) error {
	return fmt.Errorf("%s:%d: "+format, append([]any{a.name, line}, args...)...)
}

// id returns a conversation's "id", or "name:line" where it has none.
func (a *shareGPTArray) id(c shareGPTConversation) string {
	if id := idText(c.ID); id != "" {
		return id
	}
	return fmt.Sprintf("%s:%d", a.name, a.line)
}

func (a *shareGPTArray) Close() error {
	if a.close == nil {
		return nil
	}
	return a.close.Close()
}

// shareGPTReader reads a request from each conversation: its first human
// turn, MaxTokens the estimated length of the reply that follows (capped
// by Source.MaxTokens). It keeps only what vLLM's benchmark keeps:
// conversations of two turns or more whose prompt and reply have 4 tokens
// or more each, the prompt at most 1024 and the two at most 2048 (the
// reply's length before the cap); it counts the others (Skipped).
type shareGPTReader struct {
	*shareGPTArray
	maxTokens int
	read      int
	skipped   int
}

func (r *shareGPTReader) Skipped() int { return r.skipped }

func (r *shareGPTReader) Next() (Request, error) {
	for {
		c, err := r.next()
		if err == io.EOF && r.read == 0 {
			return Request{}, fmt.Errorf("%s: no conversation passes the filter (%d skipped: fewer than 2 turns, prompt or reply under %d tokens, prompt over %d or both over %d); %s",
				r.name, r.skipped, shareGPTMinTokens, shareGPTMaxPrompt, shareGPTMaxTotal, shareGPTForm)
		}
		if err != nil {
			return Request{}, err
		}
		prompt, reply, ok := firstExchange(c.Conversations)
		p, o := EstimateTokens(prompt), EstimateTokens(reply)
		if !ok || p < shareGPTMinTokens || o < shareGPTMinTokens || p > shareGPTMaxPrompt || p+o > shareGPTMaxTotal {
			r.skipped++
			continue
		}
		r.read++
		return Request{ID: r.id(c), Prompt: prompt, InputTokens: p, MaxTokens: capTokens(o, r.maxTokens)}, nil
	}
}

// firstExchange returns a conversation's first human turn and the reply
// that follows it; ok is false if there is no such pair (or fewer than two
// turns).
func firstExchange(turns []shareGPTTurn) (prompt, reply string, ok bool) {
	if len(turns) < 2 {
		return "", "", false
	}
	for i, t := range turns[:len(turns)-1] {
		if shareGPTRole(t.From) == "user" {
			next := turns[i+1]
			return t.Value, next.Value, shareGPTRole(next.From) == "assistant"
		}
	}
	return "", "", false
}

// shareGPTSessions reads each conversation as a session: a turn per human
// message (with any system message before the first in turn 1), MaxTokens
// the estimated length of the reply that follows (capped by
// Source.MaxTokens; 0 where none follows). Replies are not sent: the
// server's own answers take their place in the history. Conversations
// without a human message are skipped and counted (Skipped).
type shareGPTSessions struct {
	*shareGPTArray
	maxTokens int
	read      int
	skipped   int
}

func (r *shareGPTSessions) Skipped() int { return r.skipped }

func (r *shareGPTSessions) Next() (Session, error) {
	for {
		c, err := r.next()
		if err == io.EOF && r.read == 0 {
			return Session{}, fmt.Errorf("%s: no conversation with a human turn (%d skipped); %s", r.name, r.skipped, shareGPTForm)
		}
		if err != nil {
			return Session{}, err
		}
		s := Session{ID: r.id(c)}
		var system []Message
		for i, t := range c.Conversations {
			switch shareGPTRole(t.From) {
			case "system":
				if len(s.Turns) == 0 {
					system = append(system, Message{Role: "system", Content: t.Value})
				}
			case "user":
				turn := Turn{Messages: append(system, Message{Role: "user", Content: t.Value})}
				system = nil
				if i+1 < len(c.Conversations) && shareGPTRole(c.Conversations[i+1].From) == "assistant" {
					turn.MaxTokens = capTokens(EstimateTokens(c.Conversations[i+1].Value), r.maxTokens)
				}
				s.Turns = append(s.Turns, turn)
			}
		}
		if len(s.Turns) == 0 {
			r.skipped++
			continue
		}
		r.read++
		return s, nil
	}
}

// lineCounter passes reads through and keeps the offsets of the newlines
// not yet asked about, so that lineAt can turn a decoder's offset into a
// line number; the offsets asked about must not decrease.
type lineCounter struct {
	r        io.Reader
	off      int64   // bytes read
	before   int     // newlines before the offsets kept
	newlines []int64 // offsets of the newlines at or after the last asked
}

func (c *lineCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i, b := range p[:n] {
		if b == '\n' {
			c.newlines = append(c.newlines, c.off+int64(i))
		}
	}
	c.off += int64(n)
	return n, err
}

// lineAt returns the line (from 1) of byte offset off and forgets the
// newlines before it.
func (c *lineCounter) lineAt(off int64) int {
	k := sort.Search(len(c.newlines), func(i int) bool { return c.newlines[i] >= off })
	c.before += k
	c.newlines = c.newlines[k:]
	if cap(c.newlines) > 1024 && len(c.newlines) < cap(c.newlines)/4 { // give the forgotten ones' memory back
		c.newlines = append([]int64(nil), c.newlines...)
	}
	return c.before + 1
}
