package env

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// Settings returns the validated root/deploy/.env, or, when there is no
// .env yet, Example's values: what targets that only talk to a server
// (load, smoke, bench) read.
func Settings(root string) (*Config, error) {
	cfg, err := Load(root)
	if err == nil {
		return cfg, nil
	}
	if _, statErr := os.Stat(filepath.Join(root, DotEnvPath)); errors.Is(statErr, fs.ErrNotExist) {
		if ex, exErr := Example(root); exErr == nil {
			return ex, nil
		}
	}
	return nil, err
}

// Example returns root/deploy/env.example's values, with the process
// environment overriding them as it overrides .env's. They are not
// validated: env.example is the pack's own file.
func Example(root string) (*Config, error) {
	ex, err := ReadFile(filepath.Join(root, ExamplePath))
	if err != nil {
		return nil, err
	}
	values := ex.Map()
	fromOS := map[string]bool{}
	for k := range values {
		if v, ok := os.LookupEnv(k); ok {
			values[k], fromOS[k] = v, true
		}
	}
	return &Config{Path: ExamplePath, values: values, fromOS: fromOS}, nil
}
