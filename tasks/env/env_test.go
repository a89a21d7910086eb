package env

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	f, err := Parse("x.env", []byte("# comment\n\nA=1\nexport B = two words # note\nC=\"quoted # not a comment\"\nD='single'\nE=\nF=\"a\\\\b \\\"c\\\"\"\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "1", "B": "two words", "C": "quoted # not a comment", "D": "single", "E": "", "F": `a\b "c"`}
	got := f.Map()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if f.Line("D") != 6 {
		t.Errorf("line of D = %d, want 6", f.Line("D"))
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"A=1\nnot a setting\n", "x.env:2: a line without a key: the line does not start with KEY= (its text is not shown, as it may hold a secret); expected KEY=value, a # comment or a blank line"},
		{"1A=2\n", "x.env:1: a line without a key: the text before '=' is not a key; keys are letters, digits and _, not starting with a digit (the text is not shown); expected KEY=value"},
		{"A=\"open\n", "x.env:1: key A: the value opens a \" quote that is never closed on this line; expected A=\"value\""},
		{"A='x' y\n", "x.env:1: key A: text after the closing quote (not shown); expected A='value' with nothing after it but a # comment"},
	} {
		_, err := Parse("x.env", []byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func exampleFile(t *testing.T) *File {
	t.Helper()
	f, err := ReadFile(filepath.Join("..", "..", ExamplePath))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// env.example documents exactly the keys of the schema.
func TestExampleMatchesSchema(t *testing.T) {
	f := exampleFile(t)
	var keys []string
	for _, e := range f.Entries {
		keys = append(keys, e.Key)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, SortedKeys()) {
		t.Fatalf("env.example keys %v\nschema keys %v", keys, SortedKeys())
	}
}

func validExample(t *testing.T) *File {
	f := exampleFile(t)
	for i := range f.Entries {
		if f.Entries[i].Key == "GRAFANA_ADMIN_PASSWORD" {
			f.Entries[i].Value = "s3cret-enough"
		}
	}
	return f
}

func TestValidateExample(t *testing.T) {
	f := exampleFile(t)
	err := Validate(f)
	// The example leaves the password empty on purpose: env:init fills it.
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 1 || !strings.Contains(ve.Problems[0].Error(), "GRAFANA_ADMIN_PASSWORD: is empty") {
		t.Fatalf("Validate(example) = %v, want only the empty password", err)
	}
	if err := Validate(validExample(t)); err != nil {
		t.Fatal(err)
	}
}

func TestValidateValues(t *testing.T) {
	for _, tc := range []struct{ key, val, want string }{
		{"GPU_MEMORY_UTILIZATION", "0", "outside (0,1]"},
		{"GPU_MEMORY_UTILIZATION", "1.01", "outside (0,1]"},
		{"GPU_MEMORY_UTILIZATION", "NaN", "outside (0,1]"},
		{"GPU_MEMORY_UTILIZATION", "1", ""},
		{"MAX_MODEL_LEN", "-5", "not a positive integer"},
		{"MAX_MODEL_LEN", "4096.0", "not a positive integer"},
		{"API_PORT", "0", "not a port"},
		{"API_PORT", "8000x", "not a port"},
		{"API_PORT", "65535", ""},
		{"BIND_ADDRESS", "localhost", "not an IP address"},
		{"BIND_ADDRESS", "::1", ""},
		{"VLLM_IMAGE", "vllm/vllm-openai:v0.20.0", ""},
		{"VLLM_IMAGE", "Vllm Openai", "not an image reference"},
		{"SIM_PERSONALITY", "tgi", "not one of vllm, triton-vllm, triton-trt"},
		{"COMPOSE_PROJECT_NAME", "My Stack", "not a compose project name"},
		{"GRAFANA_ADMIN_PASSWORD", "admin", "well-known default"},
	} {
		f := validExample(t)
		for i := range f.Entries {
			if f.Entries[i].Key == tc.key {
				f.Entries[i].Value = tc.val
			}
		}
		err := Validate(f)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s=%s: %v", tc.key, tc.val, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "key "+tc.key+": ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%s: got %v, want %q", tc.key, tc.val, err, tc.want)
		}
	}
}

func TestValidateUnknownMissingClash(t *testing.T) {
	f := validExample(t)
	f.Entries = append(f.Entries, Entry{Key: "API_PROT", Value: "1", Line: 99})
	for i := range f.Entries {
		if f.Entries[i].Key == "GRAFANA_PORT" {
			f.Entries[i].Value = "9090" // same as Prometheus
		}
	}
	f.Entries = slices.DeleteFunc(f.Entries, func(e Entry) bool { return e.Key == "DTYPE" })
	err := Validate(f)
	for _, want := range []string{
		":99: key API_PROT: unknown key; nothing reads it (did you mean API_PORT?)",
		"key DTYPE: missing",
		"key GRAFANA_PORT: port 9090 is also used by PROMETHEUS_PORT",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v\nwant it to contain %q", err, want)
		}
	}
}

// Secret values never appear in errors.
func TestSecretsNotPrinted(t *testing.T) {
	f := validExample(t)
	for i := range f.Entries {
		if f.Entries[i].Key == "GRAFANA_ADMIN_PASSWORD" {
			f.Entries[i].Value = "admin"
		}
		if f.Entries[i].Key == "HF_TOKEN" {
			f.Entries[i].Value = "hf_abcdef"
		}
	}
	f.Entries = append(f.Entries, Entry{Key: "API_PORT", Value: "x", Line: 100})
	err := Validate(f)
	if err == nil || strings.Contains(err.Error(), "hf_abcdef") || strings.Contains(err.Error(), `"admin"`) {
		t.Fatalf("error leaks a secret or is nil: %v", err)
	}
	if !IsSecret("HF_TOKEN") || !IsSecret("GRAFANA_ADMIN_PASSWORD") || IsSecret("MODEL_NAME") {
		t.Fatal("IsSecret wrong")
	}
}

func TestInit(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "deploy"), 0o755)
	ex, err := os.ReadFile(filepath.Join("..", "..", ExamplePath))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, ExamplePath), ex, 0o644)
	rep, err := Init(root)
	if err != nil || !rep.Created || len(rep.Generated) != 1 {
		t.Fatalf("Init = %+v, %v", rep, err)
	}
	fi, _ := os.Stat(filepath.Join(root, DotEnvPath))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf(".env mode %v, want 0600 (it holds secrets)", fi.Mode().Perm())
	}
	cfg, err := Load(root)
	if err != nil {
		t.Fatalf("a fresh .env does not validate: %v", err)
	}
	if p := cfg.Get("GRAFANA_ADMIN_PASSWORD"); len(p) != 24 {
		t.Errorf("generated password %q has length %d", p, len(p))
	}
	rep2, err := Init(root)
	if err != nil || rep2.Created || len(rep2.Missing) != 0 {
		t.Fatalf("second Init = %+v, %v", rep2, err)
	}
}

