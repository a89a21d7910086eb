// Package chart renders the pack's Helm chart (deploy/helm/llm-observability-pack)
// with Helm's own engine, as `helm template` does, into Kubernetes objects sorted
// in the order Helm installs them. `mage k8s:render`, `mage k8s:apply`,
// `mage check:config` and the API-server tests all go through Render, so what
// they see is what `helm install` installs.
package chart

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// Dir is the chart's folder relative to the repository root.
const Dir = "deploy/helm/llm-observability-pack"

// Defaults of Options.
const (
	DefaultRelease   = "llm-observability-pack"
	DefaultNamespace = "llm-observability"
)

// Label keys every rendered object carries.
const (
	LabelPartOf    = "app.kubernetes.io/part-of"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	PartOf         = "llm-observability-pack"
	ManagedBy      = "Helm" // .Release.Service, as helm install sets it
)

// Options say what to render.
type Options struct {
	// ChartDir is the chart's folder; "" finds Dir in the working directory
	// or the nearest folder above it that holds it (so tests in any package
	// of the repository find it).
	ChartDir string
	// Release is the release name (object name prefix, instance label);
	// "" is DefaultRelease.
	Release string
	// Namespace is where every object goes; "" is DefaultNamespace.
	Namespace string
	// Sim sets sim.enabled: the simulator's Deployments, Services and monitors.
	Sim bool
	// DashboardLabel is the Grafana sidecar label of the dashboard ConfigMaps
	// as KEY=VALUE; "" keeps the chart's (grafana_dashboard=1).
	DashboardLabel string
	// Values are further chart values (as a values file would give them),
	// merged under the ones the fields above set.
	Values map[string]any
}

// Render renders the chart and returns its objects in Helm's install order
// (kinds in releaseutil.InstallOrder, then by name). It fails, naming the
// problem, on a bad release name, namespace or label, on a template error and
// on a document that is not a Kubernetes object.
func Render(o Options) ([]*unstructured.Unstructured, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	ch, err := loader.Load(o.ChartDir)
	if err != nil {
		return nil, fmt.Errorf("loading the chart %s: %w", o.ChartDir, err)
	}
	vals, err := o.values()
	if err != nil {
		return nil, err
	}
	files, err := renderFiles(ch, vals, o.Release, o.Namespace)
	if err != nil {
		return nil, err
	}
	return decode(files)
}

func (o Options) withDefaults() (Options, error) {
	if o.Release == "" {
		o.Release = DefaultRelease
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if err := ValidateRelease(o.Release); err != nil {
		return o, err
	}
	if errs := validation.IsDNS1123Label(o.Namespace); len(errs) > 0 {
		return o, fmt.Errorf("namespace %q: %s (e.g. -namespace=llm-observability)", o.Namespace, strings.Join(errs, "; "))
	}
	if o.DashboardLabel != "" {
		if _, _, err := ParseLabel(o.DashboardLabel); err != nil {
			return o, err
		}
	}
	if o.ChartDir == "" {
		d, err := FindDir()
		if err != nil {
			return o, err
		}
		o.ChartDir = d
	}
	return o, nil
}

// ValidateRelease checks a release name as Helm does (at most 53 characters:
// the chart appends suffixes to it) and as a Service name must be (starts with
// a letter).
func ValidateRelease(name string) error {
	if len(name) > 53 {
		return fmt.Errorf("release name %q is %d characters: at most 53 (Helm's limit)", name, len(name))
	}
	if errs := validation.IsDNS1035Label(name); len(errs) > 0 {
		return fmt.Errorf("release name %q: %s (e.g. -release=llmobs)", name, strings.Join(errs, "; "))
	}
	return nil
}

// ParseLabel splits KEY=VALUE and checks both as Kubernetes label key and value.
func ParseLabel(s string) (key, value string, err error) {
	key, value, ok := strings.Cut(s, "=")
	if !ok || key == "" {
		return "", "", fmt.Errorf("dashboard label %q: expected KEY=VALUE, e.g. grafana_dashboard=1", s)
	}
	if errs := validation.IsQualifiedName(key); len(errs) > 0 {
		return "", "", fmt.Errorf("dashboard label key %q: %s", key, strings.Join(errs, "; "))
	}
	if errs := validation.IsValidLabelValue(value); len(errs) > 0 {
		return "", "", fmt.Errorf("dashboard label value %q: %s", value, strings.Join(errs, "; "))
	}
	return key, value, nil
}

// FindDir returns Dir under the working directory or the nearest folder
// above it that has it.
func FindDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; {
		p := filepath.Join(d, filepath.FromSlash(Dir))
		if _, err := os.Stat(filepath.Join(p, "Chart.yaml")); err == nil {
			return p, nil
		}
		up := filepath.Dir(d)
		if up == d {
			return "", fmt.Errorf("no %s/Chart.yaml in %s or any folder above it: run from the repository root", Dir, wd)
		}
		d = up
	}
}

