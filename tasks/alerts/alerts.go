// Package alerts generates the Alertmanager configuration of the stack from
// deploy/.env (the ALERT_* keys), sends a test alert through a running
// Alertmanager and tells whether it was delivered, and reads Alertmanager's
// state for `mage status`.
//
// Alertmanager does not expand environment variables in its configuration,
// so `mage up:*` writes deploy/alertmanager/alertmanager.yml (git-ignored,
// mode 0600: it holds the receivers' URLs and passwords) before compose
// starts; the container mounts it read-only. Nothing here prints a secret:
// errors name keys, never their values.
package alerts

import (
	"bytes"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The keys of deploy/.env that configure the receivers.
const (
	KeyReceiver          = "ALERT_RECEIVER"        // none, webhook, slack or email: every alert
	KeyPageReceiver      = "ALERT_PAGE_RECEIVER"   // "" = ALERT_RECEIVER; severity=page alerts
	KeyTicketReceiver    = "ALERT_TICKET_RECEIVER" // "" = ALERT_RECEIVER; severity=ticket alerts
	KeyWebhookURL        = "ALERT_WEBHOOK_URL"
	KeySlackWebhookURL   = "ALERT_SLACK_WEBHOOK_URL"
	KeySlackChannel      = "ALERT_SLACK_CHANNEL"
	KeyEmailSmarthost    = "ALERT_EMAIL_SMARTHOST"
	KeyEmailFrom         = "ALERT_EMAIL_FROM"
	KeyEmailTo           = "ALERT_EMAIL_TO"
	KeyEmailAuthUsername = "ALERT_EMAIL_AUTH_USERNAME"
	KeyEmailAuthPassword = "ALERT_EMAIL_AUTH_PASSWORD"
	KeyPort              = "ALERTMANAGER_PORT"
)

// SecretKeys hold values that are never printed: URLs with tokens in them
// (a Slack incoming webhook is its own credential) and the SMTP password.
var SecretKeys = []string{KeyWebhookURL, KeySlackWebhookURL, KeyEmailAuthPassword}

// Kind is a receiver kind; also the name of its receiver in the config and,
// except None, the integration label of Alertmanager's notification metrics.
type Kind string

// The receiver kinds.
const (
	None    Kind = "none"
	Webhook Kind = "webhook"
	Slack   Kind = "slack"
	Email   Kind = "email"
)

// Kinds are the values of ALERT_RECEIVER, in order.
var Kinds = []Kind{None, Webhook, Slack, Email}

// Severities are the values of the severity label of the pack's alerts.
var Severities = []string{"page", "ticket"}

// ConfigPath is where `mage up:*` writes the generated configuration,
// relative to the project root (deploy/compose.yaml mounts its folder).
var ConfigPath = filepath.Join("deploy", "alertmanager", "alertmanager.yml")

// Settings are the receivers of the stack.
type Settings struct {
	// Receiver takes every alert that no severity route takes; Page and
	// Ticket, when not "", take the alerts of that severity.
	Receiver, Page, Ticket Kind

	WebhookURL string

	SlackURL, SlackChannel string

	EmailSmarthost, EmailFrom, EmailTo   string
	EmailAuthUsername, EmailAuthPassword string

	// Timing of the route; zero means Alertmanager's usual 30s, 5m, 4h.
	// The end-to-end test shortens them.
	GroupWait, GroupInterval, RepeatInterval time.Duration
}

// For returns the receiver kind that takes alerts of severity sev.
func (s Settings) For(sev string) Kind {
	switch {
	case sev == "page" && s.Page != "":
		return s.Page
	case sev == "ticket" && s.Ticket != "":
		return s.Ticket
	}
	if s.Receiver == "" {
		return None
	}
	return s.Receiver
}

// Problem is one thing wrong with the settings, by key; Msg never holds a
// value of a secret key.
type Problem struct{ Key, Msg string }

func (p Problem) Error() string { return p.Key + ": " + p.Msg }

// Problems is every problem of one set of settings.
type Problems []Problem

func (ps Problems) Error() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.Error()
	}
	return "alert receivers: " + strings.Join(s, "; ")
}

