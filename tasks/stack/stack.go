package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/alerts"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/compose"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/engine"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/env"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/ui"
)

// Options configure the stack targets.
type Options struct {
	Root    string        // project root; "" means the working directory
	Out     io.Writer     // progress and tables; default os.Stdout
	Timeout time.Duration // up: how long to wait for health; 0 = profile default
	Volumes bool          // down: also remove named volumes
	Service string        // logs: one service only
	Tail    int           // logs: lines of history; up: log lines shown on failure
	// Prepare runs after .env is validated and before anything is started:
	// preflight checks, image builds, generated model repositories.
	Prepare func(ctx context.Context, cfg *env.Config) error
}

func (o Options) out() io.Writer {
	if o.Out == nil {
		return os.Stdout
	}
	return o.Out
}

func (o Options) root() string {
	if o.Root == "" {
		return "."
	}
	return o.Root
}

func (o Options) tail() int {
	if o.Tail <= 0 {
		return 30
	}
	return o.Tail
}

// DefaultTimeout is how long up waits for a profile to become healthy: GPU
// servers download and load a model first.
func DefaultTimeout(p Profile) time.Duration {
	if p.GPU {
		return 20 * time.Minute
	}
	return 3 * time.Minute
}

// Up validates deploy/.env, stops a running backend of another profile,
// starts the profile, waits until every container is healthy and prints
// the URLs. A container that exits or stays unhealthy fails it, with that
// container's last log lines.
func Up(ctx context.Context, profile string, o Options) error {
	p, err := ProfileByName(profile)
	if err != nil {
		return err
	}
	cfg, err := env.Load(o.root())
	if err != nil {
		return err
	}
	if o.Prepare != nil {
		if err := o.Prepare(ctx, cfg); err != nil {
			return err
		}
	}
	out := o.out()
	// Alertmanager reads no environment variables: its configuration is
	// written from .env before compose starts (secrets only in that file).
	am, err := alerts.FromEnv(cfg.Get)
	if err != nil {
		return err
	}
	if _, err := alerts.Write(o.root(), am); err != nil {
		return fmt.Errorf("writing the Alertmanager configuration: %w", err)
	}
	fmt.Fprintf(out, "wrote %s (mode 0600): %s\n", alerts.ConfigPath, am.Describe())
	project := cfg.Get("COMPOSE_PROJECT_NAME")
	eng, err := engine.Connect(ctx)
	if err != nil {
		return err
	}
	defer eng.Close()
	cmp, err := compose.New(ctx, o.root(), project)
	if err != nil {
		return err
	}
	cmp.Stdout, cmp.Stderr = out, out

	running, err := eng.ProjectContainers(ctx, project)
	if err != nil {
		return err
	}
	for _, other := range toStop(p, running) {
		fmt.Fprintf(out, "stopping the running %s profile first (one backend at a time): %s\n", other.profile, strings.Join(other.services, ", "))
		if err := cmp.Run(ctx, compose.RemoveArgs(cmp.Root, project, other.profile, other.services)...); err != nil {
			return err
		}
	}

	fmt.Fprintf(out, "starting the %s profile (%s): %s\n", p.Name, p.Title, strings.Join(p.Services(), ", "))
	if err := cmp.Run(ctx, compose.UpArgs(cmp.Root, project, p.Name)...); err != nil {
		return err
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout(p)
	}
	if err := Wait(ctx, eng, project, p.Services(), timeout, out, o.tail()); err != nil {
		return err
	}
	// A running Alertmanager keeps its old configuration: reload it.
	if err := (alerts.Client{URL: backend.HostURL(cfg.Get, "http", alerts.KeyPort)}).Reload(ctx); err != nil {
		fmt.Fprintf(out, "WARN: Alertmanager did not reload its configuration: %v\n", err)
	}
	fmt.Fprintf(out, "\n%s is up: every container is healthy.\n\n", p.Title)
	rows := [][]string{{"SERVICE", "URL"}}
	for _, u := range p.URLs(cfg) {
		rows = append(rows, []string{u.Name, u.URL})
	}
	ui.Table(out, rows)
	return nil
}

type stopSet struct {
	profile  string
	services []string
}

