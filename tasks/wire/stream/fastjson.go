package stream

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
)

// A small allocation-free JSON walker for the few fields the readers need.
// It validates the full JSON grammar (RFC 8259) like encoding/json and bails
// out (errBail) on anything it does not handle exactly like encoding/json
// (escaped keys, keys matching a known field only case-insensitively,
// unexpected types); the caller then decodes with encoding/json, which stays
// the reference. FuzzFastPathMatchesEncodingJSON checks the equivalence.

var errBail = errors.New("fast path not applicable")
var errSyntax = errors.New("invalid JSON")

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

// scanString returns the index after the closing quote of the string that
// starts at b[i] == '"', and whether it contains escapes.
func scanString(b []byte, i int) (end int, escaped bool, err error) {
	i++
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return i + 1, escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				return 0, false, errSyntax
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return 0, false, errSyntax
				}
				for _, h := range b[i+2 : i+6] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return 0, false, errSyntax
					}
				}
				i += 6
			default:
				return 0, false, errSyntax
			}
		case c < 0x20:
			return 0, false, errSyntax
		default:
			i++
		}
	}
	return 0, false, errSyntax
}

func scanNumber(b []byte, i int) (int, error) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return 0, errSyntax
	}
	switch {
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return 0, errSyntax
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return 0, errSyntax
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return 0, errSyntax
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	return i, nil
}

// skipValue returns the index after the value starting at b[i] (no leading
// whitespace).
func skipValue(b []byte, i int, depth int) (int, error) {
	if i >= len(b) {
		return 0, errSyntax
	}
	if depth > 10000 {
		return 0, errBail
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := scanString(b, i)
		return end, err
	case c == '{':
		return walkMembers(b, i, depth, false, func(_ []byte, i int) (int, error) { return skipValue(b, i, depth+1) })
	case c == '[':
		return walkArray(b, i, depth, func(i int) (int, error) { return skipValue(b, i, depth+1) })
	case c == 't':
		return lit(b, i, "true")
	case c == 'f':
		return lit(b, i, "false")
	case c == 'n':
		return lit(b, i, "null")
	default:
		return scanNumber(b, i)
	}
}

// afterElem reads what follows a member of an object or array at i: the
// closing byte (closed, i just past it) or a comma (i at the next member).
func afterElem(b []byte, i int, closing byte) (int, bool, error) {
	i = skipWS(b, i)
	switch {
	case i >= len(b):
		return 0, false, errSyntax
	case b[i] == closing:
		return i + 1, true, nil
	case b[i] != ',':
		return 0, false, errSyntax
	}
	return skipWS(b, i+1), false, nil
}

func lit(b []byte, i int, s string) (int, error) {
	if len(b)-i >= len(s) && string(b[i:i+len(s)]) == s {
		return i + len(s), nil
	}
	return 0, errSyntax
}

// eachField calls f for each key/value of the object in b (the whole of b
// must be one object, with optional surrounding whitespace), validating
// the object as it goes: one pass over the bytes. Keys with escapes bail
// out. f returns an error to stop. On an error f may already have been
// called for the members before it: the callers decode into a value they
// reset before falling back to encoding/json.
func eachField(b []byte, f func(key, val []byte) error) error {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errBail
	}
	end, err := walkObject(b, i, 0, func(key []byte, i int) (int, error) {
		end, err := skipValue(b, i, 1)
		if err != nil {
			return 0, err
		}
		return end, f(key, b[i:end])
	})
	if err != nil {
		return err
	}
	if skipWS(b, end) != len(b) {
		return errSyntax
	}
	return nil
}

// walkObject walks the object that starts at b[i] == '{' (at nesting depth
// depth), validating its syntax, and calls member for each key with the
// index of its value (no leading whitespace); member returns the index just
// past the value, which it decodes or skips (skipValue at depth+1). It
// returns the index just past the closing '}'. Keys with escapes bail out.
func walkObject(b []byte, i, depth int, member func(key []byte, i int) (int, error)) (int, error) {
	return walkMembers(b, i, depth, true, member)
}

// walkMembers is walkObject; a key with escapes bails out when
// bailOnEscape, else it is passed on undecoded (skipValue).
func walkMembers(b []byte, i, depth int, bailOnEscape bool, member func(key []byte, i int) (int, error)) (int, error) {
	if depth > 10000 {
		return 0, errBail
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, errSyntax
		}
		kEnd, esc, err := scanString(b, i)
		if err != nil {
			return 0, err
		}
		if esc && bailOnEscape {
			return 0, errBail
		}
		key := b[i+1 : kEnd-1]
		i = skipWS(b, kEnd)
		if i >= len(b) || b[i] != ':' {
			return 0, errSyntax
		}
		i = skipWS(b, i+1)
		if i >= len(b) {
			return 0, errSyntax
		}
		if i, err = member(key, i); err != nil {
			return 0, err
		}
		var closed bool
		if i, closed, err = afterElem(b, i, '}'); err != nil || closed {
			return i, err
		}
	}
}

