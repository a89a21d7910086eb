// Package env reads, validates and initialises deploy/.env, the one file
// that configures the compose stack.
//
// The format is the subset of dotenv that every Docker Compose (the v2
// plugin, compose-go, and the Python docker-compose v1) reads the same way:
// KEY=VALUE lines, '#' comments, blank lines, an optional "export " prefix,
// and values in single or double quotes. Anything else is an error that
// names the file and line.
//
// # What an error may print
//
// A .env file holds secrets, and a malformed line may be a secret pasted on
// the wrong line, so no error of this package prints the text of a line.
// Errors name the file, the line number, the expected form and, where one
// can be identified, the key:
//
//   - On a line of the form KEY=value, the key is printed when it is a key
//     of the schema, or when it looks like an environment variable name:
//     upper-case letters, digits and _, with an _ or at most 16 characters
//     (see Nameable). Any other key (hf_..., base64 text ending in =, a
//     lower-case word) is "a key not shown here".
//   - On a line without '=', only a key of the schema is printed: a lone
//     word may be the secret itself.
//   - Text after the key (the value, text after a closing quote, anything
//     after a ':' or a space) is never printed by the parser.
//   - Validation (schema.go) quotes a value only for keys that are not
//     secret (see IsSecret) and only where it helps (a bad port, image,
//     address, choice), clipped, and never a value that looks like a token.
//
// # What a value may contain
//
// A value must be valid UTF-8 and must not contain control characters (NUL,
// CR, LF, ESC, DEL, C1 controls...) nor any white space other than the plain
// space: a tab, a no-break space or a line separator is refused, because
// Compose v1 and v2 trim them and end inline comments at them differently,
// so the value Compose used would not be the one validated. For the same
// reason a backslash inside single quotes, and inside double quotes any
// escape other than \" and \\, is refused. The whole file must be UTF-8
// (docker-compose v1 fails on any other byte, even in a comment).
package env

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Entry is one KEY=VALUE line of a dotenv file.
type Entry struct {
	Key   string
	Value string
	Line  int
}

// File is a parsed dotenv file, in file order. Parse refuses a key set twice,
// so each key has one entry.
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

// SyntaxError is a line that is not KEY=VALUE. It never holds text of the
// line other than a key that Nameable allows.
type SyntaxError struct {
	Path string
	Line int
	Key  string // "" when no key is shown
	// KeyHidden: the line has a key, but one that Nameable does not allow
	// to be printed.
	KeyHidden bool
	Msg       string // what is wrong
	Want      string // the expected form
}

func (e *SyntaxError) Error() string {
	who := "a line without a key"
	switch {
	case e.Key != "":
		who = "key " + e.Key
	case e.KeyHidden:
		who = notShown
	}
	sep := ": "
	if strings.HasPrefix(e.Msg, "is ") {
		sep = " "
	}
	return fmt.Sprintf("%s:%d: %s%s%s; expected %s", e.Path, e.Line, who, sep, e.Msg, e.Want)
}

var (
	keyRE      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	nameableRE = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
	utf8BOM    = []byte("\uFEFF")
)

// Nameable reports whether an error may print name as a key: a key of the
// schema, or a name in the form of an environment variable (upper-case
// letters, digits and _) that has an _ or is at most 16 characters long.
// Pasted tokens (hf_..., base64, hex, mixed case) are not nameable.
func Nameable(name string) bool {
	if _, ok := Lookup(name); ok {
		return true
	}
	return nameableRE.MatchString(name) && (strings.Contains(name, "_") || len(name) <= 16)
}

// ShowKey is how messages refer to a key: "key NAME" when Nameable,
// otherwise a phrase that does not contain it.
func ShowKey(name string) string {
	if Nameable(name) {
		return "key " + name
	}
	return notShown
}

const notShown = "a key not shown here (only upper-case key names are printed, so that a pasted secret never is)"

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
	data = bytes.TrimPrefix(data, utf8BOM) // Compose skips it too
	first := map[string]int{}
	for i, raw := range strings.Split(string(data), "\n") {
		n := i + 1
		fail := func(key, msg, want string) error {
			if !Nameable(key) {
				return &SyntaxError{Path: path, Line: n, KeyHidden: true, Msg: msg, Want: strings.Replace(want, key+"=", "KEY=", 1)}
			}
			return &SyntaxError{Path: path, Line: n, Key: key, Msg: msg, Want: want}
		}
		line := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			if !utf8.ValidString(line) {
				return nil, &SyntaxError{Path: path, Line: n, Msg: "a comment that is not valid UTF-8 (docker-compose cannot read the file)", Want: "UTF-8 text; save the file as UTF-8"}
			}
			continue
		}
		if rest, ok := cutExport(line); ok {
			line = rest
		}
		lead := line[:identLen(line)]
		after := strings.TrimLeft(line[len(lead):], " \t")
		if !keyRE.MatchString(lead) || !strings.HasPrefix(after, "=") {
			return nil, lineWithoutKV(path, n, lead, after)
		}
		key := lead
		want := key + "=value"
		if !utf8.ValidString(line) {
			return nil, fail(key, "the line is not valid UTF-8 (docker-compose cannot read the file)", want+" in UTF-8; save the file as UTF-8")
		}
		val, err := parseValue(strings.TrimLeft(after[1:], " "))
		if err != nil {
			var ve *valueError
			if errors.As(err, &ve) && ve.want != "" {
				want = key + "=" + ve.want
			}
			return nil, fail(key, err.Error(), want)
		}
		if err := CheckText(val); err != nil {
			return nil, fail(key, "the value "+err.Error(), want+" with printable text")
		}
		if prev, dup := first[key]; dup {
			return nil, fail(key, fmt.Sprintf("is also set on line %d; keep one", prev), "one line per key")
		}
		first[key] = n
		f.Entries = append(f.Entries, Entry{Key: key, Value: val, Line: n})
	}
	return f, nil
}

