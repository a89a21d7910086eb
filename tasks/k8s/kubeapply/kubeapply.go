// Package kubeapply applies the pack's objects to a cluster with
// server-side apply and deletes exactly them again: the library behind
// `mage k8s:apply` and `mage k8s:delete`.
//
// Apply first maps every object's kind (a kind the cluster does not serve,
// such as a PodMonitor without the Prometheus Operator's CRDs, stops it
// with an error naming the CRDs and how to install them), then dry-runs
// every object on the server (a rejected object stops it), and only then
// writes: nothing is half-applied.
//
// The kubeconfig is read as kubectl reads it (KUBECONFIG, ~/.kube/config,
// contexts, exec plugins, client certificates).
package kubeapply

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// DefaultFieldManager is the server-side apply field manager: the project.
const DefaultFieldManager = "llm-observability-pack"

// Labels every object of the pack carries; Delete removes only objects
// with both.
const (
	LabelPartOf   = "app.kubernetes.io/part-of"
	LabelInstance = "app.kubernetes.io/instance"
	PartOf        = "llm-observability-pack"
)

// Options say where to apply.
type Options struct {
	// Kubeconfig is the kubeconfig file; "" reads KUBECONFIG or
	// ~/.kube/config as kubectl does.
	Kubeconfig string
	// Context is the kubeconfig context; "" is its current context.
	Context string
	// Namespace is the namespace of namespaced objects that have none; an
	// object with another namespace is refused. "" is the context's
	// namespace (else "default").
	Namespace string
	// FieldManager is the server-side apply field manager; ""
	// is DefaultFieldManager.
	FieldManager string
	// CreateNamespace creates the objects' namespaces that do not exist (as
	// helm install --create-namespace); without it a missing namespace is an
	// error before anything is written.
	CreateNamespace bool
	// Out gets one line per object, as kubectl prints; nil discards them.
	Out io.Writer
	// DeleteTimeout is how long Delete waits for the objects to be gone;
	// 0 is a minute.
	DeleteTimeout time.Duration
}

// Actions in a Summary.
const (
	Created    = "created"
	Configured = "configured"
	Unchanged  = "unchanged"
	Deleted    = "deleted"
	// Terminating: deletion accepted, the object still there when
	// DeleteTimeout passed (finalizers).
	Terminating = "deletion requested, still terminating"
)

// Result is what happened to one object.
type Result struct {
	Kind, Group, Namespace, Name string
	Action                       string
}

// Ref is the object as kubectl names it: kind[.group]/name.
func (r Result) Ref() string {
	k := strings.ToLower(r.Kind)
	if r.Group != "" {
		k += "." + r.Group
	}
	return k + "/" + r.Name
}

func (r Result) String() string {
	s := r.Ref() + " " + r.Action
	if r.Namespace != "" {
		s = r.Ref() + " (namespace " + r.Namespace + ") " + r.Action
	}
	return s
}

// Summary is what Apply or Delete did, object by object in order.
type Summary struct {
	Results []Result
}

// Count is the number of objects with action.
func (s Summary) Count(action string) int {
	n := 0
	for _, r := range s.Results {
		if r.Action == action {
			n++
		}
	}
	return n
}

// client is what Apply and Delete talk to the cluster with.
type client struct {
	o         Options
	dyn       dynamic.Interface
	mapper    meta.RESTMapper
	namespace string // the default namespace
	explicit  bool   // Options.Namespace was set
}

func connect(o Options) (*client, error) {
	cfg, ns, err := RESTConfig(o.Kubeconfig, o.Context)
	if err != nil {
		return nil, err
	}
	return newClient(o, cfg, ns)
}

// RESTConfig loads the cluster's address and credentials as kubectl does:
// kubeconfig ("" reads KUBECONFIG or ~/.kube/config; exec plugins and
// certificates work as with kubectl) and context ("" is its current one).
// It also returns the context's namespace ("" when it names none).
func RESTConfig(kubeconfig, context string) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfig != "" {
		rules.ExplicitPath = kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: context}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, "", fmt.Errorf("no kubeconfig: set KUBECONFIG, create ~/.kube/config or pass -kubeconfig=FILE (%w)", err)
		}
		return nil, "", fmt.Errorf("kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig namespace: %w", err)
	}
	return cfg, ns, nil
}

