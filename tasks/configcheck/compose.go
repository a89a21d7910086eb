package configcheck

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/sirupsen/logrus"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/env"
)

// Profiles of deploy/compose.yaml and the backend service each one
// starts: the backend table's.
var Profiles = func() map[string]string {
	m := make(map[string]string, len(backend.Table))
	for _, b := range backend.Table {
		m[b.Profile] = b.Services[0]
	}
	return m
}()

// DummyPassword fills the empty GRAFANA_ADMIN_PASSWORD of env.example.
const DummyPassword = "configcheck-dummy-password"

// ExampleEnv reads deploy/env.example as `mage env:init` would start .env:
// every key, with a dummy Grafana password.
func ExampleEnv(path string) (map[string]string, error) {
	env, err := dotenv.Read(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if env["GRAFANA_ADMIN_PASSWORD"] == "" {
		env["GRAFANA_ADMIN_PASSWORD"] = DummyPassword
	}
	return env, nil
}

var composeVarRe = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)`)

// composeVariables lists the ${VAR} references of a compose file.
func composeVariables(b []byte) []string {
	set := map[string]bool{}
	for _, m := range composeVarRe.FindAllSubmatch(b, -1) {
		set[string(m[1])] = true
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// LoadCompose loads the compose file for one profile with env.
func LoadCompose(ctx context.Context, composePath string, env map[string]string, profile string) (*types.Project, error) {
	list := make([]string, 0, len(env))
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	sort.Strings(list)
	// compose-go logs a warning for each unset variable through logrus;
	// checkCompose reports those itself, once.
	lvl := logrus.GetLevel()
	logrus.SetLevel(logrus.ErrorLevel)
	defer logrus.SetLevel(lvl)
	opts, err := cli.NewProjectOptions([]string{composePath},
		cli.WithWorkingDirectory(filepath.Dir(composePath)),
		cli.WithEnv(list),
		cli.WithProfiles([]string{profile}),
		cli.WithName(env["COMPOSE_PROJECT_NAME"]),
	)
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(ctx)
}

// checkCompose validates deploy/compose.yaml for each profile.
func checkCompose(ctx context.Context, root string, r *reporter) {
	composePath := filepath.Join(root, "deploy", "compose.yaml")
	envPath := filepath.Join(root, "deploy", "env.example")
	env, err := ExampleEnv(envPath)
	if err != nil {
		r.fail("compose: env", "%v", err)
		return
	}
	raw, err := os.ReadFile(composePath)
	if err != nil {
		r.fail("compose: read", "%v", err)
		return
	}
	var missing []string
	for _, v := range composeVariables(raw) {
		if _, ok := env[v]; !ok {
			missing = append(missing, v)
		}
	}
	if len(missing) > 0 {
		r.fail("compose: variables", "deploy/compose.yaml uses %s, which deploy/env.example does not define; add the keys to env.example (and the env schema)",
			strings.Join(missing, ", "))
	} else {
		r.pass("compose: variables", "every ${VAR} of deploy/compose.yaml is a key of deploy/env.example")
	}
	profiles := make([]string, 0, len(Profiles))
	for p := range Profiles {
		profiles = append(profiles, p)
	}
	sort.Strings(profiles)
	for _, p := range profiles {
		name := "compose: profile " + p
		proj, err := LoadCompose(ctx, composePath, env, p)
		if err != nil {
			r.fail(name, "deploy/compose.yaml with deploy/env.example: %v", err)
			continue
		}
		var problems []string
		for _, want := range []string{Profiles[p], "prometheus", "grafana"} {
			if _, ok := proj.Services[want]; !ok {
				problems = append(problems, fmt.Sprintf("service %q is not started by profile %s", want, p))
			}
		}
		if prom, ok := proj.Services["prometheus"]; ok {
			problems = append(problems, checkMount(prom, filepath.Join(root, "deploy", "prometheus"), "/etc/prometheus")...)
		}
		if graf, ok := proj.Services["grafana"]; ok {
			problems = append(problems, checkMount(graf, filepath.Join(root, "dashboards"), "/etc/grafana/dashboards")...)
			problems = append(problems, checkMount(graf, filepath.Join(root, "deploy", "grafana", "provisioning"), "/etc/grafana/provisioning")...)
		}
		if len(problems) > 0 {
			r.fail(name, "%s", strings.Join(problems, "; "))
			continue
		}
		r.pass(name, "services %s", strings.Join(proj.ServiceNames(), ", "))
	}
	checkUserEnv(ctx, root, composePath, profiles, r)
}

// checkUserEnv validates the user's deploy/.env, when there is one, and
// loads the compose file of every profile with its values: what `mage up`
// would start.
func checkUserEnv(ctx context.Context, root, composePath string, profiles []string, r *reporter) {
	f, err := env.ReadFile(filepath.Join(root, env.DotEnvPath))
	if errors.Is(err, fs.ErrNotExist) {
		r.pass("compose: deploy/.env", "no deploy/.env yet (mage env:init writes it); checked with env.example only")
		return
	}
	if err != nil {
		r.fail("compose: deploy/.env", "%v", err)
		return
	}
	f.Path = env.DotEnvPath
	if err := env.Validate(f); err != nil {
		var ve *env.ValidationError
		if errors.As(err, &ve) {
			var lines []string
			for _, p := range ve.Problems {
				lines = append(lines, p.Error())
			}
			r.fail("compose: deploy/.env", "%s", strings.Join(lines, "; "))
		} else {
			r.fail("compose: deploy/.env", "%v", err)
		}
		return
	}
	r.pass("compose: deploy/.env", "every key valid")
	for _, p := range profiles {
		if _, err := LoadCompose(ctx, composePath, f.Map(), p); err != nil {
			r.fail("compose: profile "+p+" with deploy/.env", "%v", err)
			continue
		}
		r.pass("compose: profile "+p+" with deploy/.env", "loads")
	}
}

// checkMount verifies that a service mounts the repository folder src at target.
func checkMount(svc types.ServiceConfig, src, target string) []string {
	for _, v := range svc.Volumes {
		if v.Target != target {
			continue
		}
		if filepath.Clean(v.Source) != filepath.Clean(src) {
			return []string{fmt.Sprintf("service %s mounts %s at %s, want %s", svc.Name, v.Source, target, src)}
		}
		return nil
	}
	return []string{fmt.Sprintf("service %s does not mount %s at %s", svc.Name, src, target)}
}