// FromEnv reads the settings from the .env values (get returns "" for an
// unset key) and checks them: each receiver that a route uses must have
// the keys it needs, well formed.
func FromEnv(get func(string) string) (Settings, error) {
	s := Settings{
		Receiver:          Kind(get(KeyReceiver)),
		Page:              Kind(get(KeyPageReceiver)),
		Ticket:            Kind(get(KeyTicketReceiver)),
		WebhookURL:        get(KeyWebhookURL),
		SlackURL:          get(KeySlackWebhookURL),
		SlackChannel:      get(KeySlackChannel),
		EmailSmarthost:    get(KeyEmailSmarthost),
		EmailFrom:         get(KeyEmailFrom),
		EmailTo:           get(KeyEmailTo),
		EmailAuthUsername: get(KeyEmailAuthUsername),
		EmailAuthPassword: get(KeyEmailAuthPassword),
	}
	if ps := s.Check(); len(ps) > 0 {
		return s, ps
	}
	return s, nil
}

// Check returns every problem of s: an unknown receiver kind, or a used
// receiver whose keys are missing or malformed.
func (s Settings) Check() Problems {
	var ps Problems
	for _, c := range []struct {
		key      string
		k        Kind
		optional bool
	}{{KeyReceiver, s.Receiver, false}, {KeyPageReceiver, s.Page, true}, {KeyTicketReceiver, s.Ticket, true}} {
		if c.k == "" && c.optional {
			continue
		}
		if !validKind(c.k) {
			msg := fmt.Sprintf("%q is not a receiver; expected one of %s", string(c.k), kindList())
			if c.optional {
				msg += ", or empty for " + KeyReceiver + "'s"
			}
			ps = append(ps, Problem{c.key, msg})
		}
	}
	if len(ps) > 0 {
		return ps
	}
	used := map[Kind]bool{}
	for _, sev := range Severities {
		used[s.For(sev)] = true
	}
	used[s.For("")] = true
	if used[Webhook] {
		ps = append(ps, checkURL(KeyWebhookURL, s.WebhookURL, "webhook")...)
	}
	if used[Slack] {
		ps = append(ps, checkURL(KeySlackWebhookURL, s.SlackURL, "slack")...)
	}
	if used[Email] {
		if s.EmailSmarthost == "" {
			ps = append(ps, Problem{KeyEmailSmarthost, "is empty but the email receiver is used; give the SMTP server as host:port, e.g. smtp.example.com:587"})
		} else if h, p, err := net.SplitHostPort(s.EmailSmarthost); err != nil || h == "" || p == "" {
			ps = append(ps, Problem{KeyEmailSmarthost, fmt.Sprintf("%q is not host:port; expected e.g. smtp.example.com:587", s.EmailSmarthost)})
		}
		for _, a := range []struct{ key, v string }{{KeyEmailFrom, s.EmailFrom}, {KeyEmailTo, s.EmailTo}} {
			if a.v == "" {
				ps = append(ps, Problem{a.key, "is empty but the email receiver is used; give an address, e.g. oncall@example.com"})
			} else if _, err := mail.ParseAddressList(a.v); err != nil {
				ps = append(ps, Problem{a.key, fmt.Sprintf("%q is not an email address (or comma-separated list); expected e.g. oncall@example.com", a.v)})
			}
		}
		if s.EmailAuthPassword != "" && s.EmailAuthUsername == "" {
			ps = append(ps, Problem{KeyEmailAuthUsername, "is empty but " + KeyEmailAuthPassword + " is set; give the SMTP user name, or clear the password"})
		}
	}
	return ps
}

func checkURL(key, v, what string) Problems {
	if v == "" {
		return Problems{{key, "is empty but the " + what + " receiver is used; give its URL (it is never printed)"}}
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Problems{{key, "is not an http:// or https:// URL (the value is not shown)"}}
	}
	if what == "slack" && u.Scheme != "https" {
		return Problems{{key, "must be an https:// URL, as Slack's incoming webhooks are (the value is not shown)"}}
	}
	return nil
}

