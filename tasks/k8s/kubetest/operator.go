package kubetest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// AllCRDs are every CRD file of crds/ (plural names): what the Prometheus
// Operator itself needs (it watches Prometheuses, Alertmanagers, ...).
func AllCRDs(t testing.TB) []string {
	t.Helper()
	a := needAssets(t)
	files, err := filepath.Glob(filepath.Join(a.CRDDir, "monitoring.coreos.com_*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRD files in %s: %v", a.CRDDir, err)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "monitoring.coreos.com_"), ".yaml"))
	}
	return names
}

// Operator is a running Prometheus Operator.
type Operator struct {
	Log string // its log file
}

// RunOperator starts the Prometheus Operator (bin/prometheus-operator, built
// by .ci/kube-tools) against cp with the admin kubeconfig, watching every
// namespace, and waits until it serves /healthz; t.Cleanup stops it. A
// missing binary skips t naming the fix (fails in strict mode).
func RunOperator(t testing.TB, cp *ControlPlane) *Operator {
	t.Helper()
	bin := needBinary(t, "prometheus-operator", "prometheus-operator")
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	log := fmt.Sprintf("operator-%d.log", ports[0])
	// The operator reads a kubeconfig only from KUBECONFIG.
	cmd, err := cp.launchEnv([]string{"KUBECONFIG=" + cp.Kubeconfig}, bin, log,
		"--web.listen-address="+addr,
		"--log-level=info",
	)
	if err != nil {
		t.Fatal(err)
	}
	done := cp.waits[len(cp.waits)-1]
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(cp.Dir, log))
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("end of the operator's log:\n%s", b)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cp.waitHTTP(ctx, http.DefaultClient, "http://"+addr+"/healthz", time.Minute, cmd, log); err != nil {
		t.Fatal(err)
	}
	return &Operator{Log: filepath.Join(cp.Dir, log)}
}

// Prometheus returns bin/prometheus of the assets: a Prometheus with
// Kubernetes service discovery, which Debian's package is built without
// (.ci/kube-tools builds it); missing, t skips naming the fix (fails in
// strict mode).
func Prometheus(t testing.TB) string {
	t.Helper()
	bin := needBinary(t, "prometheus", "prometheus with Kubernetes service discovery (Debian's has none)")
	return bin
}
