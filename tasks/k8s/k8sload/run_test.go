package k8sload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/k8s/kubetest"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/k8s/loadjob"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/sim/simproc"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/testio"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

// cluster is the shared control plane with a namespace for one test.
type cluster struct {
	cp  *kubetest.ControlPlane
	cs  kubernetes.Interface
	ns  string
	sim string // the simulator's URL
	bin string // cmd/loadgen
}

var (
	buildOnce sync.Once
	loadgen   string
	buildErr  error
)

func newCluster(t *testing.T, ns string) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: runs a control plane, a simulator and generator processes")
	}
	cp := kubetest.Shared(t, kubetest.Options{NoCRDs: true})
	cs, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "k8sload-")
		if err != nil {
			buildErr = err
			return
		}
		loadgen = filepath.Join(dir, "loadgen")
		cmd := exec.Command("go", "build", "-o", loadgen, "../../../cmd/loadgen")
		cmd.Stderr = os.Stderr
		buildErr = cmd.Run()
	})
	if buildErr != nil {
		t.Fatalf("build cmd/loadgen: %v", buildErr)
	}
	url, _ := simproc.Start(t, simproc.Binary(t), "-addr", "127.0.0.1:0", "-constant-ttft", "20ms", "-constant-itl", "5ms",
		"-output-tokens-mean", "100", "-output-tokens-sigma", "0", "-max-num-seqs", "256")
	return &cluster{cp: cp, cs: cs, ns: ns, sim: url, bin: loadgen}
}

// kubelet plays the part of the nodes: once the Job exists it starts, for
// each index in start, the generator the pod template names, with the
// environment Kubernetes gives a pod of an Indexed Job and a token of the
// Job's service account; when the Job is deleted it sends them SIGTERM.
type kubelet struct {
	t     *testing.T
	c     *cluster
	mu    sync.Mutex
	procs []*exec.Cmd
	logs  []*bytes.Buffer
	done  chan struct{}
	args  []string
	sa    string
}

func (c *cluster) kubelet(t *testing.T, job string, start []int) *kubelet {
	k := &kubelet{t: t, c: c, done: make(chan struct{})}
	go k.loop(job, start)
	t.Cleanup(func() {
		k.mu.Lock()
		for _, p := range k.procs {
			_ = p.Process.Kill()
		}
		k.mu.Unlock()
		<-k.done
	})
	return k
}

func (k *kubelet) loop(name string, start []int) {
	defer close(k.done)
	ctx := context.Background()
	cs, ns := k.c.cs, k.c.ns
	var started bool
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		job, err := cs.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && started {
			k.signal(syscall.SIGTERM)
			k.wait()
			return
		}
		if err != nil || started {
			if err == nil && job.DeletionTimestamp != nil {
				k.signal(syscall.SIGTERM)
				k.wait()
				return
			}
			if started && k.allExited() {
				return
			}
			continue
		}
		started = true
		spec := job.Spec.Template.Spec
		k.sa, k.args = spec.ServiceAccountName, spec.Containers[0].Args
		dir := k.saDir(ctx, spec.ServiceAccountName)
		u, _ := url.Parse(k.c.cp.URL)
		for _, i := range start {
			cmd := exec.Command(k.c.bin, spec.Containers[0].Args...)
			cmd.Env = append(os.Environ(), "KUBERNETES_SERVICE_HOST="+u.Hostname(), "KUBERNETES_SERVICE_PORT="+u.Port(),
				"LOP_K8S_SA_DIR="+dir, fmt.Sprintf("JOB_COMPLETION_INDEX=%d", i))
			var log bytes.Buffer
			cmd.Stdout, cmd.Stderr = &log, &log
			if err := cmd.Start(); err != nil {
				k.t.Errorf("start pod %d: %v", i, err)
				return
			}
			k.mu.Lock()
			k.procs, k.logs = append(k.procs, cmd), append(k.logs, &log)
			k.mu.Unlock()
			go func() { _ = cmd.Wait() }()
		}
	}
}

// saDir writes what Kubernetes mounts in a pod: a token of the service
// account (TokenRequest), the cluster's CA and the namespace.
func (k *kubelet) saDir(ctx context.Context, sa string) string {
	dir := k.t.TempDir()
	tok, err := k.c.cs.CoreV1().ServiceAccounts(k.c.ns).CreateToken(ctx, sa, &authv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		k.t.Errorf("token for %s: %v", sa, err)
		return dir
	}
	ca := k.c.cp.Config.CAData
	if len(ca) == 0 {
		ca, _ = os.ReadFile(k.c.cp.Config.CAFile)
	}
	for name, b := range map[string][]byte{"token": []byte(tok.Status.Token), "ca.crt": ca, "namespace": []byte(k.c.ns)} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			k.t.Fatal(err)
		}
	}
	return dir
}

func (k *kubelet) signal(s os.Signal) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, p := range k.procs {
		_ = p.Process.Signal(s)
	}
}

