package alerts

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Describe says which receiver takes which alerts, without any secret:
// "every alert to webhook", or "page to slack (#oncall), ticket to email,
// other alerts to none".
func (s Settings) Describe() string {
	name := func(k Kind) string {
		switch k {
		case Slack:
			if s.SlackChannel != "" {
				return "slack (" + s.SlackChannel + ")"
			}
		case Email:
			return "email (to " + s.EmailTo + ")"
		case None:
			return "none (visible in Alertmanager's UI and mage status)"
		}
		return string(k)
	}
	def, page, ticket := s.For(""), s.For("page"), s.For("ticket")
	if page == def && ticket == def {
		return "every alert to " + name(def)
	}
	var parts []string
	if page != def {
		parts = append(parts, "page alerts to "+name(page))
	}
	if ticket != def {
		parts = append(parts, "ticket alerts to "+name(ticket))
	}
	return strings.Join(parts, ", ") + ", other alerts to " + name(def)
}

// Client talks to one Alertmanager.
type Client struct {
	URL  string // base, e.g. http://127.0.0.1:9093
	HTTP *http.Client
}

func (c Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 10 * time.Second}
}

func (c Client) do(ctx context.Context, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.URL, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s answered %s: %s", method, req.URL.Path, resp.Status, strings.TrimSpace(string(truncate(b, 300))))
	}
	return b, nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return append(b[:n:n], "..."...)
	}
	return b
}

// Reload makes Alertmanager read its configuration file again.
func (c Client) Reload(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodPost, "/-/reload", nil)
	return err
}

// Status is the part of /api/v2/status that `mage status` shows.
type Status struct {
	Cluster struct {
		Status string `json:"status"` // ready, settling or disabled
	} `json:"cluster"`
	Uptime      time.Time `json:"uptime"` // when it started
	VersionInfo struct {
		Version string `json:"version"`
	} `json:"versionInfo"`
}

// Status reads /api/v2/status.
func (c Client) Status(ctx context.Context) (Status, error) {
	var s Status
	b, err := c.do(ctx, http.MethodGet, "/api/v2/status", nil)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("decoding /api/v2/status: %w", err)
	}
	return s, nil
}

// Alert is one alert as /api/v2/alerts returns it.
type Alert struct {
	Labels   map[string]string `json:"labels"`
	StartsAt time.Time         `json:"startsAt"`
	EndsAt   time.Time         `json:"endsAt"`
	Status   struct {
		State       string   `json:"state"` // active, suppressed, unprocessed
		InhibitedBy []string `json:"inhibitedBy"`
		SilencedBy  []string `json:"silencedBy"`
	} `json:"status"`
}

// Alerts reads the alerts Alertmanager holds (active, and suppressed ones
// too: those inhibited by a page, or silenced), oldest first.
func (c Client) Alerts(ctx context.Context) ([]Alert, error) {
	b, err := c.do(ctx, http.MethodGet, "/api/v2/alerts", nil)
	if err != nil {
		return nil, err
	}
	var as []Alert
	if err := json.Unmarshal(b, &as); err != nil {
		return nil, fmt.Errorf("decoding /api/v2/alerts: %w", err)
	}
	sort.SliceStable(as, func(i, j int) bool { return as[i].StartsAt.Before(as[j].StartsAt) })
	return as, nil
}

// Post sends alerts to /api/v2/alerts.
func (c Client) Post(ctx context.Context, as []PostableAlert) error {
	_, err := c.do(ctx, http.MethodPost, "/api/v2/alerts", as)
	return err
}

// PostableAlert is an alert as the API v2 takes it.
type PostableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Counts are Alertmanager's notification counters of one integration.
type Counts struct {
	// Total and Failed: alertmanager_notifications_total and
	// alertmanager_notifications_failed_total, one per notification (its
	// failure counts once Alertmanager stops retrying it).
	Total, Failed float64
	// Requests and RequestsFailed: alertmanager_notification_requests_total
	// and ..._failed_total, one per attempt: a request that did not fail is
	// a delivery, a failed one is the receiver's error, at once.
	Requests, RequestsFailed float64
	// Reasons: failed notifications by the reason label (Alertmanager 0.27+).
	Reasons map[string]float64
}

// Notifications reads the notification counters (alertmanager_notifications_*
// and alertmanager_notification_requests_*) from /metrics, summed by
// integration.
func (c Client) Notifications(ctx context.Context) (map[string]Counts, error) {
	b, err := c.do(ctx, http.MethodGet, "/metrics", nil)
	if err != nil {
		return nil, err
	}
	return ParseNotifications(b), nil
}