func newClient(o Options, cfg *rest.Config, contextNS string) (*client, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 && cfg.Burst == 0 {
		// client-go's default (5/s, bursts of 10) throttles discovery and the
		// three requests per object; kubectl raises it likewise.
		cfg.QPS, cfg.Burst = 50, 100
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultFieldManager
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	c := &client{o: o, dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}
	if c.o.FieldManager == "" {
		c.o.FieldManager = DefaultFieldManager
	}
	if c.o.Out == nil {
		c.o.Out = io.Discard
	}
	if c.o.DeleteTimeout == 0 {
		c.o.DeleteTimeout = time.Minute
	}
	c.namespace, c.explicit = o.Namespace, o.Namespace != ""
	if c.namespace == "" {
		c.namespace = contextNS
	}
	if c.namespace == "" {
		c.namespace = metav1.NamespaceDefault
	}
	return c, nil
}

// target is an object with its mapping and the client for its resource.
type target struct {
	obj     *unstructured.Unstructured
	mapping *meta.RESTMapping
	ri      dynamic.ResourceInterface
}

func (t target) result(action string) Result {
	return Result{Kind: t.obj.GetKind(), Group: t.mapping.GroupVersionKind.Group, Namespace: t.obj.GetNamespace(), Name: t.obj.GetName(), Action: action}
}

// MissingKind is a kind the cluster does not serve.
type MissingKind struct {
	GVK schema.GroupVersionKind
	// CRD is the CustomResourceDefinition that would serve it
	// (plural.group), "" for a built-in group.
	CRD string
	// Objects are the objects of that kind (kind/name).
	Objects []string
}

// MissingKindsError says which kinds of the objects the cluster does not
// serve and how to install them; Apply returns it before writing anything.
type MissingKindsError struct {
	Missing []MissingKind
}

func (e *MissingKindsError) Error() string {
	var crds, kinds []string
	operator := false
	for _, m := range e.Missing {
		what := fmt.Sprintf("%s (%s, for %s)", m.GVK.Kind, m.GVK.GroupVersion(), strings.Join(m.Objects, ", "))
		if m.CRD != "" {
			crds = append(crds, m.CRD)
			what = fmt.Sprintf("%s %s (CRD %s, for %s)", m.GVK.GroupVersion(), m.GVK.Kind, m.CRD, strings.Join(m.Objects, ", "))
		}
		kinds = append(kinds, what)
		if m.GVK.Group == "monitoring.coreos.com" {
			operator = true
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "the cluster does not serve %s; nothing was applied", strings.Join(kinds, "; "))
	if len(crds) > 0 {
		fmt.Fprintf(&b, ". Missing CRDs: %s", strings.Join(crds, ", "))
	}
	if operator {
		b.WriteString(". They are the Prometheus Operator's: install kube-prometheus-stack " +
			"(helm repo add prometheus-community https://prometheus-community.github.io/helm-charts && " +
			"helm install kube-prometheus-stack prometheus-community/kube-prometheus-stack), " +
			"or only the operator's CRDs:")
		for _, m := range e.Missing {
			if m.GVK.Group == "monitoring.coreos.com" && m.CRD != "" {
				fmt.Fprintf(&b, " kubectl apply --server-side -f %s/monitoring.coreos.com_%s.yaml;", OperatorCRDURL, strings.TrimSuffix(m.CRD, ".monitoring.coreos.com"))
			}
		}
		s := strings.TrimSuffix(b.String(), ";")
		b.Reset()
		b.WriteString(s)
	}
	return b.String()
}

// OperatorCRDURL is where the Prometheus Operator's CRD files are, at the
// version the tests install (.ci/kube-tools).
const OperatorCRDURL = "https://raw.githubusercontent.com/prometheus-operator/prometheus-operator/v0.85.0/example/prometheus-operator-crd"

// builtinGroup reports whether group is served by kube-apiserver itself
// (no CRD can provide it).
func builtinGroup(g string) bool {
	return g == "" || !strings.Contains(g, ".") || strings.HasSuffix(g, ".k8s.io") && !strings.HasSuffix(g, ".x-k8s.io")
}

// resolve maps every object; kinds the cluster does not serve come back as
// one *MissingKindsError naming all of them.
func (c *client) resolve(objs []*unstructured.Unstructured) ([]target, error) {
	var ts []target
	missing := map[schema.GroupVersionKind]*MissingKind{}
	var order []schema.GroupVersionKind
	for i, obj := range objs {
		if obj == nil {
			return nil, fmt.Errorf("object %d is nil", i)
		}
		gvk := obj.GroupVersionKind()
		if gvk.Kind == "" || gvk.Version == "" {
			return nil, fmt.Errorf("object %d (%q): no apiVersion or kind", i, obj.GetName())
		}
		if obj.GetName() == "" {
			return nil, fmt.Errorf("object %d (%s): no metadata.name", i, gvk.Kind)
		}
		m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) {
			mk := missing[gvk]
			if mk == nil {
				mk = &MissingKind{GVK: gvk}
				if !builtinGroup(gvk.Group) {
					plural, _ := meta.UnsafeGuessKindToResource(gvk)
					mk.CRD = plural.Resource + "." + gvk.Group
				}
				missing[gvk] = mk
				order = append(order, gvk)
			}
			mk.Objects = append(mk.Objects, strings.ToLower(gvk.Kind)+"/"+obj.GetName())
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", gvk, obj.GetName(), err)
		}
		obj = obj.DeepCopy()
		var ri dynamic.ResourceInterface
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			switch ns := obj.GetNamespace(); {
			case ns == "":
				obj.SetNamespace(c.namespace)
			case c.explicit && ns != c.namespace:
				return nil, fmt.Errorf("%s %s has namespace %q but the namespace asked for is %q: render with -namespace=%s or apply with -namespace=%s",
					gvk.Kind, obj.GetName(), ns, c.namespace, c.namespace, ns)
			}
			ri = c.dyn.Resource(m.Resource).Namespace(obj.GetNamespace())
		} else {
			obj.SetNamespace("")
			ri = c.dyn.Resource(m.Resource)
		}
		ts = append(ts, target{obj: obj, mapping: m, ri: ri})
	}
	if len(order) > 0 {
		e := &MissingKindsError{}
		for _, g := range order {
			e.Missing = append(e.Missing, *missing[g])
		}
		return nil, e
	}
	return ts, nil
}