// values returns the user values: Values, with the fields' settings over them.
func (o Options) values() (map[string]any, error) {
	vals := map[string]any{}
	for k, v := range o.Values {
		vals[k] = v
	}
	if o.Sim {
		setPath(vals, true, "sim", "enabled")
	}
	if o.DashboardLabel != "" {
		k, v, _ := ParseLabel(o.DashboardLabel)
		setPath(vals, k, "dashboards", "label", "name")
		setPath(vals, v, "dashboards", "label", "value")
	}
	return vals, nil
}

// setPath sets m[keys[0]][keys[1]]... = v, making (or copying) the maps on the way
// so that the caller's Values are not changed.
func setPath(m map[string]any, v any, keys ...string) {
	for _, k := range keys[:len(keys)-1] {
		next := map[string]any{}
		if old, ok := m[k].(map[string]any); ok {
			for kk, vv := range old {
				next[kk] = vv
			}
		}
		m[k] = next
		m = next
	}
	m[keys[len(keys)-1]] = v
}

// renderFiles is what `helm template` does up to its output: values coalesced
// with the chart's (and checked against a schema, if the chart has one), the
// templates rendered, NOTES.txt left out.
func renderFiles(ch *chartv2.Chart, vals map[string]any, release, namespace string) (map[string]string, error) {
	opts := common.ReleaseOptions{Name: release, Namespace: namespace, Revision: 1, IsInstall: true}
	top, err := util.ToRenderValues(ch, vals, opts, common.DefaultCapabilities)
	if err != nil {
		return nil, fmt.Errorf("chart values: %w", err)
	}
	var e engine.Engine
	files, err := e.Render(ch, top)
	if err != nil {
		return nil, fmt.Errorf("rendering the chart: %w", err)
	}
	for k := range files {
		if path.Base(k) == "NOTES.txt" {
			delete(files, k)
		}
	}
	return files, nil
}

// decode sorts the manifests in install order and turns each into an object.
func decode(files map[string]string) ([]*unstructured.Unstructured, error) {
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, fmt.Errorf("splitting the rendered chart: %w", err)
	}
	if len(hooks) > 0 {
		return nil, fmt.Errorf("the chart has hooks (%s): Render does not run them", hooks[0].Path)
	}
	var objs []*unstructured.Unstructured
	for _, m := range manifests {
		j, err := yaml.YAMLToJSON([]byte(m.Content))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(j); err != nil {
			return nil, fmt.Errorf("%s: not a Kubernetes object: %w", m.Name, err)
		}
		if u.GetName() == "" {
			return nil, fmt.Errorf("%s: %s without metadata.name", m.Name, u.GetKind())
		}
		objs = append(objs, u)
	}
	// SortManifests orders by kind; within a kind, order by name so the
	// output does not depend on template file names.
	rank := map[string]int{}
	for i, k := range releaseutil.InstallOrder {
		rank[k] = i
	}
	kindRank := func(k string) int {
		if r, ok := rank[k]; ok {
			return r
		}
		return len(rank) // unknown kinds (PodMonitor, PrometheusRule) last, as Helm does
	}
	sort.SliceStable(objs, func(i, j int) bool {
		ri, rj := kindRank(objs[i].GetKind()), kindRank(objs[j].GetKind())
		if ri != rj {
			return ri < rj
		}
		if objs[i].GetKind() != objs[j].GetKind() {
			return objs[i].GetKind() < objs[j].GetKind()
		}
		return objs[i].GetName() < objs[j].GetName()
	})
	if err := checkUnique(objs); err != nil {
		return nil, err
	}
	return objs, nil
}

func checkUnique(objs []*unstructured.Unstructured) error {
	seen := map[string]bool{}
	var errs []error
	for _, u := range objs {
		k := u.GetAPIVersion() + "/" + u.GetKind() + " " + u.GetNamespace() + "/" + u.GetName()
		if seen[k] {
			errs = append(errs, fmt.Errorf("the chart renders %s twice", k))
		}
		seen[k] = true
	}
	return errors.Join(errs...)
}