var (
	integrationRE = regexp.MustCompile(`integration="([^"]*)"`)
	reasonRE      = regexp.MustCompile(`reason="([^"]*)"`)
)

// ParseNotifications reads the notification counters from a metrics page.
func ParseNotifications(page []byte) map[string]Counts {
	out := map[string]Counts{}
	sc := bufio.NewScanner(bytes.NewReader(page))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, _, ok := strings.Cut(line, "{")
		if !ok {
			continue
		}
		var field func(*Counts) *float64
		switch name {
		case "alertmanager_notifications_total":
			field = func(c *Counts) *float64 { return &c.Total }
		case "alertmanager_notifications_failed_total":
			field = func(c *Counts) *float64 { return &c.Failed }
		case "alertmanager_notification_requests_total":
			field = func(c *Counts) *float64 { return &c.Requests }
		case "alertmanager_notification_requests_failed_total":
			field = func(c *Counts) *float64 { return &c.RequestsFailed }
		default:
			continue
		}
		end := strings.LastIndexByte(line, '}')
		if end < 0 {
			continue
		}
		m := integrationRE.FindStringSubmatch(line[:end])
		if m == nil {
			continue
		}
		fields := strings.Fields(line[end+1:])
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		cnt := out[m[1]]
		*field(&cnt) += v
		if r := reasonRE.FindStringSubmatch(line[:end]); r != nil && name == "alertmanager_notifications_failed_total" {
			if cnt.Reasons == nil {
				cnt.Reasons = map[string]float64{}
			}
			cnt.Reasons[r[1]] += v
		}
		out[m[1]] = cnt
	}
	return out
}

// TestAlertName is the alertname of `mage alerts:test`'s alert.
const TestAlertName = "LLMObservabilityPackTest"

// TestOptions configure SendTest.
type TestOptions struct {
	Client   Client
	Settings Settings
	Severity string        // page or ticket
	Timeout  time.Duration // how long to wait for the notification; 0: 2 minutes
	Poll     time.Duration // 0: 1 s
	EndsIn   time.Duration // the alert's endsAt from now; 0: 3 minutes
	// Logs returns Alertmanager's recent log lines, where the error of a
	// failed notification is; nil or an error: the metrics' reason only.
	Logs func(ctx context.Context) (string, error)
	Out  io.Writer
	Now  func() time.Time
}

// ErrDeliveryFailed is returned when the receiver did not take the test alert.
var ErrDeliveryFailed = errors.New("the test alert was not delivered")

// TestAlert builds the test alert of severity sev: every run is a group of
// its own (its model label carries the run's time), so that Alertmanager
// sends it after group_wait, not after a previous run's group_interval.
func TestAlert(sev string, now time.Time, endsIn time.Duration) PostableAlert {
	return PostableAlert{
		Labels: map[string]string{
			"alertname": TestAlertName,
			"severity":  sev,
			"slo":       "test",
			"job":       "mage-alerts-test",
			"model":     "run-" + now.UTC().Format("20060102T150405Z"),
		},
		Annotations: map[string]string{
			"summary":     "Test alert of llm-observability-pack (mage alerts:test), severity " + sev,
			"description": "Sent by mage alerts:test to check that alerts reach their receiver; it resolves by itself.",
		},
		StartsAt: now,
		EndsAt:   now.Add(endsIn),
	}
}

