package targets

import (
	"context"
	"os"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/dash"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/env"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/stack"
)

// EnvInit writes deploy/.env from deploy/env.example and reports the keys
// that differ.
func EnvInit() error {
	rep, err := env.Init(".")
	if err != nil {
		return err
	}
	rep.Print(os.Stdout)
	return nil
}

// Down stops every profile; volumes only when asked.
func Down(ctx context.Context, volumes *bool) error {
	return stack.Down(ctx, stack.Options{Volumes: Flag(volumes)})
}

// Logs follows the logs of the stack, or of one service.
func Logs(ctx context.Context, service *string) error {
	return interruptibleAs(ctx, "", func(ctx context.Context) error { return stack.Logs(ctx, stack.Options{Service: str(service)}) })
}

// Status shows containers, health and scrape targets.
func Status(ctx context.Context) error {
	return stack.Status(ctx, stack.Options{})
}

// Dash regenerates the dashboards and the SLO rules.
func Dash() error { return dash.GenerateAll(".") }
