package kubeapply

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/k8s/kubetest"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

var (
	configMaps      = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	podMonitors     = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "podmonitors"}
	prometheusRules = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "prometheusrules"}
)

func packLabels(instance string) map[string]any {
	return map[string]any{LabelPartOf: PartOf, LabelInstance: instance}
}

func obj(apiVersion, kind, ns, name string, lbls map[string]any, rest map[string]any) *unstructured.Unstructured {
	meta := map[string]any{"name": name}
	if ns != "" {
		meta["namespace"] = ns
	}
	if lbls != nil {
		meta["labels"] = lbls
	}
	m := map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": meta}
	for k, v := range rest {
		m[k] = v
	}
	return &unstructured.Unstructured{Object: m}
}

// ownObjects are a ConfigMap, a PodMonitor and a PrometheusRule of
// instance "own" in ns.
func ownObjects(ns string) []*unstructured.Unstructured {
	l := packLabels("own")
	return []*unstructured.Unstructured{
		obj("v1", "ConfigMap", ns, "own-dashboard", l, map[string]any{"data": map[string]any{"d.json": `{"title":"x"}`}}),
		obj("monitoring.coreos.com/v1", "PodMonitor", ns, "own-vllm", l, map[string]any{"spec": map[string]any{
			"selector":            map[string]any{"matchLabels": map[string]any{"app": "vllm"}},
			"podMetricsEndpoints": []any{map[string]any{"port": "http", "path": "/metrics"}},
		}}),
		obj("monitoring.coreos.com/v1", "PrometheusRule", ns, "own-rules", l, map[string]any{"spec": map[string]any{
			"groups": []any{map[string]any{"name": "g", "rules": []any{
				map[string]any{"record": "job:up:sum", "expr": "sum by (job) (up)"},
			}}},
		}}),
	}
}

