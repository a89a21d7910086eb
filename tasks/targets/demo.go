package targets

import (
	"context"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/demo"
)

// Demo runs the simulator in-process and a bounded load run against it;
// Ctrl+C or SIGTERM stops it early, keeps the results and fails.
func Demo(ctx context.Context, duration *time.Duration, concurrency *int, out *string) error {
	return interruptible(ctx, true, func(ctx context.Context) error {
		return demo.Run(ctx, demo.Options{Duration: Duration(duration, 0), Concurrency: intv(concurrency), Out: str(out)})
	})
}
