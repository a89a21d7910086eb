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

// GoImage is an image of one static Go program, FROM scratch.
type GoImage struct {
	Pkg        string // the program's package, e.g. ./cmd/sim
	Bin        string // its name in the image (/Bin) and in the build
	BinaryEnv  string // names a prebuilt static binary to use instead of building Pkg ("": none)
	Dockerfile string // the whole image: FROM scratch, COPY Bin /Bin, ...
}

// SimImage is the simulator's image.
var SimImage = GoImage{Pkg: "./cmd/sim", Bin: "sim", BinaryEnv: SimBinaryEnv, Dockerfile: `FROM scratch
COPY sim /sim
USER 65534:65534
EXPOSE 8000 8002 9400
ENTRYPOINT ["/sim"]
`}

// LoadgenImage is the load generator's image (mage k8s:image), the user
// its Kubernetes pods run as (k8sload's Job asks for 65532).
var LoadgenImage = GoImage{Pkg: "./cmd/loadgen", Bin: "loadgen", Dockerfile: `FROM scratch
COPY loadgen /loadgen
USER 65532:65532
ENTRYPOINT ["/loadgen"]
`}

// BuildBinary compiles the image's program as a static linux binary into
// dir (or returns the prebuilt one its BinaryEnv names).
func (g GoImage) BuildBinary(ctx context.Context, root, dir string, out io.Writer) (string, error) {
	if g.BinaryEnv != "" {
		if p := os.Getenv(g.BinaryEnv); p != "" {
			return p, nil
		}
	}
	if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(g.Pkg))); err != nil {
		hint := ""
		if g.BinaryEnv != "" {
			hint = ", or set " + g.BinaryEnv + " to a static binary of it"
		}
		return "", fmt.Errorf("cannot build %s: %s has no %s (run from the project root%s)", g.Bin, root, g.Pkg, hint)
	}
	bin := filepath.Join(dir, g.Bin)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, g.Pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %w", g.Pkg, err)
	}
	return bin, nil
}

// Build builds the image tag FROM scratch with the static binary, through
// the Engine API; no registry is needed.
func (g GoImage) Build(ctx context.Context, eng *engine.Engine, root, tag string, out io.Writer) error {
	dir, err := os.MkdirTemp("", "lop-"+g.Bin+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := g.BuildBinary(ctx, root, dir, out)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	fmt.Fprintf(out, "building image %s (FROM scratch, %s %s, sha256 %s)\n", tag, g.Bin, humanBytes(len(data)), hex.EncodeToString(sum[:6]))
	return eng.BuildImage(ctx, tag, g.Dockerfile, []engine.BuildFile{{Name: g.Bin, Mode: 0o755, Data: data}}, nil)
}

// BuildSimImage builds the simulator image tag (SimImage).
func BuildSimImage(ctx context.Context, eng *engine.Engine, root, tag string, out io.Writer) error {
	return SimImage.Build(ctx, eng, root, tag, out)
}

func humanBytes(n int) string {
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}
