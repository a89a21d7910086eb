package k8sload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/k8s/loadjob"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Options of one distributed run.
type Options struct {
	Spec
	// ReadyTimeout is how long the pods have to start and say they are
	// ready (image pulls, scheduling); the run starts with those ready by
	// then, and the others are named as missing (default 5 minutes).
	ReadyTimeout time.Duration
	// StartDelay is how far ahead of now the agreed start is set once the
	// pods are ready (default 2 s), so that each has read it in time.
	StartDelay time.Duration
	// ResultTimeout is how long after the start the coordinator waits for
	// the results (0: until every pod has published or failed, or ctx ends).
	ResultTimeout time.Duration
	// Poll is how often it reads the maps (default 1 s); ProgressEvery how
	// often it prints the merged progress (default 5 s; a line each).
	Poll, ProgressEvery time.Duration
	// KeepJob leaves the Job (and its pods' logs) after a finished run, for
	// JobTTL; without it the run deletes everything it created.
	KeepJob bool
	// Status gets the progress lines.
	Status io.Writer
}

func (o *Options) withDefaults() {
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 5 * time.Minute
	}
	if o.StartDelay <= 0 {
		o.StartDelay = 2 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 5 * time.Second
	}
	if o.Status == nil {
		o.Status = io.Discard
	}
}

// Run runs the Job in the cluster of cs and returns the merged result
// (Partial when pods did not report; nil only when none did). The objects
// it created are deleted when ctx ends before the pods finish, and, unless
// KeepJob, after the run.
func Run(ctx context.Context, cs kubernetes.Interface, o Options) (*load.Result, error) {
	o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	c := &coordinator{cs: cs, o: o}
	if err := c.create(ctx); err != nil {
		c.cleanup()
		return nil, err
	}
	res, err := c.run(ctx)
	if ctx.Err() != nil || !o.KeepJob {
		c.cleanup()
	}
	return res, err
}

type coordinator struct {
	cs  kubernetes.Interface
	o   Options
	job *batchv1.Job
	// created: what to delete (kinds in deletion order)
	created []func(context.Context) error
}

func (c *coordinator) printf(format string, a ...any) {
	fmt.Fprintf(c.o.Status, "k8s:load: "+format+"\n", a...)
}

// create writes the ServiceAccount, Role, RoleBinding, the Job and its
// maps. The maps come after the Job (they are owned by it); the pods try
// again until they exist.
func (c *coordinator) create(ctx context.Context) error {
	s, ns := c.o.Spec, c.o.Namespace
	if _, err := c.cs.BatchV1().Jobs(ns).Get(ctx, s.Name, metav1.GetOptions{}); err == nil {
		return fmt.Errorf("k8s:load: a Job %s/%s exists already: delete it (kubectl delete job -n %s %s) or pass -job=OTHER", ns, s.Name, ns, s.Name)
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("k8s:load: %w", err)
	}
	fg := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{PropagationPolicy: &fg}
	if _, err := c.cs.CoreV1().ServiceAccounts(ns).Create(ctx, s.ServiceAccount(), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("k8s:load: create the ServiceAccount: %w", err)
	}
	c.created = append(c.created, func(ctx context.Context) error {
		return c.cs.CoreV1().ServiceAccounts(ns).Delete(ctx, s.Name, del)
	})
	if _, err := c.cs.RbacV1().Roles(ns).Create(ctx, s.Role(), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("k8s:load: create the Role: %w", err)
	}
	c.created = append(c.created, func(ctx context.Context) error { return c.cs.RbacV1().Roles(ns).Delete(ctx, s.Name, del) })
	if _, err := c.cs.RbacV1().RoleBindings(ns).Create(ctx, s.RoleBinding(), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("k8s:load: create the RoleBinding: %w", err)
	}
	c.created = append(c.created, func(ctx context.Context) error {
		return c.cs.RbacV1().RoleBindings(ns).Delete(ctx, s.Name, del)
	})
	job, err := c.cs.BatchV1().Jobs(ns).Create(ctx, s.Job(), metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("k8s:load: create the Job: %w", err)
	}
	c.job = job
	c.created = append(c.created, func(ctx context.Context) error { return c.cs.BatchV1().Jobs(ns).Delete(ctx, s.Name, del) })
	for _, cm := range s.ConfigMaps(job) {
		if _, err := c.cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("k8s:load: create ConfigMap %s: %w", cm.Name, err)
		}
		name := cm.Name
		c.created = append(c.created, func(ctx context.Context) error {
			return c.cs.CoreV1().ConfigMaps(ns).Delete(ctx, name, del)
		})
	}
	c.printf("Job %s/%s: %d generator pods of %s", ns, s.Name, s.Pods, s.Image)
	return nil
}