// SendTest posts a test alert and tells whether the receiver of its
// severity took it, from the change of Alertmanager's notification
// counters of that integration: "delivered to webhook", or "delivery to
// slack FAILED: <the error>" (and ErrDeliveryFailed). With no receiver it
// says where the alert is visible.
func SendTest(ctx context.Context, o TestOptions) error {
	if o.Severity != "page" && o.Severity != "ticket" {
		return fmt.Errorf("severity %q: expected page or ticket", o.Severity)
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	timeout, poll, endsIn := o.Timeout, o.Poll, o.EndsIn
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	if poll <= 0 {
		poll = time.Second
	}
	if endsIn <= 0 {
		endsIn = 3 * time.Minute
	}
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	kind := o.Settings.For(o.Severity)
	integ := string(kind)
	var before map[string]Counts
	if kind != None {
		var err error
		if before, err = o.Client.Notifications(ctx); err != nil {
			return fmt.Errorf("reading Alertmanager's metrics at %s: %w (is the stack up? mage up:sim)", o.Client.URL, err)
		}
	}
	a := TestAlert(o.Severity, now(), endsIn)
	if err := o.Client.Post(ctx, []PostableAlert{a}); err != nil {
		return fmt.Errorf("sending the test alert to %s: %w (is the stack up? mage up:sim)", o.Client.URL, err)
	}
	fmt.Fprintf(out, "sent %s{severity=%q, model=%q} to Alertmanager at %s (ends at %s)\n",
		TestAlertName, o.Severity, a.Labels["model"], o.Client.URL, a.EndsAt.Format(time.TimeOnly))
	if kind == None {
		fmt.Fprintf(out, "no receiver configured: visible at %s (set ALERT_RECEIVER or ALERT_%s_RECEIVER in deploy/.env, then mage up:*)\n",
			o.Client.URL, strings.ToUpper(o.Severity))
		return nil
	}
	fmt.Fprintf(out, "waiting for Alertmanager to notify %s (after its group_wait, %s) ...\n", integ, durationOr(o.Settings.GroupWait, "30s"))
	deadline := time.After(timeout)
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("%w: Alertmanager sent nothing to %s within %s (see mage logs -service=alertmanager)", ErrDeliveryFailed, integ, timeout)
		case <-tick.C:
		}
		after, err := o.Client.Notifications(ctx)
		if err != nil {
			continue
		}
		b, a := before[integ], after[integ]
		ok, failed := (a.Requests-b.Requests)-(a.RequestsFailed-b.RequestsFailed), a.RequestsFailed-b.RequestsFailed
		switch {
		case ok > 0:
			fmt.Fprintf(out, "delivered to %s\n", integ)
			return nil
		case failed > 0 || a.Failed > b.Failed:
			why := failureReason(ctx, o, integ, b, a)
			fmt.Fprintf(out, "delivery to %s FAILED: %s\n", integ, why)
			return fmt.Errorf("%w to %s: %s", ErrDeliveryFailed, integ, why)
		}
	}
}

func durationOr(d time.Duration, def string) string {
	if d <= 0 {
		return def
	}
	return d.String()
}

var (
	urlRE        = regexp.MustCompile(`[a-z][a-z0-9+.-]*://[^\s"']+`)
	notifyFailRE = regexp.MustCompile(`(?i)notify.*(failed|error)|err(or)?=`)
)

// failureReason is the last error Alertmanager logged for integ (URLs
// removed: they may carry a token), or the reason label of the metrics.
func failureReason(ctx context.Context, o TestOptions, integ string, b, a Counts) string {
	if o.Logs != nil {
		if logs, err := o.Logs(ctx); err == nil {
			if line := LastFailure(logs, integ); line != "" {
				return Redact(ErrOf(line), o.Settings)
			}
		}
	}
	var rs []string
	for r, v := range a.Reasons {
		if v > b.Reasons[r] {
			rs = append(rs, r)
		}
	}
	sort.Strings(rs)
	if len(rs) > 0 {
		return "reason " + strings.Join(rs, ", ") + " (alertmanager_notifications_failed_total; details: mage logs -service=alertmanager)"
	}
	return "alertmanager_notifications_failed_total rose (details: mage logs -service=alertmanager)"
}

// LastFailure returns the last log line that reports a failed
// notification of integ.
func LastFailure(logs, integ string) string {
	lines := strings.Split(logs, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if strings.Contains(l, integ) && notifyFailRE.MatchString(l) {
			return l
		}
	}
	return ""
}

var errFieldRE = regexp.MustCompile(`\berr="((?:[^"\\]|\\.)*)"`)

// ErrOf returns the err="..." field of a logfmt line, or the line.
func ErrOf(line string) string {
	m := errFieldRE.FindStringSubmatch(line)
	if m == nil {
		return line
	}
	if v, err := strconv.Unquote(`"` + m[1] + `"`); err == nil {
		return v
	}
	return m[1]
}

// Redact removes every URL and every secret value of s from line.
func Redact(line string, s Settings) string {
	for _, v := range []string{s.WebhookURL, s.SlackURL, s.EmailAuthPassword} {
		if v != "" {
			line = strings.ReplaceAll(line, v, "(secret)")
		}
	}
	return urlRE.ReplaceAllString(line, "(URL not shown)")
}
