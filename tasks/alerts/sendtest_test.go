package alerts

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/needs"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/testio"
)

func TestParseNotifications(t *testing.T) {
	page := []byte(`# HELP alertmanager_notifications_total The total number of attempted notifications.
# TYPE alertmanager_notifications_total counter
alertmanager_notifications_total{integration="email"} 0
alertmanager_notifications_total{integration="webhook"} 3
alertmanager_notifications_total{integration="webhook",receiver_name="x"} 2
alertmanager_notifications_failed_total{integration="slack",reason="clientError"} 2
alertmanager_notifications_failed_total{integration="slack",reason="other"} 1
alertmanager_notifications_failed_total{integration="webhook"} 1e+00
alertmanager_notification_requests_total{integration="webhook"} 7
alertmanager_notification_requests_failed_total{integration="webhook"} 2
alertmanager_notifications_totally_else{integration="webhook"} 9
`)
	got := ParseNotifications(page)
	if got["webhook"].Total != 5 || got["webhook"].Failed != 1 || got["slack"].Failed != 3 || got["slack"].Reasons["clientError"] != 2 ||
		got["webhook"].Requests != 7 || got["webhook"].RequestsFailed != 2 {
		t.Errorf("%+v", got)
	}
	if _, ok := got["email"]; !ok {
		t.Error("email missing")
	}
}

func TestDescribe(t *testing.T) {
	for _, c := range []struct {
		s    Settings
		want string
	}{
		{Settings{Receiver: None}, "every alert to none (visible in Alertmanager's UI and mage status)"},
		{Settings{Receiver: Webhook, WebhookURL: "https://x.example/" + secretPass}, "every alert to webhook"},
		{Settings{Receiver: None, Page: Slack, SlackChannel: "#oncall", SlackURL: secretSlack, Ticket: Email, EmailTo: "t@example.com"},
			"page alerts to slack (#oncall), ticket alerts to email (to t@example.com), other alerts to none (visible in Alertmanager's UI and mage status)"},
	} {
		if got := c.s.Describe(); got != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
		if strings.Contains(c.s.Describe(), "hooks") || strings.Contains(c.s.Describe(), secretPass) {
			t.Error("Describe shows a secret")
		}
	}
}

func TestRedactAndLastFailure(t *testing.T) {
	s := Settings{SlackURL: secretSlack, EmailAuthPassword: secretPass}
	logs := `ts=1 level=info msg="Completed loading of configuration file"
ts=2 level=warn component=dispatcher receiver=slack integration=slack[0] msg="Notify attempt failed, will retry later" attempts=1 err="Post \"` + secretSlack + `\": dial tcp: lookup hooks.slack.com: no such host"
ts=3 level=error component=dispatcher msg="Notify for alerts failed" num_alerts=1 err="email/email[0]: notify retry canceled: auth ` + secretPass + ` rejected"
ts=4 level=debug msg="flushing"`
	line := LastFailure(logs, "slack")
	if !strings.Contains(line, "Notify attempt failed") {
		t.Fatalf("LastFailure: %q", line)
	}
	r := Redact(line, s)
	if strings.Contains(r, "hooks.slack.com/services") || strings.Contains(r, "sl4ck") || !strings.Contains(r, "no such host") {
		t.Errorf("Redact: %s", r)
	}
	if r := Redact(LastFailure(logs, "email"), s); strings.Contains(r, secretPass) || !strings.Contains(r, "rejected") {
		t.Errorf("Redact email: %s", r)
	}
	if got := Redact(ErrOf(line), s); got != `Post "(secret)": dial tcp: lookup hooks.slack.com: no such host` {
		t.Errorf("ErrOf: %s", got)
	}
	if LastFailure(logs, "webhook") != "" {
		t.Error("a webhook failure found where there is none")
	}
}

