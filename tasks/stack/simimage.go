package stack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/engine"
)

// SimBinaryEnv names a prebuilt, statically linked simulator binary to put
// in the image instead of building ./cmd/sim.
const SimBinaryEnv = "LOP_SIM_BINARY"

// IsLocalImage reports whether ref names an image that mage builds itself
// (tag "local"); any other reference is used as it is.
func IsLocalImage(ref string) bool { return strings.HasSuffix(ref, ":local") }

// simDockerfile is the whole image: the static binary and nothing else.
const simDockerfile = `FROM scratch
COPY sim /sim
USER 65534:65534
EXPOSE 8000 8002 9400
ENTRYPOINT ["/sim"]
`

// BuildSimBinary compiles ./cmd/sim as a static linux binary into dir.
func BuildSimBinary(ctx context.Context, root, dir string, out io.Writer) (string, error) {
	if p := os.Getenv(SimBinaryEnv); p != "" {
		return p, nil
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "sim")); err != nil {
		return "", fmt.Errorf("cannot build the simulator: %s has no cmd/sim (run from the project root, or set %s to a static simulator binary)", root, SimBinaryEnv)
	}
	bin := filepath.Join(dir, "sim")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./cmd/sim")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/sim: %w", err)
	}
	return bin, nil
}

// BuildSimImage builds the simulator image tag FROM scratch with the static
// binary, through the Engine API; no registry is needed.
func BuildSimImage(ctx context.Context, eng *engine.Engine, root, tag string, out io.Writer) error {
	dir, err := os.MkdirTemp("", "lop-sim-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := BuildSimBinary(ctx, root, dir, out)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	fmt.Fprintf(out, "building image %s (FROM scratch, simulator %s, sha256 %s)\n", tag, humanBytes(len(data)), hex.EncodeToString(sum[:6]))
	return eng.BuildImage(ctx, tag, simDockerfile, []engine.BuildFile{{Name: "sim", Mode: 0o755, Data: data}}, nil)
}

func humanBytes(n int) string {
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}