// Apply applies objs server-side in order, after checking that the cluster
// serves every kind and accepts every object (dry run). The summary says
// per object whether it was created, configured or unchanged.
func Apply(ctx context.Context, o Options, objs []*unstructured.Unstructured) (Summary, error) {
	c, err := connect(o)
	if err != nil {
		return Summary{}, err
	}
	return c.apply(ctx, objs)
}

func (c *client) apply(ctx context.Context, objs []*unstructured.Unstructured) (Summary, error) {
	ts, err := c.resolve(objs)
	if err != nil {
		return Summary{}, err
	}
	created, err := c.namespaces(ctx, ts)
	if err != nil {
		return Summary{}, err
	}
	// Dry run of every object: a rejected one stops the apply before any write.
	var rejected []error
	for _, t := range ts {
		if _, err := c.patch(ctx, t, true); err != nil {
			rejected = append(rejected, fmt.Errorf("%s: %w", t.result("").Ref(), err))
		}
	}
	if len(rejected) > 0 {
		what := "nothing was applied"
		if len(created) > 0 {
			what = "nothing was applied; " + c.rollbackNamespaces(created)
		}
		return Summary{}, fmt.Errorf("the API server rejects %d of %d objects (server-side dry run), %s:\n%w", len(rejected), len(ts), what, errors.Join(rejected...))
	}
	var s Summary
	for _, t := range ts {
		before := ""
		cur, err := t.ri.Get(ctx, t.obj.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return s, fmt.Errorf("%s: %w", t.result("").Ref(), err)
		default:
			before = cur.GetResourceVersion()
		}
		got, err := c.patch(ctx, t, false)
		if err != nil {
			return s, fmt.Errorf("%s: %w (applied before it: %d objects)", t.result("").Ref(), err, len(s.Results))
		}
		action := Configured
		switch {
		case before == "":
			action = Created
		case got.GetResourceVersion() == before:
			action = Unchanged
		}
		r := t.result(action)
		s.Results = append(s.Results, r)
		fmt.Fprintln(c.o.Out, r)
	}
	return s, nil
}

func (c *client) patch(ctx context.Context, t target, dryRun bool) (*unstructured.Unstructured, error) {
	obj := t.obj.DeepCopy()
	unstructured.RemoveNestedField(obj.Object, "metadata", "managedFields")
	unstructured.RemoveNestedField(obj.Object, "metadata", "resourceVersion")
	unstructured.RemoveNestedField(obj.Object, "metadata", "uid")
	unstructured.RemoveNestedField(obj.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(obj.Object, "status")
	body, err := obj.MarshalJSON()
	if err != nil {
		return nil, err
	}
	force := true
	po := metav1.PatchOptions{FieldManager: c.o.FieldManager, Force: &force}
	if dryRun {
		po.DryRun = []string{metav1.DryRunAll}
	}
	return t.ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, body, po)
}

var namespaceGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}