func dyn(t *testing.T, cp *kubetest.ControlPlane) dynamic.Interface {
	t.Helper()
	d, err := dynamic.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func createNamespace(t *testing.T, cp *kubetest.ControlPlane, ns string) {
	t.Helper()
	u := obj("v1", "Namespace", "", ns, nil, nil)
	if _, err := dyn(t, cp).Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func actions(s Summary) []string {
	var a []string
	for _, r := range s.Results {
		a = append(a, r.Ref()+" "+r.Action)
	}
	return a
}

func rvs(t *testing.T, d dynamic.Interface, ns string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, gvr := range []schema.GroupVersionResource{configMaps, podMonitors, prometheusRules} {
		l, err := d.Resource(gvr).Namespace(ns).List(context.Background(), metav1.ListOptions{LabelSelector: LabelPartOf + "=" + PartOf})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range l.Items {
			out[gvr.Resource+"/"+u.GetName()] = u.GetResourceVersion()
		}
	}
	return out
}

// Apply creates, then reports unchanged without writing, then configured
// for the one object changed; Delete removes the given objects and the
// labelled leftover and keeps what lacks the labels.
func TestApplyDelete(t *testing.T) {
	cp := kubetest.Shared(t, kubetest.Options{})
	ctx := context.Background()
	d := dyn(t, cp)
	const ns = "apply-delete"
	var out bytes.Buffer
	o := Options{Kubeconfig: cp.Kubeconfig, Namespace: ns, CreateNamespace: true, Out: &out}

	s, err := Apply(ctx, o, ownObjects(ns))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"configmap/own-dashboard created", "podmonitor.monitoring.coreos.com/own-vllm created", "prometheusrule.monitoring.coreos.com/own-rules created"}
	if got := actions(s); !reflect.DeepEqual(got, want) {
		t.Errorf("first apply: %v, want %v", got, want)
	}
	for _, line := range append([]string{"namespace/" + ns + " created"}, "configmap/own-dashboard (namespace apply-delete) created") {
		if !strings.Contains(out.String(), line+"\n") {
			t.Errorf("output lacks %q:\n%s", line, out.String())
		}
	}
	pr, err := d.Resource(prometheusRules).Namespace(ns).Get(ctx, "own-rules", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pr.Object["spec"], ownObjects(ns)[2].Object["spec"]) {
		t.Errorf("PrometheusRule read back: %v", pr.Object["spec"])
	}
	mf := pr.GetManagedFields()
	if len(mf) != 1 || mf[0].Manager != DefaultFieldManager || mf[0].Operation != metav1.ManagedFieldsOperationApply {
		t.Errorf("managed fields %+v, want one Apply entry of %s", mf, DefaultFieldManager)
	}

	before := rvs(t, d, ns)
	s, err = Apply(ctx, o, ownObjects(ns))
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Count(Unchanged); n != 3 {
		t.Errorf("second apply: %v, want 3 unchanged", actions(s))
	}
	if after := rvs(t, d, ns); !reflect.DeepEqual(before, after) || len(after) != 3 {
		t.Errorf("resourceVersions changed by an unchanged apply: %v -> %v", before, after)
	}

	changed := ownObjects(ns)
	changed[0].Object["data"] = map[string]any{"d.json": `{"title":"y"}`}
	s, err = Apply(ctx, o, changed)
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"configmap/own-dashboard configured", "podmonitor.monitoring.coreos.com/own-vllm unchanged", "prometheusrule.monitoring.coreos.com/own-rules unchanged"}
	if got := actions(s); !reflect.DeepEqual(got, want) {
		t.Errorf("apply of a change: %v, want %v", got, want)
	}

	// Leftover of an earlier render, someone else's ConfigMap, another instance's.
	for _, u := range []*unstructured.Unstructured{
		obj("v1", "ConfigMap", ns, "own-old-dashboard", packLabels("own"), nil),
		obj("v1", "ConfigMap", ns, "not-ours", map[string]any{LabelInstance: "own"}, nil),
		obj("v1", "ConfigMap", ns, "other-instance", packLabels("other"), nil),
	} {
		if _, err := d.Resource(configMaps).Namespace(ns).Create(ctx, u, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	out.Reset()
	s, err = Delete(ctx, o, ownObjects(ns), "own")
	if err != nil {
		t.Fatal(err)
	}
	if s.Count(Deleted) != 4 || len(s.Results) != 4 {
		t.Errorf("delete: %v, want 4 deleted", actions(s))
	}
	for _, ref := range []string{"configmap/own-old-dashboard", "configmap/own-dashboard", "podmonitor.monitoring.coreos.com/own-vllm", "prometheusrule.monitoring.coreos.com/own-rules"} {
		if !strings.Contains(out.String(), ref+" (namespace "+ns+") deleted") {
			t.Errorf("delete output lacks %s:\n%s", ref, out.String())
		}
	}
	if left := rvs(t, d, ns); len(left) != 1 || left["configmaps/other-instance"] == "" {
		t.Errorf("left with part-of label: %v, want only other-instance", left)
	}
	if _, err := d.Resource(configMaps).Namespace(ns).Get(ctx, "not-ours", metav1.GetOptions{}); err != nil {
		t.Errorf("the ConfigMap without part-of: %v, want kept", err)
	}

	// Deleting again finds nothing.
	s, err = Delete(ctx, o, ownObjects(ns), "own")
	if err != nil || len(s.Results) != 0 {
		t.Errorf("second delete: %v, %v; want nothing", actions(s), err)
	}
}

// An object the server rejects stops the apply before any write.
func TestApplyRejected(t *testing.T) {
	cp := kubetest.Shared(t, kubetest.Options{})
	ctx := context.Background()
	const ns = "rejected"
	createNamespace(t, cp, ns)
	objs := ownObjects(ns)
	objs[2].Object["spec"] = map[string]any{"groups": "not a list"}
	_, err := Apply(ctx, Options{Kubeconfig: cp.Kubeconfig, Namespace: ns}, objs)
	if err == nil {
		t.Fatal("Apply of an invalid PrometheusRule: no error")
	}
	for _, want := range []string{"prometheusrule.monitoring.coreos.com/own-rules", "dry run", "nothing was applied", "spec.groups"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, err := dyn(t, cp).Resource(configMaps).Namespace(ns).Get(ctx, "own-dashboard", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the valid ConfigMap before the rejected object: %v, want not created", err)
	}
}

// Without the operator's CRDs the error names them and nothing is created.
func TestApplyMissingCRDs(t *testing.T) {
	cp := kubetest.Shared(t, kubetest.Options{NoCRDs: true})
	ctx := context.Background()
	const ns = "no-crds"
	createNamespace(t, cp, ns)
	_, err := Apply(ctx, Options{Kubeconfig: cp.Kubeconfig, Namespace: ns}, ownObjects(ns))
	var mk *MissingKindsError
	if !errors.As(err, &mk) {
		t.Fatalf("Apply without CRDs: %v, want a *MissingKindsError", err)
	}
	var crds []string
	for _, m := range mk.Missing {
		crds = append(crds, m.CRD)
	}
	if want := []string{"podmonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com"}; !reflect.DeepEqual(crds, want) {
		t.Errorf("missing CRDs %v, want %v", crds, want)
	}
	if !strings.Contains(err.Error(), "kube-prometheus-stack") {
		t.Errorf("error %q does not say how to install the CRDs", err)
	}
	l, err := dyn(t, cp).Resource(configMaps).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range l.Items {
		if u.GetName() == "own-dashboard" {
			t.Error("the ConfigMap was created although the CRDs are missing")
		}
	}
	// Delete without the CRDs: the kinds are not served, only the ConfigMap counts.
	s, err := Delete(ctx, Options{Kubeconfig: cp.Kubeconfig, Namespace: ns}, ownObjects(ns), "own")
	if err != nil || len(s.Results) != 0 {
		t.Errorf("delete without CRDs: %v, %v; want nothing to delete and no error", actions(s), err)
	}
}

// A namespace that does not exist is an error before any write, naming the fix.
func TestApplyMissingNamespace(t *testing.T) {
	cp := kubetest.Shared(t, kubetest.Options{})
	_, err := Apply(context.Background(), Options{Kubeconfig: cp.Kubeconfig, Namespace: "nowhere"}, ownObjects("nowhere"))
	if err == nil || !strings.Contains(err.Error(), "kubectl create namespace nowhere") || !strings.Contains(err.Error(), "nothing was applied") {
		t.Errorf("missing namespace: %v", err)
	}
}

// The context option picks a kubeconfig context as kubectl's --context
// does; the context's namespace is the default; a clash with -namespace is
// refused.
func TestContextAndNamespace(t *testing.T) {
	cp := kubetest.Shared(t, kubetest.Options{})
	ctx := context.Background()
	const ns = "ctx-ns"
	createNamespace(t, cp, ns)
	kc, err := clientcmd.LoadFromFile(cp.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	kc.Clusters["nowhere"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1"}
	kc.Contexts["broken"] = &clientcmdapi.Context{Cluster: "nowhere", AuthInfo: "kubetest-admin"}
	kc.Contexts["lop"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: "kubetest-admin", Namespace: ns}
	kc.CurrentContext = "broken"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	cm := []*unstructured.Unstructured{obj("v1", "ConfigMap", "", "ctx-cm", packLabels("ctx"), nil)}
	if _, err := Apply(ctx, Options{Kubeconfig: path}, cm); err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("current context broken: %v, want a connection error", err)
	}
	if _, err := Apply(ctx, Options{Kubeconfig: path, Context: "nosuch"}, cm); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("unknown context: %v", err)
	}
	s, err := Apply(ctx, Options{Kubeconfig: path, Context: "lop"}, cm)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Results) != 1 || s.Results[0].Namespace != ns || s.Results[0].Action != Created {
		t.Errorf("apply through context lop: %+v, want created in %s", s.Results, ns)
	}
	other := []*unstructured.Unstructured{obj("v1", "ConfigMap", "elsewhere", "ctx-cm", packLabels("ctx"), nil)}
	if _, err := Apply(ctx, Options{Kubeconfig: path, Context: "lop", Namespace: ns}, other); err == nil || !strings.Contains(err.Error(), `"elsewhere"`) {
		t.Errorf("namespace clash: %v", err)
	}
	s, err = Delete(ctx, Options{Kubeconfig: path, Context: "lop"}, cm, "ctx")
	if err != nil || s.Count(Deleted) != 1 {
		t.Errorf("delete through context lop: %v, %v", actions(s), err)
	}
}

// Delete refuses given objects without the pack's labels.
func TestDeleteRefusesUnlabelled(t *testing.T) {
	cp := kubetest.Shared(t, kubetest.Options{})
	ctx := context.Background()
	const ns = "unlabelled"
	createNamespace(t, cp, ns)
	u := obj("v1", "ConfigMap", ns, "plain", nil, nil)
	if _, err := dyn(t, cp).Resource(configMaps).Namespace(ns).Create(ctx, u, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := Delete(ctx, Options{Kubeconfig: cp.Kubeconfig}, []*unstructured.Unstructured{u}, "own")
	if err == nil || !strings.Contains(err.Error(), "lacks the labels") {
		t.Errorf("delete of an unlabelled object: %v", err)
	}
	if _, err := Delete(ctx, Options{Kubeconfig: cp.Kubeconfig}, nil, ""); err == nil || !strings.Contains(err.Error(), "instance") {
		t.Errorf("delete without instance: %v", err)
	}
	if _, err := dyn(t, cp).Resource(configMaps).Namespace(ns).Get(ctx, "plain", metav1.GetOptions{}); err != nil {
		t.Errorf("the unlabelled ConfigMap: %v, want kept", err)
	}
}

func TestMissingKindsErrorText(t *testing.T) {
	e := &MissingKindsError{Missing: []MissingKind{
		{GVK: schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "PodMonitor"}, CRD: "podmonitors.monitoring.coreos.com", Objects: []string{"podmonitor/a", "podmonitor/b"}},
		{GVK: schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "PrometheusRule"}, CRD: "prometheusrules.monitoring.coreos.com", Objects: []string{"prometheusrule/r"}},
	}}
	got := e.Error()
	for _, want := range []string{
		"monitoring.coreos.com/v1 PodMonitor (CRD podmonitors.monitoring.coreos.com, for podmonitor/a, podmonitor/b)",
		"Missing CRDs: podmonitors.monitoring.coreos.com, prometheusrules.monitoring.coreos.com",
		"nothing was applied",
		"helm repo add prometheus-community https://prometheus-community.github.io/helm-charts",
		"helm install kube-prometheus-stack prometheus-community/kube-prometheus-stack",
		"kubectl apply --server-side -f " + OperatorCRDURL + "/monitoring.coreos.com_prometheusrules.yaml",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("error text lacks %q:\n%s", want, got)
		}
	}
	if strings.HasSuffix(got, ";") {
		t.Errorf("error text ends in ';': %s", got)
	}
	// A built-in kind the server lacks names no CRD and no operator.
	e = &MissingKindsError{Missing: []MissingKind{{GVK: schema.GroupVersionKind{Group: "apps", Version: "v9", Kind: "Deployment"}, Objects: []string{"deployment/x"}}}}
	if got := e.Error(); strings.Contains(got, "CRD") || strings.Contains(got, "kube-prometheus-stack") || !strings.Contains(got, "Deployment (apps/v9, for deployment/x)") {
		t.Errorf("built-in kind: %s", got)
	}
}

func TestResultRef(t *testing.T) {
	for _, c := range []struct {
		r    Result
		want string
	}{
		{Result{Kind: "Deployment", Group: "apps", Namespace: "n", Name: "sim", Action: Created}, "deployment.apps/sim (namespace n) created"},
		{Result{Kind: "ConfigMap", Name: "d", Action: Unchanged}, "configmap/d unchanged"},
	} {
		if got := c.r.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.r, got, c.want)
		}
	}
}

func TestBuiltinGroup(t *testing.T) {
	for g, want := range map[string]bool{"": true, "apps": true, "rbac.authorization.k8s.io": true, "monitoring.coreos.com": false, "gateway.networking.x-k8s.io": false} {
		if builtinGroup(g) != want {
			t.Errorf("builtinGroup(%q) = %v", g, !want)
		}
	}
}
