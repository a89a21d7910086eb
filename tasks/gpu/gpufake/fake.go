// Package gpufake is a stand-in for nvidia-smi in tests. Register it with
// testscript.Main (it then shadows any real nvidia-smi on PATH for the test
// and for every program the test starts):
//
//	func TestMain(m *testing.M) {
//		testscript.Main(m, map[string]func(){
//			"nvidia-smi": func() { os.Exit(gpufake.FakeNvidiaSmi()) },
//		})
//	}
//
// Environment:
//
//	FAKE_NVIDIA_SMI_DIR   directory of captures named like /work/shared/fixtures/nvidia-smi/h200
//	                      (see CaptureFor); required
//	FAKE_LOG              if set, each run appends its argv as one line to this file
//	FAKE_NVIDIA_SMI_EXIT  if set, the exit status after printing the capture (e.g. 9, the status
//	                      of "couldn't communicate with the NVIDIA driver")
package gpufake

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Capture file names, as in /work/shared/fixtures/nvidia-smi/h200.
const (
	Table        = "nvidia-smi.txt"       // nvidia-smi (no arguments)
	QueryCSV     = "query-csv.txt"        // --query-gpu=... --format=csv[,nounits]
	QueryNoHead  = "query-noheader.txt"   // --query-gpu=... --format=csv,noheader[,nounits]
	QueryXML     = "nvidia-smi-q.xml"     // -q -x
	QueryText    = "nvidia-smi-q.txt"     // -q
	VersionText  = "version.txt"          // --version
	ListGPUsText = "list-gpus.txt"        // -L
	exitBadUsage = 2                      // what the fake exits with for arguments it has no capture for
	envDir       = "FAKE_NVIDIA_SMI_DIR"  //
	envLog       = "FAKE_LOG"             //
	envExit      = "FAKE_NVIDIA_SMI_EXIT" //
)

// CaptureFor returns the capture file name that answers args (argv without
// the program name), or an error for arguments no capture covers.
func CaptureFor(args []string) (string, error) {
	var query, format string
	hasQuery, hasFormat, hasQ, hasX, hasVersion, hasList := false, false, false, false, false, false
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(a, "=")
		next := func() string {
			if hasVal {
				return val
			}
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch name {
		case "--query-gpu":
			hasQuery = true
			query = next()
		case "--format":
			hasFormat = true
			format = next()
		case "-q", "--query":
			hasQ = true
		case "-x", "--xml-format":
			hasX = true
		case "--version":
			hasVersion = true
		case "-L", "--list-gpus":
			hasList = true
		case "-i", "--id":
			next()
		default:
			return "", fmt.Errorf("fake nvidia-smi: no capture for argument %q (args %q)", a, args)
		}
	}
	if hasFormat && !hasQuery {
		return "", errors.New("fake nvidia-smi: --format only goes with --query-gpu")
	}
	switch {
	case hasQuery:
		if query == "" {
			return "", errors.New(`fake nvidia-smi: --query-gpu needs a field list, e.g. --query-gpu=index,name`)
		}
		opts := strings.Split(format, ",")
		if !contains(opts, "csv") {
			return "", fmt.Errorf(`fake nvidia-smi: --query-gpu needs --format=csv[,noheader][,nounits], got --format=%q`, format)
		}
		if contains(opts, "noheader") {
			return QueryNoHead, nil
		}
		return QueryCSV, nil
	case hasVersion:
		return VersionText, nil
	case hasQ && hasX:
		return QueryXML, nil
	case hasQ:
		return QueryText, nil
	case hasList:
		return ListGPUsText, nil
	case hasX:
		return "", errors.New("fake nvidia-smi: -x needs -q")
	}
	return Table, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.TrimSpace(x) == s {
			return true
		}
	}
	return false
}

// FakeNvidiaSmi behaves like nvidia-smi for os.Args and returns the exit
// status: it prints the capture CaptureFor picks from $FAKE_NVIDIA_SMI_DIR,
// logs argv to $FAKE_LOG and exits with $FAKE_NVIDIA_SMI_EXIT (default 0).
func FakeNvidiaSmi() int {
	return run(os.Args, os.Stdout, os.Stderr, os.Getenv)
}

func run(argv []string, stdout, stderr io.Writer, getenv func(string) string) int {
	name := "nvidia-smi"
	if len(argv) > 0 {
		name = filepath.Base(argv[0])
		argv = argv[1:]
	}
	if logPath := getenv(envLog); logPath != "" {
		line := strings.Join(append([]string{name}, argv...), " ") + "\n"
		f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err == nil {
			_, err = io.WriteString(f, line)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "fake nvidia-smi: %s=%s: %v\n", envLog, logPath, err)
			return exitBadUsage
		}
	}
	exit := 0
	if s := getenv(envExit); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 255 {
			fmt.Fprintf(stderr, "fake nvidia-smi: %s=%q: want an exit status 0-255\n", envExit, s)
			return exitBadUsage
		}
		exit = n
	}
	dir := getenv(envDir)
	if dir == "" {
		fmt.Fprintf(stderr, "fake nvidia-smi: set %s to a directory of captures (nvidia-smi.txt, query-csv.txt, ...)\n", envDir)
		return exitBadUsage
	}
	file, err := CaptureFor(argv)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitBadUsage
	}
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		if exit != 0 {
			// A failing run without a capture: just the status.
			return exit
		}
		fmt.Fprintf(stderr, "fake nvidia-smi: no capture %s in %s=%s for args %q: %v\n", file, envDir, dir, argv, err)
		return exitBadUsage
	}
	if _, err := stdout.Write(data); err != nil {
		return exitBadUsage
	}
	return exit
}
