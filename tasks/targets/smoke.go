package targets

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/smoke"
)

// Smoke checks a running backend step by step (health, models or metadata,
// a short, a long and a streamed completion, metrics) and prints one PASS or
// FAIL line per step, or with -json one JSON object; any failure fails the
// target. The endpoint comes from deploy/.env (EndpointFor) unless -url is
// given.
func Smoke(ctx context.Context, name string, jsonOut *bool, urlFlag *string) error {
	cfg, err := settings()
	if err != nil {
		return err
	}
	ep, err := EndpointFor(name, cfg)
	if err != nil {
		return err
	}
	o := smoke.Options{Backend: name, URL: ep.URL, Protocol: ep.Protocol, Model: ep.Model}
	triton := o.Protocol.Triton()
	if !triton {
		// vLLM serves the model under --served-model-name.
		o.Model = cfg.Get(backend.KeyServedModel)
	}
	if u := str(urlFlag); u != "" {
		if o.URL, err = smokeURL(u); err != nil {
			return err
		}
		if !triton {
			o.Model = "" // another server: take the model it lists
		}
	}
	if triton {
		if o.MetricsURL, err = MetricsURLFor(name, cfg, o.URL); err != nil {
			return err
		}
	}
	asJSON := Flag(jsonOut)
	if !asJSON {
		what := name
		if name == string(backend.Sim) {
			what = name + " (" + cfg.Get(backend.KeyPersonality) + ")"
		}
		fmt.Printf("smoke: %s at %s (%s)\n", what, o.URL, o.Protocol)
		o.OnStep = func(s smoke.Step) { fmt.Println(smoke.FormatStep(s)) }
	}
	rep, err := smoke.Run(ctx, o)
	if err != nil {
		return err
	}
	if asJSON {
		if err := rep.WriteJSON(os.Stdout); err != nil {
			return err
		}
	} else {
		fmt.Println(rep.Summary())
	}
	return rep.Err()
}

// smokeURL checks a -url value: http(s)://HOST:PORT, with a trailing /v1 or
// /v2 (the API prefix) taken off.
func smokeURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("-url %q: expected the server's base URL, e.g. -url=http://127.0.0.1:8000", s)
	}
	s = strings.TrimRight(s, "/")
	for _, p := range []string{"/v1", "/v2"} {
		s = strings.TrimSuffix(s, p)
	}
	return s, nil
}
