package env

import (
	"strings"
	"testing"
)

// withValues returns the example with some values replaced.
func withValues(t *testing.T, set map[string]string) *File {
	t.Helper()
	f := validExample(t)
	for i, e := range f.Entries {
		if v, ok := set[e.Key]; ok {
			f.Entries[i].Value = v
		}
	}
	return f
}

// The receivers are checked as a whole: each receiver a route uses needs
// its keys; the problems name file, line and key, never a secret.
func TestValidateAlertReceivers(t *testing.T) {
	const hook = "https://hooks.slack.com/services/T0/B0/xoxbS3cretT0ken42"
	const pass = "smtp-Pa55w0rd-secret"
	for _, tc := range []struct {
		name string
		set  map[string]string
		want []string // substrings of the error; none: valid
	}{
		{"example: none", nil, nil},
		{"webhook", map[string]string{"ALERT_RECEIVER": "webhook", "ALERT_WEBHOOK_URL": hook}, nil},
		{"webhook without URL", map[string]string{"ALERT_RECEIVER": "webhook"}, []string{"key ALERT_WEBHOOK_URL: is empty but the webhook receiver is used"}},
		{"page to slack without URL", map[string]string{"ALERT_PAGE_RECEIVER": "slack"}, []string{"key ALERT_SLACK_WEBHOOK_URL: is empty but the slack receiver is used"}},
		{"unknown receiver", map[string]string{"ALERT_TICKET_RECEIVER": "pager"}, []string{`key ALERT_TICKET_RECEIVER: "pager" is not one of none, webhook, slack, email`}},
		{"receiver empty", map[string]string{"ALERT_RECEIVER": ""}, []string{"key ALERT_RECEIVER:"}},
		{"URL not http", map[string]string{"ALERT_RECEIVER": "webhook", "ALERT_WEBHOOK_URL": "hooks/" + pass}, []string{"key ALERT_WEBHOOK_URL: is not an http:// or https:// URL (the value is not shown)"}},
		{"slack over http", map[string]string{"ALERT_RECEIVER": "slack", "ALERT_SLACK_WEBHOOK_URL": "http://x.example/" + pass}, []string{"key ALERT_SLACK_WEBHOOK_URL: must be an https:// URL"}},
		{"email incomplete", map[string]string{"ALERT_TICKET_RECEIVER": "email", "ALERT_EMAIL_SMARTHOST": "smtp.example.com", "ALERT_EMAIL_AUTH_PASSWORD": pass},
			[]string{"key ALERT_EMAIL_SMARTHOST: \"smtp.example.com\" is not host:port", "key ALERT_EMAIL_FROM: is empty", "key ALERT_EMAIL_TO: is empty", "key ALERT_EMAIL_AUTH_USERNAME: is empty but ALERT_EMAIL_AUTH_PASSWORD is set"}},
		{"email", map[string]string{"ALERT_TICKET_RECEIVER": "email", "ALERT_EMAIL_SMARTHOST": "smtp.example.com:587", "ALERT_EMAIL_FROM": "a@example.com",
			"ALERT_EMAIL_TO": "b@example.com", "ALERT_EMAIL_AUTH_USERNAME": "a", "ALERT_EMAIL_AUTH_PASSWORD": pass}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(withValues(t, tc.set))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			if !strings.Contains(msg, "env.example:") {
				t.Errorf("error without file and line: %s", msg)
			}
			for _, leak := range []string{pass, "S3cret", "hooks.slack.com"} {
				if strings.Contains(msg, leak) {
					t.Errorf("error prints a secret (%q): %s", leak, msg)
				}
			}
		})
	}
	for _, k := range []string{"ALERT_WEBHOOK_URL", "ALERT_SLACK_WEBHOOK_URL", "ALERT_EMAIL_AUTH_PASSWORD"} {
		if !IsSecret(k) {
			t.Errorf("%s is not secret", k)
		}
	}
	if IsSecret("ALERT_SLACK_CHANNEL") {
		t.Error("ALERT_SLACK_CHANNEL is taken for a secret")
	}
}
