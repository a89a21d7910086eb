package configcheck

import (
	"strings"
	"testing"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/sim"
)

// Each personality is driven with the protocol and model of the server it
// imitates.
func TestLoadOptionsPerPersonality(t *testing.T) {
	for _, c := range []struct {
		personality string
		protocol    load.Protocol
		model       string
	}{
		{"vllm", "openai-chat", "served"},
		{"triton-vllm", "triton-generate", "served"},
		{"triton-trt", "triton-trt", "ensemble"},
	} {
		cfg := sim.Config{ServedModelName: "served"}
		o := LoadOptions(c.personality, cfg, "http://127.0.0.1:1")
		if o.Protocol != c.protocol || o.Model != c.model || o.Backend != "sim-"+c.personality || o.URL != "http://127.0.0.1:1" {
			t.Errorf("LoadOptions(%s) = protocol %s, model %q, backend %q, URL %q", c.personality, o.Protocol, o.Model, o.Backend, o.URL)
		}
	}
}

func TestDashboardPageTags(t *testing.T) {
	pages := &Pages{Sim: map[string]Page{"vllm": {"vllm:a": true}, "triton-vllm": {"nv_b": true}, "triton-trt": {"nv_c": true}},
		DCGM: Page{"DCGM_d": true}, Loadgen: Page{"loadgen_e": true}}
	for tag, want := range map[string]string{"vllm": "vllm:a", "triton-vllm": "nv_b", "triton-trt": "nv_c", "loadgen": "loadgen_e"} {
		p, _, err := dashboardPage(tag, pages, Page{})
		if err != nil || !p[want] {
			t.Errorf("dashboardPage(%s) = %v, %v; want %s in it", tag, p, err, want)
		}
	}
	if _, _, err := dashboardPage("", pages, nil); err == nil || !strings.Contains(err.Error(), "(vllm, triton-vllm, triton-trt, slo, loadgen)") {
		t.Errorf("no tag: %v", err)
	}
	if _, _, err := dashboardPage("tgi", pages, nil); err == nil || !strings.Contains(err.Error(), "(want vllm, triton-vllm, triton-trt, slo or loadgen)") {
		t.Errorf("unknown tag: %v", err)
	}
}
