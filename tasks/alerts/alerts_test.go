package alerts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/needs"
)

const (
	secretHook  = "https://hooks.example.com/services/T000/B000/s3cr3tW3bh00kT0ken"
	secretSlack = "https://hooks.slack.com/services/T111/B111/sl4ckT0kenV4lue99"
	secretPass  = "smtp-p4ssw0rd-do-not-print"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// cases are the configurations amtool must accept: each receiver kind,
// none, and a page/ticket split.
var cases = []struct {
	name      string
	env       map[string]string
	def       string            // the top route's receiver
	routes    map[string]string // severity -> receiver of its own route
	receivers []string
	secrets   []string
}{
	{name: "none", env: map[string]string{KeyReceiver: "none"}, def: "null", receivers: []string{"null"}},
	{name: "webhook", env: map[string]string{KeyReceiver: "webhook", KeyWebhookURL: secretHook}, def: "webhook", receivers: []string{"webhook"}, secrets: []string{secretHook}},
	{name: "slack", env: map[string]string{KeyReceiver: "slack", KeySlackWebhookURL: secretSlack, KeySlackChannel: "#llm-oncall"}, def: "slack", receivers: []string{"slack"}, secrets: []string{secretSlack}},
	{name: "email", env: map[string]string{KeyReceiver: "email", KeyEmailSmarthost: "smtp.example.com:587", KeyEmailFrom: "alerts@example.com",
		KeyEmailTo: "oncall@example.com, team@example.com", KeyEmailAuthUsername: "alerts", KeyEmailAuthPassword: secretPass},
		def: "email", receivers: []string{"email"}, secrets: []string{secretPass}},
	{name: "page slack, ticket email, rest none", env: map[string]string{KeyReceiver: "none", KeyPageReceiver: "slack", KeyTicketReceiver: "email",
		KeySlackWebhookURL: secretSlack, KeyEmailSmarthost: "smtp.example.com:25", KeyEmailFrom: "a@example.com", KeyEmailTo: "b@example.com"},
		def: "null", routes: map[string]string{"page": "slack", "ticket": "email"}, receivers: []string{"null", "slack", "email"}, secrets: []string{secretSlack}},
	{name: "page webhook, the rest slack", env: map[string]string{KeyReceiver: "slack", KeyPageReceiver: "webhook", KeyTicketReceiver: "slack",
		KeySlackWebhookURL: secretSlack, KeyWebhookURL: secretHook},
		def: "slack", routes: map[string]string{"page": "webhook"}, receivers: []string{"slack", "webhook"}, secrets: []string{secretSlack, secretHook}},
}

type parsed struct {
	Route struct {
		Receiver       string   `yaml:"receiver"`
		GroupBy        []string `yaml:"group_by"`
		GroupWait      string   `yaml:"group_wait"`
		GroupInterval  string   `yaml:"group_interval"`
		RepeatInterval string   `yaml:"repeat_interval"`
		Routes         []struct {
			Receiver string   `yaml:"receiver"`
			Matchers []string `yaml:"matchers"`
		} `yaml:"routes"`
	} `yaml:"route"`
	Receivers []map[string]any `yaml:"receivers"`
	Inhibit   []struct {
		Source []string `yaml:"source_matchers"`
		Target []string `yaml:"target_matchers"`
		Equal  []string `yaml:"equal"`
	} `yaml:"inhibit_rules"`
}

func TestConfig(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := FromEnv(envOf(c.env))
			if err != nil {
				t.Fatal(err)
			}
			b, err := Config(s)
			if err != nil {
				t.Fatal(err)
			}
			var p parsed
			if err := yaml.Unmarshal(b, &p); err != nil {
				t.Fatalf("%v\n%s", err, b)
			}
			if p.Route.Receiver != c.def {
				t.Errorf("top receiver %q, want %q", p.Route.Receiver, c.def)
			}
			if strings.Join(p.Route.GroupBy, ",") != "alertname,slo,job,model" {
				t.Errorf("group_by %v", p.Route.GroupBy)
			}
			if p.Route.GroupWait != "30s" || p.Route.GroupInterval != "5m" || p.Route.RepeatInterval != "4h" {
				t.Errorf("timing %s %s %s", p.Route.GroupWait, p.Route.GroupInterval, p.Route.RepeatInterval)
			}
			routes := map[string]string{}
			for _, r := range p.Route.Routes {
				if len(r.Matchers) != 1 {
					t.Fatalf("route matchers %v", r.Matchers)
				}
				sev := strings.TrimSuffix(strings.TrimPrefix(r.Matchers[0], `severity="`), `"`)
				routes[sev] = r.Receiver
			}
			if len(routes) != len(c.routes) {
				t.Errorf("routes %v, want %v", routes, c.routes)
			}
			for sev, want := range c.routes {
				if routes[sev] != want {
					t.Errorf("severity %s goes to %q, want %q", sev, routes[sev], want)
				}
			}
			var names []string
			for _, r := range p.Receivers {
				names = append(names, r["name"].(string))
				for k, v := range r {
					if k == "name" {
						continue
					}
					for _, ic := range v.([]any) {
						if ic.(map[string]any)["send_resolved"] != true {
							t.Errorf("receiver %s %s: send_resolved not true", r["name"], k)
						}
					}
				}
			}
			if strings.Join(names, ",") != strings.Join(c.receivers, ",") {
				t.Errorf("receivers %v, want %v", names, c.receivers)
			}
			if len(p.Inhibit) != 1 || strings.Join(p.Inhibit[0].Source, "") != `severity="page"` ||
				strings.Join(p.Inhibit[0].Target, "") != `severity="ticket"` || strings.Join(p.Inhibit[0].Equal, ",") != "slo,job,model" {
				t.Errorf("inhibit rules %+v", p.Inhibit)
			}
			for _, sec := range c.secrets {
				if !strings.Contains(string(b), sec) {
					t.Errorf("the secret of the receiver is not in the config")
				}
			}
		})
	}
}

