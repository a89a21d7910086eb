// Package checkns is the check:* namespace of magefile.go, imported there
// with `// mage:import check`: each exported function is a target
// (check:gpu, check:all, check:config), a doc comment and one call into
// tasks/targets, as in magefile.go.
//
// It is a package of its own so that magefile.go can also have a real
// top-level `check` target (Go does not allow a func and a namespace type
// both named Check in package main), and `mage -h check` shows that
// target's help: Mage's -h does not resolve aliases.
package checkns

import (
	"context"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/targets"
)

// GPU checks nvidia-smi, each GPU's compute capability, the driver each image needs and memory for the model; -json for machines.
func GPU(ctx context.Context,
	json *bool, // print one JSON object instead of the PASS/WARN/FAIL lines
	mindriver *int, // accept this NVIDIA driver major version and newer for every backend (default: the floor of each image in deploy/.env)
) error {
	return targets.CheckGPU(ctx, json, mindriver)
}

// All runs every check, the same as `mage check`: the GPU, the driver each image needs, the Docker engine, Compose and the NVIDIA container runtime.
func All(ctx context.Context,
	json *bool, // print one JSON object instead of the PASS/WARN/FAIL lines
	mindriver *int, // accept this NVIDIA driver major version and newer for every backend (default: the floor of each image in deploy/.env)
) error {
	return targets.CheckAll(ctx, json, mindriver)
}

// Config validates the compose file, Prometheus config and rules, and every dashboard query against real metric names.
func Config(ctx context.Context) error {
	return targets.CheckConfig(ctx)
}
