package targets

import (
	"context"
	"fmt"
	"os"
	"os/exec"
)

// CheckConfig runs tasks/configcheck/run with `go run`, so that its large
// dependencies stay out of the magefile's build.
func CheckConfig(ctx context.Context) error {
	if _, err := os.Stat("tasks/configcheck/run"); err != nil {
		return fmt.Errorf("check:config runs from the project's source tree (tasks/configcheck/run not found in the working directory)")
	}
	cmd := exec.CommandContext(ctx, "go", "run", "./tasks/configcheck/run", ".")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("check:config found problems (see above): %w", err)
	}
	return nil
}