// TestAmtoolCheckConfig runs Debian's amtool (package prometheus-alertmanager)
// on every generated configuration.
func TestAmtoolCheckConfig(t *testing.T) {
	amtool := needs.Tool(t, "amtool")
	dir := t.TempDir()
	for i, c := range cases {
		s, err := FromEnv(envOf(c.env))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".yml")
		if _, err := writeTo(path, s); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(amtool, "check-config", path).CombinedOutput()
		if err != nil {
			t.Errorf("case %d %s: amtool check-config: %v\n%s", i, c.name, err, out)
		} else if !strings.Contains(string(out), "SUCCESS") {
			t.Errorf("case %d %s: amtool said %s", i, c.name, out)
		}
	}
	// The samples check:config gives amtool; and amtool does fail on a
	// broken file (so that SUCCESS above means something).
	for _, sm := range Samples() {
		path := filepath.Join(dir, "sample.yml")
		if _, err := writeTo(path, sm.Settings); err != nil {
			t.Fatalf("sample %s: %v", sm.Name, err)
		}
		if out, err := exec.Command(amtool, "check-config", path).CombinedOutput(); err != nil {
			t.Errorf("sample %s: amtool check-config: %v\n%s", sm.Name, err, out)
		}
	}
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("route:\n  receiver: nowhere\nreceivers: [{name: x}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(amtool, "check-config", bad).CombinedOutput(); err == nil {
		t.Errorf("amtool accepted a route to an undefined receiver:\n%s", out)
	}
}

func writeTo(path string, s Settings) (string, error) {
	b, err := Config(s)
	if err != nil {
		return "", err
	}
	return path, WriteFile(path, b)
}

func TestWriteMode0600(t *testing.T) {
	root := t.TempDir()
	dst := filepath.Join(root, ConfigPath)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, _ := FromEnv(envOf(cases[1].env))
	path, err := Write(root, s)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), secretHook) {
		t.Error("written file lacks the webhook URL")
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestTiming(t *testing.T) {
	s, _ := FromEnv(envOf(cases[0].env))
	s.GroupWait, s.GroupInterval, s.RepeatInterval = 1e9, 2e9, 3600e9
	b, err := Config(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"group_wait: 1s", "group_interval: 2s", "repeat_interval: 3600s"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("config lacks %q:\n%s", want, b)
		}
	}
}

// TestProblemsNeverShowSecrets: every bad setting is reported by key with
// the fix, and no message holds a secret value.
func TestProblemsNeverShowSecrets(t *testing.T) {
	bad := []struct {
		env  map[string]string
		keys []string
	}{
		{map[string]string{KeyReceiver: "pagerduty"}, []string{KeyReceiver}},
		{map[string]string{KeyReceiver: ""}, []string{KeyReceiver}},
		{map[string]string{KeyReceiver: "none", KeyPageReceiver: "sms"}, []string{KeyPageReceiver}},
		{map[string]string{KeyReceiver: "webhook"}, []string{KeyWebhookURL}},
		{map[string]string{KeyReceiver: "webhook", KeyWebhookURL: "ftp://x/" + secretPass}, []string{KeyWebhookURL}},
		{map[string]string{KeyReceiver: "none", KeyPageReceiver: "slack", KeySlackWebhookURL: "http://hooks.slack.com/" + secretPass}, []string{KeySlackWebhookURL}},
		{map[string]string{KeyReceiver: "email", KeyEmailSmarthost: "smtp.example.com", KeyEmailFrom: "not an address", KeyEmailAuthPassword: secretPass},
			[]string{KeyEmailSmarthost, KeyEmailFrom, KeyEmailTo, KeyEmailAuthUsername}},
	}
	for i, c := range bad {
		_, err := FromEnv(envOf(c.env))
		if err == nil {
			t.Errorf("case %d: no error", i)
			continue
		}
		ps, ok := err.(Problems)
		if !ok {
			t.Fatalf("case %d: %T", i, err)
		}
		var got []string
		for _, p := range ps {
			got = append(got, p.Key)
		}
		if strings.Join(got, ",") != strings.Join(c.keys, ",") {
			t.Errorf("case %d: problems with %v, want %v (%v)", i, got, c.keys, err)
		}
		if strings.Contains(err.Error(), secretPass) {
			t.Errorf("case %d: the error shows a secret: %v", i, err)
		}
		if _, err := Config(Settings{Receiver: Kind(c.env[KeyReceiver])}); err == nil && c.env[KeyReceiver] != "none" {
			t.Errorf("case %d: Config accepted settings that Check refuses", i)
		}
	}
	// A receiver that no route uses needs no keys.
	if _, err := FromEnv(envOf(map[string]string{KeyReceiver: "none", KeyTicketReceiver: "none"})); err != nil {
		t.Errorf("none needs no keys: %v", err)
	}
}
