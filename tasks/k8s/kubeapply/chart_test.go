package kubeapply

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/k8s/chart"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/k8s/kubetest"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/needs"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// repoRoot is the repository root, found from the chart's folder.
func repoRoot(t *testing.T) string {
	t.Helper()
	d, err := chart.FindDir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Clean(filepath.Join(d, "..", "..", ".."))
}

func render(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	objs, err := chart.Render(chart.Options{Sim: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) == 0 {
		t.Fatal("chart.Render: no objects")
	}
	return objs
}

// normalize turns YAML or JSON-shaped values into what encoding/json
// gives, so that equal documents compare equal.
func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Every object of the chart (sim enabled) is accepted by a real API server
// with the operator's CRDs and reads back as rendered: the PrometheusRule
// holds the compose stack's rule groups, the dashboard ConfigMaps the
// dashboards byte for byte. A second apply changes nothing; delete leaves
// nothing of the project's.
func TestChartApplyDelete(t *testing.T) {
	cp := kubetest.Shared(t, kubetest.Options{})
	ctx := context.Background()
	objs := render(t)
	root := repoRoot(t)
	o := Options{Kubeconfig: cp.Kubeconfig, CreateNamespace: true}

	s, err := Apply(ctx, o, objs)
	if err != nil {
		t.Fatal(err)
	}
	if s.Count(Created) != len(objs) {
		t.Errorf("first apply: %v, want all %d created", actions(s), len(objs))
	}

	c, err := connect(o)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := c.resolve(objs)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	var rules *unstructured.Unstructured
	dashboards := map[string]string{}
	live := map[string]string{} // ref -> resourceVersion
	for _, tg := range ts {
		got, err := tg.ri.Get(ctx, tg.obj.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Fatalf("read back %s: %v", tg.result("").Ref(), err)
		}
		live[tg.result("").String()] = got.GetResourceVersion()
		kinds[got.GetKind()]++
		for k, v := range tg.obj.GetLabels() {
			if got.GetLabels()[k] != v {
				t.Errorf("%s: label %s=%q read back as %q", tg.result("").Ref(), k, v, got.GetLabels()[k])
			}
		}
		switch got.GetKind() {
		case "PrometheusRule":
			rules = got
		case "ConfigMap":
			data, _, _ := unstructured.NestedStringMap(got.Object, "data")
			for k, v := range data {
				if strings.HasSuffix(k, ".json") {
					dashboards[k] = v
				}
			}
		}
		// What the chart set is what the server holds (the server adds defaults).
		if spec, ok := tg.obj.Object["spec"]; ok && got.GetKind() != "Deployment" && got.GetKind() != "Service" {
			if !reflect.DeepEqual(normalize(t, spec), normalize(t, got.Object["spec"])) {
				t.Errorf("%s: spec read back differs from the rendered one", tg.result("").Ref())
			}
		}
	}
	for _, k := range []string{"PrometheusRule", "PodMonitor", "ConfigMap", "Deployment", "Service"} {
		if kinds[k] == 0 {
			t.Errorf("the chart with sim rendered no %s (kinds: %v)", k, kinds)
		}
	}

	// The rules: the groups of deploy/prometheus/rules/slo.yml.
	if rules == nil {
		t.Fatal("no PrometheusRule")
	}
	b, err := os.ReadFile(filepath.Join(root, "deploy", "prometheus", "rules", "slo.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose map[string]any
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatal(err)
	}
	gotGroups, _, _ := unstructured.NestedSlice(rules.Object, "spec", "groups")
	if len(gotGroups) == 0 || !reflect.DeepEqual(normalize(t, compose["groups"]), normalize(t, gotGroups)) {
		t.Errorf("PrometheusRule spec.groups (%d groups) differ from slo.yml's groups", len(gotGroups))
	}
	if promtool, m := needs.Look("promtool"); m == nil {
		// The rules as the server holds them pass promtool.
		doc, err := yaml.Marshal(map[string]any{"groups": gotGroups})
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), "rules.yml")
		if err := os.WriteFile(f, doc, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(promtool, "check", "rules", f).CombinedOutput(); err != nil {
			t.Errorf("promtool check rules of the PrometheusRule read back: %v\n%s", err, out)
		}
	} else if err := needs.Decide(m); err != nil {
		t.Error(err)
	} else {
		t.Logf("promtool check of the PrometheusRule not run: %v", m)
	}

	// The dashboards: dashboards/*.json byte for byte.
	files, err := filepath.Glob(filepath.Join(root, "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards/*.json: %v", err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := dashboards[filepath.Base(f)]
		if !ok {
			t.Errorf("no ConfigMap holds %s", filepath.Base(f))
			continue
		}
		if got != string(want) {
			t.Errorf("ConfigMap data %s (%d bytes) differs from dashboards/%s (%d bytes)", filepath.Base(f), len(got), filepath.Base(f), len(want))
		}
	}
	if len(dashboards) != len(files) {
		var have []string
		for k := range dashboards {
			have = append(have, k)
		}
		sort.Strings(have)
		t.Errorf("dashboard ConfigMaps hold %v, dashboards/ has %v", have, names)
	}

	// Apply twice: all unchanged, resourceVersions equal.
	s, err = Apply(ctx, o, objs)
	if err != nil {
		t.Fatal(err)
	}
	if s.Count(Unchanged) != len(objs) {
		t.Errorf("second apply: %v, want all %d unchanged", actions(s), len(objs))
	}
	for _, tg := range ts {
		got, err := tg.ri.Get(ctx, tg.obj.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rv := live[tg.result("").String()]; got.GetResourceVersion() != rv {
			t.Errorf("%s: resourceVersion %s -> %s after an unchanged apply", tg.result("").Ref(), rv, got.GetResourceVersion())
		}
	}

	// Delete: nothing with the project's labels is left.
	s, err = Delete(ctx, o, objs, chart.DefaultRelease)
	if err != nil {
		t.Fatal(err)
	}
	if s.Count(Deleted) != len(objs) {
		t.Errorf("delete: %v, want all %d deleted", actions(s), len(objs))
	}
	sel := LabelPartOf + "=" + PartOf
	for _, tg := range ts {
		l, err := c.dyn.Resource(tg.mapping.Resource).Namespace(tg.obj.GetNamespace()).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Items) > 0 {
			t.Errorf("after delete, %s with %s: %s ...", tg.mapping.Resource.Resource, sel, l.Items[0].GetName())
		}
	}
}

// The chart on a cluster without the operator: the error names the CRDs,
// and nothing (not even the namespace) is created.
func TestChartMissingCRDs(t *testing.T) {
	cp := kubetest.Shared(t, kubetest.Options{NoCRDs: true})
	ctx := context.Background()
	objs := render(t)
	_, err := Apply(ctx, Options{Kubeconfig: cp.Kubeconfig, CreateNamespace: true}, objs)
	var mk *MissingKindsError
	if !errors.As(err, &mk) {
		t.Fatalf("apply without CRDs: %v, want *MissingKindsError", err)
	}
	for _, want := range []string{"podmonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com", "kube-prometheus-stack", "nothing was applied"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	c, err := connect(Options{Kubeconfig: cp.Kubeconfig})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.dyn.Resource(namespaceGVR).Get(ctx, chart.DefaultNamespace, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace %s: %v, want not created", chart.DefaultNamespace, err)
	}
	for _, gvr := range []string{"configmaps", "services"} {
		l, err := c.dyn.Resource(configMaps.GroupVersion().WithResource(gvr)).List(ctx, metav1.ListOptions{LabelSelector: LabelPartOf + "=" + PartOf})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Items) > 0 {
			t.Errorf("%s with the pack's label created without CRDs: %s", gvr, l.Items[0].GetName())
		}
	}
}
