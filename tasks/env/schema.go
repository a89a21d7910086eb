package env

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/alerts"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
)

// Kind is the form a key's value must take.
type Kind int

const (
	String    Kind = iota // any non-empty text
	Image                 // an image reference: name[:tag][@digest]
	Port                  // an integer 1..65535
	PosInt                // an integer > 0
	Fraction              // a number in (0, 1]
	Address               // an IP address to bind published ports to
	Secret                // any text, may be empty, never printed
	Password              // non-empty text, never printed, not a well-known default
	Project               // a compose project name
	Choice                // one of Key.Choices
	SecretURL             // empty, or an http:// or https:// URL; never printed
)

// Key describes one key of deploy/.env.
type Key struct {
	Name    string
	Kind    Kind
	Choices []string
	Doc     string
	// Optional: the empty value is allowed (the key must still be present).
	Optional bool
}

// Keys lists every key the stack reads. deploy/env.example documents the same
// keys (a test keeps the two in step).
var Keys = []Key{
	{Name: "COMPOSE_PROJECT_NAME", Kind: Project, Doc: "compose project name; containers are named after it"},
	{Name: "BIND_ADDRESS", Kind: Address, Doc: "host address that published ports bind to"},
	{Name: "VLLM_IMAGE", Kind: Image},
	{Name: "TRITON_VLLM_IMAGE", Kind: Image},
	{Name: "TRITON_TRTLLM_IMAGE", Kind: Image},
	{Name: "PROMETHEUS_IMAGE", Kind: Image},
	{Name: "GRAFANA_IMAGE", Kind: Image},
	{Name: "DCGM_EXPORTER_IMAGE", Kind: Image},
	{Name: "SIM_IMAGE", Kind: Image},
	{Name: "MODEL_NAME", Kind: String, Doc: "Hugging Face model id"},
	{Name: "SERVED_MODEL_NAME", Kind: String},
	{Name: "MAX_MODEL_LEN", Kind: PosInt},
	{Name: "MAX_NUM_SEQS", Kind: PosInt},
	{Name: "GPU_MEMORY_UTILIZATION", Kind: Fraction},
	{Name: "DTYPE", Kind: Choice, Choices: []string{"auto", "float16", "bfloat16", "half", "float32"}},
	{Name: "HF_TOKEN", Kind: Secret},
	{Name: backend.KeyPersonality, Kind: Choice, Choices: personalities()},
	{Name: "API_PORT", Kind: Port},
	{Name: "GRPC_PORT", Kind: Port},
	{Name: "METRICS_PORT", Kind: Port},
	{Name: "PROMETHEUS_PORT", Kind: Port},
	{Name: "GRAFANA_PORT", Kind: Port},
	{Name: "DCGM_PORT", Kind: Port},
	{Name: "GRAFANA_ADMIN_USER", Kind: String},
	{Name: "GRAFANA_ADMIN_PASSWORD", Kind: Password},
	{Name: "ALERTMANAGER_IMAGE", Kind: Image},
	{Name: alerts.KeyPort, Kind: Port},
	// Alert receivers (tasks/alerts checks that each one a route uses has
	// its keys; see validateAlerts).
	{Name: alerts.KeyReceiver, Kind: Choice, Choices: receiverKinds(), Doc: "receiver of every alert"},
	{Name: alerts.KeyPageReceiver, Kind: Choice, Choices: receiverKinds(), Optional: true, Doc: "receiver of severity=page alerts; empty: ALERT_RECEIVER"},
	{Name: alerts.KeyTicketReceiver, Kind: Choice, Choices: receiverKinds(), Optional: true, Doc: "receiver of severity=ticket alerts; empty: ALERT_RECEIVER"},
	{Name: alerts.KeyWebhookURL, Kind: SecretURL},
	{Name: alerts.KeySlackWebhookURL, Kind: SecretURL},
	{Name: alerts.KeySlackChannel, Kind: String, Optional: true},
	{Name: alerts.KeyEmailSmarthost, Kind: String, Optional: true},
	{Name: alerts.KeyEmailFrom, Kind: String, Optional: true},
	{Name: alerts.KeyEmailTo, Kind: String, Optional: true},
	{Name: alerts.KeyEmailAuthUsername, Kind: String, Optional: true},
	{Name: alerts.KeyEmailAuthPassword, Kind: Secret},
}

func receiverKinds() []string {
	c := make([]string, len(alerts.Kinds))
	for i, k := range alerts.Kinds {
		c[i] = string(k)
	}
	return c
}