// toStop returns, per other profile, its services that are running (or
// left over) and must go before p starts.
func toStop(p Profile, running []engine.Container) []stopSet {
	by := map[string][]string{}
	for _, c := range running {
		if c.State == "exited" || c.State == "dead" || c.State == "created" {
			if op, ok := profileOf(c.Service); !ok || op.Name == p.Name {
				continue
			}
		}
		op, ok := profileOf(c.Service)
		if ok && op.Name != p.Name {
			by[op.Name] = append(by[op.Name], c.Service)
		}
	}
	var sets []stopSet
	for _, op := range Profiles {
		svcs, ok := by[op.Name]
		if !ok {
			continue
		}
		if op.GPU && !p.GPU {
			for _, c := range running {
				if slices.Contains(GPUServices, c.Service) && !slices.Contains(svcs, c.Service) {
					svcs = append(svcs, c.Service)
				}
			}
		}
		sort.Strings(svcs)
		sets = append(sets, stopSet{op.Name, slices.Compact(svcs)})
	}
	return sets
}

// WaitError says which container failed, with its log tail.
type WaitError struct {
	Service string
	Reason  string
}

func (e *WaitError) Error() string {
	return fmt.Sprintf("%s %s; its last log lines are above (mage logs -service=%s shows more)", e.Service, e.Reason, e.Service)
}