// cleanup deletes what create made, the Job first (its pods get SIGTERM
// and publish what they measured before the maps go; run has waited for
// that), with a context of its own.
func (c *coordinator) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var failed []string
	for i := len(c.created) - 1; i >= 0; i-- {
		if err := c.created[i](ctx); err != nil && !apierrors.IsNotFound(err) {
			failed = append(failed, err.Error())
		}
	}
	c.created = nil
	if len(failed) > 0 {
		c.printf("could not delete everything: %s", strings.Join(failed, "; "))
	}
}

// worker is what the coordinator knows of one pod.
type worker struct {
	ready    bool
	progress load.Progress
	result   *load.Result
	err      string
}

func (c *coordinator) read(ctx context.Context) ([]worker, error) {
	ws := make([]worker, c.o.Pods)
	list, err := c.cs.CoreV1().ConfigMaps(c.o.Namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelJob + "=" + c.o.Name})
	if err != nil {
		return nil, err
	}
	byName := map[string]*corev1.ConfigMap{}
	for i := range list.Items {
		byName[list.Items[i].Name] = &list.Items[i]
	}
	for i := range ws {
		cm := byName[loadjob.WorkerName(c.o.Name, i)]
		if cm == nil {
			continue
		}
		w := &ws[i]
		w.ready = cm.Data[loadjob.KeyReady] != ""
		if p := cm.Data[loadjob.KeyProgress]; p != "" {
			_ = json.Unmarshal([]byte(p), &w.progress)
		}
		if r := cm.Data[loadjob.KeyResult]; r != "" {
			var res load.Result
			if err := json.Unmarshal([]byte(r), &res); err != nil {
				w.err = fmt.Sprintf("its published result does not parse: %v", err)
			} else {
				w.result = &res
			}
		}
		if e := cm.Data[loadjob.KeyError]; e != "" && w.err == "" {
			w.err = e
		}
	}
	return ws, nil
}

// failedPods are the indexes whose pod failed without a result: the Job's
// failed indexes.
func (c *coordinator) failedIndexes(ctx context.Context) map[int]bool {
	out := map[int]bool{}
	job, err := c.cs.BatchV1().Jobs(c.o.Namespace).Get(ctx, c.o.Name, metav1.GetOptions{})
	if err != nil || job.Status.FailedIndexes == nil {
		return out
	}
	for _, part := range strings.Split(*job.Status.FailedIndexes, ",") {
		var a, b int
		if n, _ := fmt.Sscanf(part, "%d-%d", &a, &b); n == 2 {
			for i := a; i <= b; i++ {
				out[i] = true
			}
		} else if n, _ := fmt.Sscanf(part, "%d", &a); n == 1 {
			out[a] = true
		}
	}
	return out
}

