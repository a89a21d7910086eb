// Package kubetest runs a real Kubernetes control plane for tests: Debian's
// etcd and a kube-apiserver built from the k8s.io/kubernetes module by
// .ci/kube-tools, with token authentication, RBAC authorization and,
// optionally, the Prometheus Operator's CRDs installed and Established.
//
// There is no kubelet and no controller manager: pods are accepted and stay
// Pending (their status can be written through the status subresource),
// namespaces being deleted stay Terminating, and nothing garbage-collects
// dependents.
//
// A start costs about 10 s, so a test package shares one control plane per
// Options: its TestMain calls Main, its tests call Shared. Where the binaries
// are missing the tests skip, naming the fix; in strict mode (tasks/needs)
// they fail.
package kubetest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/needs"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// AssetsVar names the folder .ci/kube-tools fills (bin/kube-apiserver,
// bin/etcd, crds/*.yaml); unset, DefaultAssets.
const AssetsVar = "LOP_KUBE_ASSETS"

// KubeVersion is the kube-apiserver that .ci/kube-tools builds.
const KubeVersion = "v1.34.2"

// DefaultAssets is the folder .ci/kube-tools fills when LOP_KUBE_ASSETS is
// unset: $HOME/.cache/llm-observability-pack/kube-v1.34.2.
func DefaultAssets() string {
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "llm-observability-pack", "kube-"+KubeVersion)
}

// OperatorCRDs are the Prometheus Operator CRDs (their plural names, group
// monitoring.coreos.com) that the pack's objects can use; the default of
// Options.CRDs.
var OperatorCRDs = []string{"podmonitors", "servicemonitors", "prometheusrules", "probes", "alertmanagerconfigs"}

// Options choose what a control plane has installed.
type Options struct {
	// CRDs are the plural names of the monitoring.coreos.com CRDs to install
	// (the files crds/monitoring.coreos.com_NAME.yaml); nil means
	// OperatorCRDs.
	CRDs []string
	// NoCRDs starts a control plane without any CRD: what a cluster without
	// the Prometheus Operator looks like.
	NoCRDs bool
}

func (o Options) crds() []string {
	if o.NoCRDs {
		return nil
	}
	if o.CRDs == nil {
		return OperatorCRDs
	}
	return o.CRDs
}

func (o Options) key() string {
	c := slices.Clone(o.crds())
	sort.Strings(c)
	return strings.Join(c, ",")
}

// Assets is where the binaries and CRD files are.
type Assets struct {
	Dir           string // the assets folder
	KubeAPIServer string // bin/kube-apiserver
	Etcd          string // bin/etcd, else etcd on PATH
	CRDDir        string // crds
}

