package podapi

import (
	"context"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A fake API server over TLS: GET returns a map, PATCH records the body;
// it checks the bearer token and the merge-patch content type.
func TestInClusterReadsAndPatchesConfigMaps(t *testing.T) {
	var patched, auth, ctype string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/api/v1/namespaces/bench/configmaps/job-control":
			io.WriteString(w, `{"kind":"ConfigMap","data":{"start":"2026-12-02T10:00:00Z"}}`)
		case r.Method == http.MethodPatch && r.URL.Path == "/api/v1/namespaces/bench/configmaps/job-w-0":
			ctype = r.Header.Get("Content-Type")
			b, _ := io.ReadAll(r.Body)
			patched = string(b)
			io.WriteString(w, `{}`)
		default:
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"kind":"Status","message":"configmaps \"x\" is forbidden: User \"system:serviceaccount:bench:job\" cannot get resource"}`)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	write := func(name, v string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.crt", string(ca))
	write("namespace", "bench\n")
	write("token", "tok-1\n")
	u, _ := url.Parse(srv.URL)
	t.Setenv("KUBERNETES_SERVICE_HOST", u.Hostname())
	t.Setenv("KUBERNETES_SERVICE_PORT", u.Port())
	t.Setenv("LOP_K8S_SA_DIR", dir)
	c, err := InCluster()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data, err := c.ConfigMapData(ctx, "job-control")
	if err != nil || data["start"] != "2026-12-02T10:00:00Z" || auth != "Bearer tok-1" {
		t.Fatalf("data %v err %v auth %q", data, err, auth)
	}
	// The kubelet rotates the token: the next request reads the new one.
	write("token", "tok-2")
	if err := c.PatchConfigMapData(ctx, "job-w-0", map[string]string{"ready": "now"}); err != nil {
		t.Fatal(err)
	}
	if patched != `{"data":{"ready":"now"}}` || ctype != "application/merge-patch+json" || auth != "Bearer tok-2" {
		t.Fatalf("patch %q type %q auth %q", patched, ctype, auth)
	}
	_, err = c.ConfigMapData(ctx, "x")
	if err == nil || IsNotFound(err) || !strings.Contains(err.Error(), "403: configmaps \"x\" is forbidden") || strings.Contains(err.Error(), "tok-") {
		t.Fatalf("forbidden: %v", err)
	}
}

func TestInClusterSaysWhatIsMissing(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	if _, err := InCluster(); err == nil || !strings.Contains(err.Error(), "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set") {
		t.Fatalf("%v", err)
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
	t.Setenv("KUBERNETES_SERVICE_PORT", "6443")
	t.Setenv("LOP_K8S_SA_DIR", t.TempDir())
	if _, err := InCluster(); err == nil || !strings.Contains(err.Error(), "the service account's CA") {
		t.Fatalf("%v", err)
	}
}
