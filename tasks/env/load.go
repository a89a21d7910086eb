package env

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Paths of the env files, relative to the project root.
const (
	ExamplePath = "deploy/env.example"
	DotEnvPath  = "deploy/.env"
)

// Config is the validated configuration of the stack: deploy/.env, with any
// schema key set in the process environment taking precedence, as Docker
// Compose does when it interpolates the compose file.
type Config struct {
	Path   string
	values map[string]string
	fromOS map[string]bool
}

// Get returns the value of key ("" when unset).
func (c *Config) Get(key string) string { return c.values[key] }

// FromEnvironment reports whether key was overridden by the process environment.
func (c *Config) FromEnvironment(key string) bool { return c.fromOS[key] }

// Values returns a copy of every key and value. Callers must not print
// secrets; see IsSecret.
func (c *Config) Values() map[string]string {
	m := make(map[string]string, len(c.values))
	for k, v := range c.values {
		m[k] = v
	}
	return m
}

// NewConfig builds a Config from explicit values (for tests and embedding).
func NewConfig(path string, values map[string]string) *Config {
	return &Config{Path: path, values: values, fromOS: map[string]bool{}}
}

// Load reads and validates root/deploy/.env. Nothing should be started when
// it returns an error.
func Load(root string) (*Config, error) {
	path := filepath.Join(root, DotEnvPath)
	f, err := ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s not found; run `mage env:init` to create it from %s, then review it", DotEnvPath, ExamplePath)
	}
	if err != nil {
		return nil, err
	}
	f.Path = DotEnvPath
	// Process environment overrides, as in Compose; validate what will be used.
	fromOS := map[string]bool{}
	eff := &File{Path: f.Path}
	for _, e := range f.Entries {
		if _, known := Lookup(e.Key); known {
			if v, ok := os.LookupEnv(e.Key); ok {
				fromOS[e.Key] = true
				e.Value = v
			}
		}
		eff.Entries = append(eff.Entries, e)
	}
	if err := Validate(eff); err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			for _, p := range ve.Problems {
				var ke *KeyError
				if errors.As(p, &ke) && fromOS[ke.Key] {
					ke.Msg += " (value from the environment variable " + ke.Key + ", which overrides the file)"
				}
			}
		}
		return nil, err
	}
	return &Config{Path: f.Path, values: eff.Map(), fromOS: fromOS}, nil
}

// InitReport says what env:init did and what differs between the files.
type InitReport struct {
	Created    bool
	Missing    []string // keys env.example has and .env lacks
	Unread     []string // keys .env has that nothing reads (print them with ShowKey)
	unreadLine map[string]int
	// Generated lists password keys that were empty in env.example and got a
	// random value in the new .env.
	Generated []string
}

// fillPasswords gives every empty password key of the example a random value.
func fillPasswords(example []byte) ([]byte, []string) {
	lines := strings.Split(string(example), "\n")
	var generated []string
	for i, l := range lines {
		for _, k := range Keys {
			if k.Kind == Password && strings.TrimSpace(l) == k.Name+"=" {
				lines[i] = k.Name + "=" + randomPassword()
				generated = append(generated, k.Name)
			}
		}
	}
	return []byte(strings.Join(lines, "\n")), generated
}

func randomPassword() string {
	b := make([]byte, 15)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
}

// Init writes root/deploy/.env from deploy/env.example unless .env exists;
// it never overwrites. Either way it reports the keys that differ.
func Init(root string) (*InitReport, error) {
	exPath := filepath.Join(root, ExamplePath)
	dotPath := filepath.Join(root, DotEnvPath)
	example, err := os.ReadFile(exPath)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w (run from the project root)", ExamplePath, err)
	}
	exFile, err := Parse(ExamplePath, example)
	if err != nil {
		return nil, err
	}
	rep := &InitReport{}
	out, err := os.OpenFile(dotPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		content, generated := fillPasswords(example)
		rep.Generated = generated
		_, werr := out.Write(content)
		cerr := out.Close()
		if werr != nil || cerr != nil {
			return nil, fmt.Errorf("writing %s: %v", DotEnvPath, errors.Join(werr, cerr))
		}
		rep.Created = true
	case errors.Is(err, fs.ErrExist):
	default:
		return nil, fmt.Errorf("creating %s: %w", DotEnvPath, err)
	}
	dot, err := ReadFile(dotPath)
	if err != nil {
		return nil, err
	}
	dot.Path = DotEnvPath
	have := dot.Map()
	rep.unreadLine = map[string]int{}
	for _, e := range exFile.Entries {
		if _, ok := have[e.Key]; !ok {
			rep.Missing = append(rep.Missing, e.Key)
		}
	}
	for k := range have {
		if _, ok := Lookup(k); !ok {
			rep.Unread = append(rep.Unread, k)
			rep.unreadLine[k] = dot.Line(k)
		}
	}
	sort.Strings(rep.Unread)
	return rep, nil
}

// Print writes the report for a person.
func (r *InitReport) Print(w io.Writer) {
	if r.Created {
		fmt.Fprintf(w, "created %s from %s; review MODEL_NAME and HF_TOKEN there\n", DotEnvPath, ExamplePath)
		for _, k := range r.Generated {
			fmt.Fprintf(w, "generated a random %s (in %s; not shown here)\n", k, DotEnvPath)
		}
	} else {
		fmt.Fprintf(w, "%s exists; left unchanged\n", DotEnvPath)
	}
	for _, k := range r.Missing {
		fmt.Fprintf(w, "missing: %s is in %s but not in %s; copy its line over\n", k, ExamplePath, DotEnvPath)
	}
	for _, k := range r.Unread {
		if Nameable(k) {
			fmt.Fprintf(w, "unread:  %s is in %s but nothing reads it; remove it\n", k, DotEnvPath)
		} else {
			fmt.Fprintf(w, "unread:  %s:%d sets %s that nothing reads; remove it\n", DotEnvPath, r.unreadLine[k], notShown)
		}
	}
	if !r.Created && len(r.Missing) == 0 && len(r.Unread) == 0 {
		fmt.Fprintf(w, "%s has every key of %s\n", DotEnvPath, ExamplePath)
	}
}
