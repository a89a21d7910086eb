// Command run is `mage check:config` as its own program: the PromQL parser
// and compose-go it needs are large, so the magefile runs this with
// `go run` instead of linking them into every mage build.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/configcheck"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	root := "."
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	if err := configcheck.Run(ctx, root, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}
