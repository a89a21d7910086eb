package targets

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestK8sArgs(t *testing.T) {
	s := func(v string) *string { return &v }
	b := func(v bool) *bool { return &v }
	for _, c := range []struct {
		sub     string
		f       K8sFlags
		want    []string
		wantErr string
	}{
		{sub: "render", want: []string{"render"}},
		{sub: "render", f: K8sFlags{Out: s("out dir"), Sim: b(true), DashboardLabel: s("grafana_dashboard=1"), Release: s("r"), Namespace: s("ns")},
			want: []string{"render", "-out=out dir", "-release=r", "-namespace=ns", "-sim=true", "-dashboard-label=grafana_dashboard=1"}},
		// A value with shell characters is one argument, untouched.
		{sub: "apply", f: K8sFlags{Context: s("prod; rm -rf /"), Kubeconfig: s("/k/$HOME"), Sim: b(false)},
			want: []string{"apply", "-sim=false", "-context=prod; rm -rf /", "-kubeconfig=/k/$HOME"}},
		{sub: "delete", f: K8sFlags{Release: s("r"), Context: s("c")},
			want: []string{"delete", "-release=r", "-context=c"}},
		{sub: "render", f: K8sFlags{Context: s("c")}, wantErr: "k8s:render does not take -context"},
		{sub: "apply", f: K8sFlags{Out: s("x")}, wantErr: "k8s:apply does not take -out"},
		{sub: "delete", f: K8sFlags{Sim: b(true), DashboardLabel: s("a=b")}, wantErr: "k8s:delete does not take -sim, -dashboardlabel"},
		{sub: "install", wantErr: `no subcommand "install"`},
	} {
		got, err := K8sArgs(c.sub, c.f)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s %+v: err = %v, want %q", c.sub, c.f, err, c.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %q, %v\nwant %q", c.sub, got, err, c.want)
		}
	}
}

func TestK8sUsageErrorExitStatus(t *testing.T) {
	var e error = &K8sUsageError{Sub: "render"}
	st, ok := e.(interface{ ExitStatus() int })
	if !ok || st.ExitStatus() != 2 || !strings.Contains(e.Error(), "k8s:render") {
		t.Errorf("%v", e)
	}
}

// A flag the subcommand does not take is a usage error (exit 2) before
// anything is built.
func TestK8sRefusesFlagBeforeBuilding(t *testing.T) {
	c := "ctx"
	err := K8s(t.Context(), "render", K8sFlags{Context: &c})
	var ue *K8sUsageError
	if !errors.As(err, &ue) || ue.ExitStatus() != 2 || !strings.Contains(err.Error(), "does not take -context") {
		t.Errorf("err = %v", err)
	}
}
