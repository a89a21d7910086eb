package stack

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/alerts"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/compose"
)

// Alertmanager runs in every profile, with its image and port from .env,
// the port bound to ${BIND_ADDRESS}, a health check, a data volume and the
// generated configuration mounted read-only; Prometheus sends it alerts.
func TestAlertmanagerService(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", compose.File))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Image       string   `yaml:"image"`
			Profiles    []string `yaml:"profiles"`
			Ports       []string `yaml:"ports"`
			Volumes     []string `yaml:"volumes"`
			Command     []string `yaml:"command"`
			Healthcheck struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	am, ok := doc.Services["alertmanager"]
	if !ok {
		t.Fatal("compose.yaml has no alertmanager service")
	}
	if am.Image != "${ALERTMANAGER_IMAGE}" || len(am.Profiles) != 0 {
		t.Errorf("image %q profiles %v", am.Image, am.Profiles)
	}
	if !slices.Equal(am.Ports, []string{"${BIND_ADDRESS}:${" + alerts.KeyPort + "}:9093"}) {
		t.Errorf("ports %v", am.Ports)
	}
	if got := strings.Join(am.Healthcheck.Test, " "); got != "CMD wget -q -O /dev/null http://127.0.0.1:9093/-/ready" {
		t.Errorf("health check %q", got)
	}
	dir := filepath.Dir(alerts.ConfigPath)
	if rel := "./" + strings.TrimPrefix(filepath.ToSlash(dir), "deploy/"); !slices.Contains(am.Volumes, rel+":/etc/alertmanager:ro") {
		t.Errorf("volumes %v lack %s mounted read-only", am.Volumes, rel)
	}
	if !slices.Contains(am.Volumes, "alertmanager-data:/alertmanager") {
		t.Errorf("no data volume: %v", am.Volumes)
	}
	if _, ok := doc.Volumes["alertmanager-data"]; !ok {
		t.Error("volume alertmanager-data not declared")
	}
	if !slices.Contains(am.Command, "--config.file=/etc/alertmanager/"+filepath.Base(alerts.ConfigPath)) {
		t.Errorf("command %v", am.Command)
	}
	for _, p := range Profiles {
		if !slices.Contains(p.Services(), "alertmanager") {
			t.Errorf("profile %s lacks alertmanager", p.Name)
		}
	}

	prom, err := os.ReadFile(filepath.Join("..", "..", "deploy", "prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var pc struct {
		Alerting struct {
			Alertmanagers []struct {
				StaticConfigs []struct {
					Targets []string `yaml:"targets"`
				} `yaml:"static_configs"`
			} `yaml:"alertmanagers"`
		} `yaml:"alerting"`
	}
	if err := yaml.Unmarshal(prom, &pc); err != nil {
		t.Fatal(err)
	}
	if len(pc.Alerting.Alertmanagers) != 1 || len(pc.Alerting.Alertmanagers[0].StaticConfigs) != 1 ||
		!slices.Equal(pc.Alerting.Alertmanagers[0].StaticConfigs[0].Targets, []string{"alertmanager:9093"}) {
		t.Errorf("prometheus.yml alerting: %+v", pc.Alerting)
	}
	// The generated file stays out of git.
	ign, err := os.ReadFile(filepath.Join("..", "..", ".gitignore"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Split(string(ign), "\n"), "/"+filepath.ToSlash(alerts.ConfigPath)) {
		t.Errorf(".gitignore lacks /%s", alerts.ConfigPath)
	}
}