func (k *kubelet) allExited() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, p := range k.procs {
		if p.ProcessState == nil {
			return false
		}
	}
	return true
}

func (k *kubelet) wait() {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !k.allExited(); {
		time.Sleep(50 * time.Millisecond)
	}
}

func (k *kubelet) output() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var b strings.Builder
	for i, l := range k.logs {
		fmt.Fprintf(&b, "--- pod %d\n%s\n", i, l.String())
	}
	return b.String()
}

func (c *cluster) options(name string, pods int, args ...string) (Options, *testio.SyncBuffer) {
	var status testio.SyncBuffer
	return Options{Spec: Spec{Name: name, Namespace: c.ns, Pods: pods, Image: "registry.invalid/loadgen:test",
		Args: append([]string{"-url", c.sim, "-backend", "sim", "-maxtokens", "8"}, args...)},
		ReadyTimeout: 40 * time.Second, Poll: 100 * time.Millisecond, ProgressEvery: time.Second, Status: &status}, &status
}

// leftovers are the objects of job still in the namespace, of every kind
// a run creates.
func (c *cluster) leftovers(t *testing.T, job string) []string {
	t.Helper()
	dyn, err := dynamic.NewForConfig(c.cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range []schema.GroupVersionResource{
		{Version: "v1", Resource: "configmaps"}, {Version: "v1", Resource: "serviceaccounts"},
		{Group: "batch", Version: "v1", Resource: "jobs"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
	} {
		l, err := dyn.Resource(r).Namespace(c.ns).List(context.Background(), metav1.ListOptions{LabelSelector: LabelJob + "=" + job})
		if err != nil {
			t.Fatalf("list %s: %v", r.Resource, err)
		}
		for _, x := range l.Items {
			out = append(out, r.Resource+"/"+x.GetName())
		}
	}
	return out
}

func TestThreePodsMergeIntoOneResult(t *testing.T) {
	c := newCluster(t, "lop-load-merge")
	o, status := c.options("merge3", 3, "-concurrency", "6", "-requests", "60")
	k := c.kubelet(t, "merge3", []int{0, 1, 2})
	res, err := Run(context.Background(), c.cs, o)
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, status, k.output())
	}
	if res.Requests.OK != 60 || res.Requests.Failed != 0 || res.Partial || len(res.Workers) != 3 {
		t.Fatalf("merged ok %d failed %d partial %v workers %d\n%s\n%s", res.Requests.OK, res.Requests.Failed, res.Partial,
			len(res.Workers), status, k.output())
	}
	for i, w := range res.Workers {
		if w.Concurrency != 2 || w.OK != 20 || w.Name != fmt.Sprintf("pod %d", i) {
			t.Errorf("worker %d: %+v: want 2 streams and 20 requests", i, w)
		}
	}
	if res.Config.Concurrency != 6 || res.TTFT.Count != 60 || res.TTFT.P50 < 0.019 || res.TTFT.P50 > 0.030 {
		t.Errorf("merged concurrency %d TTFT %+v", res.Config.Concurrency, res.TTFT)
	}
	// The pods ran exactly the template's arguments; their identity was
	// the Job's service account.
	if k.sa != "merge3" || !strings.Contains(strings.Join(k.args, " "), "-k8sjob=merge3 -workers=3") {
		t.Errorf("pod template: service account %q, args %q", k.sa, k.args)
	}
	for _, want := range []string{"Job lop-load-merge/merge3: 3 generator pods", "all 3 pods ready; starting at"} {
		if !strings.Contains(status.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, status)
		}
	}
	if left := c.leftovers(t, "merge3"); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// The Role lets a pod's token read the control map and patch the workers'