func (c *coordinator) run(ctx context.Context) (*load.Result, error) {
	// 1. Wait for the pods to be ready.
	readyBy := time.Now().Add(c.o.ReadyTimeout)
	tick := time.NewTicker(c.o.Poll)
	defer tick.Stop()
	var ws []worker
	lastSaid := time.Time{}
	for {
		var err error
		if ws, err = c.read(ctx); err != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("k8s:load: read the workers' maps: %w", err)
		}
		n := countReady(ws)
		if n == c.o.Pods || time.Now().After(readyBy) {
			break
		}
		if time.Since(lastSaid) >= c.o.ProgressEvery {
			c.printf("%d of %d pods ready", n, c.o.Pods)
			lastSaid = time.Now()
		}
		select {
		case <-ctx.Done():
			c.abort("canceled before the start")
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
	var late []int
	for i, w := range ws {
		if !w.ready {
			late = append(late, i)
		}
	}
	if len(late) == c.o.Pods {
		c.abort("no pod was ready in time")
		return nil, fmt.Errorf("k8s:load: no pod said it was ready within %s: see `kubectl -n %s describe job %s` and the pods' events (image pull, scheduling, RBAC)",
			c.o.ReadyTimeout, c.o.Namespace, c.o.Name)
	}
	// 2. The agreed start.
	start := time.Now().Add(c.o.StartDelay).UTC()
	if _, err := c.cs.CoreV1().ConfigMaps(c.o.Namespace).Patch(ctx, loadjob.ControlName(c.o.Name), "application/merge-patch+json",
		mergeData(map[string]string{loadjob.KeyStart: start.Format(time.RFC3339Nano)}), metav1.PatchOptions{}); err != nil {
		return nil, fmt.Errorf("k8s:load: write the start: %w", err)
	}
	if len(late) > 0 {
		c.printf("starting at %s with %d of %d pods; not ready in time: %s", start.Format(time.RFC3339), c.o.Pods-len(late), c.o.Pods, indexList(late))
	} else {
		c.printf("all %d pods ready; starting at %s", c.o.Pods, start.Format(time.RFC3339))
	}
	// 3. Progress until every pod has published or failed.
	var deadline <-chan time.Time
	if c.o.ResultTimeout > 0 {
		t := time.NewTimer(time.Until(start) + c.o.ResultTimeout)
		defer t.Stop()
		deadline = t.C
	}
	lastSaid = time.Now()
	canceled := false
wait:
	for {
		var err error
		if ws, err = c.read(context.WithoutCancel(ctx)); err != nil {
			return nil, fmt.Errorf("k8s:load: read the workers' maps: %w", err)
		}
		failed := c.failedIndexes(context.WithoutCancel(ctx))
		if doneAll(ws, failed, late) {
			break wait
		}
		if time.Since(lastSaid) >= c.o.ProgressEvery && !canceled {
			c.printf("%s", progressLine(ws, time.Now()))
			lastSaid = time.Now()
		}
		select {
		case <-ctx.Done():
			if !canceled {
				// Deleting the Job sends the pods SIGTERM: they publish what
				// they measured; wait a little for that, then merge.
				canceled = true
				c.printf("interrupted: deleting Job %s; collecting what the pods measured", c.o.Name)
				fg := metav1.DeletePropagationBackground
				_ = c.cs.BatchV1().Jobs(c.o.Namespace).Delete(context.WithoutCancel(ctx), c.o.Name, metav1.DeleteOptions{PropagationPolicy: &fg})
				t := time.NewTimer(15 * time.Second)
				defer t.Stop()
				deadline = t.C
			}
		case <-deadline:
			c.printf("stopped waiting for the results")
			break wait
		case <-tick.C:
		}
	}
	return c.merge(ws)
}

func (c *coordinator) abort(why string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = c.cs.CoreV1().ConfigMaps(c.o.Namespace).Patch(ctx, loadjob.ControlName(c.o.Name), "application/merge-patch+json",
		mergeData(map[string]string{loadjob.KeyAbort: why}), metav1.PatchOptions{})
}

func (c *coordinator) merge(ws []worker) (*load.Result, error) {
	var in []load.MergeInput
	var missing []string
	for i, w := range ws {
		name := fmt.Sprintf("pod %d", i)
		if w.result == nil {
			why := "never reported"
			switch {
			case w.err != "":
				why = w.err
			case w.ready:
				why = "no result"
			}
			missing = append(missing, fmt.Sprintf("%s (%s)", name, why))
			continue
		}
		in = append(in, load.MergeInput{Name: name, Result: w.result})
	}
	if len(in) == 0 {
		return nil, fmt.Errorf("%w: no pod published one: %s", ErrNoResults, strings.Join(missing, "; "))
	}
	return load.Merge(in, missing)
}

func mergeData(data map[string]string) []byte {
	b, _ := json.Marshal(map[string]any{"data": data})
	return b
}

func countReady(ws []worker) int {
	n := 0
	for _, w := range ws {
		if w.ready {
			n++
		}
	}
	return n
}

// doneAll: every pod that started has published a result or an error, or
// failed.
func doneAll(ws []worker, failed map[int]bool, late []int) bool {
	skip := map[int]bool{}
	for _, i := range late {
		skip[i] = true
	}
	for i, w := range ws {
		if skip[i] || failed[i] || w.result != nil || w.err != "" {
			continue
		}
		return false
	}
	return true
}

// progressLine is the merged progress of the workers.
func progressLine(ws []worker, now time.Time) string {
	var ok, failed, client int64
	var rps float64
	reporting, done := 0, 0
	for _, w := range ws {
		p := w.progress
		if w.result != nil {
			done++
			ok += w.result.Requests.OK
			failed += w.result.Requests.Failed + w.result.Requests.InFlightAtEnd
			continue
		}
		if p.Elapsed > 0 {
			reporting++
		}
		ok, failed, client = ok+p.OK, failed+p.Failed, client+p.ClientErrors
		rps += p.RequestsPerSecond(now)
	}
	line := fmt.Sprintf("ok %d  failed %d  %.1f req/s  (%d pods running, %d finished of %d)", ok, failed, rps, reporting, done, len(ws))
	if client > 0 {
		line += fmt.Sprintf("  client errors %d (suspect)", client)
	}
	return line
}

func indexList(xs []int) string {
	sort.Ints(xs)
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("pod %d", x)
	}
	return strings.Join(parts, ", ")
}

// ErrNoResults is returned (wrapped) when no pod published a result.
var ErrNoResults = errors.New("k8s:load: no results")
