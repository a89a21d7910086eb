package bench

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
)

func ptr[T any](v T) *T { return &v }

// Each refused combination names the flag and the fix.
func TestResolveRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		o    Options
		want string
	}{
		{"mode", Options{Mode: "burst"}, `-mode="burst": expected concurrency or rate`},
		{"shape without rate", Options{Load: load.Options{Shape: load.ShapeConstant}}, "-shape and -cap shape an open loop: use them with -mode=rate"},
		{"cap without rate", Options{MaxInFlight: 3}, "-shape and -cap shape an open loop: use them with -mode=rate"},
		{"steps and start", Options{StepList: "1,2", Start: ptr(1.0)}, `-steps="1,2" lists the loads: leave out -start and -max`},
		{"steps and max", Options{StepList: "1,2", Max: ptr(8.0)}, `-steps="1,2" lists the loads: leave out -start and -max`},
		{"steps decrease", Options{StepList: "4,2"}, `-steps="4,2": loads must increase`},
		{"steps not numbers", Options{StepList: "1,x"}, `-steps="1,x": "x" is not a positive number (expected e.g. -steps=1,2,4,8)`},
		{"max below start", Options{Start: ptr(8.0), Max: ptr(4.0)}, "-max=4: the highest load must be a finite number >= -start (8)"},
		{"fractional workers", Options{Max: ptr(2.5)}, "concurrency steps are whole numbers of workers"},
		{"no step length", Options{}, "-step=0s: each step needs a positive length, e.g. -step=30s"},
		{"negative step", Options{StepDuration: -time.Second}, "-step=-1s: each step needs a positive length, e.g. -step=30s"},
		{"negative warmup", Options{StepDuration: time.Second, Warmup: -time.Second}, "-warmup=-1s: expected a duration >= 0"},
		{"scrape not a URL", Options{StepDuration: time.Second, MetricsURL: "nowhere"}, `-scrape="nowhere": expected the server's metrics URL, e.g. http://127.0.0.1:8002/metrics, or off`},
		{"scrape without host", Options{StepDuration: time.Second, MetricsURL: "http:///metrics"}, `-scrape="http:///metrics": expected`},
	} {
		if c.o.StepDuration == 0 && c.name != "no step length" {
			c.o.StepDuration = time.Second
		}
		_, err := c.o.Resolve()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Resolve() error %v, want %q", c.name, err, c.want)
		}
	}
}

func TestResolveDefaults(t *testing.T) {
	o, err := Options{StepDuration: DefaultStepDuration, AutoWarmup: true}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if o.Mode != ModeConcurrency || o.Warmup != 5*time.Second ||
		o.Load.MaxTokens != load.DefaultMaxTokens || o.SampleEvery != time.Second || o.ScrapeClient == nil ||
		o.Stop != DefaultStopRule() || o.Load.DrainTimeout != time.Minute {
		t.Errorf("defaults: %+v", o)
	}
	if want := []float64{1, 2, 4, 8, 16, 32}; !reflect.DeepEqual(o.Steps, want) {
		t.Errorf("planned steps %v, want %v", o.Steps, want)
	}
	// Resolving again changes nothing.
	again, err := o.Resolve()
	if err != nil || !reflect.DeepEqual(again.Steps, o.Steps) || again.Warmup != o.Warmup {
		t.Errorf("Resolve is not idempotent: %+v, %v", again, err)
	}

	o, err = Options{Mode: ModeRate, StepDuration: time.Second, AutoWarmup: true, MaxInFlight: 2,
		Load: load.Options{Shape: load.ShapeGamma}}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{1, 2, 4, 8, 16}; !reflect.DeepEqual(o.Steps, want) || o.Warmup != 167*time.Millisecond ||
		o.Load.DrainTimeout != 10*time.Second {
		t.Errorf("rate defaults: steps %v, warm-up %v, drain %v", o.Steps, o.Warmup, o.Load.DrainTimeout)
	}

	// An explicit warm-up (0 included) stays; a list is parsed; explicit
	// steps are kept as they are.
	o, err = Options{StepList: "1, 3", StepDuration: time.Second, Warmup: 0}.Resolve()
	if err != nil || o.Warmup != 0 || !reflect.DeepEqual(o.Steps, []float64{1, 3}) {
		t.Errorf("list: %v, %v, %v", o.Steps, o.Warmup, err)
	}
	o, err = Options{Steps: []float64{2, 5}, Start: ptr(1.0), Max: ptr(4.0), StepDuration: time.Second}.Resolve()
	if err != nil || !reflect.DeepEqual(o.Steps, []float64{2, 5}) {
		t.Errorf("explicit steps: %v, %v", o.Steps, err)
	}
}