// Wait polls the engine until every service has a ready container. It fails
// as soon as one exits or turns unhealthy, or when timeout passes, printing
// the failing container's last log lines to out.
func Wait(ctx context.Context, eng *engine.Engine, project string, services []string, timeout time.Duration, out io.Writer, tail int) error {
	start := time.Now()
	deadline := start.Add(timeout)
	status := ui.NewStatus(out)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		cs, err := eng.ProjectContainers(ctx, project)
		if err != nil {
			status.Done()
			return err
		}
		byService := map[string]engine.Container{}
		for _, c := range cs {
			byService[c.Service] = c
		}
		var waiting []string
		for _, s := range services {
			c, ok := byService[s]
			switch {
			case !ok:
				waiting = append(waiting, s+" (no container yet)")
			case c.Failed():
				status.Done()
				reason := "exited with code " + fmt.Sprint(c.ExitCode)
				if c.OOMKilled {
					reason += " (killed: out of memory)"
				}
				if c.Health == "unhealthy" && c.State == "running" {
					reason = "is unhealthy (its health check failed)"
				}
				showFailure(ctx, eng, out, c, tail)
				return &WaitError{Service: s, Reason: reason}
			case !c.Ready():
				waiting = append(waiting, s+" ("+c.Describe()+")")
			}
		}
		elapsed := time.Since(start).Truncate(time.Second)
		if len(waiting) == 0 {
			status.Done()
			fmt.Fprintf(out, "all %d containers ready after %s\n", len(services), elapsed)
			return nil
		}
		if time.Now().After(deadline) {
			status.Done()
			for _, s := range services {
				if c, ok := byService[s]; ok && !c.Ready() {
					showFailure(ctx, eng, out, c, tail)
				}
			}
			return fmt.Errorf("timed out after %s waiting for %s; raise -timeout if the model is still loading, or read the log lines above", timeout, strings.Join(waiting, ", "))
		}
		status.Update(fmt.Sprintf("waiting %s for %s", elapsed, strings.Join(waiting, ", ")))
		select {
		case <-ctx.Done():
			status.Done()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func showFailure(ctx context.Context, eng *engine.Engine, out io.Writer, c engine.Container, tail int) {
	fmt.Fprintf(out, "\n%s: %s\n", c.Service, c.Describe())
	if c.HealthLog != "" {
		fmt.Fprintf(out, "last health check output: %s\n", c.HealthLog)
	}
	logs, err := eng.Tail(ctx, c.ID, tail)
	if err != nil {
		fmt.Fprintf(out, "(could not read its logs: %v)\n", err)
		return
	}
	fmt.Fprintf(out, "--- last %d log lines of %s ---\n%s", tail, c.Name, logs)
	if logs != "" && !strings.HasSuffix(logs, "\n") {
		fmt.Fprintln(out)
	}
	fmt.Fprintf(out, "--- end of %s ---\n", c.Name)
}

// Down stops and removes every profile's containers; volumes stay unless
// o.Volumes.
func Down(ctx context.Context, o Options) error {
	cfg, err := env.Load(o.root())
	if err != nil {
		return err
	}
	cmp, err := compose.New(ctx, o.root(), cfg.Get("COMPOSE_PROJECT_NAME"))
	if err != nil {
		return err
	}
	cmp.Stdout, cmp.Stderr = o.out(), o.out()
	if err := cmp.Run(ctx, compose.DownArgs(cmp.Root, cmp.Project, o.Volumes)...); err != nil {
		return err
	}
	if o.Volumes {
		fmt.Fprintln(o.out(), "stopped every profile and removed its volumes")
	} else {
		fmt.Fprintln(o.out(), "stopped every profile; volumes kept (mage down -volumes removes them)")
	}
	return nil
}

// project is the validated configuration, a connected engine and the
// containers of the compose project.
type project struct {
	cfg        *env.Config
	eng        *engine.Engine
	name       string
	containers []engine.Container
}

func openProject(ctx context.Context, o Options) (*project, error) {
	cfg, err := env.Load(o.root())
	if err != nil {
		return nil, err
	}
	eng, err := engine.Connect(ctx)
	if err != nil {
		return nil, err
	}
	name := cfg.Get("COMPOSE_PROJECT_NAME")
	cs, err := eng.ProjectContainers(ctx, name)
	if err != nil {
		eng.Close()
		return nil, err
	}
	return &project{cfg: cfg, eng: eng, name: name, containers: cs}, nil
}

// Logs follows the logs of the project's containers (or one service) until
// ctx is cancelled (Ctrl+C).
func Logs(ctx context.Context, o Options) error {
	p, err := openProject(ctx, o)
	if err != nil {
		return err
	}
	defer p.eng.Close()
	eng, project, cs := p.eng, p.name, p.containers
	if len(cs) == 0 {
		return fmt.Errorf("no containers in project %s; start a profile first, e.g. mage up:sim", project)
	}
	if o.Service != "" {
		var names []string
		var pick []engine.Container
		for _, c := range cs {
			names = append(names, c.Service)
			if c.Service == o.Service {
				pick = append(pick, c)
			}
		}
		if len(pick) == 0 {
			return fmt.Errorf("no service %q in project %s; its services are: %s", o.Service, project, strings.Join(names, ", "))
		}
		cs = pick
	}
	tail := "100"
	if o.Tail > 0 {
		tail = fmt.Sprint(o.Tail)
	}
	err = eng.Follow(ctx, o.out(), cs, tail)
	if ctx.Err() != nil {
		return nil // Ctrl+C is how logs ends
	}
	return err
}

// Target is one Prometheus scrape target, as /api/v1/targets reports it.
type Target struct {
	Job        string `json:"job"`
	Instance   string `json:"instance"`
	Health     string `json:"health"`
	LastError  string `json:"lastError"`
	LastScrape string `json:"lastScrape"`
	ScrapeURL  string `json:"scrapeUrl"`
}

// Targets reads the active scrape targets from the Prometheus at base.
func Targets(ctx context.Context, base string) ([]Target, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/api/v1/targets?state=active", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", req.URL, resp.Status)
	}
	var body struct {
		Status string `json:"status"`
		Data   struct {
			ActiveTargets []struct {
				Labels     map[string]string `json:"labels"`
				Health     string            `json:"health"`
				LastError  string            `json:"lastError"`
				LastScrape string            `json:"lastScrape"`
				ScrapeURL  string            `json:"scrapeUrl"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", req.URL, err)
	}
	var ts []Target
	for _, a := range body.Data.ActiveTargets {
		ts = append(ts, Target{Job: a.Labels["job"], Instance: a.Labels["instance"], Health: a.Health,
			LastError: a.LastError, LastScrape: a.LastScrape, ScrapeURL: a.ScrapeURL})
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Job+ts[i].Instance < ts[j].Job+ts[j].Instance })
	return ts, nil
}

// ErrUnhealthy is returned by Status when a container or target is not well.
var ErrUnhealthy = errors.New("the stack is not healthy")

// Status prints each container's state and health, and whether Prometheus
// scrapes each target of the running services (up or down, with the last
// error). It fails when a container failed or a target is down.
func Status(ctx context.Context, o Options) error {
	p, err := openProject(ctx, o)
	if err != nil {
		return err
	}
	defer p.eng.Close()
	out, cfg, project, cs := o.out(), p.cfg, p.name, p.containers
	if len(cs) == 0 {
		fmt.Fprintf(out, "no containers in project %s; start a profile, e.g. mage up:sim\n", project)
		return nil
	}
	bad := 0
	rows := [][]string{{"SERVICE", "CONTAINER", "STATE", "HEALTH"}}
	present := map[string]bool{}
	for _, c := range cs {
		h := c.Health
		if h == "" {
			h = "-"
		}
		if !c.Ready() {
			bad++
		}
		present[c.Service] = c.State == "running"
		rows = append(rows, []string{c.Service, c.Name, c.State, h})
	}
	ui.Table(out, rows)
	fmt.Fprintln(out)

	promURL := backend.HostURL(cfg.Get, "http", backend.KeyPromPort)
	if !present["prometheus"] {
		fmt.Fprintln(out, "prometheus is not running: scrape targets unknown")
		bad++
	} else if ts, err := Targets(ctx, promURL); err != nil {
		fmt.Fprintf(out, "could not read scrape targets from %s: %v\n", promURL, err)
		bad++
	} else {
		trows := [][]string{{"JOB", "TARGET", "SCRAPE", "LAST ERROR"}}
		for _, t := range ts {
			svc, _, _ := strings.Cut(t.Instance, ":")
			if svc != "localhost" && !present[svc] && t.Health != "up" {
				continue // a target of a profile, or a load generator, that is not running
			}
			if t.Health != "up" {
				bad++
			}
			e := t.LastError
			if e == "" {
				e = "-"
			}
			trows = append(trows, []string{t.Job, t.Instance, t.Health, e})
		}
		ui.Table(out, trows)
	}
	bad += alertmanagerStatus(ctx, out, cfg, present["alertmanager"])
	if bad > 0 {
		return fmt.Errorf("%w: %d container(s) or scrape target(s) not ready; see the tables above", ErrUnhealthy, bad)
	}
	return nil
}

// alertmanagerStatus prints Alertmanager's state (cluster status, uptime)
// and the alerts it holds; it returns 1 when Alertmanager is not well.
func alertmanagerStatus(ctx context.Context, out io.Writer, cfg *env.Config, running bool) int {
	fmt.Fprintln(out)
	if !running {
		fmt.Fprintln(out, "alertmanager is not running: alerts reach no receiver")
		return 1
	}
	c := alerts.Client{URL: backend.HostURL(cfg.Get, "http", alerts.KeyPort)}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		fmt.Fprintf(out, "could not read Alertmanager's status from %s: %v\n", c.URL, err)
		return 1
	}
	up := "-"
	if !st.Uptime.IsZero() {
		up = time.Since(st.Uptime).Round(time.Second).String()
	}
	fmt.Fprintf(out, "Alertmanager %s at %s: cluster %s, up %s\n", st.VersionInfo.Version, c.URL, st.Cluster.Status, up)
	as, err := c.Alerts(ctx)
	if err != nil {
		fmt.Fprintf(out, "could not read the alerts from %s: %v\n", c.URL, err)
		return 1
	}
	if len(as) == 0 {
		fmt.Fprintln(out, "no active alerts")
		return 0
	}
	rows := [][]string{{"ALERT", "SEVERITY", "SLO", "MODEL", "SINCE", "STATE"}}
	for _, a := range as {
		state := a.Status.State
		if len(a.Status.InhibitedBy) > 0 {
			state += " (inhibited)"
		} else if len(a.Status.SilencedBy) > 0 {
			state += " (silenced)"
		}
		rows = append(rows, []string{a.Labels["alertname"], dash(a.Labels["severity"]), dash(a.Labels["slo"]), dash(a.Labels["model"]),
			a.StartsAt.Local().Format(time.DateTime), state})
	}
	ui.Table(out, rows)
	return 0
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
