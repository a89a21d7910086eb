package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/k8s/chart"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/k8s/kubeapply"
)

// applyOrDelete is the apply and delete subcommands: the chart rendered as
// render does, then applied server-side or deleted with tasks/k8s/kubeapply.
func applyOrDelete(ctx context.Context, sub string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c chartFlags
	c.register(fs, sub == "apply")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (default as kubectl: $KUBECONFIG, else ~/.kube/config)")
	kubeContext := fs.String("context", "", "kubeconfig context (default: its current context)")
	createNS := false
	if sub == "apply" {
		fs.BoolVar(&createNS, "create-namespace", true, "create -namespace if it does not exist (as helm install --create-namespace)")
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	o := c.options()
	if sub == "delete" {
		// Delete renders with the simulator on, so that every kind the
		// release may have is looked at; it removes only objects that
		// carry the release's labels.
		o.Sim = true
	}
	objs, err := chart.Render(o)
	if err != nil {
		return err
	}
	ko := kubeapply.Options{
		Kubeconfig: *kubeconfig, Context: *kubeContext, Namespace: c.namespace,
		FieldManager: kubeapply.DefaultFieldManager, CreateNamespace: createNS, Out: stdout,
	}
	if sub == "apply" {
		s, err := kubeapply.Apply(ctx, ko, objs)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "k8s:apply: %d objects in namespace %s: %d created, %d configured, %d unchanged\n",
			len(s.Results), c.namespace, s.Count(kubeapply.Created), s.Count(kubeapply.Configured), s.Count(kubeapply.Unchanged))
		return nil
	}
	s, err := kubeapply.Delete(ctx, ko, objs, c.release)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "k8s:delete: release %s in namespace %s: %d deleted\n", c.release, c.namespace, s.Count(kubeapply.Deleted))
	if n := s.Count(kubeapply.Terminating); n > 0 {
		fmt.Fprintf(stdout, "k8s:delete: %d still terminating (finalizers)\n", n)
	}
	return nil
}
