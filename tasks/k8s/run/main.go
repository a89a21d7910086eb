// Command run is `mage k8s:render`, `mage k8s:apply` and `mage k8s:delete` as
// their own program: Helm's engine and client-go are large, so the magefile
// runs this with `go run` instead of linking them into every mage build.
//
//	go run ./tasks/k8s/run render [-out=DIR|-] [-release=R] [-namespace=NS] [-sim] [-dashboard-label=KEY=VALUE]
//	go run ./tasks/k8s/run apply  [-context=C] [-kubeconfig=F] [-release=R] [-namespace=NS] [-sim] [-dashboard-label=KEY=VALUE]
//	go run ./tasks/k8s/run delete [-context=C] [-kubeconfig=F] [-release=R] [-namespace=NS]
//
// Exit status: 0 done, 1 failed, 2 bad command line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/k8s/chart"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: run render|apply|delete|load [flags]
  render  writes the chart's objects: one YAML file per object into -out=DIR, or one stream to stdout (-out=-)
  apply   applies them server-side to the kubeconfig's cluster (nothing is written if any is refused)
  delete  deletes the objects of the release (-release) from the cluster
  load    runs generator pods (an Indexed Job) and merges their results: load [flags] -- [cmd/loadgen flags]
run 'run SUBCOMMAND -h' for the flags`

// errUsage marks a command-line error (exit status 2).
var errUsage = errors.New("bad command line")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "render":
		err = render(args[1:], stdout, stderr)
	case "apply", "delete":
		err = applyOrDelete(ctx, args[0], args[1:], stdout, stderr)
	case "load":
		err = loadCmd(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "k8s: unknown subcommand %q\n%s\n", args[0], usage)
		return 2
	}
	var exit *exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "k8s:", err)
		return 2
	case errors.As(err, &exit):
		fmt.Fprintln(stderr, "k8s:", err)
		return exit.code
	default:
		fmt.Fprintln(stderr, "k8s:", err)
		return 1
	}
}

// chartFlags are the flags that say what to render, common to every subcommand.
type chartFlags struct {
	release, namespace, dashboardLabel, chartDir string
	sim                                          bool
}

func (c *chartFlags) register(fs *flag.FlagSet, withValues bool) {
	fs.StringVar(&c.release, "release", chart.DefaultRelease, "release name: object name prefix and the app.kubernetes.io/instance label")
	fs.StringVar(&c.namespace, "namespace", chart.DefaultNamespace, "namespace of every object")
	fs.StringVar(&c.chartDir, "chart", "", "the chart's folder (default: "+chart.Dir+" here or in a folder above)")
	if withValues {
		fs.BoolVar(&c.sim, "sim", false, "also the simulator: a Deployment and Service per backend (sim.enabled)")
		fs.StringVar(&c.dashboardLabel, "dashboard-label", "", "label of the dashboard ConfigMaps that Grafana's sidecar watches, KEY=VALUE (default grafana_dashboard=1)")
	}
}

func (c chartFlags) options() chart.Options {
	return chart.Options{ChartDir: c.chartDir, Release: c.release, Namespace: c.namespace, Sim: c.sim, DashboardLabel: c.dashboardLabel}
}

// check validates the flags before anything runs, so that a bad one is a
// command-line error (exit 2) naming the flag.
func (c chartFlags) check() error {
	if err := chart.ValidateRelease(c.release); err != nil {
		return fmt.Errorf("%w: -release: %v", errUsage, err)
	}
	if c.namespace == "" {
		return fmt.Errorf("%w: -namespace is empty (e.g. -namespace=%s)", errUsage, chart.DefaultNamespace)
	}
	if c.dashboardLabel != "" {
		if _, _, err := chart.ParseLabel(c.dashboardLabel); err != nil {
			return fmt.Errorf("%w: -dashboard-label: %v", errUsage, err)
		}
	}
	return nil
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q (flags are -name=value)", errUsage, fs.Arg(0))
	}
	return nil
}

func render(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c chartFlags
	c.register(fs, true)
	out := fs.String("out", "-", "folder to write one YAML file per object into (created if missing), or - for one stream on stdout")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("%w: -out is empty: give a folder, or - for stdout", errUsage)
	}
	objs, err := chart.Render(c.options())
	if err != nil {
		return err
	}
	if *out == "-" {
		return writeStream(stdout, objs)
	}
	n, err := writeDir(*out, objs)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "k8s:render: %d objects (release %s, namespace %s) written to %s\n", n, c.release, c.namespace, *out)
	return nil
}

func marshal(u *unstructured.Unstructured) ([]byte, error) {
	b, err := yaml.Marshal(u.Object)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return b, nil
}

func writeStream(w io.Writer, objs []*unstructured.Unstructured) error {
	for _, u := range objs {
		b, err := marshal(u)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "---\n%s", b); err != nil {
			return err
		}
	}
	return nil
}

// generated matches the names writeDir gives its files.
var generated = regexp.MustCompile(`^[0-9]{2,}-[a-z0-9]+-[a-z0-9.-]+\.yaml$`)

// FileName is the file of the i-th object (from 0): the position keeps the
// apply order when the files are applied in name order (kubectl apply -f DIR).
func FileName(i int, u *unstructured.Unstructured) string {
	return fmt.Sprintf("%02d-%s-%s.yaml", i+1, strings.ToLower(u.GetKind()), u.GetName())
}

// writeDir writes one file per object into dir. Files of an earlier render
// (names as FileName gives them) that this one does not write are removed, so
// the folder holds exactly this render; other files are left alone.
func writeDir(dir string, objs []*unstructured.Unstructured) (int, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("-out: %w", err)
	}
	keep := map[string]bool{}
	for i, u := range objs {
		b, err := marshal(u)
		if err != nil {
			return 0, err
		}
		name := FileName(i, u)
		keep[name] = true
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return 0, fmt.Errorf("-out: %w", err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("-out: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() && generated.MatchString(e.Name()) && !keep[e.Name()] {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return 0, fmt.Errorf("-out: removing %s of an earlier render: %w", e.Name(), err)
			}
		}
	}
	return len(objs), nil
}
