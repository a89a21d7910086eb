package chart

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

const repoRoot = "../../.."

func render(t *testing.T, o Options) []*unstructured.Unstructured {
	t.Helper()
	if o.ChartDir == "" {
		o.ChartDir = filepath.Join(repoRoot, Dir)
	}
	objs, err := Render(o)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func byKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, u := range objs {
		if u.GetKind() == kind {
			out = append(out, u)
		}
	}
	return out
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, u := range objs {
		if u.GetKind() == kind && u.GetName() == name {
			return u
		}
	}
	t.Fatalf("no %s %s among %d objects", kind, name, len(objs))
	return nil
}

func names(objs []*unstructured.Unstructured) []string {
	var s []string
	for _, u := range objs {
		s = append(s, u.GetKind()+"/"+u.GetName())
	}
	return s
}

func TestDefaultObjects(t *testing.T) {
	objs := render(t, Options{})
	want := []string{
		"ConfigMap/llm-observability-pack-dashboard-loadgen",
		"ConfigMap/llm-observability-pack-dashboard-slo",
		"ConfigMap/llm-observability-pack-dashboard-triton-trt",
		"ConfigMap/llm-observability-pack-dashboard-triton-vllm",
		"ConfigMap/llm-observability-pack-dashboard-vllm",
		"PodMonitor/llm-observability-pack-dcgm",
		"PodMonitor/llm-observability-pack-triton",
		"PodMonitor/llm-observability-pack-vllm",
		"PrometheusRule/llm-observability-pack-slo",
	}
	if got := names(objs); !reflect.DeepEqual(got, want) {
		t.Errorf("objects (in apply order):\n got %q\nwant %q", got, want)
	}
	for _, u := range objs {
		if u.GetNamespace() != DefaultNamespace {
			t.Errorf("%s/%s: namespace %q, want %q", u.GetKind(), u.GetName(), u.GetNamespace(), DefaultNamespace)
		}
		l := u.GetLabels()
		for k, v := range map[string]string{LabelPartOf: PartOf, LabelInstance: DefaultRelease, LabelManagedBy: ManagedBy} {
			if l[k] != v {
				t.Errorf("%s/%s: label %s=%q, want %q", u.GetKind(), u.GetName(), k, l[k], v)
			}
		}
	}
}

func TestReleaseAndNamespace(t *testing.T) {
	objs := render(t, Options{Release: "obs", Namespace: "monitoring", Sim: true})
	for _, u := range objs {
		if u.GetNamespace() != "monitoring" {
			t.Errorf("%s/%s: namespace %q", u.GetKind(), u.GetName(), u.GetNamespace())
		}
		if !strings.HasPrefix(u.GetName(), "obs-") {
			t.Errorf("%s/%s: name without the release prefix", u.GetKind(), u.GetName())
		}
		if u.GetLabels()[LabelInstance] != "obs" {
			t.Errorf("%s/%s: instance label %q", u.GetKind(), u.GetName(), u.GetLabels()[LabelInstance])
		}
	}
	// The simulators' monitors look only in the release's namespace.
	pm := find(t, objs, "PodMonitor", "obs-sim")
	got, _, _ := unstructured.NestedStringSlice(pm.Object, "spec", "namespaceSelector", "matchNames")
	if !reflect.DeepEqual(got, []string{"monitoring"}) {
		t.Errorf("obs-sim namespaceSelector.matchNames = %q", got)
	}
}

// relabel returns the monitor's relabelings as targetLabel -> replacement or
// source label.
func relabel(t *testing.T, pm *unstructured.Unstructured) map[string]string {
	t.Helper()
	eps, _, _ := unstructured.NestedSlice(pm.Object, "spec", "podMetricsEndpoints")
	if len(eps) != 1 {
		t.Fatalf("%s: %d podMetricsEndpoints", pm.GetName(), len(eps))
	}
	out := map[string]string{}
	rl, _, _ := unstructured.NestedSlice(eps[0].(map[string]any), "relabelings")
	for _, r := range rl {
		m := r.(map[string]any)
		tl, _ := m["targetLabel"].(string)
		if src, ok := m["sourceLabels"].([]any); ok {
			out[tl] = "from:" + src[0].(string)
		} else {
			out[tl], _ = m["replacement"].(string)
		}
	}
	return out
}