// maps, and nothing else.
func TestWorkerRoleAllowsOnlyTheJobsMaps(t *testing.T) {
	c := newCluster(t, "lop-load-rbac")
	ctx := context.Background()
	s := Spec{Name: "rbac", Namespace: c.ns, Pods: 2, Image: "x"}
	if _, err := c.cs.CoreV1().ServiceAccounts(c.ns).Create(ctx, s.ServiceAccount(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.cs.RbacV1().Roles(c.ns).Create(ctx, s.Role(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.cs.RbacV1().RoleBindings(c.ns).Create(ctx, s.RoleBinding(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, cm := range append(s.ConfigMaps(nil), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "someone-elses", Namespace: c.ns}}) {
		if _, err := c.cs.CoreV1().ConfigMaps(c.ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := c.cs.CoreV1().ServiceAccounts(c.ns).CreateToken(ctx, "rbac", &authv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.AnonymousClientConfig(c.cp.Config)
	cfg.BearerToken = tok.Status.Token
	pod, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	patch := []byte(`{"data":{"ready":"now"}}`)
	if _, err := pod.CoreV1().ConfigMaps(c.ns).Patch(ctx, loadjob.WorkerName("rbac", 1), "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
		t.Errorf("patch own map: %v", err)
	}
	if _, err := pod.CoreV1().ConfigMaps(c.ns).Get(ctx, loadjob.ControlName("rbac"), metav1.GetOptions{}); err != nil {
		t.Errorf("get control map: %v", err)
	}
	for what, err := range map[string]error{
		"patch control": func() error {
			_, err := pod.CoreV1().ConfigMaps(c.ns).Patch(ctx, loadjob.ControlName("rbac"), "application/merge-patch+json", patch, metav1.PatchOptions{})
			return err
		}(),
		"get another map": func() error {
			_, err := pod.CoreV1().ConfigMaps(c.ns).Get(ctx, "someone-elses", metav1.GetOptions{})
			return err
		}(),
		"list maps": func() error { _, err := pod.CoreV1().ConfigMaps(c.ns).List(ctx, metav1.ListOptions{}); return err }(),
		"create a map": func() error {
			_, err := pod.CoreV1().ConfigMaps(c.ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "new"}}, metav1.CreateOptions{})
			return err
		}(),
		"read secrets": func() error { _, err := pod.CoreV1().Secrets(c.ns).List(ctx, metav1.ListOptions{}); return err }(),
	} {
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s: %v, want forbidden", what, err)
		}
	}
}

// A pod that never starts is named, and the result says it is partial.
func TestMissingPodGivesPartialResult(t *testing.T) {
	c := newCluster(t, "lop-load-partial")
	o, status := c.options("partial", 3, "-concurrency", "3", "-requests", "30")
	o.ReadyTimeout = 3 * time.Second
	k := c.kubelet(t, "partial", []int{0, 2})
	res, err := Run(context.Background(), c.cs, o)
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, status, k.output())
	}
	if !res.Partial || len(res.Missing) != 1 || res.Missing[0] != "pod 1 (never reported)" || res.Requests.OK != 20 {
		t.Fatalf("partial %v missing %q ok %d\n%s", res.Partial, res.Missing, res.Requests.OK, status)
	}
	if !strings.Contains(status.String(), "starting at") || !strings.Contains(status.String(), "not ready in time: pod 1") {
		t.Errorf("status:\n%s", status)
	}
}

// Ctrl+C deletes the Job (the pods get SIGTERM), keeps what they measured
// and leaves nothing behind.
var measured = regexp.MustCompile(`k8s:load: ok [1-9]`)

func TestInterruptDeletesTheJobAndKeepsWhatFinished(t *testing.T) {
	c := newCluster(t, "lop-load-cancel")
	o, status := c.options("cancel", 2, "-concurrency", "4", "-duration", "10m")
	k := c.kubelet(t, "cancel", []int{0, 1})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if measured.MatchString(status.String()) {
				break
			}
		}
		cancel()
	}()
	res, err := Run(ctx, c.cs, o)
	if res == nil {
		t.Fatalf("no result: %v\n%s\n%s", err, status, k.output())
	}
	if res.Requests.OK == 0 || len(res.Workers) != 2 || res.StoppedBy != "canceled" {
		t.Fatalf("ok %d workers %d stopped by %q\n%s\n%s", res.Requests.OK, len(res.Workers), res.StoppedBy, status, k.output())
	}
	if !strings.Contains(status.String(), "interrupted: deleting Job cancel") {
		t.Errorf("status:\n%s", status)
	}
	if left := c.leftovers(t, "cancel"); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatal("not canceled")
	}
}

// A pod that said it was ready but never publishes (its node lost, say) is
// given up after ResultTimeout and named; the others are merged.
func TestSilentPodIsGivenUpAfterResultTimeout(t *testing.T) {
	c := newCluster(t, "lop-load-silent")
	o, status := c.options("silent", 3, "-concurrency", "3", "-requests", "30")
	o.ResultTimeout = 8 * time.Second
	k := c.kubelet(t, "silent", []int{0, 1})
	go func() { // pod 2 says ready, as a pod would, and nothing more
		ctx := context.Background()
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			_, err := c.cs.CoreV1().ConfigMaps(c.ns).Patch(ctx, loadjob.WorkerName("silent", 2), "application/merge-patch+json",
				[]byte(`{"data":{"ready":"now"}}`), metav1.PatchOptions{})
			if err == nil {
				return
			}
		}
	}()
	start := time.Now()
	res, err := Run(context.Background(), c.cs, o)
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, status, k.output())
	}
	if !res.Partial || len(res.Missing) != 1 || res.Missing[0] != "pod 2 (no result)" || res.Requests.OK != 20 {
		t.Fatalf("partial %v missing %q ok %d\n%s", res.Partial, res.Missing, res.Requests.OK, status)
	}
	if !strings.Contains(status.String(), "all 3 pods ready") || !strings.Contains(status.String(), "stopped waiting for the results") {
		t.Errorf("status:\n%s", status)
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("took %s", d)
	}
}