// personalities are the SIM_PERSONALITY choices: the backend table's.
func personalities() []string {
	c := make([]string, len(backend.Personalities))
	for i, p := range backend.Personalities {
		c[i] = string(p)
	}
	return c
}

// Lookup returns the schema entry for name.
func Lookup(name string) (Key, bool) {
	for _, k := range Keys {
		if k.Name == name {
			return k, true
		}
	}
	return Key{}, false
}

// IsSecret reports whether the value of name must never be printed: a key
// of kind Secret or Password (HF_TOKEN, GRAFANA_ADMIN_PASSWORD), and any key
// of kind SecretURL (webhook URLs carry their token), and any key
// whose name contains TOKEN, PASSWORD, PASSWD, SECRET, KEY or CREDENTIAL,
// in any case, whether the schema knows it or not.
func IsSecret(name string) bool {
	if k, ok := Lookup(name); ok && (k.Kind == Secret || k.Kind == Password || k.Kind == SecretURL) {
		return true
	}
	up := strings.ToUpper(name)
	for _, w := range []string{"TOKEN", "PASSWORD", "PASSWD", "SECRET", "KEY", "CREDENTIAL"} {
		if strings.Contains(up, w) {
			return true
		}
	}
	return false
}

// showValue is how a validation message quotes the value v of key: %q for
// a key that is not secret, when the value is short (at most 128 bytes) and
// does not look like a token (it contains hf_, or a run of 16 or more
// letters, digits and _ that mixes letters and digits, as API tokens and
// hashes do). Otherwise a phrase without the value.
func showValue(key, v string) string {
	switch {
	case IsSecret(key):
		return "the value (not shown: " + key + " is secret)"
	case len(v) > 128:
		return "the value (not shown: it is longer than 128 characters)"
	case tokenLike(v):
		return "the value (not shown: it looks like a token or a hash)"
	}
	return fmt.Sprintf("%q", v)
}

func tokenLike(v string) bool {
	if strings.Contains(strings.ToLower(v), "hf_") {
		return true
	}
	run, letter, digit := 0, false, false
	for i := 0; i <= len(v); i++ {
		var c byte
		if i < len(v) {
			c = v[i]
		}
		switch {
		case c >= '0' && c <= '9':
			run, digit = run+1, true
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			run, letter = run+1, letter || c != '_'
		default:
			if run >= 16 && letter && digit {
				return true
			}
			run, letter, digit = 0, false, false
		}
	}
	return false
}

// KeyError is a problem with one key of a dotenv file.
type KeyError struct {
	Path string
	Line int // 0 when the key is missing
	Key  string
	Msg  string
}

// Error names the key only when Nameable (see the package comment); Msg
// never holds a secret value.
func (e *KeyError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s: %s", e.Path, ShowKey(e.Key), e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.Path, e.Line, ShowKey(e.Key), e.Msg)
}

// ValidationError collects every problem of a file, so a user fixes them in one go.
type ValidationError struct{ Problems []error }

func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d problem(s) in the env file; nothing was started:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.Error())
	}
	return b.String()
}

func (e *ValidationError) Unwrap() []error { return e.Problems }