func TestPodMonitors(t *testing.T) {
	objs := render(t, Options{})
	cases := []struct {
		name, port   string
		selector     map[string]string
		job, backend string
	}{
		// vLLM production-stack: servingEngineSpec.labels default, port "container-port".
		{"llm-observability-pack-vllm", "container-port", map[string]string{"environment": "test", "release": "test"}, "vllm", "vllm"},
		// NVIDIA's Triton charts: app=triton-inference-server, port "metrics" (8002).
		{"llm-observability-pack-triton", "metrics", map[string]string{"app": "triton-inference-server"}, "triton", "triton"},
		// GPU Operator: app=nvidia-dcgm-exporter, port "metrics" (9400).
		{"llm-observability-pack-dcgm", "metrics", map[string]string{"app": "nvidia-dcgm-exporter"}, "dcgm", ""},
	}
	for _, c := range cases {
		pm := find(t, objs, "PodMonitor", c.name)
		if pm.GetAPIVersion() != "monitoring.coreos.com/v1" {
			t.Errorf("%s: apiVersion %s", c.name, pm.GetAPIVersion())
		}
		sel, _, _ := unstructured.NestedStringMap(pm.Object, "spec", "selector", "matchLabels")
		if !reflect.DeepEqual(sel, c.selector) {
			t.Errorf("%s: selector %v, want %v", c.name, sel, c.selector)
		}
		if anyNS, _, _ := unstructured.NestedBool(pm.Object, "spec", "namespaceSelector", "any"); !anyNS {
			t.Errorf("%s: namespaceSelector is not any: %v", c.name, pm.Object["spec"].(map[string]any)["namespaceSelector"])
		}
		eps, _, _ := unstructured.NestedSlice(pm.Object, "spec", "podMetricsEndpoints")
		ep := eps[0].(map[string]any)
		if ep["port"] != c.port || ep["path"] != "/metrics" || ep["interval"] != "5s" {
			t.Errorf("%s: endpoint %v", c.name, ep)
		}
		rl := relabel(t, pm)
		if rl["job"] != c.job || rl["backend"] != c.backend {
			t.Errorf("%s: relabelings set job=%q backend=%q, want %q %q", c.name, rl["job"], rl["backend"], c.job, c.backend)
		}
	}
	if len(byKind(objs, "PodMonitor")) != 3 {
		t.Errorf("PodMonitors: %q", names(byKind(objs, "PodMonitor")))
	}
}

func TestValuesChangeMonitors(t *testing.T) {
	objs := render(t, Options{Values: map[string]any{
		"podMonitorLabels":  map[string]any{"release": "kube-prometheus-stack"},
		"ruleLabels":        map[string]any{"release": "kube-prometheus-stack"},
		"namespaceSelector": map[string]any{"matchNames": []any{"gpu-operator"}},
		"monitors": map[string]any{
			"vllm":      map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"model": "llama"}}},
			"triton":    map[string]any{"enabled": false},
			"tritonTRT": map[string]any{"enabled": true},
		},
	}})
	pms := byKind(objs, "PodMonitor")
	if got := names(pms); !reflect.DeepEqual(got, []string{"PodMonitor/llm-observability-pack-dcgm", "PodMonitor/llm-observability-pack-triton-trt", "PodMonitor/llm-observability-pack-vllm"}) {
		t.Fatalf("PodMonitors: %q", got)
	}
	for _, pm := range pms {
		if pm.GetLabels()["release"] != "kube-prometheus-stack" || pm.GetLabels()[LabelPartOf] != PartOf {
			t.Errorf("%s labels %v", pm.GetName(), pm.GetLabels())
		}
		ns, _, _ := unstructured.NestedStringSlice(pm.Object, "spec", "namespaceSelector", "matchNames")
		if !reflect.DeepEqual(ns, []string{"gpu-operator"}) {
			t.Errorf("%s: namespaceSelector %v", pm.GetName(), ns)
		}
		// any: true (the default, merged with the user's map by Helm) would
		// override matchNames in the Prometheus Operator.
		if _, found, _ := unstructured.NestedFieldNoCopy(pm.Object, "spec", "namespaceSelector", "any"); found {
			t.Errorf("%s: namespaceSelector keeps any beside matchNames", pm.GetName())
		}
	}
	vllm := find(t, objs, "PodMonitor", "llm-observability-pack-vllm")
	// Helm merges maps: the chart's default labels stay beside the user's.
	sel, _, _ := unstructured.NestedStringMap(vllm.Object, "spec", "selector", "matchLabels")
	if sel["model"] != "llama" {
		t.Errorf("vllm selector %v", sel)
	}
	trt := relabel(t, find(t, objs, "PodMonitor", "llm-observability-pack-triton-trt"))
	if trt["job"] != "triton-trt" || trt["backend"] != "triton-trt" {
		t.Errorf("triton-trt relabelings %v", trt)
	}
	if l := find(t, objs, "PrometheusRule", "llm-observability-pack-slo").GetLabels(); l["release"] != "kube-prometheus-stack" {
		t.Errorf("rule labels %v", l)
	}
}

