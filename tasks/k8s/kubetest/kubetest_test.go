package kubetest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
)

func TestMain(m *testing.M) { Main(m) }

var namespaces = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}

// The shared control plane serves the four namespaces, the CRDs asked for
// and no other, through the kubeconfig file as through Config; the
// unprivileged user is authenticated but forbidden (RBAC is on).
func TestControlPlane(t *testing.T) {
	cp := Shared(t, Options{CRDs: []string{"podmonitors", "prometheusrules"}})
	ctx := context.Background()

	st, err := os.Stat(cp.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig mode %v, want 0600 (it holds a token)", st.Mode().Perm())
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", cp.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	list, err := dyn.Resource(namespaces).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ns := range list.Items {
		names = append(names, ns.GetName())
	}
	for _, want := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("namespaces %v lack %s", names, want)
		}
	}

	dc, err := discovery.NewDiscoveryClientForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	rl, err := dc.ServerResourcesForGroupVersion("monitoring.coreos.com/v1")
	if err != nil {
		t.Fatal(err)
	}
	var served []string
	for _, r := range rl.APIResources {
		if !strings.Contains(r.Name, "/") {
			served = append(served, r.Name)
		}
	}
	if strings.Join(served, ",") != "podmonitors,prometheusrules" && strings.Join(served, ",") != "prometheusrules,podmonitors" {
		t.Errorf("monitoring.coreos.com/v1 serves %v, want podmonitors and prometheusrules only", served)
	}

	udyn, err := dynamic.NewForConfig(cp.UserConfig)
	if err != nil {
		t.Fatal(err)
	}
	_, err = udyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace("default").List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("unbound user listing configmaps: %v, want Forbidden (RBAC authorization)", err)
	}
	if err != nil && !strings.Contains(err.Error(), UserName) {
		t.Errorf("Forbidden error %q does not name the user %s", err, UserName)
	}
}

// Without CRDs, monitoring.coreos.com is not served at all.
func TestNoCRDs(t *testing.T) {
	cp := Shared(t, Options{NoCRDs: true})
	dc, err := discovery.NewDiscoveryClientForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dc.ServerResourcesForGroupVersion("monitoring.coreos.com/v1"); !apierrors.IsNotFound(err) {
		t.Errorf("monitoring.coreos.com/v1 without CRDs: %v, want NotFound", err)
	}
}

// Stop ends both processes and removes the folder.
func TestStop(t *testing.T) {
	cp := New(t, Options{NoCRDs: true})
	t.Logf("start took %s", cp.StartTime)
	if err := cp.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cp.Dir); !os.IsNotExist(err) {
		t.Errorf("%s still there after Stop: %v", cp.Dir, err)
	}
	for _, c := range []string{"etcd", "apiserver"} {
		cmd := cp.etcd
		if c == "apiserver" {
			cmd = cp.apiserver
		}
		if !exited(cmd) {
			t.Errorf("%s still running after Stop", c)
		}
	}
}

// Missing assets: the message names the folder and .ci/kube-tools.
func TestFindAssetsMissing(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(AssetsVar, dir)
	_, m := FindAssets()
	if m == nil {
		t.Fatal("FindAssets in an empty folder: nothing missing")
	}
	for _, want := range []string{filepath.Join(dir, "bin"), ".ci/kube-tools", AssetsVar} {
		if !strings.Contains(m.What, want) {
			t.Errorf("%q does not name %q", m.What, want)
		}
	}
	if m.Package != "etcd-server" {
		t.Errorf("package %q, want etcd-server", m.Package)
	}
}

func TestReadCRD(t *testing.T) {
	dir := t.TempDir()
	crd := "---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: podmonitors.monitoring.coreos.com\n"
	if err := os.WriteFile(filepath.Join(dir, "monitoring.coreos.com_podmonitors.yaml"), []byte(crd), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCRD(dir, "podmonitors")
	if err != nil {
		t.Fatal(err)
	}
	if got.GetName() != "podmonitors.monitoring.coreos.com" || got.GetKind() != "CustomResourceDefinition" {
		t.Errorf("ReadCRD: %s %s", got.GetKind(), got.GetName())
	}
	_, err = ReadCRD(dir, "nosuchmonitors")
	if err == nil || !strings.Contains(err.Error(), "podmonitors") || !strings.Contains(err.Error(), "nosuchmonitors") {
		t.Errorf("unknown CRD: %v, want an error naming it and listing the ones there", err)
	}
}