// FindAssets looks for the assets in LOP_KUBE_ASSETS (else DefaultAssets);
// what is missing comes back as a *needs.Missing naming the fix.
func FindAssets() (Assets, *needs.Missing) {
	dir := os.Getenv(AssetsVar)
	if dir == "" {
		dir = DefaultAssets()
	}
	a := Assets{Dir: dir, KubeAPIServer: filepath.Join(dir, "bin", "kube-apiserver"), CRDDir: filepath.Join(dir, "crds")}
	if st, err := os.Stat(a.KubeAPIServer); err != nil || st.IsDir() {
		return a, &needs.Missing{
			What:    fmt.Sprintf("no kube-apiserver in %s: run .ci/kube-tools to build it and the CRDs there (set %s for another folder); etcd comes from Debian", filepath.Dir(a.KubeAPIServer), AssetsVar),
			Package: "etcd-server",
		}
	}
	if files, _ := filepath.Glob(filepath.Join(a.CRDDir, "*.yaml")); len(files) == 0 {
		return a, &needs.Missing{
			What:    fmt.Sprintf("no CRD files in %s: run .ci/kube-tools", a.CRDDir),
			Package: "etcd-server",
		}
	}
	if p := filepath.Join(dir, "bin", "etcd"); isExecutable(p) {
		a.Etcd = p
	} else if p, err := exec.LookPath("etcd"); err == nil {
		a.Etcd = p
	} else {
		return a, &needs.Missing{What: "etcd not found (neither " + filepath.Join(dir, "bin", "etcd") + " nor on PATH)", Package: "etcd-server"}
	}
	return a, nil
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// ControlPlane is a running etcd and kube-apiserver.
type ControlPlane struct {
	// Kubeconfig is a kubeconfig file (mode 0600) whose current context,
	// "kubetest", is the admin user (group system:masters).
	Kubeconfig string
	// Config is the same admin user as a *rest.Config.
	Config *rest.Config
	// UserConfig is an authenticated user without any RBAC binding
	// (UserName): everything is forbidden until a test binds a Role.
	UserConfig *rest.Config
	// URL is the API server's https URL.
	URL string
	// Dir holds the control plane's files (logs, certificates, etcd data).
	Dir string
	// StartTime is how long Start took, from launch to CRDs Established.
	StartTime time.Duration

	etcd, apiserver *exec.Cmd
	waits           []chan struct{}
	stopOnce        sync.Once
	stopErr         error
}

// UserName is the user of ControlPlane.UserConfig.
const UserName = "kubetest-user"

// Start launches etcd and kube-apiserver on free loopback ports, waits for
// /readyz and installs the CRDs opts names, waiting until they are
// Established and served. Stop ends it.
func Start(ctx context.Context, a Assets, opts Options) (*ControlPlane, error) {
	began := time.Now()
	var cp *ControlPlane
	var err error
	for attempt := 0; attempt < 3; attempt++ { // a free port taken in between: try again
		cp, err = start(ctx, a)
		if err == nil || !errors.Is(err, errPortTaken) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	if names := opts.crds(); len(names) > 0 {
		if err := InstallCRDs(ctx, cp.Config, a.CRDDir, names...); err != nil {
			cp.Stop()
			return nil, err
		}
	}
	cp.StartTime = time.Since(began)
	return cp, nil
}

var errPortTaken = errors.New("port taken")

func start(ctx context.Context, a Assets) (cp *ControlPlane, err error) {
	dir, err := os.MkdirTemp(tmpBase(), "kubetest-")
	if err != nil {
		return nil, err
	}
	cp = &ControlPlane{Dir: dir}
	defer func() {
		if err != nil {
			cp.Stop()
		}
	}()
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	cp.URL = fmt.Sprintf("https://127.0.0.1:%d", ports[2])

	cp.etcd, err = cp.launch(a.Etcd, "etcd.log",
		"--name=kubetest",
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=kubetest="+peerURL,
		"--log-level=warn", "--logger=zap",
	)
	if err != nil {
		return nil, err
	}
	if err := cp.waitHTTP(ctx, http.DefaultClient, etcdURL+"/health", 30*time.Second, cp.etcd, "etcd.log"); err != nil {
		return nil, err
	}

	ca, err := writeCerts(dir)
	if err != nil {
		return nil, err
	}
	admin, user := randomToken(), randomToken()
	tokens := fmt.Sprintf("%s,kubetest-admin,kubetest-admin,system:masters\n%s,%s,%s,\n", admin, user, UserName, UserName)
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(tokens), 0o600); err != nil {
		return nil, err
	}
	cp.apiserver, err = cp.launch(a.KubeAPIServer, "kube-apiserver.log",
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", ports[2]),
		"--cert-dir="+filepath.Join(dir, "certs"),
		"--tls-cert-file="+filepath.Join(dir, "serving.crt"),
		"--tls-private-key-file="+filepath.Join(dir, "serving.key"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(dir, "sa.key"),
		"--service-cluster-ip-range=10.96.0.0/16",
		"--authorization-mode=RBAC",
		"--token-auth-file="+filepath.Join(dir, "tokens.csv"),
		// No controller manager creates the default service accounts, so the
		// admission plugin that requires them would refuse every pod.
		"--disable-admission-plugins=ServiceAccount",
		"--profiling=false",
		"--v=0",
	)
	if err != nil {
		return nil, err
	}

	cp.Config = &rest.Config{Host: cp.URL, BearerToken: admin, TLSClientConfig: rest.TLSClientConfig{CAData: ca}, QPS: 200, Burst: 400}
	cp.UserConfig = &rest.Config{Host: cp.URL, BearerToken: user, TLSClientConfig: rest.TLSClientConfig{CAData: ca}, QPS: 200, Burst: 400}
	hc, err := rest.HTTPClientFor(cp.Config)
	if err != nil {
		return nil, err
	}
	if err := cp.waitHTTP(ctx, hc, cp.URL+"/readyz", 90*time.Second, cp.apiserver, "kube-apiserver.log"); err != nil {
		return nil, err
	}

	kc := clientcmdapi.NewConfig()
	kc.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: cp.URL, CertificateAuthorityData: ca}
	kc.AuthInfos["kubetest-admin"] = &clientcmdapi.AuthInfo{Token: admin}
	kc.Contexts["kubetest"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: "kubetest-admin", Namespace: "default"}
	kc.CurrentContext = "kubetest"
	cp.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, cp.Kubeconfig); err != nil {
		return nil, err
	}
	return cp, nil
}