// walkArray walks the array that starts at b[i] == '[' (at nesting depth
// depth), validating its syntax, and calls elem with the index of each
// element; elem returns the index just past it. It returns the index just
// past the closing ']'.
func walkArray(b []byte, i, depth int, elem func(i int) (int, error)) (int, error) {
	if depth > 10000 {
		return 0, errBail
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		if i >= len(b) {
			return 0, errSyntax
		}
		var err error
		if i, err = elem(i); err != nil {
			return 0, err
		}
		var closed bool
		if i, closed, err = afterElem(b, i, ']'); err != nil || closed {
			return i, err
		}
	}
}

// scalarAt returns the value at b[i] and the index past it, for a member
// decoded as a scalar (string, number, literal): a container is skipped
// whole (at depth) and returned as well, for the decoder to refuse.
func scalarAt(b []byte, i, depth int) ([]byte, int, error) {
	end, err := skipValue(b, i, depth)
	if err != nil {
		return nil, 0, err
	}
	return b[i:end], end, nil
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// keySwitch returns the index of key among known, -1 for an unknown key, or
// errBail for a case-insensitive-only match with a known key (encoding/json
// would match it).
func keySwitch(key []byte, known ...string) (int, error) {
	for i, k := range known {
		if string(key) == k {
			return i, nil
		}
	}
	// ASCII keys can fold-match only at equal length; non-ASCII keys may
	// fold to ASCII (Kelvin sign, long s) at other lengths.
	ascii := isASCII(key)
	for _, k := range known {
		if (len(key) == len(k) || !ascii) && bytes.EqualFold(key, []byte(k)) {
			return -1, errBail
		}
	}
	return -1, nil
}

// setString decodes a JSON string value into *dst; null leaves *dst as it
// is, as encoding/json does (which matters only for duplicate keys).
func setString(v []byte, dst *string) (err error) {
	if v[0] == 'n' {
		return nil
	}
	*dst, err = decodeString(v)
	return err
}

// commonValues are the string values of the object and finish_reason
// fields that servers send in most chunks.
var commonValues = [...]string{"chat.completion.chunk", "text_completion", "stop", "length"}

// decodeString decodes a JSON string value (not null).
func decodeString(v []byte) (string, error) {
	if v[0] != '"' {
		return "", errBail
	}
	raw := v[1 : len(v)-1]
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		// The values every chunk repeats are not allocated again.
		for _, c := range commonValues {
			if string(raw) == c {
				return c, nil
			}
		}
		return string(raw), nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", errBail
	}
	return s, nil
}

// setInt decodes an integer like encoding/json into *dst; null leaves *dst
// as it is.
func setInt(v []byte, dst *int) (err error) {
	if v[0] == 'n' {
		return nil
	}
	*dst, err = decodeInt(v)
	return err
}

// decodeInt decodes an integer (not null).
func decodeInt(v []byte) (int, error) {
	for _, c := range v {
		if !(c >= '0' && c <= '9' || c == '-') {
			return 0, errBail
		}
	}
	n, err := strconv.Atoi(string(v))
	if err != nil {
		return 0, errBail
	}
	return n, nil
}

// fastOpenAI decodes a chunk into c (which must be reset), in one pass.
func fastOpenAI(data []byte, c *oaChunk) error {
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '{' {
		return errBail
	}
	end, err := walkObject(data, i, 0, func(key []byte, i int) (int, error) {
		k, err := keySwitch(key, "choices", "usage", "error", "object", "message")
		if err != nil {
			return 0, err
		}
		switch k {
		case 0:
			return fastChoices(data, i, c)
		case 1:
			return fastUsage(data, i, c)
		}
		val, end, err := scalarAt(data, i, 1)
		if err != nil {
			return 0, err
		}
		switch k {
		case 2:
			c.Error = append(c.Error[:0], val...)
		case 3:
			err = setString(val, &c.Object)
		case 4:
			err = setString(val, &c.Message)
		}
		return end, err
	})
	if err != nil {
		return err
	}
	if skipWS(data, end) != len(data) {
		return errSyntax
	}
	return nil
}