func TestLoadEnvOverride(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "deploy"), 0o755)
	ex, _ := os.ReadFile(filepath.Join("..", "..", ExamplePath))
	os.WriteFile(filepath.Join(root, ExamplePath), ex, 0o644)
	if _, err := Init(root); err != nil {
		t.Fatal(err)
	}
	t.Setenv("API_PORT", "18000")
	cfg, err := Load(root)
	if err != nil || cfg.Get("API_PORT") != "18000" || !cfg.FromEnvironment("API_PORT") {
		t.Fatalf("override not applied: %v", err)
	}
	t.Setenv("API_PORT", "x")
	if _, err := Load(root); err == nil || !strings.Contains(err.Error(), "value from the environment variable API_PORT") {
		t.Fatalf("bad override not reported: %v", err)
	}
}

// Docker Compose expands $ inside .env values: such a value is refused
// unless single-quoted, where both mage and Compose keep it literal.
func TestDollarNeedsSingleQuotes(t *testing.T) {
	for _, in := range []string{"GRAFANA_ADMIN_PASSWORD=pa$word1\n", `GRAFANA_ADMIN_PASSWORD="${LOCAL_PW}"` + "\n", "HF_TOKEN=$HOME\n"} {
		_, err := Parse("x.env", []byte(in))
		if err == nil || !strings.Contains(err.Error(), "put the value in single quotes") || strings.Contains(err.Error(), "pa$word1") {
			t.Errorf("%q: %v", in, err)
		}
	}
	f, err := Parse("x.env", []byte("GRAFANA_ADMIN_PASSWORD='pa$word1' # it's a comment\n"))
	if err != nil || f.Map()["GRAFANA_ADMIN_PASSWORD"] != "pa$word1" {
		t.Fatalf("single quotes: %v %v", f, err)
	}
	f, err = Parse("x.env", []byte(`A="say \"hi\"" # a "comment"`+"\n"))
	if err != nil || f.Map()["A"] != `say "hi"` {
		t.Fatalf("escaped double quotes: %v %v", f, err)
	}
}

func TestPortAndAddressForms(t *testing.T) {
	for _, tc := range []struct{ key, val, want string }{
		{"API_PORT", "+8000", "not a port"},
		{"API_PORT", "08000", "not a port"},
		{"MAX_MODEL_LEN", "+4096", "not a positive integer"},
		{"BIND_ADDRESS", "fe80::1%eth0", "not an IP address"},
	} {
		f := validExample(t)
		for i := range f.Entries {
			if f.Entries[i].Key == tc.key {
				f.Entries[i].Value = tc.val
			}
		}
		if err := Validate(f); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%s: %v", tc.key, tc.val, err)
		}
	}
}
