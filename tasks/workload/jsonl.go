package workload

import (
	"encoding/json"
	"io"
	"strings"
)

const jsonlForm = `expected {"prompt": "...", "max_tokens": N}`

type jsonlLine struct {
	Prompt    *string         `json:"prompt"`
	Text      *string         `json:"text"`
	MaxTokens json.RawMessage `json:"max_tokens"`
}

// jsonlReader reads {"prompt": "...", "max_tokens": N} per line ("text"
// for "prompt"; max_tokens optional, and used as given: it is the user's,
// not a reference length, so Source.MaxTokens does not cap it). Blank lines
// are skipped; a file without a prompt is an error.
type jsonlReader struct {
	*lines
	read int
}

func (r *jsonlReader) Next() (Request, error) {
	line, err := r.next()
	if err == io.EOF && r.read == 0 {
		return Request{}, r.noRequests("prompts", jsonlForm)
	}
	if err != nil {
		return Request{}, err
	}
	var l jsonlLine
	if err := r.decode(line, &l, jsonlForm); err != nil {
		return Request{}, err
	}
	req := Request{ID: r.id()}
	switch {
	case l.Prompt != nil && l.Text != nil:
		return Request{}, r.errorf("both \"prompt\" and \"text\" are set; keep one")
	case l.Prompt != nil:
		req.Prompt = *l.Prompt
	case l.Text != nil:
		req.Prompt = *l.Text
	default:
		return Request{}, r.errorf("missing \"prompt\" (or \"text\"); %s", jsonlForm)
	}
	if strings.TrimSpace(req.Prompt) == "" {
		return Request{}, r.errorf("the prompt is empty")
	}
	if req.MaxTokens, err = r.optionalPositive("max_tokens", l.MaxTokens); err != nil {
		return Request{}, err
	}
	r.read++
	return req, nil
}
