package bench

// The results file: written atomically after every step and at the end,
// read back and checked for compare.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// checkpoint saves the sweep so far as an intermediate file.
func (r *Result) checkpoint(dir string, done, planned int) error {
	c := *r
	c.StoppedBy = StoppedRunning
	c.StoppedEarlyReason = fmt.Sprintf("written after step %d of %d; the sweep had not ended", done, planned)
	if r.Settings.Mode == ModeSearch {
		c.StoppedEarlyReason = fmt.Sprintf("written after probe %d; the search had not ended", done)
	}
	c.finish()
	_, _, err := Save(dir, &c)
	return err
}

// Save writes dir/bench.json and dir/report.html (named after dir)
// atomically, the report first, and returns their paths.
func Save(dir string, r *Result) (jsonPath, htmlPath string, err error) {
	jsonPath, htmlPath = filepath.Join(dir, "bench.json"), filepath.Join(dir, "report.html")
	// report.html first: whoever sees bench.json (a watcher, a script
	// waiting for it) also finds the report of that step or a later one.
	if err := RenderFile(htmlPath, []Named{{Name: filepath.Base(dir), Path: jsonPath, Result: r}}); err != nil {
		return jsonPath, htmlPath, fmt.Errorf("writing %s: %w", htmlPath, err)
	}
	if err := WriteResult(jsonPath, r); err != nil {
		return jsonPath, htmlPath, fmt.Errorf("writing %s: %w", jsonPath, err)
	}
	return jsonPath, htmlPath, nil
}

// CheckDir makes sure the results can be written to dir (-out) before
// anything is sent: it creates dir and a temporary file in it.
func CheckDir(dir string) error {
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return fmt.Errorf("-out=%s is a file; -out names a directory for bench.json and report.html", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("-out=%s: cannot create the results directory: %v; choose a writable directory", dir, unwrapPath(err))
	}
	f, err := os.CreateTemp(dir, ".bench-write-check-*")
	if err != nil {
		return fmt.Errorf("-out=%s: cannot write there: %v; choose a writable directory", dir, unwrapPath(err))
	}
	f.Close()
	return os.Remove(f.Name())
}

// unwrapPath drops the path of a *PathError (the message names it already).
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// WriteResult writes r as indented JSON to path, atomically.
func WriteResult(path string, r *Result) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'))
}

func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), path)
}

// ReadResult reads and checks a results file.
func ReadResult(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseResult(b, path)
}

// ParseResult decodes and checks a results file's content; name is used
// in errors.
func ParseResult(b []byte, name string) (*Result, error) {
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: not a bench results file: %v", name, err)
	}
	if r.Schema != Schema {
		return nil, fmt.Errorf("%s: schema %q, expected %q (a file written by mage bench:*; a load:* results file is not a sweep)", name, r.Schema, Schema)
	}
	if err := checkMode(r.Settings.Mode); err != nil {
		return nil, fmt.Errorf("%s: settings.mode: %v", name, strings.TrimPrefix(err.Error(), "-mode="))
	}
	for i, s := range r.Steps {
		if s.Result == nil {
			return nil, fmt.Errorf("%s: steps[%d] has no \"result\"", name, i)
		}
		if !(s.Load > 0) || math.IsInf(s.Load, 0) {
			return nil, fmt.Errorf("%s: steps[%d].load is %v, expected a positive number", name, i, s.Load)
		}
	}
	sort.SliceStable(r.Steps, func(i, j int) bool { return r.Steps[i].Load < r.Steps[j].Load })
	return &r, nil
}
