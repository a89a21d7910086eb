package needs

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB that records Skip and Fatal instead of stopping.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()             {}
func (r *recorder) Skip(args ...any)    { r.skipped = fmt.Sprint(args...) }
func (r *recorder) Fatal(args ...any)   { r.failed = fmt.Sprint(args...) }
func (r *recorder) Logf(string, ...any) {}

func setMode(t *testing.T, ci, strict string) {
	for k, v := range map[string]string{CIVar: ci, StrictVar: strict} {
		t.Setenv(k, v)
	}
}

func TestStrict(t *testing.T) {
	for _, c := range []struct {
		ci, strict string
		want       bool
		why        string
	}{
		{"", "", false, ""},
		{"true", "", true, "CI=true"},
		{"1", "", true, "CI=1"},
		{"false", "", false, ""},
		{"", "1", true, "LOP_STRICT=1"},
		{"", "true", true, "LOP_STRICT=true"},
		{"true", "0", false, "LOP_STRICT=0"}, // a developer's way out on a CI runner
		{"", "0", false, "LOP_STRICT=0"},
		{"true", "yes?", true, "CI=true"}, // not a boolean: CI decides
	} {
		setMode(t, c.ci, c.strict)
		got, why := Strict()
		if got != c.want || why != c.why {
			t.Errorf("CI=%q LOP_STRICT=%q: Strict() = %v, %q; want %v, %q", c.ci, c.strict, got, why, c.want, c.why)
		}
	}
}

// Without strict mode a missing tool skips, naming the package; with it
// the same call fails, naming the tool, the package and the variable.
func TestSkipOrFail(t *testing.T) {
	for _, c := range []struct {
		ci, strict string
		fail       bool
	}{
		{"", "", false},
		{"true", "", true},
		{"", "1", true},
		{"true", "0", false},
	} {
		setMode(t, c.ci, c.strict)
		r := &recorder{}
		Skip(r, "promtool not found on PATH", "prometheus")
		msg := r.skipped
		if c.fail {
			msg = r.failed
			if r.skipped != "" {
				t.Errorf("CI=%q LOP_STRICT=%q: skipped (%q) in strict mode", c.ci, c.strict, r.skipped)
			}
			if !strings.Contains(msg, "strict mode") {
				t.Errorf("strict failure does not say strict mode: %q", msg)
			}
		} else if r.failed != "" {
			t.Errorf("CI=%q LOP_STRICT=%q: failed (%q) instead of skipping", c.ci, c.strict, r.failed)
		}
		for _, want := range []string{"promtool not found on PATH", "apt-get install prometheus"} {
			if !strings.Contains(msg, want) {
				t.Errorf("CI=%q LOP_STRICT=%q: message %q lacks %q", c.ci, c.strict, msg, want)
			}
		}
	}
}

func TestTool(t *testing.T) {
	setMode(t, "", "")
	r := &recorder{}
	if p := Tool(r, "go"); p == "" || r.skipped != "" || r.failed != "" {
		t.Errorf("go (running this test) not found: %q, skipped %q, failed %q", p, r.skipped, r.failed)
	}
	Packages["lop-no-such-tool"] = "lop-pkg"
	defer delete(Packages, "lop-no-such-tool")
	r = &recorder{}
	Tool(r, "lop-no-such-tool", "lop-no-such-tool-either")
	if !strings.Contains(r.skipped, "lop-no-such-tool") || !strings.Contains(r.skipped, "apt-get install lop-pkg") {
		t.Errorf("skip message %q", r.skipped)
	}
	setMode(t, "true", "")
	r = &recorder{}
	Tool(r, "lop-no-such-tool")
	if r.failed == "" || r.skipped != "" || !strings.Contains(r.failed, "apt-get install lop-pkg") {
		t.Errorf("strict: failed %q, skipped %q", r.failed, r.skipped)
	}
}

func TestEngine(t *testing.T) {
	setMode(t, "", "")
	r := &recorder{}
	Engine(r, nil)
	if r.skipped != "" || r.failed != "" {
		t.Errorf("an engine that answers skipped (%q) or failed (%q)", r.skipped, r.failed)
	}
	Engine(r, errors.New("dial unix /var/run/docker.sock: connect: no such file or directory"))
	if !strings.Contains(r.skipped, "no usable Docker engine: dial unix") || !strings.Contains(r.skipped, "docker.io") {
		t.Errorf("skip message %q", r.skipped)
	}
	setMode(t, "", "1")
	r = &recorder{}
	Engine(r, errors.New("refused"))
	if r.failed == "" || r.skipped != "" {
		t.Errorf("strict: failed %q, skipped %q", r.failed, r.skipped)
	}
}

// The rule for testscript conditions: true when nothing is missing; false
// (the script skips) or an error (strict mode) when something is.
func TestCondition(t *testing.T) {
	m := &Missing{What: "prometheus not found on PATH", Package: "prometheus"}
	setMode(t, "", "")
	if ok, err := Condition(nil); !ok || err != nil {
		t.Errorf("nothing missing: %v, %v", ok, err)
	}
	if ok, err := Condition(m); ok || err != nil {
		t.Errorf("missing, not strict: %v, %v; want false, nil", ok, err)
	}
	setMode(t, "true", "")
	if ok, err := Condition(nil); !ok || err != nil {
		t.Errorf("nothing missing, strict: %v, %v", ok, err)
	}
	ok, err := Condition(m)
	if ok || err == nil {
		t.Fatalf("missing, strict: %v, %v; want false and an error", ok, err)
	}
	for _, want := range []string{"prometheus not found on PATH", "apt-get install prometheus", "CI=true"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
