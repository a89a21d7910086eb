// Package needs is the one rule for tests that need something on the host:
// a program (promtool, prometheus, chromium, git, docker-compose, the docker
// CLI) or a Docker engine. Where it is missing the test skips, naming the
// Debian package to install; in strict mode it fails instead, so that a
// broken install step cannot turn CI green by skipping.
//
// Strict mode is on when LOP_STRICT is true (1, true), or when LOP_STRICT is
// unset and CI is true (CI systems set CI=true). LOP_STRICT=0 turns it off
// even under CI.
//
// Only skips for a missing tool or engine go through this package. Deliberate
// skips (-short, a regeneration test that runs only with -update, a fixed
// port that something else holds, 127.0.0.2 not routable, fixtures outside
// the repository) stay t.Skip: no install step can make them run.
package needs

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// Environment variables of strict mode.
const (
	StrictVar = "LOP_STRICT"
	CIVar     = "CI"
)

// Packages maps a program to the Debian package that provides it.
var Packages = map[string]string{
	"prometheus":              "prometheus",
	"promtool":                "prometheus",
	"chromium":                "chromium",
	"git":                     "git",
	"docker":                  "docker.io",
	"dockerd":                 "docker.io",
	"docker-compose":          "docker-compose",
	"amtool":                  "prometheus-alertmanager",
	"alertmanager":            "prometheus-alertmanager",
	"prometheus-alertmanager": "prometheus-alertmanager",
}

// Missing is something a test needs that this machine lacks.
type Missing struct {
	What    string // what is missing, e.g. "promtool not found on PATH"
	Package string // the Debian package that provides it
}

func (m *Missing) Error() string {
	return fmt.Sprintf("%s (Debian: apt-get install %s)", m.What, m.Package)
}

// Strict reports whether strict mode is on, and which variable says so.
func Strict() (bool, string) {
	if v, ok := os.LookupEnv(StrictVar); ok {
		if b, err := strconv.ParseBool(v); err == nil {
			return b, StrictVar + "=" + v
		}
	}
	if b, err := strconv.ParseBool(os.Getenv(CIVar)); err == nil && b {
		return true, CIVar + "=" + os.Getenv(CIVar)
	}
	return false, ""
}

// Decide is the rule: nil when nothing is missing or when the caller should
// skip (not strict), else the error that fails the test.
func Decide(m *Missing) error {
	if m == nil {
		return nil
	}
	if on, why := Strict(); on {
		return fmt.Errorf("%v; strict mode (%s): a test that needs it fails instead of skipping", m, why)
	}
	return nil
}

// Skip skips t because what is missing (install pkg), or fails it in strict
// mode.
func Skip(t testing.TB, what, pkg string) {
	t.Helper()
	m := &Missing{What: what, Package: pkg}
	if err := Decide(m); err != nil {
		t.Fatal(err)
		return
	}
	t.Skip(m.Error())
}

// Look finds the first of names on PATH; Missing names the package of the
// first name (see Packages).
func Look(names ...string) (string, *Missing) {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	what := names[0] + " not found on PATH"
	if len(names) > 1 {
		what = fmt.Sprintf("none of %v found on PATH", names)
	}
	pkg := Packages[names[0]]
	if pkg == "" {
		pkg = names[0]
	}
	return "", &Missing{What: what, Package: pkg}
}

// Tool returns the path of the first of names on PATH; where none is found
// it skips t (fails it in strict mode) naming the Debian package.
func Tool(t testing.TB, names ...string) string {
	t.Helper()
	p, m := Look(names...)
	if m != nil {
		Skip(t, m.What, m.Package)
	}
	return p
}

// Engine skips t (fails it in strict mode) when err, the error of connecting
// to the Docker engine, is not nil.
func Engine(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		Skip(t, fmt.Sprintf("no usable Docker engine: %v", err), "docker.io")
	}
}

// Condition applies the rule to a testscript condition: true when nothing is
// missing; false (the script's [!cond] skip runs) when m is missing, or an
// error that fails the script in strict mode.
func Condition(m *Missing) (bool, error) {
	if m == nil {
		return true, nil
	}
	return false, Decide(m)
}
