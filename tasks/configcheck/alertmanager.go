package configcheck

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/alerts"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/env"
)

// FindAmtool returns Debian's amtool (package prometheus-alertmanager), or
// "" when there is none.
func FindAmtool() string {
	p, err := exec.LookPath("amtool")
	if err != nil {
		return ""
	}
	return p
}

// checkAlertmanager runs `amtool check-config` on the Alertmanager
// configuration generated from deploy/.env (env.example's values when
// there is no .env) and on one sample of each receiver kind and a
// page/ticket split. The files are written to a private temporary folder
// (mode 0600) and removed; no output shows a secret (amtool prints the
// receivers' names, not their URLs).
func checkAlertmanager(ctx context.Context, root string, amtool string, r *reporter) {
	if amtool == "" {
		r.skip("amtool check-config", "skipped: amtool not found (install Alertmanager's amtool, e.g. apt-get install prometheus-alertmanager)")
		return
	}
	dir, err := os.MkdirTemp("", "lop-amtool-")
	if err != nil {
		r.fail("amtool check-config", "%v", err)
		return
	}
	defer os.RemoveAll(dir)
	type item struct {
		name string
		s    alerts.Settings
	}
	var items []item
	src := env.ExamplePath
	if _, err := os.Stat(filepath.Join(root, env.DotEnvPath)); err == nil {
		src = env.DotEnvPath
	} else if !errors.Is(err, fs.ErrNotExist) {
		r.fail("amtool check-config "+env.DotEnvPath, "%v", err)
	}
	if cfg, err := env.Settings(root); err != nil {
		r.fail("amtool check-config "+src, "cannot read the settings: %v", err)
	} else if s, err := alerts.FromEnv(cfg.Get); err != nil {
		r.fail("amtool check-config "+src, "%v", err)
	} else {
		items = append(items, item{src + " (" + s.Describe() + ")", s})
	}
	for _, sm := range alerts.Samples() {
		items = append(items, item{"sample " + sm.Name, sm.Settings})
	}
	for i, it := range items {
		b, err := alerts.Config(it.s)
		if err != nil {
			r.fail("amtool check-config "+it.name, "%v", err)
			continue
		}
		path := filepath.Join(dir, "alertmanager-"+string(rune('a'+i))+".yml")
		if err := alerts.WriteFile(path, b); err != nil {
			r.fail("amtool check-config "+it.name, "%v", err)
			continue
		}
		out, err := runTool(ctx, dir, amtool, "check-config", path)
		if err != nil {
			r.fail("amtool check-config "+it.name, "%v\n%s", err, alerts.Redact(out, it.s))
			continue
		}
		r.pass("amtool check-config "+it.name, "%s", amtoolSummary(out))
	}
}

// amtoolSummary turns amtool's report ("Checking 'f'  SUCCESS", "Found:",
// " - 2 receivers", ...) into one line: "SUCCESS: 2 receivers, 1 inhibit rules".
func amtoolSummary(out string) string {
	var found []string
	ok := false
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasSuffix(l, "SUCCESS"):
			ok = true
		case strings.HasSuffix(l, " receivers"), strings.HasSuffix(l, " inhibit rules"):
			found = append(found, strings.TrimPrefix(l, "- "))
		}
	}
	if !ok {
		return lastLine(out)
	}
	return strings.TrimSpace("SUCCESS: " + strings.Join(found, ", "))
}
