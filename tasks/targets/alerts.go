package targets

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/alerts"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/engine"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/env"
)

// AlertsTestOptions are alerts:test's flags, resolved.
type AlertsTestOptions struct {
	Severity string
	Timeout  time.Duration
}

// alertsTestOptions resolves the flags: -severity page (default) or
// ticket, -timeout 2m by default.
func alertsTestOptions(severity *string, timeout *time.Duration) (AlertsTestOptions, error) {
	o := AlertsTestOptions{Severity: str(severity), Timeout: Duration(timeout, 2*time.Minute)}
	if o.Severity == "" {
		o.Severity = "page"
	}
	if o.Severity != "page" && o.Severity != "ticket" {
		return o, fmt.Errorf("-severity=%q: expected page or ticket", o.Severity)
	}
	if o.Timeout <= 0 {
		return o, fmt.Errorf("-timeout=%s: expected a positive duration, e.g. 2m", o.Timeout)
	}
	return o, nil
}

// AlertsTest sends a test alert through the stack's Alertmanager to the
// receiver that deploy/.env gives its severity and says whether it was
// delivered; non-zero when it was not.
func AlertsTest(ctx context.Context, severity *string, timeout *time.Duration) error {
	o, err := alertsTestOptions(severity, timeout)
	if err != nil {
		return err
	}
	cfg, err := env.Load(".")
	if err != nil {
		return err
	}
	s, err := alerts.FromEnv(cfg.Get)
	if err != nil {
		return err
	}
	project := cfg.Get("COMPOSE_PROJECT_NAME")
	return alerts.SendTest(ctx, alerts.TestOptions{
		Client:   alerts.Client{URL: backend.HostURL(cfg.Get, "http", alerts.KeyPort)},
		Settings: s,
		Severity: o.Severity,
		Timeout:  o.Timeout,
		Out:      os.Stdout,
		Logs:     func(ctx context.Context) (string, error) { return alertmanagerLog(ctx, project) },
	})
}

// alertmanagerLog is the last lines of the stack's Alertmanager container.
func alertmanagerLog(ctx context.Context, project string) (string, error) {
	eng, err := engine.Connect(ctx)
	if err != nil {
		return "", err
	}
	defer eng.Close()
	cs, err := eng.ProjectContainers(ctx, project)
	if err != nil {
		return "", err
	}
	for _, c := range cs {
		if c.Service == "alertmanager" {
			return eng.Tail(ctx, c.ID, 100)
		}
	}
	return "", fmt.Errorf("no alertmanager container in project %s", project)
}