func TestEmptySelectorRefused(t *testing.T) {
	_, err := Render(Options{ChartDir: filepath.Join(repoRoot, Dir), Values: map[string]any{
		"monitors": map[string]any{"dcgm": map[string]any{"selector": map[string]any{"matchLabels": nil}}},
	}})
	if err == nil || !strings.Contains(err.Error(), "monitors.dcgm.selector") {
		t.Fatalf("err = %v, want one naming monitors.dcgm.selector", err)
	}
}

// The PrometheusRule's spec is deploy/prometheus/rules/slo.yml: the same
// groups, rules, expressions and annotations (Prometheus templates untouched).
func TestRulesEqualCompose(t *testing.T) {
	objs := render(t, Options{})
	pr := find(t, objs, "PrometheusRule", "llm-observability-pack-slo")
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "prometheus", "rules", "slo.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := yaml.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	spec, _, _ := unstructured.NestedMap(pr.Object, "spec")
	if !reflect.DeepEqual(spec, want) {
		t.Fatalf("PrometheusRule spec differs from slo.yml")
	}
	groups, _, _ := unstructured.NestedSlice(pr.Object, "spec", "groups")
	if len(groups) != 4 {
		t.Errorf("%d groups", len(groups))
	}
	if !bytes.Contains(b, []byte("{{ $value")) {
		t.Fatal("slo.yml has no {{ $value }} annotation: the test below checks nothing")
	}
	j, _ := pr.MarshalJSON()
	if !bytes.Contains(j, []byte("{{ $value | humanizePercentage }}")) || !bytes.Contains(j, []byte("{{ $labels.model }}")) {
		t.Error("the Prometheus templates in the annotations did not survive Helm")
	}
}

