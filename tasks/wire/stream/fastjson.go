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
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == '}' {
			return i + 1, nil
		}
		for {
			if i >= len(b) || b[i] != '"' {
				return 0, errSyntax
			}
			end, _, err := scanString(b, i)
			if err != nil {
				return 0, err
			}
			i = skipWS(b, end)
			if i >= len(b) || b[i] != ':' {
				return 0, errSyntax
			}
			i = skipWS(b, i+1)
			if i, err = skipValue(b, i, depth+1); err != nil {
				return 0, err
			}
			var closed bool
			if i, closed, err = afterElem(b, i, '}'); err != nil || closed {
				return i, err
			}
		}
	case c == '[':
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, nil
		}
		for {
			var err error
			if i, err = skipValue(b, i, depth+1); err != nil {
				return 0, err
			}
			var closed bool
			if i, closed, err = afterElem(b, i, ']'); err != nil || closed {
				return i, err
			}
		}
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
// must be one object, with optional surrounding whitespace). Keys with
// escapes bail out. f returns an error to stop.
func eachField(b []byte, f func(key, val []byte) error) error {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errBail
	}
	end, err := skipValue(b, i, 0)
	if err != nil {
		return err
	}
	if skipWS(b, end) != len(b) {
		return errSyntax
	}
	return walkFields(b[i:end], f)
}

// walkFields is eachField for an object already validated (b starts with '{').
func walkFields(b []byte, f func(key, val []byte) error) error {
	i := skipWS(b, 1)
	if b[i] == '}' {
		return nil
	}
	for {
		kEnd, esc, _ := scanString(b, i)
		if esc {
			return errBail
		}
		key := b[i+1 : kEnd-1]
		i = skipWS(b, kEnd)
		i = skipWS(b, i+1) // ':'
		vEnd, _ := skipValue(b, i, 0)
		if err := f(key, b[i:vEnd]); err != nil {
			return err
		}
		i = skipWS(b, vEnd)
		if b[i] == '}' {
			return nil
		}
		i = skipWS(b, i+1)
	}
}

// eachElem calls f for each element of a valid JSON array.
func eachElem(b []byte, f func(val []byte) error) error {
	i := skipWS(b, 1)
	if b[i] == ']' {
		return nil
	}
	for {
		vEnd, _ := skipValue(b, i, 0)
		if err := f(b[i:vEnd]); err != nil {
			return err
		}
		i = skipWS(b, vEnd)
		if b[i] == ']' {
			return nil
		}
		i = skipWS(b, i+1)
	}
}

// matchKey reports an exact match; a case-insensitive-only match with a
// known key bails out (encoding/json would match it).
func matchKey(key []byte, known string) (bool, error) {
	if string(key) == known {
		return true, nil
	}
	// ASCII keys can fold-match only at equal length; non-ASCII keys may
	// fold to ASCII (Kelvin sign, long s) at other lengths.
	if (len(key) == len(known) || !isASCII(key)) && bytes.EqualFold(key, []byte(known)) {
		return false, errBail
	}
	return false, nil
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
// errBail for a case-insensitive-only match.
func keySwitch(key []byte, known ...string) (int, error) {
	for i, k := range known {
		ok, err := matchKey(key, k)
		if err != nil {
			return -1, err
		}
		if ok {
			return i, nil
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

// decodeString decodes a JSON string value (not null).
func decodeString(v []byte) (string, error) {
	if v[0] != '"' {
		return "", errBail
	}
	raw := v[1 : len(v)-1]
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
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

// fastOpenAI decodes a chunk into c (which must be reset).
func fastOpenAI(data []byte, c *oaChunk) error {
	return eachField(data, func(key, val []byte) error {
		k, err := keySwitch(key, "choices", "usage", "error", "object", "message")
		if err != nil {
			return err
		}
		switch k {
		case 0:
			// Mirror encoding/json: null sets a nil slice, [] a new empty
			// one, and elements are decoded in place into the reused
			// backing array (which matters only for duplicate keys).
			if val[0] == 'n' {
				c.Choices = nil
				return nil
			}
			if val[0] != '[' {
				return errBail
			}
			c.Choices = c.Choices[:0]
			if skipWS(val, 1) < len(val) && val[skipWS(val, 1)] == ']' {
				c.Choices = c.Choices[:0:0]
				return nil
			}
			return eachElem(val, func(el []byte) error {
				if len(c.Choices) < cap(c.Choices) {
					c.Choices = c.Choices[:len(c.Choices)+1]
				} else {
					c.Choices = append(c.Choices, oaChoice{})
				}
				ch := &c.Choices[len(c.Choices)-1]
				if el[0] == 'n' {
					return nil
				}
				if el[0] != '{' {
					return errBail
				}
				return walkFields(el, func(key, val []byte) error {
					k, err := keySwitch(key, "text", "delta", "message", "finish_reason")
					if err != nil {
						return err
					}
					switch k {
					case 0:
						err = setString(val, &ch.Text)
					case 1:
						err = fastDelta(val, &ch.Delta)
					case 2:
						err = fastDelta(val, &ch.Message)
					case 3:
						if val[0] == 'n' {
							ch.FinishReason = nil
							return nil
						}
						var s string
						if err = setString(val, &s); err == nil {
							ch.FinishReason = &s
						}
					}
					return err
				})
			})
		case 1:
			if val[0] == 'n' {
				c.Usage = nil
				return nil
			}
			if val[0] != '{' {
				return errBail
			}
			if c.Usage == nil {
				c.Usage = new(Usage)
			}
			u := c.Usage
			return walkFields(val, func(key, val []byte) error {
				k, err := keySwitch(key, "prompt_tokens", "completion_tokens", "total_tokens")
				if err != nil {
					return err
				}
				switch k {
				case 0:
					err = setInt(val, &u.PromptTokens)
				case 1:
					err = setInt(val, &u.CompletionTokens)
				case 2:
					err = setInt(val, &u.TotalTokens)
				}
				return err
			})
		case 2:
			c.Error = append(c.Error[:0], val...)
		case 3:
			err = setString(val, &c.Object)
		case 4:
			err = setString(val, &c.Message)
		}
		return err
	})
}

func fastDelta(val []byte, d *oaDelta) error {
	if val[0] == 'n' {
		return nil
	}
	if val[0] != '{' {
		return errBail
	}
	return walkFields(val, func(key, val []byte) error {
		k, err := keySwitch(key, "content", "reasoning_content", "reasoning")
		if err != nil {
			return err
		}
		switch k {
		case 0:
			err = setString(val, &d.Content)
		case 1:
			err = setString(val, &d.ReasoningContent)
		case 2:
			err = setString(val, &d.Reasoning)
		}
		return err
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
