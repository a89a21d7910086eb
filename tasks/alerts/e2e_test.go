package alerts_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/alerts"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/configcheck"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/dash"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/needs"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/sim"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/testio"
)

// e2eTimeScale shortens the rule windows through the rules generator: the
// page alert's windows 1h/5m and 6h/30m become 1m/5s and 6m/30s, so the
// alert resolves about half a minute after the errors stop.
const e2eTimeScale = 60

// webhookMsg is the part of Alertmanager's webhook payload the test reads.
type webhookMsg struct {
	Receiver string `json:"receiver"`
	Status   string `json:"status"`
	Alerts   []struct {
		Status string            `json:"status"`
		Labels map[string]string `json:"labels"`
	} `json:"alerts"`
}

// TestEndToEndPageReachesWebhook: the simulator (vLLM personality) answers
// half of its requests with HTTP 500 under a load generator; a real
// Prometheus (Debian's prometheus) scrapes it every second and evaluates
// the pack's rules (from dash.RulesWith, windows divided by 60) and sends
// to a real Alertmanager (Debian's prometheus-alertmanager) whose
// configuration is alerts.Config's, webhook receiver pointed at this test.
// The availability page alert must arrive at the webhook, its ticket alert
// must not while the page fires (inhibition), and once the simulator is
// restarted without errors the page alert must arrive resolved.
func TestEndToEndPageReachesWebhook(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test with a real Prometheus and Alertmanager: skipped in -short mode")
	}
	promBin := needs.Tool(t, "prometheus")
	amBin := needs.Tool(t, "prometheus-alertmanager", "alertmanager")
	ctx, cancel := context.WithTimeout(context.Background(), 110*time.Second)
	defer cancel()
	start := time.Now()
	dir := t.TempDir()

	// The webhook receiver.
	msgs := make(chan webhookMsg, 100)
	var mu sync.Mutex
	var all []webhookMsg
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m webhookMsg
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		all = append(all, m)
		mu.Unlock()
		msgs <- m
	}))
	defer hook.Close()

	// Alertmanager with the generator's configuration.
	amCfg, err := alerts.Config(alerts.Settings{Receiver: alerts.Webhook, WebhookURL: hook.URL + "/alerts",
		GroupWait: time.Second, GroupInterval: time.Second, RepeatInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	amPath := filepath.Join(dir, "alertmanager.yml")
	if err := alerts.WriteFile(amPath, amCfg); err != nil {
		t.Fatal(err)
	}
	amAddr := testio.FreeAddr(t)
	startProcess(ctx, t, "alertmanager", amBin, "--config.file="+amPath, "--storage.path="+filepath.Join(dir, "am"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=", "--log.level=debug")

	// The simulator, with errors, on a fixed address so that it can be
	// restarted without them; a load generator against it.
	simAddr := testio.FreeAddr(t)
	startSim := func(rate float64) (context.CancelFunc, <-chan struct{}) {
		cfg := configcheck.SimConfig(sim.PersonalityVLLM)
		cfg.Addr, cfg.MetricsAddr, cfg.DCGMAddr = simAddr, "", ""
		cfg.ErrorRate = rate
		srv, err := sim.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		sctx, scancel := context.WithCancel(ctx)
		run, err := srv.Start(sctx)
		if err != nil {
			scancel()
			t.Fatal(err)
		}
		return scancel, run.Done
	}
	stopSim, simDone := startSim(0.5)
	lcfg := configcheck.SimConfig(sim.PersonalityVLLM)
	o := configcheck.LoadOptions(sim.PersonalityVLLM, lcfg, "http://"+simAddr)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.MetricsListener, o.Concurrency, o.MaxTokens, o.Seed = ln, 4, 8, 7
	lctx, lcancel := context.WithCancel(ctx)
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		_, _ = load.Run(lctx, o) // until canceled; its errors show as a missing alert below
	}()
	defer func() { lcancel(); <-loadDone }()

	// Prometheus: the generator's rules, scaled; alerts to Alertmanager.
	rules, err := dash.RulesWith(dash.RulesOptions{TimeScale: e2eTimeScale})
	if err != nil {
		t.Fatal(err)
	}
	rulesPath := filepath.Join(dir, "slo.yml")
	if err := os.WriteFile(rulesPath, rules, 0o644); err != nil {
		t.Fatal(err)
	}
	promCfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
alerting:
  alertmanagers:
    - static_configs:
        - targets: [%q]
rule_files: [%q]
scrape_configs:
  - job_name: vllm
    static_configs:
      - targets: [%q]
        labels: {backend: vllm}
`, amAddr, rulesPath, simAddr)
	promPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(promPath, []byte(promCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	promAddr := testio.FreeAddr(t)
	startProcess(ctx, t, "prometheus", promBin, "--config.file="+promPath, "--storage.tsdb.path="+filepath.Join(dir, "prom"),
		"--web.listen-address="+promAddr, "--rules.alert.resend-delay=1s", "--log.level=warn")

	isPage := func(a map[string]string) bool {
		return a["alertname"] == "LLMAvailabilityBudgetBurn" && a["severity"] == "page" && a["job"] == "vllm" && a["slo"] == "availability"
	}
	// 1. The page alert arrives, firing; its ticket alert is inhibited.
	pageResolved := false
	wait := func(what string, ok func(status string, labels map[string]string) bool) time.Duration {
		t.Helper()
		for {
			select {
			case <-ctx.Done():
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("%s: not received at the webhook within the test's time (%v); received: %+v", what, ctx.Err(), all)
			case m := <-msgs:
				if m.Receiver != alerts.ReceiverName(alerts.Webhook) {
					t.Errorf("notification from receiver %q, want %q", m.Receiver, alerts.ReceiverName(alerts.Webhook))
				}
				// Page and ticket alerts of one SLO, job and model are one
				// group: the ticket may come with the page's resolution.
				for _, a := range m.Alerts {
					if isPage(a.Labels) && a.Status == "resolved" {
						pageResolved = true
					}
				}
				for _, a := range m.Alerts {
					if a.Labels["severity"] == "ticket" && a.Labels["slo"] == "availability" && a.Status == "firing" && !pageResolved {
						t.Errorf("the availability ticket alert was sent while its page alert fired (no inhibition): %v", a.Labels)
					}
				}
				for _, a := range m.Alerts {
					if ok(a.Status, a.Labels) {
						return time.Since(start)
					}
				}
			}
		}
	}
	fired := wait("the availability page alert, firing", func(st string, l map[string]string) bool { return st == "firing" && isPage(l) })
	if m := modelOf(all); m != lcfg.ServedModelName {
		t.Errorf("page alert for model %q, want %q", m, lcfg.ServedModelName)
	}
	t.Logf("page alert at the webhook after %s", fired.Round(100*time.Millisecond))

	// Alertmanager holds the ticket alert of the same burn, inhibited by
	// the page (what mage status shows).
	am := alerts.Client{URL: "http://" + amAddr}
	for inhibited := false; !inhibited; {
		as, err := am.Alerts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			if a.Labels["alertname"] == "LLMAvailabilityBudgetBurn" && a.Labels["severity"] == "ticket" && a.Labels["job"] == "vllm" {
				inhibited = a.Status.State == "suppressed" && len(a.Status.InhibitedBy) > 0
				if !inhibited {
					t.Fatalf("ticket alert not inhibited by the firing page: %+v", a.Status)
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no ticket alert in Alertmanager: %+v", as)
		case <-time.After(200 * time.Millisecond):
		}
	}
	if st, err := am.Status(ctx); err != nil || st.Cluster.Status != "disabled" || st.Uptime.IsZero() {
		t.Errorf("status %+v, %v", st, err)
	}

	// 2. The errors stop: the simulator restarts without them.
	stopSim()
	<-simDone
	stopSim, simDone = startSim(0)
	defer func() { stopSim(); <-simDone }()
	restarted := time.Since(start)
	resolved := wait("the availability page alert, resolved", func(st string, l map[string]string) bool { return st == "resolved" && isPage(l) })
	t.Logf("errors stopped at %s; page alert resolved at the webhook after %s", restarted.Round(100*time.Millisecond), resolved.Round(100*time.Millisecond))
}

func modelOf(ms []webhookMsg) string {
	for _, m := range ms {
		for _, a := range m.Alerts {
			if a.Labels["alertname"] == "LLMAvailabilityBudgetBurn" {
				return a.Labels["model"]
			}
		}
	}
	return ""
}

// startProcess runs bin until the test ends and waits until it is ready
// (its /-/ready answers 200); its log is shown when the test fails.
func startProcess(ctx context.Context, t *testing.T, name, bin string, args ...string) {
	t.Helper()
	var logBuf testio.SyncBuffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s log (last 4000 bytes):\n%s", name, tail(logBuf.String(), 4000))
		}
	})
	var addr string
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--web.listen-address="); ok {
			addr = v
		}
	}
	for {
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s did not become ready: %v\n%s", name, ctx.Err(), tail(logBuf.String(), 4000))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
