package chart

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/alerts"
)

func amConfigs(t *testing.T, vals map[string]any) []*unstructured.Unstructured {
	t.Helper()
	objs, err := Render(Options{Values: map[string]any{"alertmanagerConfig": vals}})
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "AlertmanagerConfig" {
			out = append(out, o)
		}
	}
	return out
}

// The AlertmanagerConfig is off by default; enabled, it has the compose
// stack's routes (tasks/alerts): the same grouping, per-severity routes,
// receivers reading the user's Secret, and the page-inhibits-ticket rule.
func TestAlertmanagerConfig(t *testing.T) {
	if got := amConfigs(t, map[string]any{}); len(got) != 0 {
		t.Fatalf("default values render %d AlertmanagerConfigs, want 0", len(got))
	}
	got := amConfigs(t, map[string]any{"enabled": true, "labels": map[string]any{"alertmanagerConfig": "lop"},
		"receiver": "none", "pageReceiver": "slack", "ticketReceiver": "email",
		"slack": map[string]any{"channel": "#llm-oncall"},
		"email": map[string]any{"to": "oncall@example.com", "from": "am@example.com", "smarthost": "smtp.example.com:587", "authUsername": "am"}})
	if len(got) != 1 {
		t.Fatalf("%d AlertmanagerConfigs, want 1", len(got))
	}
	o := got[0]
	if o.GetAPIVersion() != "monitoring.coreos.com/v1alpha1" || o.GetName() != DefaultRelease+"-alerts" || o.GetNamespace() != DefaultNamespace {
		t.Errorf("object %s %s/%s", o.GetAPIVersion(), o.GetNamespace(), o.GetName())
	}
	if o.GetLabels()["alertmanagerConfig"] != "lop" || o.GetLabels()[LabelPartOf] != PartOf {
		t.Errorf("labels %v", o.GetLabels())
	}
	route, _, _ := unstructured.NestedMap(o.Object, "spec", "route")
	if route["receiver"] != "null" {
		t.Errorf("default receiver %v", route["receiver"])
	}
	gb, _, _ := unstructured.NestedStringSlice(o.Object, "spec", "route", "groupBy")
	if !slices.Equal(gb, alerts.GroupBy) {
		t.Errorf("groupBy %v, want the compose stack's %v", gb, alerts.GroupBy)
	}
	routes, _, _ := unstructured.NestedSlice(o.Object, "spec", "route", "routes")
	bySev := map[string]string{}
	for _, r := range routes {
		m := r.(map[string]any)
		ms := m["matchers"].([]any)
		if len(ms) != 1 {
			t.Fatalf("matchers %v", ms)
		}
		mm := ms[0].(map[string]any)
		if mm["name"] != "severity" || mm["matchType"] != "=" {
			t.Errorf("matcher %v", mm)
		}
		bySev[mm["value"].(string)] = m["receiver"].(string)
	}
	if bySev["page"] != "slack" || bySev["ticket"] != "email" || len(bySev) != 2 {
		t.Errorf("routes %v", bySev)
	}
	recv, _, _ := unstructured.NestedSlice(o.Object, "spec", "receivers")
	names := []string{}
	for _, r := range recv {
		m := r.(map[string]any)
		names = append(names, m["name"].(string))
		switch m["name"] {
		case "slack":
			sc := m["slackConfigs"].([]any)[0].(map[string]any)
			api := sc["apiURL"].(map[string]any)
			if sc["sendResolved"] != true || api["name"] != "llm-observability-alerts" || api["key"] != "slack-webhook-url" || sc["channel"] != "#llm-oncall" {
				t.Errorf("slack %v", sc)
			}
		case "email":
			ec := m["emailConfigs"].([]any)[0].(map[string]any)
			pw := ec["authPassword"].(map[string]any)
			if ec["sendResolved"] != true || ec["to"] != "oncall@example.com" || pw["key"] != "smtp-password" || ec["authUsername"] != "am" {
				t.Errorf("email %v", ec)
			}
		}
	}
	if strings.Join(names, ",") != "null,slack,email" {
		t.Errorf("receivers %v", names)
	}
	inh, _, _ := unstructured.NestedSlice(o.Object, "spec", "inhibitRules")
	if len(inh) != 1 {
		t.Fatalf("inhibitRules %v", inh)
	}
	ir := inh[0].(map[string]any)
	src := ir["sourceMatch"].([]any)[0].(map[string]any)
	dst := ir["targetMatch"].([]any)[0].(map[string]any)
	eq, _, _ := unstructured.NestedStringSlice(ir, "equal")
	if src["value"] != "page" || dst["value"] != "ticket" || !slices.Equal(eq, []string{"slo", "job", "model"}) {
		t.Errorf("inhibit %v", ir)
	}

	// One receiver for everything: no severity routes; a webhook from the Secret.
	o = amConfigs(t, map[string]any{"enabled": true, "receiver": "webhook"})[0]
	if routes, found, _ := unstructured.NestedSlice(o.Object, "spec", "route", "routes"); found && len(routes) > 0 {
		t.Errorf("routes %v with one receiver", routes)
	}
	recv, _, _ = unstructured.NestedSlice(o.Object, "spec", "receivers")
	wc := recv[0].(map[string]any)["webhookConfigs"].([]any)[0].(map[string]any)
	if u := wc["urlSecret"].(map[string]any); u["name"] != "llm-observability-alerts" || u["key"] != "webhook-url" || wc["sendResolved"] != true {
		t.Errorf("webhook %v", wc)
	}
}

func TestAlertmanagerConfigRefusesBadValues(t *testing.T) {
	for _, c := range []struct {
		vals map[string]any
		want string
	}{
		{map[string]any{"enabled": true, "receiver": "pagerduty"}, `alertmanagerConfig.receiver is "pagerduty": expected one of none, webhook, slack, email`},
		{map[string]any{"enabled": true, "ticketReceiver": "sms"}, `alertmanagerConfig.ticketReceiver is "sms"`},
		{map[string]any{"enabled": true, "receiver": "email"}, "alertmanagerConfig.email.to is empty but the email receiver is used"},
		{map[string]any{"enabled": true, "pageReceiver": "webhook", "secretName": ""}, "alertmanagerConfig.secretName is empty"},
	} {
		_, err := Render(Options{Values: map[string]any{"alertmanagerConfig": c.vals}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want %q", c.vals, err, c.want)
		}
	}
}
