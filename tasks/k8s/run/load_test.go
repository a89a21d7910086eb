package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCheckLoadArgs(t *testing.T) {
	desc, o, err := checkLoadArgs([]string{"-backend=sim", "-concurrency=16", "-requests=100", "-duration=2m"}, 4)
	if err != nil || desc != "16 concurrent streams" || o.Duration != 2*time.Minute {
		t.Fatalf("%q %v", desc, err)
	}
	desc, _, err = checkLoadArgs([]string{"-backend=sim", "-rate=50", "-shape=constant"}, 4)
	if err != nil || desc != "50 req/s (constant)" {
		t.Fatalf("%q %v", desc, err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-concurrency=2"}, "2 concurrent streams cannot be split between 4 pods"},
		{[]string{"-rate=10", "-shape=gamma"}, "gamma arrivals do not split"},
		{[]string{"-stages=10s@5,10s@10"}, "-stages does not split between pods yet"},
		{[]string{"-concurrency=8", "-once"}, "not split between pods yet"},
		{[]string{"-concurrency=8", "-dataset=https://x/t.jsonl", "-checksum=sha256:00", "-datasetformat=mooncake"}, "a mooncake trace replays its timestamps"},
		{[]string{"-concurrency=8", "-nosuchflag"}, "the load's flags: flag provided but not defined: -nosuchflag"},
		{[]string{"-concurrency=8", "stray"}, `unexpected argument "stray"`},
	} {
		if _, _, err := checkLoadArgs(c.args, 4); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.args, err, c.want)
		}
	}
}

// Bad flags are a command-line error (exit 2) before any cluster is asked.
func TestLoadCmdRefusesBeforeTheCluster(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-pods=2", "--", "-concurrency=4"}, "-image is required"},
		{[]string{"-pods=8", "-image=x", "--", "-concurrency=4"}, "4 concurrent streams cannot be split between 8 pods"},
	} {
		var out, errb bytes.Buffer
		err := loadCmd(context.Background(), c.args, &out, &errb)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want a usage error with %q", c.args, err, c.want)
		}
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"load", "-pods=2", "--", "-concurrency=4"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "-image is required") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}