// fakeAM is an Alertmanager API whose webhook counter rises (or whose
// failed counter rises) some polls after an alert is posted.
func fakeAM(t *testing.T, fail bool) (*httptest.Server, *atomic.Int32) {
	var posted, polls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/api/v2/alerts":
			var buf bytes.Buffer
			_, _ = buf.ReadFrom(r.Body)
			if !strings.Contains(buf.String(), `"alertname":"`+TestAlertName+`"`) || !strings.Contains(buf.String(), `"severity":"page"`) {
				http.Error(w, "bad alert "+buf.String(), http.StatusBadRequest)
				return
			}
			posted.Add(1)
		case r.URL.Path == "/metrics":
			n := 0
			if posted.Load() > 0 && polls.Add(1) > 2 {
				n = 1
			}
			failed := 0
			if fail {
				failed = n
			}
			_, _ = w.Write([]byte("alertmanager_notification_requests_total{integration=\"webhook\"} " + strconv.Itoa(10+n) + "\n" +
				"alertmanager_notification_requests_failed_total{integration=\"webhook\"} " + strconv.Itoa(4+failed) + "\n"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &posted
}

func TestSendTestFake(t *testing.T) {
	ctx := context.Background()
	s := Settings{Receiver: Webhook, WebhookURL: "http://127.0.0.1:1/x"}
	srv, posted := fakeAM(t, false)
	var out bytes.Buffer
	err := SendTest(ctx, TestOptions{Client: Client{URL: srv.URL}, Settings: s, Severity: "page", Poll: 10 * time.Millisecond, Out: &out})
	if err != nil || posted.Load() != 1 || !strings.Contains(out.String(), "delivered to webhook\n") {
		t.Errorf("delivered: %v %d\n%s", err, posted.Load(), out.String())
	}

	srv, _ = fakeAM(t, true)
	out.Reset()
	err = SendTest(ctx, TestOptions{Client: Client{URL: srv.URL}, Settings: s, Severity: "page", Poll: 10 * time.Millisecond, Out: &out,
		Logs: func(context.Context) (string, error) {
			return `level=warn integration=webhook[0] msg="Notify attempt failed" err="Post \"http://127.0.0.1:1/x\": connection refused"`, nil
		}})
	if err == nil || !strings.Contains(out.String(), "delivery to webhook FAILED: ") || !strings.Contains(out.String(), "connection refused") ||
		strings.Contains(out.String(), "127.0.0.1:1/x") {
		t.Errorf("failed: %v\n%s", err, out.String())
	}

	srv, posted = fakeAM(t, false)
	out.Reset()
	err = SendTest(ctx, TestOptions{Client: Client{URL: srv.URL}, Settings: Settings{Receiver: Webhook, WebhookURL: "http://x/", Page: None}, Severity: "page", Out: &out})
	if err != nil || posted.Load() != 1 || !strings.Contains(out.String(), "no receiver configured: visible at "+srv.URL) {
		t.Errorf("none: %v\n%s", err, out.String())
	}
	if err := SendTest(ctx, TestOptions{Client: Client{URL: srv.URL}, Settings: s, Severity: "warning"}); err == nil || !strings.Contains(err.Error(), "page or ticket") {
		t.Errorf("bad severity: %v", err)
	}
}

// TestSendTestRealAlertmanager: mage alerts:test's logic against Debian's
// Alertmanager, whose webhook receiver is this test (delivered) or a
// closed port (FAILED, with the error from Alertmanager's log).
func TestSendTestRealAlertmanager(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real Alertmanager: skipped in -short mode")
	}
	amBin := needs.Tool(t, "prometheus-alertmanager", "alertmanager")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var got atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Add(1) }))
	defer hook.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + ln.Addr().String() + "/hook"
	ln.Close()

	for _, c := range []struct {
		url, want string
		ok        bool
	}{{hook.URL + "/hook", "delivered to webhook", true}, {closed, "delivery to webhook FAILED: ", false}} {
		s := Settings{Receiver: Webhook, WebhookURL: c.url, GroupWait: time.Second, GroupInterval: time.Second}
		dir := t.TempDir()
		path := filepath.Join(dir, "am.yml")
		if _, err := writeTo(path, s); err != nil {
			t.Fatal(err)
		}
		addr := testio.FreeAddr(t)
		var logs testio.SyncBuffer
		cmd := exec.CommandContext(ctx, amBin, "--config.file="+path, "--storage.path="+dir, "--web.listen-address="+addr, "--cluster.listen-address=")
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cl := Client{URL: "http://" + addr}
		for cl.Reload(ctx) != nil {
			select {
			case <-ctx.Done():
				t.Fatalf("alertmanager not up: %s", logs.String())
			case <-time.After(100 * time.Millisecond):
			}
		}
		var out bytes.Buffer
		err := SendTest(ctx, TestOptions{Client: cl, Settings: s, Severity: "page", Timeout: 30 * time.Second, Poll: 200 * time.Millisecond, Out: &out,
			Logs: func(context.Context) (string, error) { return logs.String(), nil }})
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if (err == nil) != c.ok || !strings.Contains(out.String(), c.want) {
			t.Errorf("%s: err %v\n%s\nalertmanager log:\n%s", c.want, err, out.String(), logs.String())
		}
		if !c.ok && (strings.Contains(out.String(), closed) || !strings.Contains(out.String(), "connection refused")) {
			t.Errorf("failure line should name the error, not the URL:\n%s", out.String())
		}
		t.Logf("%s", strings.TrimSpace(out.String()))
	}
	if got.Load() == 0 {
		t.Error("the webhook got nothing")
	}
}
