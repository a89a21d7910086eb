//go:build linux

package load

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// A real descriptor limit, not an injected error: a child process lowers
// its RLIMIT_NOFILE to a few descriptors above what it holds and runs 24
// workers at the parent's server. The dials it cannot make are kind
// client, never failures of the server.
func TestClientErrorsUnderARealFDLimit(t *testing.T) {
	if u := os.Getenv("LOAD_TEST_RLIMIT_URL"); u != "" {
		fdLimitChild(t, u)
		return
	}
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { goodReply(w, ProtocolOpenAIChat) })
	cmd := exec.Command(os.Args[0], "-test.run=^TestClientErrorsUnderARealFDLimit$", "-test.count=1")
	cmd.Env = append(os.Environ(), "LOAD_TEST_RLIMIT_URL="+srv.URL)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	_, js, ok := strings.Cut(string(out), "RESULT ")
	if !ok {
		t.Fatalf("child printed no result:\n%s", out)
	}
	js, _, _ = strings.Cut(js, "\n")
	var res Result
	if err := json.Unmarshal([]byte(js), &res); err != nil {
		t.Fatal(err)
	}
	if res.Requests.ClientErrors == 0 || res.Requests.Failed != 0 || res.Requests.OK == 0 || len(res.Suspect) == 0 {
		t.Fatalf("requests %+v suspect %q samples %+v", res.Requests, res.Suspect, res.ErrorSamples)
	}
	t.Logf("child: ok %d, client errors %d", res.Requests.OK, res.Requests.ClientErrors)
	if *res.Requests.Availability != 1 || !res.SLOOK {
		t.Fatalf("availability %v: client errors counted against the server", *res.Requests.Availability)
	}
	found := false
	for _, s := range res.ErrorSamples {
		found = found || (s.Kind == ErrClient && strings.Contains(s.Message, "EMFILE") && strings.Contains(s.Message, "ulimit -n"))
	}
	if !found {
		t.Fatalf("samples %+v", res.ErrorSamples)
	}
}

func fdLimitChild(t *testing.T, u string) {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Fatal(err)
	}
	l.Cur = uint64(len(fds) + 6)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), Options{URL: u, Model: "m", Stream: true, Concurrency: 24, Requests: 96})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(res)
	os.Stdout.Write(append(append([]byte("RESULT "), b...), '\n'))
}
