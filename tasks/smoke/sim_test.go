package smoke

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/sim"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/sim/simtest"
)

// startSim runs the in-process simulator on free ports, fast (constant
// latencies), with cfg changed by mod.
func startSim(t *testing.T, personality string, mod func(*sim.Config)) *sim.Running {
	t.Helper()
	cfg := sim.DefaultConfig(personality)
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.ConstantTTFT, cfg.ConstantITL = 2*time.Millisecond, 500*time.Microsecond
	if mod != nil {
		mod(&cfg)
	}
	return simtest.Start(t, cfg)
}

// simOptions are the options EndpointFor would give for a personality.
func simOptions(personality string, run *sim.Running) Options {
	o := Options{Backend: "sim", URL: run.APIURL, MetricsURL: run.MetricsURL}
	switch personality {
	case sim.PersonalityVLLM:
		o.Protocol, o.Model = load.ProtocolOpenAIChat, "qwen"
	case sim.PersonalityTritonVLLM:
		o.Protocol, o.Model = load.ProtocolTritonGenerate, "qwen"
	default:
		o.Protocol, o.Model = load.ProtocolTritonTRT, "ensemble"
	}
	return o
}

var wantSteps = map[string][]string{
	sim.PersonalityVLLM:       {"health", "models", "version", "completion short", "chat long", "chat stream", "metrics"},
	sim.PersonalityTritonVLLM: {"health", "model metadata", "model ready", "generate short", "generate long", "generate stream", "metrics"},
	sim.PersonalityTritonTRT:  {"health", "model metadata", "model ready", "generate short", "generate long", "generate stream", "metrics"},
}

func stepNames(r *Report) []string {
	var n []string
	for _, s := range r.Steps {
		n = append(n, s.Name)
	}
	return n
}

func step(t *testing.T, r *Report, name string) Step {
	t.Helper()
	for _, s := range r.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no step %q in %v", name, stepNames(r))
	return Step{}
}

func TestSimEveryPersonalityPasses(t *testing.T) {
	for _, p := range sim.Personalities {
		t.Run(p, func(t *testing.T) {
			run := startSim(t, p, nil)
			var live []Step
			o := simOptions(p, run)
			o.OnStep = func(s Step) { live = append(live, s) }
			rep, err := Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range rep.Steps {
				if !s.OK {
					t.Errorf("step %s failed: %s", s.Name, s.Error)
				}
				if s.Detail == "" && s.Name != "health" && s.Name != "model ready" {
					t.Errorf("step %s: no detail", s.Name)
				}
			}
			if got, want := strings.Join(stepNames(rep), ","), strings.Join(wantSteps[p], ","); got != want {
				t.Errorf("steps %s, want %s", got, want)
			}
			if !rep.OK || rep.Err() != nil || rep.Passed() != 7 || rep.Failed() != 0 {
				t.Errorf("ok %v, err %v, passed %d, failed %d", rep.OK, rep.Err(), rep.Passed(), rep.Failed())
			}
			if len(live) != len(rep.Steps) {
				t.Errorf("OnStep called %d times for %d steps", len(live), len(rep.Steps))
			}
			if rep.Summary() != "smoke: 7 passed, 0 failed" {
				t.Errorf("summary %q", rep.Summary())
			}
			if want := map[string]string{sim.PersonalityVLLM: "qwen", sim.PersonalityTritonVLLM: "qwen", sim.PersonalityTritonTRT: "ensemble"}[p]; rep.Model != want {
				t.Errorf("model %q, want %q", rep.Model, want)
			}
			stream := step(t, rep, wantSteps[p][5])
			if !strings.Contains(stream.Detail, "TTFT ") {
				t.Errorf("stream detail %q lacks the TTFT", stream.Detail)
			}
		})
	}
}

