package main

import (
	"context"
	"fmt"
	"io"
)

// applyOrDelete is the apply and delete subcommands. They need
// tasks/k8s/kubeapply (server-side apply and label-exact delete), which is
// not built yet.
func applyOrDelete(_ context.Context, sub string, _ []string, _, _ io.Writer) error {
	return fmt.Errorf("k8s:%s is not built yet: it needs tasks/k8s/kubeapply; use `mage k8s:render -out=DIR` and `kubectl apply --server-side -f DIR` meanwhile", sub)
}