func validKind(k Kind) bool {
	for _, c := range Kinds {
		if k == c {
			return true
		}
	}
	return false
}

func kindList() string {
	s := make([]string, len(Kinds))
	for i, k := range Kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// The configuration's structure (the subset the pack writes).
type amConfig struct {
	Route        amRoute    `yaml:"route"`
	Receivers    []receiver `yaml:"receivers"`
	InhibitRules []inhibit  `yaml:"inhibit_rules"`
}

type amRoute struct {
	Receiver       string    `yaml:"receiver"`
	GroupBy        []string  `yaml:"group_by,omitempty,flow"`
	GroupWait      string    `yaml:"group_wait,omitempty"`
	GroupInterval  string    `yaml:"group_interval,omitempty"`
	RepeatInterval string    `yaml:"repeat_interval,omitempty"`
	Matchers       []string  `yaml:"matchers,omitempty"`
	Routes         []amRoute `yaml:"routes,omitempty"`
}

type receiver struct {
	Name    string        `yaml:"name"`
	Webhook []webhookConf `yaml:"webhook_configs,omitempty"`
	Slack   []slackConf   `yaml:"slack_configs,omitempty"`
	Email   []emailConf   `yaml:"email_configs,omitempty"`
}

type webhookConf struct {
	SendResolved bool   `yaml:"send_resolved"`
	URL          string `yaml:"url"`
}

type slackConf struct {
	SendResolved bool   `yaml:"send_resolved"`
	APIURL       string `yaml:"api_url"`
	Channel      string `yaml:"channel,omitempty"`
	Title        string `yaml:"title"`
	Text         string `yaml:"text"`
}

type emailConf struct {
	SendResolved bool   `yaml:"send_resolved"`
	To           string `yaml:"to"`
	From         string `yaml:"from"`
	Smarthost    string `yaml:"smarthost"`
	AuthUsername string `yaml:"auth_username,omitempty"`
	AuthPassword string `yaml:"auth_password,omitempty"`
}

type inhibit struct {
	SourceMatchers []string `yaml:"source_matchers,flow"`
	TargetMatchers []string `yaml:"target_matchers,flow"`
	Equal          []string `yaml:"equal,flow"`
}

// GroupBy is how the pack's route groups alerts: one notification per
// alert, SLO, job and model.
var GroupBy = []string{"alertname", "slo", "job", "model"}

// ReceiverName is the name of a kind's receiver in the configuration; the
// none kind is Alertmanager's usual "null" receiver, which sends nothing.
func ReceiverName(k Kind) string {
	if k == None || k == "" {
		return "null"
	}
	return string(k)
}

const header = `# Generated by mage up:* from deploy/.env (the ALERT_* keys, tasks/alerts). Do not edit:
# change deploy/.env and run mage up:* again. It holds the receivers' secrets: keep it private
# (mode 0600, git-ignored).
`

// Config returns the Alertmanager configuration (YAML) for s: a route that
// groups by alertname, slo, job and model, with a route of its own for each
// severity whose receiver differs from the default; one receiver per kind
// used, each sending resolved notifications; and an inhibition that keeps a
// firing page alert from also sending the ticket alert of the same slo,
// job and model.
func Config(s Settings) ([]byte, error) {
	if ps := s.Check(); len(ps) > 0 {
		return nil, ps
	}
	def := s.For("")
	c := amConfig{Route: amRoute{
		Receiver:       ReceiverName(def),
		GroupBy:        GroupBy,
		GroupWait:      duration(s.GroupWait, "30s"),
		GroupInterval:  duration(s.GroupInterval, "5m"),
		RepeatInterval: duration(s.RepeatInterval, "4h"),
	}}
	used := []Kind{def}
	for _, sev := range Severities {
		k := s.For(sev)
		if k == def {
			continue
		}
		c.Route.Routes = append(c.Route.Routes, amRoute{Receiver: ReceiverName(k), Matchers: []string{fmt.Sprintf("severity=%q", sev)}})
		used = append(used, k)
	}
	seen := map[Kind]bool{}
	for _, k := range used {
		if seen[k] {
			continue
		}
		seen[k] = true
		c.Receivers = append(c.Receivers, s.receiver(k))
	}
	c.InhibitRules = []inhibit{{
		SourceMatchers: []string{`severity="page"`},
		TargetMatchers: []string{`severity="ticket"`},
		Equal:          []string{"slo", "job", "model"},
	}}
	var buf bytes.Buffer
	buf.WriteString(header)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("encoding the Alertmanager configuration: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func duration(d time.Duration, def string) string {
	if d <= 0 {
		return def
	}
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", int64(d/time.Second))
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

const (
	slackTitle = `[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .CommonLabels.alertname }} {{ .CommonLabels.severity }}`
	slackText  = `{{ range .Alerts }}{{ .Annotations.summary }}
{{ .Annotations.description }}
{{ end }}`
)

func (s Settings) receiver(k Kind) receiver {
	r := receiver{Name: ReceiverName(k)}
	switch k {
	case Webhook:
		r.Webhook = []webhookConf{{SendResolved: true, URL: s.WebhookURL}}
	case Slack:
		r.Slack = []slackConf{{SendResolved: true, APIURL: s.SlackURL, Channel: s.SlackChannel, Title: slackTitle, Text: slackText}}
	case Email:
		r.Email = []emailConf{{SendResolved: true, To: s.EmailTo, From: s.EmailFrom, Smarthost: s.EmailSmarthost,
			AuthUsername: s.EmailAuthUsername, AuthPassword: s.EmailAuthPassword}}
	}
	return r
}

// Write writes Config(s) to root/ConfigPath with mode 0600 (replacing the
// file whole, so no reader sees half of it) and returns the path.
func Write(root string, s Settings) (string, error) {
	b, err := Config(s)
	if err != nil {
		return "", err
	}
	path := filepath.Join(root, ConfigPath)
	if err := WriteFile(path, b); err != nil {
		return "", err
	}
	return path, nil
}

// WriteFile writes b to path with mode 0600 through a temporary file in
// the same folder.
func WriteFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}

// Sample is a named configuration with placeholder values.
type Sample struct {
	Name     string
	Settings Settings
}

// Samples are one configuration of each receiver kind and a page/ticket
// split, with placeholder URLs and addresses: what `mage check:config`
// gives amtool besides the configuration of deploy/.env.
func Samples() []Sample {
	email := Settings{EmailSmarthost: "smtp.example.com:587", EmailFrom: "alerts@example.com", EmailTo: "oncall@example.com",
		EmailAuthUsername: "alerts", EmailAuthPassword: "placeholder"}
	withEmail := func(s Settings) Settings {
		s.EmailSmarthost, s.EmailFrom, s.EmailTo = email.EmailSmarthost, email.EmailFrom, email.EmailTo
		s.EmailAuthUsername, s.EmailAuthPassword = email.EmailAuthUsername, email.EmailAuthPassword
		return s
	}
	const hook, slack = "https://alerts.example.com/hook", "https://hooks.slack.com/services/T000/B000/placeholder"
	return []Sample{
		{"none", Settings{Receiver: None}},
		{"webhook", Settings{Receiver: Webhook, WebhookURL: hook}},
		{"slack", Settings{Receiver: Slack, SlackURL: slack, SlackChannel: "#llm-oncall"}},
		{"email", withEmail(Settings{Receiver: Email})},
		{"page slack, ticket email", withEmail(Settings{Receiver: None, Page: Slack, Ticket: Email, SlackURL: slack})},
		{"page webhook, others slack", Settings{Receiver: Slack, Page: Webhook, SlackURL: slack, WebhookURL: hook}},
	}
}
