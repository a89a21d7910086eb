package configcheck

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/alerts"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/needs"
)

// check:config runs amtool on the configuration of deploy/.env and on each
// sample; a broken .env receiver is a FAIL that names the key, not the value.
func TestCheckAlertmanager(t *testing.T) {
	amtool := needs.Tool(t, "amtool")
	var out bytes.Buffer
	r := &reporter{w: &out}
	checkAlertmanager(context.Background(), repoRoot, amtool, r)
	if r.failed != 0 || r.passed != 1+len(alerts.Samples()) {
		t.Fatalf("%d passed, %d failed:\n%s", r.passed, r.failed, out.String())
	}
	if !strings.Contains(out.String(), "amtool check-config sample page slack, ticket email: SUCCESS: 1 inhibit rules, 3 receivers") {
		t.Errorf("no split sample:\n%s", out.String())
	}

	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "deploy"), 0o755); err != nil {
		t.Fatal(err)
	}
	ex, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "env.example"))
	if err != nil {
		t.Fatal(err)
	}
	const secret = "https://hooks.example.com/s3cr3t-w3bh00k-t0ken"
	dot := strings.Replace(string(ex), "ALERT_RECEIVER=none", "ALERT_RECEIVER=webhook", 1)
	dot = strings.Replace(dot, "GRAFANA_ADMIN_PASSWORD=", "GRAFANA_ADMIN_PASSWORD=configcheck-pw", 1)
	if err := os.WriteFile(filepath.Join(root, "deploy", "env.example"), ex, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "deploy", ".env"), []byte(dot), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	r = &reporter{w: &out}
	checkAlertmanager(context.Background(), root, amtool, r)
	if r.failed != 1 || !strings.Contains(out.String(), "ALERT_WEBHOOK_URL") {
		t.Errorf("a webhook receiver without URL: %d failed\n%s", r.failed, out.String())
	}
	dot = strings.Replace(dot, "ALERT_WEBHOOK_URL=", "ALERT_WEBHOOK_URL="+secret, 1)
	if err := os.WriteFile(filepath.Join(root, "deploy", ".env"), []byte(dot), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	r = &reporter{w: &out}
	checkAlertmanager(context.Background(), root, amtool, r)
	if r.failed != 0 || !strings.Contains(out.String(), "amtool check-config deploy/.env (every alert to webhook)") || strings.Contains(out.String(), "s3cr3t") {
		t.Errorf("webhook .env: %d failed\n%s", r.failed, out.String())
	}
	out.Reset()
	r = &reporter{w: &out}
	checkAlertmanager(context.Background(), root, "", r)
	if !strings.Contains(out.String(), "prometheus-alertmanager") {
		t.Errorf("no amtool: %s", out.String())
	}
}
