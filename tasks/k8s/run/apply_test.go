package main

import (
	"strings"
	"testing"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/k8s/kubetest"
)

func TestApplyDeleteCommandLine(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"apply", "-dashboard-label=a b=c"}, 2, "dashboard label key"},
		{[]string{"apply", "-release=x_y"}, 2, `release name "x_y"`},
		{[]string{"delete", "-sim"}, 2, "flag provided but not defined: -sim"},
		{[]string{"delete", "-dashboard-label=a=b"}, 2, "flag provided but not defined: -dashboard-label"},
		// The kubeconfig is read before anything else happens.
		{[]string{"apply", "-chart=" + chartDir, "-kubeconfig=/nonexistent/kubeconfig"}, 1, "/nonexistent/kubeconfig"},
		{[]string{"delete", "-chart=" + chartDir, "-kubeconfig=/nonexistent/kubeconfig"}, 1, "/nonexistent/kubeconfig"},
	} {
		code, _, errs := runCmd(t, c.args...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", c.args, code, errs, c.code, c.want)
		}
	}
}

// apply and delete against a real API server with the Prometheus Operator's
// CRDs (tasks/k8s/kubetest; skips without its binaries, fails in strict mode).
func TestApplyDeleteAgainstAPIServer(t *testing.T) {
	cp := kubetest.New(t, kubetest.Options{})
	kc := "-kubeconfig=" + cp.Kubeconfig
	code, out, errs := runCmd(t, "apply", "-chart="+chartDir, kc, "-namespace=lop-none", "-create-namespace=false")
	if code != 1 || !strings.Contains(errs, "kubectl create namespace lop-none") {
		t.Errorf("-create-namespace=false into a missing namespace: exit %d\n%s", code, errs)
	}
	code, out, errs = runCmd(t, "apply", "-chart="+chartDir, kc, "-sim", "-namespace=lop-e2e", "-release=e2e")
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "k8s:apply: 17 objects in namespace lop-e2e: 17 created, 0 configured, 0 unchanged") {
		t.Errorf("first apply:\n%s", out)
	}
	code, out, errs = runCmd(t, "apply", "-chart="+chartDir, kc, "-sim", "-namespace=lop-e2e", "-release=e2e")
	if code != 0 || !strings.Contains(out, "17 objects in namespace lop-e2e: 0 created, 0 configured, 17 unchanged") {
		t.Errorf("second apply: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runCmd(t, "delete", "-chart="+chartDir, kc, "-namespace=lop-e2e", "-release=e2e")
	if code != 0 || !strings.Contains(out, "k8s:delete: release e2e in namespace lop-e2e: 17 deleted") {
		t.Errorf("delete: exit %d\n%s%s", code, out, errs)
	}
}

func TestApplyWithoutCRDs(t *testing.T) {
	cp := kubetest.New(t, kubetest.Options{NoCRDs: true})
	code, out, errs := runCmd(t, "apply", "-chart="+chartDir, "-kubeconfig="+cp.Kubeconfig)
	if code != 1 || !strings.Contains(errs, "podmonitors.monitoring.coreos.com") || !strings.Contains(errs, "prometheusrules.monitoring.coreos.com") {
		t.Errorf("exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
}