func TestSimOpenAIModelDiscovered(t *testing.T) {
	run := startSim(t, sim.PersonalityVLLM, func(c *sim.Config) { c.ServedModelName = "my-llm" })
	o := simOptions(sim.PersonalityVLLM, run)
	o.Model = ""
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Model != "my-llm" {
		t.Fatalf("ok %v model %q: %v", rep.OK, rep.Model, rep.Err())
	}
	// Expecting another name fails the models step only; the rest use the listed model.
	o.Model = "qwen"
	rep, _ = Run(context.Background(), o)
	if s := step(t, rep, "models"); s.OK || !strings.Contains(s.Error, `expected the served model "qwen"`) || !strings.Contains(s.Error, "my-llm") {
		t.Errorf("models step: %+v", s)
	}
	if rep.Failed() != 1 || rep.Model != "my-llm" {
		t.Errorf("failed %d (want 1), model %q: %v", rep.Failed(), rep.Model, rep.Err())
	}
}

func TestSimFaults(t *testing.T) {
	gen := map[string][]string{
		sim.PersonalityVLLM:       {"completion short", "chat long", "chat stream"},
		sim.PersonalityTritonVLLM: {"generate short", "generate long", "generate stream"},
		sim.PersonalityTritonTRT:  {"generate short", "generate long", "generate stream"},
	}
	for _, p := range sim.Personalities {
		t.Run(p+"/error-rate", func(t *testing.T) {
			run := startSim(t, p, func(c *sim.Config) { c.ErrorRate = 1 })
			rep, err := Run(context.Background(), simOptions(p, run))
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range gen[p] {
				if s := step(t, rep, name); s.OK || !strings.Contains(s.Error, "expected 200, got 500") || !strings.Contains(s.Error, "Simulated internal") {
					t.Errorf("%s: %+v", name, s)
				}
			}
			// Nothing was generated, so the metrics step fails too: its
			// counter did not move.
			if s := step(t, rep, "metrics"); s.OK || !strings.Contains(s.Error, "> 0 after the requests above") {
				t.Errorf("metrics: %+v", s)
			}
			if rep.OK || rep.Failed() != 4 || rep.Err() == nil {
				t.Errorf("failed %d, want 4 (health and models pass)", rep.Failed())
			}
			if !strings.Contains(rep.Err().Error(), strings.Join(gen[p], ", ")) {
				t.Errorf("error %q does not name the failed steps", rep.Err())
			}
		})
		t.Run(p+"/midstream", func(t *testing.T) {
			run := startSim(t, p, func(c *sim.Config) { c.MidstreamFailRate = 1 })
			rep, _ := Run(context.Background(), simOptions(p, run))
			s := step(t, rep, gen[p][2])
			if s.OK || !strings.Contains(s.Error, "server error in stream") {
				t.Errorf("stream step: %+v", s)
			}
		})
		t.Run(p+"/starting", func(t *testing.T) {
			run := startSim(t, p, func(c *sim.Config) { c.StartupDelay = time.Hour })
			rep, _ := Run(context.Background(), simOptions(p, run))
			s := step(t, rep, "health")
			if s.OK || !strings.Contains(s.Error, "expected 200, got ") {
				t.Errorf("health step: %+v", s)
			}
			if step(t, rep, gen[p][0]).OK {
				t.Errorf("a generation step passed on a server that is not ready")
			}
		})
	}
}

func TestJSONReport(t *testing.T) {
	run := startSim(t, sim.PersonalityTritonTRT, func(c *sim.Config) { c.ErrorRate = 1 })
	rep, err := Run(context.Background(), simOptions(sim.PersonalityTritonTRT, run))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Backend, URL, Model string
		OK                  *bool
		Steps               []struct {
			Name      string
			OK        *bool
			LatencyMS *float64 `json:"latency_ms"`
			Detail    string
			Error     string
		}
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, buf.Bytes())
	}
	if got.Backend != "sim" || got.URL != run.APIURL || got.Model != "ensemble" || got.OK == nil || *got.OK {
		t.Errorf("header %+v", got)
	}
	if len(got.Steps) != 7 {
		t.Fatalf("%d steps", len(got.Steps))
	}
	for _, s := range got.Steps {
		if s.OK == nil || s.LatencyMS == nil || *s.LatencyMS < 0 {
			t.Errorf("step %+v lacks ok or latency_ms", s)
		}
		if *s.OK == (s.Error != "") {
			t.Errorf("step %s: ok %v with error %q", s.Name, *s.OK, s.Error)
		}
	}
	if got.Steps[3].Name != "generate short" || !strings.Contains(got.Steps[3].Error, "500") {
		t.Errorf("step 3: %+v", got.Steps[3])
	}
}