// Each dashboard ConfigMap holds dashboards/NAME.json byte for byte, with the
// sidecar label.
func TestDashboardsEqualFiles(t *testing.T) {
	objs := render(t, Options{})
	files, err := filepath.Glob(filepath.Join(repoRoot, "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("dashboards: %v %v", files, err)
	}
	cms := byKind(objs, "ConfigMap")
	if len(cms) != len(files) {
		t.Errorf("%d ConfigMaps for %d dashboards", len(cms), len(files))
	}
	for _, f := range files {
		base := filepath.Base(f)
		want, _ := os.ReadFile(f)
		cm := find(t, objs, "ConfigMap", "llm-observability-pack-dashboard-"+strings.TrimSuffix(base, ".json"))
		data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
		if len(data) != 1 {
			t.Errorf("%s: data keys %d", cm.GetName(), len(data))
		}
		if data[base] != string(want) {
			t.Errorf("%s: data[%s] differs from dashboards/%s (%d vs %d bytes)", cm.GetName(), base, base, len(data[base]), len(want))
		}
		if !strings.Contains(data[base], `"${datasource}"`) {
			t.Errorf("%s: datasource variable lost", cm.GetName())
		}
		if cm.GetLabels()["grafana_dashboard"] != "1" {
			t.Errorf("%s: labels %v", cm.GetName(), cm.GetLabels())
		}
	}
}

func TestDashboardLabel(t *testing.T) {
	objs := render(t, Options{DashboardLabel: "example.com/dashboard=yes"})
	for _, cm := range byKind(objs, "ConfigMap") {
		l := cm.GetLabels()
		if l["example.com/dashboard"] != "yes" {
			t.Errorf("%s: labels %v", cm.GetName(), l)
		}
		if _, ok := l["grafana_dashboard"]; ok {
			t.Errorf("%s: still has grafana_dashboard", cm.GetName())
		}
	}
	for _, bad := range []string{"nolabel", "=1", "bad key=1", "k=bad value"} {
		if _, err := Render(Options{ChartDir: filepath.Join(repoRoot, Dir), DashboardLabel: bad}); err == nil || !strings.Contains(err.Error(), "dashboard label") {
			t.Errorf("DashboardLabel %q: err = %v", bad, err)
		}
	}
}

func TestSimOnOff(t *testing.T) {
	off := render(t, Options{})
	if n := len(byKind(off, "Deployment")) + len(byKind(off, "Service")); n != 0 {
		t.Errorf("sim off: %d Deployments/Services", n)
	}
	on := render(t, Options{Sim: true})
	if d, s := len(byKind(on, "Deployment")), len(byKind(on, "Service")); d != 3 || s != 3 {
		t.Fatalf("sim on: %d Deployments, %d Services: %q", d, s, names(on))
	}
	// Install order: Services before Deployments before the monitors.
	kinds := []string{}
	for _, u := range on {
		if len(kinds) == 0 || kinds[len(kinds)-1] != u.GetKind() {
			kinds = append(kinds, u.GetKind())
		}
	}
	if want := []string{"ConfigMap", "Service", "Deployment", "PodMonitor", "PrometheusRule"}; !reflect.DeepEqual(kinds, want) {
		t.Errorf("kind order %q, want %q", kinds, want)
	}
	personality := map[string]string{"vllm": "vllm", "triton": "triton-vllm", "trt": "triton-trt"}
	sel := map[string]string{}
	for _, pm := range []string{"llm-observability-pack-sim", "llm-observability-pack-sim-dcgm"} {
		m := find(t, on, "PodMonitor", pm)
		sel, _, _ = unstructured.NestedStringMap(m.Object, "spec", "selector", "matchLabels")
	}
	if rl := relabel(t, find(t, on, "PodMonitor", "llm-observability-pack-sim")); rl["job"] != "sim" || rl["backend"] != "from:__meta_kubernetes_pod_label_llm_observability_pack_backend" {
		t.Errorf("sim relabelings %v", rl)
	}
	if rl := relabel(t, find(t, on, "PodMonitor", "llm-observability-pack-sim-dcgm")); rl["job"] != "sim-dcgm" {
		t.Errorf("sim-dcgm relabelings %v", rl)
	}
	for b, p := range personality {
		d := find(t, on, "Deployment", "llm-observability-pack-sim-"+b)
		podLabels, _, _ := unstructured.NestedStringMap(d.Object, "spec", "template", "metadata", "labels")
		for k, v := range sel {
			if podLabels[k] != v {
				t.Errorf("%s: pod label %s=%q: the sim PodMonitors (%v) do not select it", d.GetName(), k, podLabels[k], sel)
			}
		}
		if podLabels["llm-observability-pack/backend"] != "sim-"+b {
			t.Errorf("%s: backend pod label %q", d.GetName(), podLabels["llm-observability-pack/backend"])
		}
		cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
		c := cs[0].(map[string]any)
		if c["image"] != "llm-observability-pack/sim:local" {
			t.Errorf("%s: image %v", d.GetName(), c["image"])
		}
		args, _, _ := unstructured.NestedStringSlice(c, "args")
		if len(args) == 0 || args[0] != "-personality="+p {
			t.Errorf("%s: args %q", d.GetName(), args)
		}
		sc, _, _ := unstructured.NestedMap(c, "securityContext")
		if sc["readOnlyRootFilesystem"] != true || sc["allowPrivilegeEscalation"] != false {
			t.Errorf("%s: container securityContext %v", d.GetName(), sc)
		}
		if nonRoot, _, _ := unstructured.NestedBool(d.Object, "spec", "template", "spec", "securityContext", "runAsNonRoot"); !nonRoot {
			t.Errorf("%s: not runAsNonRoot", d.GetName())
		}
		if lim, _, _ := unstructured.NestedStringMap(c, "resources", "limits"); lim["memory"] == "" || lim["cpu"] == "" {
			t.Errorf("%s: limits %v", d.GetName(), lim)
		}
		svc := find(t, on, "Service", d.GetName())
		ss, _, _ := unstructured.NestedStringMap(svc.Object, "spec", "selector")
		for k, v := range ss {
			if podLabels[k] != v {
				t.Errorf("%s: Service selector %v does not match the pods %v", svc.GetName(), ss, podLabels)
			}
		}
	}
	// Only the chosen backends, and an unknown one is refused.
	one := render(t, Options{Sim: true, Values: map[string]any{"sim": map[string]any{"backends": []any{"trt"}, "image": "registry.example/sim:1"}}})
	if got := names(byKind(one, "Deployment")); !reflect.DeepEqual(got, []string{"Deployment/llm-observability-pack-sim-trt"}) {
		t.Errorf("backends [trt]: %q", got)
	}
	if _, err := Render(Options{ChartDir: filepath.Join(repoRoot, Dir), Sim: true, Values: map[string]any{"sim": map[string]any{"backends": []any{"tgi"}}}}); err == nil || !strings.Contains(err.Error(), `"tgi"`) {
		t.Errorf("backend tgi: err = %v", err)
	}
}

func TestBadOptions(t *testing.T) {
	dir := filepath.Join(repoRoot, Dir)
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{ChartDir: dir, Release: "Bad_Name"}, "release name"},
		{Options{ChartDir: dir, Release: strings.Repeat("a", 54)}, "at most 53"},
		{Options{ChartDir: dir, Release: "9lives"}, "release name"},
		{Options{ChartDir: dir, Namespace: "Not OK"}, "namespace"},
		{Options{ChartDir: t.TempDir()}, "loading the chart"},
	} {
		if _, err := Render(c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want one with %q", c.o, err, c.want)
		}
	}
}

