package load_test

import (
	"context"
	"testing"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/sim"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/sim/simtest"
)

// A modest run against the simulator measures the server: valid, with
// the generator's own figures in the result. Both loops are checked.
func TestModestRunIsValid(t *testing.T) {
	cfg := sim.DefaultConfig(sim.PersonalityVLLM)
	cfg.ConstantTTFT, cfg.ConstantITL = 5*time.Millisecond, time.Millisecond
	run := simtest.Start(t, cfg)
	for _, c := range []struct {
		name        string
		concurrency int
		rate        float64
	}{{"closed loop", 2, 0}, {"open loop", 0, 100}} {
		t.Run(c.name, func(t *testing.T) {
			o := load.Options{URL: run.APIURL, Protocol: load.ProtocolOpenAIChat, Stream: true, MaxTokens: 8, IgnoreEOS: true,
				Concurrency: c.concurrency, Rate: c.rate, Duration: 1500 * time.Millisecond}
			res, err := load.Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			g := res.Generator
			if !res.Valid || len(res.Invalid) != 0 || res.InvalidError() != nil {
				t.Errorf("invalid: %q (generator %+v)", res.Invalid, g)
			}
			if g.Cores < 1 || g.Delay.Count != res.Requests.OK || g.Delay.Count < load.MinDelaySamples {
				t.Errorf("generator %+v after %d requests", g, res.Requests.OK)
			}
			if g.CPUUtilization == nil || *g.CPUUtilization <= 0 || *g.CPUUtilization > load.MaxGeneratorCPU {
				t.Errorf("cpu utilization %v", g.CPUUtilization)
			}
		})
	}
}