// tmpBase is a tmpfs where there is one (etcd fsyncs every write), else
// the usual temporary folder.
func tmpBase() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if f, err := os.CreateTemp("/dev/shm", "kubetest-probe-"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return "/dev/shm"
		}
	}
	return os.TempDir()
}

func (cp *ControlPlane) launch(bin, logName string, args ...string) (*exec.Cmd, error) {
	return cp.launchEnv(nil, bin, logName, args...)
}

// launchEnv starts bin with env added to the test's environment.
func (cp *ControlPlane) launchEnv(env []string, bin, logName string, args ...string) (*exec.Cmd, error) {
	log, err := os.OpenFile(filepath.Join(cp.Dir, logName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Dir = cp.Dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	// Dies with the test binary, whatever happens to it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	done := make(chan struct{})
	cp.waits = append(cp.waits, done)
	go func() {
		cmd.Wait()
		log.Close()
		close(done)
	}()
	return cmd, nil
}

func exited(cmd *exec.Cmd) bool { return cmd.ProcessState != nil }

// waitHTTP polls url until it answers 200 "ok"-ish, the process exits or
// the timeout passes.
func (cp *ControlPlane) waitHTTP(ctx context.Context, hc *http.Client, url string, timeout time.Duration, cmd *exec.Cmd, logName string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := hc.Do(req)
		if err == nil {
			body := make([]byte, 512)
			n, _ := resp.Body.Read(body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(body[:n]))
		} else {
			last = err.Error()
		}
		if exited(cmd) {
			return cp.failure(fmt.Sprintf("%s exited", filepath.Base(cmd.Path)), logName)
		}
		select {
		case <-ctx.Done():
			return cp.failure(fmt.Sprintf("%s not ready after %s (last: %s)", url, timeout, last), logName)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// failure is err with the tail of the process's log.
func (cp *ControlPlane) failure(what, logName string) error {
	b, _ := os.ReadFile(filepath.Join(cp.Dir, logName))
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	err := fmt.Errorf("kubetest: %s; end of %s:\n%s", what, logName, b)
	if bytes.Contains(b, []byte("address already in use")) {
		return fmt.Errorf("%w (%w)", err, errPortTaken)
	}
	return err
}

// Stop kills kube-apiserver and etcd (their state is thrown away, so there
// is nothing to shut down gracefully) and removes Dir.
func (cp *ControlPlane) Stop() error {
	cp.stopOnce.Do(func() {
		for _, c := range []*exec.Cmd{cp.apiserver, cp.etcd} {
			if c != nil && c.Process != nil {
				c.Process.Kill()
			}
		}
		for _, done := range cp.waits {
			<-done
		}
		if cp.Dir != "" {
			cp.stopErr = os.RemoveAll(cp.Dir)
		}
	})
	return cp.stopErr
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// writeCerts writes a CA, a serving certificate for 127.0.0.1 signed by
// it and a service-account key pair into dir; it returns the CA in PEM.
func writeCerts(dir string) ([]byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kubetest-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	saDER, err := x509.MarshalECPrivateKey(saKey)
	if err != nil {
		return nil, err
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	for name, data := range map[string][]byte{
		"ca.crt":      caPEM,
		"serving.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"serving.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		"sa.key":      pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: saDER}),
		"sa.pub":      pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPub}),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	return caPEM, nil
}

// CRDResource is the resource of CustomResourceDefinitions.
var CRDResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// ReadCRD reads crds/monitoring.coreos.com_NAME.yaml from dir.
func ReadCRD(dir, name string) (*unstructured.Unstructured, error) {
	path := filepath.Join(dir, "monitoring.coreos.com_"+name+".yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		files, _ := filepath.Glob(filepath.Join(dir, "monitoring.coreos.com_*.yaml"))
		var have []string
		for _, f := range files {
			have = append(have, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "monitoring.coreos.com_"), ".yaml"))
		}
		return nil, fmt.Errorf("kubetest: no CRD %q in %s (there: %s): %w", name, dir, strings.Join(have, ", "), err)
	}
	return decodeOne(path, b)
}

// Main is a test package's TestMain when its tests call Shared: it runs
// the tests, then stops the shared control planes.
func Main(m *testing.M) {
	shared.Lock()
	shared.main = true
	shared.Unlock()
	code := m.Run()
	StopShared()
	os.Exit(code)
}

var shared struct {
	sync.Mutex
	main   bool
	planes map[string]*sharedPlane
}

type sharedPlane struct {
	once sync.Once
	cp   *ControlPlane
	err  error
}

// needAssets is FindAssets for a test: where they are missing it skips
// naming the fix, or fails in strict mode (tasks/needs).
func needAssets(t testing.TB) Assets {
	t.Helper()
	a, m := FindAssets()
	decide(t, m)
	return a
}

// needBinary is bin/NAME of the assets (built by .ci/kube-tools), what
// being what it is for the message; missing, as needAssets.
func needBinary(t testing.TB, name, what string) string {
	t.Helper()
	a, m := FindAssets()
	bin := filepath.Join(a.Dir, "bin", name)
	if m == nil && !isExecutable(bin) {
		m = &needs.Missing{What: fmt.Sprintf("no %s in %s: run .ci/kube-tools to build it", what, filepath.Dir(bin)), Package: "etcd-server"}
	}
	decide(t, m)
	return bin
}

func decide(t testing.TB, m *needs.Missing) {
	t.Helper()
	if m != nil {
		if err := needs.Decide(m); err != nil {
			t.Fatal(err)
		}
		t.Skip(m.What)
	}
}

// Shared returns the test package's control plane for opts, starting it on
// the first call (Main stops it after the tests). Without the binaries t
// skips naming the fix, or fails in strict mode.
func Shared(t testing.TB, opts Options) *ControlPlane {
	t.Helper()
	a := needAssets(t)
	shared.Lock()
	if !shared.main {
		shared.Unlock()
		t.Fatal("kubetest.Shared needs kubetest.Main as the package's TestMain (it stops the control plane)")
	}
	if shared.planes == nil {
		shared.planes = map[string]*sharedPlane{}
	}
	sp := shared.planes[opts.key()]
	if sp == nil {
		sp = &sharedPlane{}
		shared.planes[opts.key()] = sp
	}
	shared.Unlock()
	sp.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		sp.cp, sp.err = Start(ctx, a, opts)
		if sp.err == nil {
			t.Logf("kubetest: control plane (CRDs: %v) started in %s at %s", opts.crds(), sp.cp.StartTime.Round(time.Millisecond), sp.cp.URL)
		}
	})
	if sp.err != nil {
		t.Fatal(sp.err)
	}
	return sp.cp
}

// StopShared stops every shared control plane (Main calls it).
func StopShared() {
	shared.Lock()
	defer shared.Unlock()
	for k, sp := range shared.planes {
		if sp.cp != nil {
			sp.cp.Stop()
		}
		delete(shared.planes, k)
	}
}

// New starts a control plane of the test's own, stopped by t.Cleanup (a
// start costs ~10 s: prefer Shared).
func New(t testing.TB, opts Options) *ControlPlane {
	t.Helper()
	a := needAssets(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cp, err := Start(ctx, a, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cp.Stop() })
	return cp
}