// lineWithoutKV is the error for a line that does not start with KEY=.
// Only a key of the schema is named: a lone word may be a pasted secret.
func lineWithoutKV(path string, n int, lead, after string) error {
	if _, known := Lookup(lead); !known {
		msg := "the line does not start with KEY= (its text is not shown, as it may hold a secret)"
		if lead != "" && after != "" && strings.Contains(after, "=") && !keyRE.MatchString(lead) {
			msg = "the text before '=' is not a key; keys are letters, digits and _, not starting with a digit (the text is not shown)"
		}
		return &SyntaxError{Path: path, Line: n, Msg: msg, Want: "KEY=value, a # comment or a blank line"}
	}
	var msg string
	switch {
	case after == "":
		msg = "no '=' after the key"
	case after[0] == ':':
		msg = "a ':' follows the key (YAML style), not '='"
	case strings.Contains(after, "="):
		msg = "text between the key and '=' (not shown)"
	default:
		msg = "no '=' after the key; what follows it is not shown"
	}
	return &SyntaxError{Path: path, Line: n, Key: lead, Msg: msg, Want: lead + "=value (" + lead + "= for an empty value)"}
}

// cutExport removes an "export" prefix followed by spaces or tabs.
func cutExport(line string) (string, bool) {
	rest, ok := strings.CutPrefix(line, "export")
	if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '\t') {
		return line, false
	}
	return strings.TrimLeft(rest, " \t"), true
}

// identLen is the length of the leading run of letters, digits and _.
func identLen(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return i
		}
	}
	return len(s)
}

// valueError is a malformed value; want is the expected form after "KEY=".
// Its message never holds text of the value.
type valueError struct{ msg, want string }

func (e *valueError) Error() string { return e.msg }

func parseValue(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	switch q := v[0]; q {
	case '"', '\'':
		want := `"value"`
		if q == '\'' {
			want = `'value'`
		}
		end := closingQuote(v, q)
		if end < 0 {
			return "", &valueError{fmt.Sprintf("the value opens a %c quote that is never closed on this line", q), want}
		}
		rest := strings.TrimSpace(v[end+1:])
		if rest != "" && !strings.HasPrefix(rest, "#") {
			return "", &valueError{"text after the closing quote (not shown)", want + " with nothing after it but a # comment"}
		}
		inner := v[1:end]
		if q == '\'' {
			if strings.Contains(inner, `\`) {
				return "", &valueError{`a backslash inside single quotes, which docker-compose v1 and v2 read differently`, `value unquoted or "value" with each \ written as \\`}
			}
			return inner, nil
		}
		if strings.Contains(inner, "$") {
			return "", errDollar
		}
		var b strings.Builder
		for i := 0; i < len(inner); i++ {
			if inner[i] != '\\' {
				b.WriteByte(inner[i])
				continue
			}
			i++ // closingQuote guarantees a character after a backslash
			if inner[i] != '"' && inner[i] != '\\' {
				return "", &valueError{`an escape other than \" or \\ inside double quotes (Compose turns \n, \t and the like into control characters)`, `"value" with only \" and \\ escaped`}
			}
			b.WriteByte(inner[i])
		}
		return b.String(), nil
	}
	// An unquoted value ends at " #" (an inline comment), as in Compose.
	if i := strings.Index(v, " #"); i >= 0 {
		v = v[:i]
	}
	v = strings.TrimRight(v, " ")
	if strings.Contains(v, "$") {
		return "", errDollar
	}
	return v, nil
}

// errDollar: Docker Compose expands $VAR and ${VAR} inside .env values, so
// the value it would use is not the one written (a password could even
// become empty). Single quotes keep a value literal for mage and Compose.
var errDollar = &valueError{"the value contains $, which Docker Compose expands as a variable; put the value in single quotes to keep it literal", "'value'"}

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

// CheckText returns an error when v is not valid UTF-8 or holds a control
// character or white space other than the plain space (see the package
// comment). The error names the character, never the value.
func CheckText(v string) error {
	if !utf8.ValidString(v) {
		return errors.New("is not valid UTF-8; save the file as UTF-8")
	}
	for _, r := range v {
		switch {
		case r == 0:
			return errors.New("contains a NUL byte")
		case r == '\r':
			return errors.New("contains a carriage return (CR)")
		case r == '\n':
			return errors.New("contains a line break")
		case r == '\t':
			return errors.New("contains a tab; Compose versions trim and split at tabs differently")
		case r == 0x1b:
			return errors.New("contains an escape character (ESC)")
		case r == 0x7f:
			return errors.New("contains a DEL character")
		case unicode.IsControl(r):
			return fmt.Errorf("contains the control character U+%04X", r)
		case r != ' ' && unicode.IsSpace(r):
			return fmt.Errorf("contains the white space character U+%04X; only plain spaces are allowed", r)
		}
	}
	return nil
}