var (
	imageRE   = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$`)
	projectRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	digitsRE  = regexp.MustCompile(`^[1-9][0-9]*$`)
)

// Validate checks every key of f against the schema: unknown keys, missing
// keys and malformed values are all reported, each with file, line and key.
func Validate(f *File) error {
	var problems []error
	seen := map[string]bool{}
	for _, e := range f.Entries {
		k, ok := Lookup(e.Key)
		if !ok {
			msg := "unknown key; nothing reads it"
			if s := suggest(e.Key); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			} else {
				msg += "; remove it, or see deploy/env.example for the keys"
			}
			problems = append(problems, &KeyError{f.Path, e.Line, e.Key, msg})
			continue
		}
		seen[e.Key] = true
		if err := checkValue(k, e.Value); err != nil {
			problems = append(problems, &KeyError{f.Path, e.Line, e.Key, err.Error()})
		}
	}
	for _, k := range Keys {
		if !seen[k.Name] {
			problems = append(problems, &KeyError{f.Path, 0, k.Name, "missing; copy its line from deploy/env.example (mage env:init reports every missing key)"})
		}
	}
	problems = append(problems, portClashes(f)...)
	if len(problems) == 0 {
		problems = append(problems, validateAlerts(f)...)
	}
	if len(problems) > 0 {
		return &ValidationError{problems}
	}
	return nil
}

// checkValue checks v, from the file or from the environment, against k:
// first the characters every value must keep to (CheckText), then the
// form of its kind. Messages quote v only through showValue.
func checkValue(k Key, v string) error {
	if err := CheckText(v); err != nil {
		return errors.New("the value " + err.Error() + " (the value is not shown)")
	}
	q := showValue(k.Name, v)
	if k.Optional && v == "" {
		return nil
	}
	switch k.Kind {
	case String:
		if v == "" {
			return errors.New("is empty; give it a value")
		}
	case Image:
		if !imageRE.MatchString(v) {
			return fmt.Errorf("%s is not an image reference; expected registry/name:tag, e.g. prom/prometheus:v3.5.0", q)
		}
	case Port:
		n, err := strconv.Atoi(v)
		if err != nil || !digitsRE.MatchString(v) || n < 1 || n > 65535 {
			return fmt.Errorf("%s is not a port; expected an integer from 1 to 65535", q)
		}
	case PosInt:
		n, err := strconv.Atoi(v)
		if err != nil || !digitsRE.MatchString(v) || n < 1 {
			return fmt.Errorf("%s is not a positive integer; expected a whole number > 0, e.g. 4096", q)
		}
	case Fraction:
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || !(x > 0 && x <= 1) {
			return fmt.Errorf("%s is outside (0,1]; expected a fraction of GPU memory such as 0.90", q)
		}
	case Address:
		if a, err := netip.ParseAddr(v); err != nil || a.Zone() != "" {
			return fmt.Errorf("%s is not an IP address; expected e.g. 127.0.0.1 (local only) or 0.0.0.0 (every interface)", q)
		}
	case Secret:
		// Anything goes, including empty; the value is never echoed.
	case SecretURL:
		if v != "" && !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
			return errors.New("is not an http:// or https:// URL (the value is not shown); leave it empty when no receiver uses it")
		}
	case Password:
		if v == "" {
			return errors.New("is empty; set a password (the value is never printed)")
		}
		if v == "admin" {
			return errors.New("is the well-known default; choose another password (the value is never printed)")
		}
	case Project:
		if !projectRE.MatchString(v) {
			return fmt.Errorf("%s is not a compose project name; expected lowercase letters, digits, - and _", q)
		}
	case Choice:
		for _, c := range k.Choices {
			if v == c {
				return nil
			}
		}
		return fmt.Errorf("%s is not one of %s", q, strings.Join(k.Choices, ", "))
	}
	return nil
}

// validateAlerts checks the alert receivers as a whole (once every key is
// well formed): each receiver that a route uses needs its keys. Messages
// name keys, never a secret's value.
func validateAlerts(f *File) []error {
	get := func(k string) string { v, _ := f.Get(k); return v }
	_, err := alerts.FromEnv(get)
	var ps alerts.Problems
	if !errors.As(err, &ps) {
		return nil
	}
	var out []error
	for _, p := range ps {
		msg := p.Msg
		if v := get(p.Key); IsSecret(p.Key) && v != "" {
			msg = strings.ReplaceAll(msg, v, "(not shown)")
		}
		out = append(out, &KeyError{f.Path, f.Line(p.Key), p.Key, msg})
	}
	return out
}

// portClashes reports two keys that publish the same host port.
func portClashes(f *File) []error {
	byPort := map[string]string{}
	var problems []error
	for _, k := range Keys {
		if k.Kind != Port {
			continue
		}
		v, ok := f.Get(k.Name)
		if !ok || checkValue(k, v) != nil {
			continue
		}
		if other, dup := byPort[v]; dup {
			problems = append(problems, &KeyError{f.Path, f.Line(k.Name), k.Name,
				fmt.Sprintf("port %s is also used by %s; give each service its own port", v, other)})
			continue
		}
		byPort[v] = k.Name
	}
	return problems
}

// suggest returns the known key closest to name, if one is close.
func suggest(name string) string {
	best, bestD := "", 4
	for _, k := range Keys {
		if d := distance(strings.ToUpper(name), k.Name); d < bestD {
			best, bestD = k.Name, d
		}
	}
	return best
}

func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// SortedKeys returns the schema's key names in order.
func SortedKeys() []string {
	names := make([]string, len(Keys))
	for i, k := range Keys {
		names[i] = k.Name
	}
	sort.Strings(names)
	return names
}
