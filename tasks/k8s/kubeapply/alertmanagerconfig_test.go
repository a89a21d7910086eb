package kubeapply

import (
	"context"
	"testing"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/k8s/chart"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/k8s/kubetest"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var alertmanagerConfigs = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1alpha1", Resource: "alertmanagerconfigs"}

// The chart's AlertmanagerConfig (a page and a ticket receiver) is accepted
// by the API server with the operator's CRD; rendered again with it off,
// delete removes it as a leftover of the release.
func TestChartAlertmanagerConfigApplyAndLeftover(t *testing.T) {
	cp := kubetest.Shared(t, kubetest.Options{})
	ctx := context.Background()
	const ns = "lop-amcfg"
	o := Options{Kubeconfig: cp.Kubeconfig, Namespace: ns, CreateNamespace: true}
	on, err := chart.Render(chart.Options{Namespace: ns, Values: map[string]any{"alertmanagerConfig": map[string]any{
		"enabled": true, "receiver": "none", "pageReceiver": "webhook", "ticketReceiver": "slack"}}})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Apply(ctx, o, on)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Count(Created) != len(on) {
		t.Fatalf("created %d of %d: %v", sum.Count(Created), len(on), sum.Results)
	}
	c, err := connect(o)
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.dyn.Resource(alertmanagerConfigs).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("AlertmanagerConfigs: %v, %v", list, err)
	}
	name := list.Items[0].GetName()
	routes, _, _ := unstructured.NestedSlice(list.Items[0].Object, "spec", "route", "routes")
	if len(routes) != 2 {
		t.Errorf("routes read back: %v, want page and ticket", routes)
	}
	off, err := chart.Render(chart.Options{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Delete(ctx, o, off, chart.DefaultRelease); err != nil {
		t.Fatal(err)
	}
	if _, err := c.dyn.Resource(alertmanagerConfigs).Namespace(ns).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("AlertmanagerConfig %s after delete: %v, want gone", name, err)
	}
}