func TestFindDir(t *testing.T) {
	d, err := FindDir() // from tasks/k8s/chart: found three folders up
	if err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.Abs(filepath.Join(repoRoot, Dir))
	if d != want {
		t.Errorf("FindDir = %s, want %s", d, want)
	}
	t.Chdir(t.TempDir())
	if _, err := FindDir(); err == nil || !strings.Contains(err.Error(), "repository root") {
		t.Errorf("outside the repository: err = %v", err)
	}
}

// The caller's Values are not changed by the fields' settings.
func TestValuesNotMutated(t *testing.T) {
	v := map[string]any{"sim": map[string]any{"replicas": 2}}
	render(t, Options{Sim: true, Values: v})
	if _, ok := v["sim"].(map[string]any)["enabled"]; ok {
		t.Error("Render wrote sim.enabled into the caller's Values")
	}
}

// helm lint (Helm's own linter, as `helm lint` runs it): no warning or
// error, with the defaults and with the simulator on (INFO lines, such as
// "icon is recommended", are advice).
func TestHelmLint(t *testing.T) {
	for _, vals := range []map[string]any{nil, {"sim": map[string]any{"enabled": true}}} {
		l := lint.RunAll(filepath.Join(repoRoot, Dir), vals, DefaultNamespace)
		for _, m := range l.Messages {
			if m.Severity < support.WarningSev {
				continue
			}
			t.Errorf("helm lint (values %v): %s", vals, m.Error())
		}
	}
}
