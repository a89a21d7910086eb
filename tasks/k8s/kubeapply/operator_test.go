package kubeapply

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/k8s/chart"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/k8s/kubetest"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/sim"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

var (
	pods         = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	secrets      = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	prometheuses = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "prometheuses"}
)

// The whole path but the kubelet: the chart applied to a real API server;
// the real Prometheus Operator generates the Prometheus configuration and
// rule files from its PodMonitors and PrometheusRule; a real Prometheus
// with that configuration discovers the simulator's pod (its status set by
// the test to point at a simulator on loopback), scrapes it and evaluates
// the pack's rules.
func TestOperatorScrapesSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a control plane, the operator, a simulator and Prometheus")
	}
	// Debian's prometheus has no Kubernetes service discovery: the one
	// .ci/kube-tools builds.
	promBin := kubetest.Prometheus(t)
	cp := kubetest.Shared(t, kubetest.Options{CRDs: kubetest.AllCRDs(t)})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := connect(Options{Kubeconfig: cp.Kubeconfig})
	if err != nil {
		t.Fatal(err)
	}

	// A simulator (vLLM personality) on loopback.
	cfg := sim.DefaultConfig(sim.PersonalityVLLM)
	cfg.Addr, cfg.MetricsAddr, cfg.DCGMAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	srv, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	run, err := srv.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ports := map[string]int64{"http": port(t, run.APIURL), "metrics": port(t, run.MetricsURL), "gpu-metrics": port(t, run.DCGMURL)}

	// The chart with its simulators, the vLLM one only.
	const ns = "operator-e2e"
	objs, err := chart.Render(chart.Options{Namespace: ns, Sim: true, Values: map[string]any{"sim": map[string]any{"backends": []any{"vllm"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(ctx, Options{Kubeconfig: cp.Kubeconfig, CreateNamespace: true}, objs); err != nil {
		t.Fatal(err)
	}

	// The pod the Deployment would get, with the simulator's ports; no
	// kubelet runs it: its status says it runs on 127.0.0.1.
	var dep *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "Deployment" {
			dep = o
		}
	}
	if dep == nil {
		t.Fatal("the chart with sim renders no Deployment")
	}
	tmpl, _, _ := unstructured.NestedMap(dep.Object, "spec", "template")
	pod := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": tmpl["metadata"], "spec": tmpl["spec"]}}
	pod.SetName(dep.GetName() + "-0")
	pod.SetNamespace(ns)
	containers, _, _ := unstructured.NestedSlice(pod.Object, "spec", "containers")
	for _, ctr := range containers {
		ps, _ := ctr.(map[string]any)["ports"].([]any)
		for _, p := range ps {
			pm := p.(map[string]any)
			n, ok := ports[pm["name"].(string)]
			if !ok {
				t.Fatalf("the sim container has a port %v the test does not know", pm["name"])
			}
			pm["containerPort"] = n
		}
	}
	unstructured.SetNestedSlice(pod.Object, containers, "spec", "containers")
	podRI := c.dyn.Resource(pods).Namespace(ns)
	created, err := podRI.Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Format(time.RFC3339)
	created.Object["status"] = map[string]any{
		"phase": "Running", "podIP": "127.0.0.1", "podIPs": []any{map[string]any{"ip": "127.0.0.1"}},
		"hostIP": "127.0.0.1", "startTime": now,
		"conditions": []any{
			map[string]any{"type": "Ready", "status": "True", "lastTransitionTime": now},
			map[string]any{"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
		},
		"containerStatuses": []any{map[string]any{"name": "sim", "ready": true, "restartCount": int64(0), "image": "sim", "imageID": "",
			"started": true, "state": map[string]any{"running": map[string]any{"startedAt": now}}}},
	}
	if _, err := podRI.UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The operator, and a Prometheus resource that selects every monitor and
	// rule and reaches the API server from outside the cluster.
	kubetest.RunOperator(t, cp)
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte(cp.Config.BearerToken), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, cp.Config.CAData, 0o600); err != nil {
		t.Fatal(err)
	}
	ver, _ := exec.Command(promBin, "--version").Output()
	promVersion := "v" + strings.Fields(string(ver) + " x x x")[2]
	promVersion = strings.SplitN(promVersion, "+", 2)[0]
	p := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
		"metadata": map[string]any{"name": "e2e", "namespace": ns},
		"spec": map[string]any{
			"version":                     promVersion,
			"podMonitorSelector":          map[string]any{},
			"podMonitorNamespaceSelector": map[string]any{},
			"ruleSelector":                map[string]any{},
			"ruleNamespaceSelector":       map[string]any{},
			"evaluationInterval":          "1s",
			"apiserverConfig": map[string]any{
				"host":          cp.URL,
				"authorization": map[string]any{"type": "Bearer", "credentialsFile": token},
				"tlsConfig":     map[string]any{"caFile": ca},
			},
		},
	}}
	if _, err := c.dyn.Resource(prometheuses).Namespace(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// What the operator generates: the configuration (a gzipped secret) and
	// the rule files (ConfigMaps).
	var conf []byte
	poll(t, ctx, "the operator's secret prometheus-e2e", func() (bool, string) {
		s, err := c.dyn.Resource(secrets).Namespace(ns).Get(ctx, "prometheus-e2e", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		gz, _, _ := unstructured.NestedString(s.Object, "data", "prometheus.yaml.gz")
		if gz == "" {
			return false, "no prometheus.yaml.gz yet"
		}
		raw, err := base64.StdEncoding.DecodeString(gz)
		if err != nil {
			return false, err.Error()
		}
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return false, err.Error()
		}
		conf, err = io.ReadAll(zr)
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(string(conf), "podMonitor/"+ns+"/") && strings.Contains(string(conf), "rule_files"), "configuration without the PodMonitors or rule files yet"
	})
	// What prometheus-config-reloader does in the pod: expand $(VAR) from
	// the container's environment (the shard, the pod name).
	conf = []byte(strings.NewReplacer("$(SHARD)", "0", "$(POD_NAME)", "prometheus-e2e-0").Replace(string(conf)))
	var promConf map[string]any
	if err := yaml.Unmarshal(conf, &promConf); err != nil {
		t.Fatal(err)
	}
	ruleDir := filepath.Join(dir, "rules")
	if err := os.MkdirAll(ruleDir, 0o755); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, "the operator's rule files", func() (bool, string) {
		l, err := c.dyn.Resource(configMaps).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: "prometheus-name=e2e"})
		if err != nil {
			return false, err.Error()
		}
		n := 0
		for _, cm := range l.Items {
			data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
			for k, v := range data {
				if err := os.WriteFile(filepath.Join(ruleDir, k), []byte(v), 0o644); err != nil {
					return false, err.Error()
				}
				n++
			}
		}
		return n > 0, fmt.Sprintf("%d rule ConfigMaps", len(l.Items))
	})
	promConf["rule_files"] = []any{filepath.Join(ruleDir, "*.yaml")}
	out, err := yaml.Marshal(promConf)
	if err != nil {
		t.Fatal(err)
	}
	confFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(confFile, out, 0o600); err != nil {
		t.Fatal(err)
	}
	// Prometheus with it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	promAddr := l.Addr().String()
	l.Close()
	var plog bytes.Buffer
	prom := exec.CommandContext(ctx, promBin, "--config.file="+confFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	prom.Stdout, prom.Stderr = &plog, &plog
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		prom.Process.Kill()
		prom.Wait()
		if t.Failed() {
			t.Logf("Prometheus log:\n%s\nconfiguration:\n%s", plog.String(), out)
		}
	})

	// The pod is discovered and scraped through the chart's PodMonitors.
	var up []string
	poll(t, ctx, "Prometheus scraping the simulator's pod", func() (bool, string) {
		var r struct {
			Data struct {
				ActiveTargets []struct {
					ScrapePool string            `json:"scrapePool"`
					ScrapeURL  string            `json:"scrapeUrl"`
					Health     string            `json:"health"`
					LastError  string            `json:"lastError"`
					Labels     map[string]string `json:"labels"`
				} `json:"activeTargets"`
			} `json:"data"`
		}
		if err := getJSON(ctx, "http://"+promAddr+"/api/v1/targets?state=active", &r); err != nil {
			return false, err.Error()
		}
		up = up[:0]
		var seen []string
		for _, tg := range r.Data.ActiveTargets {
			seen = append(seen, fmt.Sprintf("%s %s %s %s", tg.ScrapePool, tg.ScrapeURL, tg.Health, tg.LastError))
			if tg.Health == "up" && tg.Labels["pod"] == pod.GetName() {
				up = append(up, tg.ScrapePool+" "+tg.ScrapeURL)
			}
		}
		return len(up) >= 2, fmt.Sprintf("targets: %v", seen)
	})
	t.Logf("scraped: %v", up)
	var joined = strings.Join(up, "\n")
	for _, want := range []string{run.MetricsURL, run.DCGMURL} {
		if !strings.Contains(joined, want) {
			t.Errorf("no target up at %s: %v", want, up)
		}
	}

	// The simulator's series arrive with the labels the rules aggregate by,
	// and the pack's rules are evaluated.
	poll(t, ctx, "the simulator's series in Prometheus", func() (bool, string) {
		v, err := query(ctx, promAddr, `count by (job, backend) (vllm:num_requests_running{namespace="`+ns+`"})`)
		if err != nil {
			return false, err.Error()
		}
		return len(v) > 0, fmt.Sprintf("%v", v)
	})
	poll(t, ctx, "the pack's rules evaluated", func() (bool, string) {
		var r struct {
			Data struct {
				Groups []struct {
					Name  string `json:"name"`
					Rules []struct {
						Health    string `json:"health"`
						LastError string `json:"lastError"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		if err := getJSON(ctx, "http://"+promAddr+"/api/v1/rules", &r); err != nil {
			return false, err.Error()
		}
		if len(r.Data.Groups) == 0 {
			return false, "no rule groups"
		}
		for _, g := range r.Data.Groups {
			for _, rl := range g.Rules {
				if rl.Health != "ok" {
					return false, fmt.Sprintf("group %s: rule health %q %s", g.Name, rl.Health, rl.LastError)
				}
			}
		}
		v, err := query(ctx, promAddr, `slo:objective:ratio`)
		if err != nil {
			return false, err.Error()
		}
		return len(v) == 3, fmt.Sprintf("%d groups; slo:objective:ratio: %v", len(r.Data.Groups), v)
	})
}

func port(t *testing.T, u string) int64 {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(pu.Port(), 10, 32)
	if err != nil {
		t.Fatalf("%s: %v", u, err)
	}
	return n
}

func poll(t *testing.T, ctx context.Context, what string, f func() (bool, string)) {
	t.Helper()
	var last string
	for {
		ok, why := f()
		if ok {
			return
		}
		last = why
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not reached (%v); last: %s", what, ctx.Err(), last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s %s", u, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func query(ctx context.Context, addr, q string) ([]map[string]any, error) {
	var r struct {
		Data struct {
			Result []map[string]any `json:"result"`
		} `json:"data"`
	}
	err := getJSON(ctx, "http://"+addr+"/api/v1/query?query="+url.QueryEscape(q), &r)
	return r.Data.Result, err
}
