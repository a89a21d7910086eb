package workload

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readAll reads every request of a workload given as text.
func readAll(name, text string, s Source) ([]Request, Format, error) {
	r, f, err := NewReader(strings.NewReader(text), name, s)
	if err != nil {
		return nil, f, err
	}
	reqs, err := drain(r)
	return reqs, f, err
}

// drain reads a Reader to its end (or first error) and closes it.
func drain(r Reader) ([]Request, error) {
	defer r.Close()
	var out []Request
	for {
		req, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, req)
	}
}

// mustReadAll is readAll that fails the test on an error.
func mustReadAll(t *testing.T, name, text string, s Source) []Request {
	t.Helper()
	reqs, _, err := readAll(name, text, s)
	if err != nil {
		t.Fatal(err)
	}
	return reqs
}

// readSessions reads every session of a conversation file given as text.
func readSessions(name, text string, s Source) ([]Session, error) {
	r, err := NewSessionReader(strings.NewReader(text), name, s)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []Session
	for {
		ss, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ss)
	}
}

// writeFile writes a fixture into the test's directory and returns its path.
func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// openAll opens a file with Open and reads every request.
func openAll(t *testing.T, s Source) ([]Request, Format, error) {
	t.Helper()
	r, f, err := Open(context.Background(), s)
	if err != nil {
		return nil, f, err
	}
	reqs, err := drain(r)
	return reqs, f, err
}

// checkFuzzError fails a fuzz case whose error does not start with the
// file's name and, but for a file-wide error, its line: "name:12: ...".
func checkFuzzError(t *testing.T, name string, err error) {
	t.Helper()
	if err != nil && !regexp.MustCompile(`^`+regexp.QuoteMeta(name)+`(:[1-9][0-9]*)?: `).MatchString(err.Error()) {
		t.Fatalf("error without the file name and line: %v", err)
	}
}
