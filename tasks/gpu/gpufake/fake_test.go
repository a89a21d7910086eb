package gpufake

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"nvidia-smi": func() { os.Exit(FakeNvidiaSmi()) },
	})
}

// TestScripts runs the fake as a program, as the lead's testscripts will.
// $H200 is the real H200 capture directory.
func TestScripts(t *testing.T) {
	h200, err := filepath.Abs(filepath.Join("..", "testdata", "h200"))
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			e.Setenv("H200", h200)
			return nil
		},
	})
}

func TestCaptureFor(t *testing.T) {
	tests := []struct {
		args string
		want string
	}{
		{"", Table},
		{"--query-gpu=index,name,uuid,compute_cap,driver_version,memory.total,memory.used,utilization.gpu,pci.bus_id --format=csv", QueryCSV},
		{"--query-gpu=index,name --format=csv,nounits", QueryCSV},
		{"--query-gpu=index,name,compute_cap,driver_version,memory.total --format=csv,noheader,nounits", QueryNoHead},
		{"--query-gpu index,name --format csv,noheader", QueryNoHead},
		{"-i 0 --query-gpu=index --format=csv", QueryCSV},
		{"--version", VersionText},
		{"-q -x", QueryXML},
		{"--query --xml-format", QueryXML},
		{"-q", QueryText},
		{"-L", ListGPUsText},
	}
	for _, tt := range tests {
		got, err := CaptureFor(strings.Fields(tt.args))
		if err != nil || got != tt.want {
			t.Errorf("CaptureFor(%q) = %q, %v; want %q", tt.args, got, err, tt.want)
		}
	}
	for _, bad := range []string{"--query-gpu=index", "--query-gpu=index --format=json", "--query-gpu= --format=csv", "-x", "--reset", "-pm 1", "--format"} {
		if got, err := CaptureFor(strings.Fields(bad)); err == nil {
			t.Errorf("CaptureFor(%q) = %q, want error", bad, got)
		}
	}
}

func TestRunEnv(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, VersionText), []byte("DRIVER version : 1.2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "log")
	env := map[string]string{envDir: dir, envLog: logPath, envExit: "3"}
	var stdout, stderr bytes.Buffer
	code := run([]string{"/bin/nvidia-smi", "--version"}, &stdout, &stderr, func(k string) string { return env[k] })
	if code != 3 || stdout.String() != "DRIVER version : 1.2\n" || stderr.Len() != 0 {
		t.Fatalf("code %d stdout %q stderr %q", code, stdout.String(), stderr.String())
	}
	code = run([]string{"nvidia-smi", "-q", "-x"}, &stdout, &stderr, func(k string) string { return env[k] })
	if code != 3 { // no capture, but an exit status was asked for: just that status
		t.Fatalf("missing capture with exit 3: code %d", code)
	}
	b, err := os.ReadFile(logPath)
	if err != nil || string(b) != "nvidia-smi --version\nnvidia-smi -q -x\n" {
		t.Fatalf("log %q, %v", b, err)
	}
	for _, bad := range []map[string]string{
		{envDir: dir, envExit: "nine"},
		{envDir: dir, envExit: "300"},
		{},
		{envDir: filepath.Join(dir, "missing")},
		{envDir: dir, envLog: filepath.Join(dir, "no", "such", "dir", "log")},
	} {
		stderr.Reset()
		if code := run([]string{"nvidia-smi", "--version"}, &stdout, &stderr, func(k string) string { return bad[k] }); code != exitBadUsage || !strings.Contains(stderr.String(), "fake nvidia-smi") {
			t.Errorf("env %v: code %d, stderr %q", bad, code, stderr.String())
		}
	}
}

func FuzzCaptureFor(f *testing.F) {
	f.Add("--query-gpu=index,name --format=csv,noheader")
	f.Add("-q -x -i 1")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := CaptureFor(strings.Fields(s))
		if err != nil {
			return
		}
		if !slices.Contains([]string{Table, QueryCSV, QueryNoHead, QueryXML, QueryText, VersionText, ListGPUsText}, got) {
			t.Fatalf("CaptureFor(%q) = %q", s, got)
		}
	})
}
