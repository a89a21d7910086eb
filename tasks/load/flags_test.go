package load

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

// The mage names and cmd/loadgen's older hyphenated names set the same
// field, and Options carries them over.
func TestFlagsAliasesAndOptions(t *testing.T) {
	for _, args := range [][]string{
		{"-maxtokens", "9", "-checksum", "sha256:x", "-synthetic", "5", "-timeoutstall", "0", "-inflightatend", "ignore", "-nostream", "-metrics", "off"},
		{"-max-tokens", "9", "-dataset-checksum", "sha256:x", "-synthetic-tokens", "5", "-timeout-stall", "0", "-inflight-at-end", "ignore", "-stream=false", "-metrics-addr", "off"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		f := DefaultFlags()
		f.RegisterFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		o, err := f.Options()
		if err != nil {
			t.Fatal(err)
		}
		if o.MaxTokens != 9 || o.Prompts.Checksum != "sha256:x" || o.Prompts.SyntheticTokens != 5 || o.TimeoutStall >= 0 ||
			o.TimeoutFirstByte != DefaultTimeoutFirstByte || !o.SLO.IgnoreInFlightAtEnd || o.Stream || o.MetricsAddr != "" ||
			o.Protocol != ProtocolOpenAIChat || o.URL != DefaultURL {
			t.Errorf("%v: options %+v", args, o)
		}
	}
}

// Values that cannot mean anything are refused while parsing, naming the flag.
func TestFlagsRefuse(t *testing.T) {
	for _, c := range []struct{ args, want string }{
		{"-timeoutfirstbyte=-1s", "-timeoutfirstbyte: timeout -1s: expected a duration >= 0"},
		{"-inflightatend=drop", "expected fail"},
		{"-maxeventbytes=0", "expected a positive number of bytes"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		f := DefaultFlags()
		f.RegisterFlags(fs)
		if err := fs.Parse([]string{c.args}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.args, err, c.want)
		}
	}
	f := DefaultFlags()
	f.Backend, f.Base.Duration = "tgi", time.Second
	if _, err := f.Options(); err == nil || !strings.Contains(err.Error(), "-backend") {
		t.Errorf("backend tgi: %v", err)
	}
}

// The workload flags, under both names, reach Options.Prompts.
func TestWorkloadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-datasetformat", "sharegpt", "-once", "-sessions", "-thinktime", "2s", "-tracespeed", "3", "-syntheticdist", "normal:5",
			"-outputtokens", "7", "-outputdist", "uniform:1:9", "-prefixtokens", "11", "-prefixgroups", "2"},
		{"-dataset-format", "sharegpt", "-once", "-sessions", "-think-time", "2s", "-trace-speed", "3", "-synthetic-dist", "normal:5",
			"-output-tokens", "7", "-output-dist", "uniform:1:9", "-prefix-tokens", "11", "-prefix-groups", "2"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		f := DefaultFlags()
		f.RegisterFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		o, err := f.Options()
		if err != nil {
			t.Fatal(err)
		}
		p := o.Prompts
		if p.Format != "sharegpt" || !p.Once || !p.Sessions || p.ThinkTime != 2*time.Second || p.TraceSpeed != 3 ||
			p.SyntheticDist != "normal:5" || p.OutputTokens != 7 || p.OutputDist != "uniform:1:9" || p.PrefixTokens != 11 || p.PrefixGroups != 2 {
			t.Errorf("%v: prompts %+v", args, p)
		}
	}
}
