// Package env reads, validates and initialises deploy/.env, the one file
// that configures the compose stack.
//
// The format is the subset of dotenv that Docker Compose reads: KEY=VALUE
// lines, '#' comments, blank lines, an optional "export " prefix, and values
// in single or double quotes. Anything else is an error that names the file
// and line.
package env

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Entry is one KEY=VALUE line of a dotenv file.
type Entry struct {
	Key   string
	Value string
	Line  int
}

// File is a parsed dotenv file, in file order.
type File struct {
	Path    string
	Entries []Entry
}

// Get returns the value of key and whether the file sets it.
func (f *File) Get(key string) (string, bool) {
	for i := len(f.Entries) - 1; i >= 0; i-- {
		if f.Entries[i].Key == key {
			return f.Entries[i].Value, true
		}
	}
	return "", false
}

// Map returns the file's keys and values; a later line wins over an earlier one.
func (f *File) Map() map[string]string {
	m := make(map[string]string, len(f.Entries))
	for _, e := range f.Entries {
		m[e.Key] = e.Value
	}
	return m
}

// Line returns the line that sets key, or 0.
func (f *File) Line(key string) int {
	for i := len(f.Entries) - 1; i >= 0; i-- {
		if f.Entries[i].Key == key {
			return f.Entries[i].Line
		}
	}
	return 0
}

// SyntaxError is a line that is not KEY=VALUE.
type SyntaxError struct {
	Path string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
}

var keyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ReadFile parses the dotenv file at path.
func ReadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse parses dotenv data; path is used in error messages only.
func Parse(path string, data []byte) (*File, error) {
	f := &File{Path: path}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		trimmed = strings.TrimPrefix(trimmed, "export ")
		eq := strings.IndexByte(trimmed, '=')
		if eq < 0 {
			return nil, &SyntaxError{path, n, fmt.Sprintf("%q is not KEY=VALUE; write it as KEY=value or comment it out with #", clip(trimmed))}
		}
		key := strings.TrimSpace(trimmed[:eq])
		if !keyRE.MatchString(key) {
			return nil, &SyntaxError{path, n, fmt.Sprintf("%q is not a valid key; keys are letters, digits and _, not starting with a digit", clip(key))}
		}
		val, err := parseValue(strings.TrimSpace(trimmed[eq+1:]))
		if err != nil {
			return nil, &SyntaxError{path, n, fmt.Sprintf("key %s: %v", key, err)}
		}
		f.Entries = append(f.Entries, Entry{Key: key, Value: val, Line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, &SyntaxError{path, n + 1, err.Error()}
	}
	return f, nil
}

func parseValue(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	switch q := v[0]; q {
	case '"', '\'':
		end := closingQuote(v, q)
		if end < 0 {
			return "", fmt.Errorf("value opens a %c quote that is never closed on this line", q)
		}
		rest := strings.TrimSpace(v[end+1:])
		if rest != "" && !strings.HasPrefix(rest, "#") {
			return "", fmt.Errorf("unexpected text %q after the closing quote", clip(rest))
		}
		inner := v[1:end]
		if q == '"' {
			if strings.Contains(inner, "$") {
				return "", errDollar
			}
			inner = strings.NewReplacer(`\n`, "\n", `\"`, `"`, `\\`, `\`).Replace(inner)
		}
		return inner, nil
	}
	// An unquoted value ends at " #" (an inline comment).
	if i := strings.Index(v, " #"); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	if strings.Contains(v, "$") {
		return "", errDollar
	}
	return v, nil
}

// errDollar: Docker Compose expands $VAR and ${VAR} inside .env values, so
// the value it would use is not the one written (a password could even
// become empty). Single quotes keep a value literal for mage and Compose.
var errDollar = errors.New("the value contains $, which Docker Compose expands as a variable; put the value in single quotes ('...') to keep it literal")

// closingQuote returns the index of the quote that closes v (which starts
// with q), skipping backslash-escaped double quotes, or -1.
func closingQuote(v string, q byte) int {
	for i := 1; i < len(v); i++ {
		switch {
		case q == '"' && v[i] == '\\':
			i++
		case v[i] == q:
			return i
		}
	}
	return -1
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