// fastChoices decodes the "choices" value at data[i] into c.Choices and
// returns the index past it.
func fastChoices(data []byte, i int, c *oaChunk) (int, error) {
	// Mirror encoding/json: null sets a nil slice, [] a new empty one, and
	// elements are decoded in place into the reused backing array (which
	// matters only for duplicate keys).
	switch data[i] {
	case 'n':
		c.Choices = nil
		return lit(data, i, "null")
	case '[':
	default:
		return 0, errBail
	}
	c.Choices = c.Choices[:0]
	if j := skipWS(data, i+1); j < len(data) && data[j] == ']' {
		c.Choices = c.Choices[:0:0]
		return j + 1, nil
	}
	return walkArray(data, i, 1, func(i int) (int, error) {
		if len(c.Choices) < cap(c.Choices) {
			c.Choices = c.Choices[:len(c.Choices)+1]
		} else {
			c.Choices = append(c.Choices, oaChoice{})
		}
		ch := &c.Choices[len(c.Choices)-1]
		switch data[i] {
		case 'n':
			return lit(data, i, "null")
		case '{':
		default:
			return 0, errBail
		}
		return walkObject(data, i, 2, func(key []byte, i int) (int, error) {
			k, err := keySwitch(key, "text", "delta", "message", "finish_reason")
			if err != nil {
				return 0, err
			}
			switch k {
			case 1:
				return fastDelta(data, i, &ch.Delta)
			case 2:
				return fastDelta(data, i, &ch.Message)
			}
			val, end, err := scalarAt(data, i, 3)
			if err != nil {
				return 0, err
			}
			switch k {
			case 0:
				err = setString(val, &ch.Text)
			case 3:
				if val[0] == 'n' {
					ch.FinishReason = nil
					return end, nil
				}
				var s string
				if err = setString(val, &s); err == nil {
					ch.FinishReason = &s
				}
			}
			return end, err
		})
	})
}

// fastUsage decodes the "usage" value at data[i] into c.Usage and returns
// the index past it.
func fastUsage(data []byte, i int, c *oaChunk) (int, error) {
	switch data[i] {
	case 'n':
		c.Usage = nil
		return lit(data, i, "null")
	case '{':
	default:
		return 0, errBail
	}
	if c.Usage == nil {
		c.Usage = new(Usage)
	}
	u := c.Usage
	return walkScalars(data, i, 1, func(k int, val []byte) error {
		switch k {
		case 0:
			return setInt(val, &u.PromptTokens)
		case 1:
			return setInt(val, &u.CompletionTokens)
		}
		return setInt(val, &u.TotalTokens)
	}, "prompt_tokens", "completion_tokens", "total_tokens")
}

// fastDelta decodes the delta (or message) object at data[i] into d and
// returns the index past it.
func fastDelta(data []byte, i int, d *oaDelta) (int, error) {
	switch data[i] {
	case 'n':
		return lit(data, i, "null")
	case '{':
	default:
		return 0, errBail
	}
	return walkScalars(data, i, 3, func(k int, val []byte) error {
		switch k {
		case 0:
			return setString(val, &d.Content)
		case 1:
			return setString(val, &d.ReasoningContent)
		}
		return setString(val, &d.Reasoning)
	}, "content", "reasoning_content", "reasoning")
}

// walkScalars walks the object at data[i] (at depth) whose known members
// are scalars: set gets the index among known and the value of each known
// member; the others are skipped.
func walkScalars(data []byte, i, depth int, set func(k int, val []byte) error, known ...string) (int, error) {
	return walkObject(data, i, depth, func(key []byte, i int) (int, error) {
		k, err := keySwitch(key, known...)
		if err != nil {
			return 0, err
		}
		val, end, err := scalarAt(data, i, depth+1)
		if err != nil || k < 0 {
			return end, err
		}
		return end, set(k, val)
	})
}

// fastTriton captures the raw values of the known keys, like
// encoding/json into json.RawMessage fields.
func fastTriton(data []byte, t *tritonEvent) error {
	return eachField(data, func(key, val []byte) error {
		k, err := keySwitch(key, "text_output", "error", "finish_reason", "num_input_tokens", "num_output_tokens")
		if err != nil {
			return err
		}
		switch k {
		case 0:
			t.TextOutput = append(t.TextOutput[:0], val...)
		case 1:
			t.Error = append(t.Error[:0], val...)
		case 2:
			t.FinishReason = append(t.FinishReason[:0], val...)
		case 3:
			t.NumInputTokens = append(t.NumInputTokens[:0], val...)
		case 4:
			t.NumOutputTokens = append(t.NumOutputTokens[:0], val...)
		}
		return nil
	})
}

// decodeOpenAI decodes with the fast path, falling back to encoding/json.
func decodeOpenAI(data []byte, c *oaChunk) error {
	c.reset()
	if fastOpenAI(data, c) == nil {
		return nil
	}
	c.reset()
	return json.Unmarshal(data, c)
}

func decodeTriton(data []byte, t *tritonEvent) error {
	t.reset()
	if fastTriton(data, t) == nil {
		return nil
	}
	t.reset()
	return json.Unmarshal(data, t)
}