// namespaces checks that the namespaces of the namespaced objects exist
// (a Namespace among the objects counts); with CreateNamespace it creates
// the missing ones and returns them.
func (c *client) namespaces(ctx context.Context, ts []target) ([]string, error) {
	inObjs := map[string]bool{}
	for _, t := range ts {
		if t.mapping.GroupVersionKind.Group == "" && t.obj.GetKind() == "Namespace" {
			inObjs[t.obj.GetName()] = true
		}
	}
	seen := map[string]bool{}
	var missing []string
	for _, t := range ts {
		ns := t.obj.GetNamespace()
		if ns == "" || seen[ns] {
			continue
		}
		seen[ns] = true
		_, err := c.dyn.Resource(namespaceGVR).Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			missing = append(missing, ns)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("namespace %s: %w", ns, err)
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	if !c.o.CreateNamespace {
		var fix []string
		for _, ns := range missing {
			fix = append(fix, "kubectl create namespace "+ns)
		}
		hint := ""
		for _, ns := range missing {
			if inObjs[ns] {
				hint = " (the objects include it, but namespaced objects are dry-run before anything is written)"
			}
		}
		return nil, fmt.Errorf("namespace %s does not exist%s; nothing was applied: create it (%s) or apply with -create-namespace",
			strings.Join(missing, ", "), hint, strings.Join(fix, "; "))
	}
	var created []string
	for _, ns := range missing {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("v1")
		u.SetKind("Namespace")
		u.SetName(ns)
		u.SetLabels(map[string]string{"kubernetes.io/metadata.name": ns})
		if _, err := c.dyn.Resource(namespaceGVR).Create(ctx, u, metav1.CreateOptions{FieldManager: c.o.FieldManager}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("create namespace %s: %w; %s", ns, err, c.rollbackNamespaces(created))
		}
		created = append(created, ns)
		fmt.Fprintf(c.o.Out, "namespace/%s created\n", ns)
	}
	return created, nil
}

func (c *client) rollbackNamespaces(created []string) string {
	if len(created) == 0 {
		return "no namespace was created"
	}
	var failed []string
	for _, ns := range created {
		if err := c.dyn.Resource(namespaceGVR).Delete(context.Background(), ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			failed = append(failed, fmt.Sprintf("%s (%v)", ns, err))
		}
	}
	if len(failed) > 0 {
		return "the namespaces created for it could not be deleted again: " + strings.Join(failed, ", ")
	}
	return "the namespaces created for it were deleted again (" + strings.Join(created, ", ") + ")"
}

// PackKinds are the kinds the pack's chart can render; Delete also looks
// for leftovers of these kinds (objects of an earlier render) that the
// given objects no longer include. Kinds the cluster does not serve are
// skipped.
var PackKinds = []schema.GroupVersionKind{
	{Version: "v1", Kind: "ConfigMap"},
	{Version: "v1", Kind: "Service"},
	{Version: "v1", Kind: "ServiceAccount"},
	{Version: "v1", Kind: "Secret"},
	{Group: "apps", Version: "v1", Kind: "Deployment"},
	{Group: "monitoring.coreos.com", Version: "v1", Kind: "PodMonitor"},
	{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"},
	{Group: "monitoring.coreos.com", Version: "v1", Kind: "PrometheusRule"},
	{Group: "monitoring.coreos.com", Version: "v1alpha1", Kind: "AlertmanagerConfig"},
}

// Delete removes the pack's objects of release instance: those of objs
// that carry both labels (part-of llm-observability-pack and instance) on
// the cluster, and every other object of their kinds or PackKinds with both
// labels in their namespaces (leftovers of an earlier render). An object
// without both labels is never deleted. It waits until they are gone.
func Delete(ctx context.Context, o Options, objs []*unstructured.Unstructured, instance string) (Summary, error) {
	c, err := connect(o)
	if err != nil {
		return Summary{}, err
	}
	return c.delete(ctx, objs, instance)
}

func (c *client) delete(ctx context.Context, objs []*unstructured.Unstructured, instance string) (Summary, error) {
	if instance == "" {
		return Summary{}, errors.New("delete: no instance (the release name, label " + LabelInstance + ")")
	}
	want := labels.Set{LabelPartOf: PartOf, LabelInstance: instance}
	ours := func(u *unstructured.Unstructured) bool {
		return labels.SelectorFromSet(want).Matches(labels.Set(u.GetLabels()))
	}
	ts, err := c.resolve(objs)
	var mk *MissingKindsError
	if errors.As(err, &mk) {
		// Kinds no longer served have no objects to delete: drop them.
		keep := objs[:0:0]
		gone := map[schema.GroupVersionKind]bool{}
		for _, m := range mk.Missing {
			gone[m.GVK] = true
		}
		for _, u := range objs {
			if !gone[u.GroupVersionKind()] {
				keep = append(keep, u)
			}
		}
		ts, err = c.resolve(keep)
	}
	if err != nil {
		return Summary{}, err
	}
	for _, t := range ts {
		if !ours(t.obj) {
			return Summary{}, fmt.Errorf("%s lacks the labels %s: not an object of instance %q, nothing deleted", t.result("").Ref(), want, instance)
		}
	}

	// The candidates: the given objects, then leftovers found by label.
	type key struct {
		gvr      schema.GroupVersionResource
		ns, name string
	}
	var found []target
	seen := map[key]bool{}
	namespaces := map[string]bool{c.namespace: true}
	kinds := map[schema.GroupVersionKind]bool{}
	var kindOrder []schema.GroupVersionKind
	for _, t := range ts {
		if ns := t.obj.GetNamespace(); ns != "" {
			namespaces[ns] = true
		}
		if g := t.mapping.GroupVersionKind; !kinds[g] {
			kinds[g] = true
			kindOrder = append(kindOrder, g)
		}
	}
	for _, g := range PackKinds {
		if !kinds[g] {
			kinds[g] = true
			kindOrder = append(kindOrder, g)
		}
	}
	for _, t := range ts {
		cur, err := t.ri.Get(ctx, t.obj.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return Summary{}, fmt.Errorf("%s: %w", t.result("").Ref(), err)
		}
		if !ours(cur) {
			fmt.Fprintf(c.o.Out, "%s kept: on the cluster it lacks the labels %s\n", t.result("").Ref(), want)
			continue
		}
		k := key{t.mapping.Resource, cur.GetNamespace(), cur.GetName()}
		seen[k] = true
		found = append(found, target{obj: cur, mapping: t.mapping, ri: t.ri})
	}
	var nsList []string
	for ns := range namespaces {
		nsList = append(nsList, ns)
	}
	sort.Strings(nsList)
	sel := labels.SelectorFromSet(want).String()
	for _, g := range kindOrder {
		m, err := c.mapper.RESTMapping(g.GroupKind(), g.Version)
		if meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			return Summary{}, fmt.Errorf("%s: %w", g, err)
		}
		var ris []dynamic.ResourceInterface
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			for _, ns := range nsList {
				ris = append(ris, c.dyn.Resource(m.Resource).Namespace(ns))
			}
		} else {
			ris = append(ris, c.dyn.Resource(m.Resource))
		}
		for _, ri := range ris {
			list, err := ri.List(ctx, metav1.ListOptions{LabelSelector: sel})
			if err != nil {
				if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
					continue
				}
				return Summary{}, fmt.Errorf("list %s (%s): %w", m.Resource.Resource, sel, err)
			}
			for i := range list.Items {
				cur := &list.Items[i]
				k := key{m.Resource, cur.GetNamespace(), cur.GetName()}
				if seen[k] || !ours(cur) {
					continue
				}
				seen[k] = true
				found = append(found, target{obj: cur, mapping: m, ri: ri})
			}
		}
	}

	// Delete in reverse order (monitors and rules before what they point at).
	var s Summary
	policy := metav1.DeletePropagationBackground
	var requested []target
	for i := len(found) - 1; i >= 0; i-- {
		t := found[i]
		uid := t.obj.GetUID()
		err := t.ri.Delete(ctx, t.obj.GetName(), metav1.DeleteOptions{
			PropagationPolicy: &policy,
			// Only the object seen with the labels, not one recreated since.
			Preconditions: &metav1.Preconditions{UID: &uid},
		})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return s, fmt.Errorf("delete %s: %w", t.result("").Ref(), err)
		}
		requested = append(requested, t)
	}
	wctx, cancel := context.WithTimeout(ctx, c.o.DeleteTimeout)
	defer cancel()
	for _, t := range requested {
		action := Deleted
		if err := waitGone(wctx, t); err != nil {
			if ctx.Err() != nil {
				return s, ctx.Err()
			}
			action = Terminating
		}
		r := t.result(action)
		s.Results = append(s.Results, r)
		fmt.Fprintln(c.o.Out, r)
	}
	return s, nil
}

func waitGone(ctx context.Context, t target) error {
	for {
		cur, err := t.ri.Get(ctx, t.obj.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) || err == nil && cur.GetUID() != t.obj.GetUID() {
			return nil
		}
		if err != nil && !isRetryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func isRetryable(err error) bool {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		code := se.Status().Code
		return code == http.StatusTooManyRequests || code >= 500
	}
	return false
}
