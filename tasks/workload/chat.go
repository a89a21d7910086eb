package workload

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
)

const chatForm = `expected {"messages": [{"role": "user", "content": "..."}], "max_tokens": N}`

// chatLine is one line of an OpenAI chat file.
type chatLine struct {
	ID        json.RawMessage `json:"id"`
	Messages  []chatMessage   `json:"messages"`
	MaxTokens json.RawMessage `json:"max_tokens"`
}

// chatMessage is a message whose content is a string or an array of
// content parts ({"type": "text", "text": "..."}), as the OpenAI API takes.
type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// chatReader reads OpenAI chat requests, one JSON object per line. The
// messages are sent as they are but for trailing assistant messages: those
// are the reference answer, whose estimated length is MaxTokens (capped by
// Source.MaxTokens) unless the line's max_tokens, used as given, says
// otherwise.
type chatReader struct {
	*lines
	maxTokens int
	read      int
}

// parsedChat is one validated chat line.
type parsedChat struct {
	id        string
	messages  []Message
	maxTokens int // the line's max_tokens, 0 if absent
}

// parseChat reads and checks the next line of a chat file.
func (l *lines) parseChat() (parsedChat, error) {
	line, err := l.next()
	if err != nil {
		return parsedChat{}, err
	}
	var c chatLine
	if err := l.decode(line, &c, chatForm); err != nil {
		return parsedChat{}, err
	}
	p := parsedChat{id: idText(c.ID)}
	if p.id == "" {
		p.id = l.id()
	}
	if len(c.Messages) == 0 {
		return parsedChat{}, l.errorf("no \"messages\"; %s", chatForm)
	}
	users := 0
	for i, m := range c.Messages {
		text, ok := contentText(m.Content)
		switch {
		case m.Role == "":
			return parsedChat{}, l.errorf("message %d has no \"role\"; %s", i+1, chatForm)
		case !ok:
			return parsedChat{}, l.errorf("message %d: \"content\" is %s; expected a string or an array of {\"type\": \"text\", \"text\": \"...\"}",
				i+1, truncate(m.Content))
		case m.Role == "user":
			if strings.TrimSpace(text) == "" {
				return parsedChat{}, l.errorf("message %d: the user message is empty", i+1)
			}
			users++
		}
		p.messages = append(p.messages, Message{Role: m.Role, Content: text})
	}
	if users == 0 {
		return parsedChat{}, l.errorf("no user message; %s", chatForm)
	}
	if p.maxTokens, err = l.optionalPositive("max_tokens", c.MaxTokens); err != nil {
		return parsedChat{}, err
	}
	return p, nil
}

func (r *chatReader) Next() (Request, error) {
	c, err := r.parseChat()
	if err == io.EOF && r.read == 0 {
		return Request{}, r.noRequests("requests", chatForm)
	}
	if err != nil {
		return Request{}, err
	}
	msgs := c.messages
	ref := 0
	for len(msgs) > 0 && msgs[len(msgs)-1].Role == "assistant" {
		ref += EstimateTokens(msgs[len(msgs)-1].Content)
		msgs = msgs[:len(msgs)-1]
	}
	req := Request{ID: c.id, Messages: msgs, MaxTokens: c.maxTokens}
	if req.MaxTokens == 0 {
		req.MaxTokens = capTokens(ref, r.maxTokens)
	}
	r.read++
	return req, nil
}

// chatSessions reads OpenAI chat lines as sessions: a turn starts at each
// user message; other messages (system, developer, tool) go with the next
// user message's turn, so those before the first user message belong to
// turn 1 (and those after the last are not sent); assistant messages are
// reference answers, not sent:
// their estimated length is the turn's MaxTokens (capped by
// Source.MaxTokens), or the line's max_tokens where a turn has none.
type chatSessions struct {
	*lines
	maxTokens int
	read      int
}

func (r *chatSessions) Next() (Session, error) {
	c, err := r.parseChat()
	if err == io.EOF && r.read == 0 {
		return Session{}, r.noRequests("sessions", chatForm)
	}
	if err != nil {
		return Session{}, err
	}
	s := Session{ID: c.id}
	var pending []Message // what comes before the next user message
	ref := -1             // the current turn's reference tokens, -1 while it has none
	end := func() {
		if len(s.Turns) == 0 {
			return
		}
		t := &s.Turns[len(s.Turns)-1]
		if ref >= 0 {
			t.MaxTokens = capTokens(ref, r.maxTokens)
		} else {
			t.MaxTokens = c.maxTokens
		}
	}
	for _, m := range c.messages {
		switch {
		case m.Role == "user":
			end()
			ref = -1
			s.Turns = append(s.Turns, Turn{Messages: append(pending, m)})
			pending = nil
		case m.Role == "assistant":
			ref = max(ref, 0) + EstimateTokens(m.Content)
		default:
			pending = append(pending, m)
		}
	}
	end()
	r.read++
	return s, nil
}

// contentText returns a message content's text: the string, or the text
// parts of an array joined by newlines. ok is false for anything else.
func contentText(raw json.RawMessage) (text string, ok bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		return text, json.Unmarshal(raw, &text) == nil
	}
	var parts []struct {
		Type string  `json:"type"`
		Text *string `json:"text"`
	}
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &parts) != nil {
		return "", false
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != "text" || p.Text == nil {
			return "", false
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(*p.Text)
	}
	return b.String(), true
}

// idText returns a JSON id (a string or a number) as text; "" for none.
func idText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	var s string
	switch {
	case len(raw) == 0:
		return ""
	case raw[0] == '"':
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	case raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'):
		return string(raw)
	}
	return ""
}

// truncate returns raw JSON for an error, at most 40 bytes of it.
func truncate(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "missing"
	}
	if len(raw) > 40 {
		return string(raw[:40]) + "..."
	}
	return string(raw)
}
