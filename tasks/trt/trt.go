// Package trt builds a TensorRT-LLM engine and the Triton model repository
// that serves it (mage compile:trt): it checks the GPU, pulls the Triton
// TensorRT-LLM image, and in one builder container, as the host user,
// downloads the model, converts its checkpoint with the converter the image
// holds (TensorRT-LLM's examples under /app, or a release given with
// -examples and a checksum) and runs trtllm-build; then it writes
// serving/triton-trt/model_repository (preprocessing -> tensorrt_llm ->
// postprocessing, wired by a decoupled ensemble that takes and returns text)
// and swaps it in with a rename. An interrupted or failed build removes its
// container and leaves the previous repository as it was.
package trt

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/engine"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/modelrepo"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/ui"
	"github.com/moby/moby/client"
)

// Docker is the part of the Engine API a build uses; *engine.Engine
// implements it.
type Docker interface {
	ImageID(ctx context.Context, ref string) (string, error)
	PullImage(ctx context.Context, ref string, progress func(string)) error
	Rootless(ctx context.Context) (bool, error)
	ContainersWithLabels(ctx context.Context, labels ...string) ([]engine.LabeledContainer, error)
	CreateContainer(ctx context.Context, opts client.ContainerCreateOptions) (string, error)
	StartContainer(ctx context.Context, id string) error
	RemoveContainer(ctx context.Context, id string) error
	Exec(ctx context.Context, id string, spec engine.ExecSpec, stdout, stderr io.Writer) (int, error)
	ReadFile(ctx context.Context, id, path string, limit int64) ([]byte, error)
}

// Build runs mage compile:trt.
func Build(ctx context.Context, o Options) error {
	r, err := resolve(o)
	if err != nil {
		return err
	}
	out := r.Out
	fam, err := familyOf(r.settings.Model)
	if err != nil {
		return err
	}
	if r.Preflight != nil {
		if err := r.Preflight(ctx); err != nil {
			return err
		}
	}
	dk := r.Docker
	if dk == nil {
		eng, err := engine.Connect(ctx)
		if err != nil {
			return err
		}
		defer eng.Close()
		dk = eng
	}

	// Up to date? The image ID counts only where the image is present.
	id, err := dk.ImageID(ctx, r.settings.Image)
	if err != nil {
		return err
	}
	r.settings.ImageID = id
	st, err := EngineState(r.Root)
	if err != nil {
		return err
	}
	if st.Ready() && !r.Force && r.settings.sameBuild(*st.Built) {
		fmt.Fprintf(out, "the TensorRT-LLM engine in %s is up to date (%s); nothing to do (-force rebuilds it)\n",
			modelrepo.TRTRepoDir, st.Built.Describe())
		return nil
	}
	switch {
	case r.Force && st.Built != nil:
		fmt.Fprintln(out, "rebuilding the TensorRT-LLM engine (-force)")
	case st.Built != nil:
		fmt.Fprintf(out, "the engine in %s was built with other settings (%s); rebuilding\n", modelrepo.TRTRepoDir, st.Built.Describe())
	}

	if id == "" {
		if err := pull(ctx, dk, r.settings.Image, out); err != nil {
			return err
		}
		if r.settings.ImageID, err = dk.ImageID(ctx, r.settings.Image); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(out, "image %s: present\n", r.settings.Image)
	}

	layout := ImageLayout()
	if r.Examples != "" {
		dir, err := FetchExamples(ctx, FetchOptions{Source: r.Examples, Checksum: r.Checksum, CacheRoot: r.CacheRoot, Out: out})
		if err != nil {
			return err
		}
		if dir, err = filepath.Abs(dir); err != nil {
			return err
		}
		layout = FetchedLayout(dir)
	}
	return r.buildIn(ctx, dk, layout, fam)
}

func pull(ctx context.Context, dk Docker, ref string, out io.Writer) error {
	fmt.Fprintf(out, "pulling %s (several GB; this takes a while)\n", ref)
	status := ui.NewStatus(out)
	err := dk.PullImage(ctx, ref, func(line string) { status.Update("pulling " + ref + ": " + line) })
	status.Done()
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "unauthorized") || strings.Contains(err.Error(), "denied") {
			return fmt.Errorf("%w; log in to the registry (docker login %s) and run again", err, strings.SplitN(ref, "/", 2)[0])
		}
		return err
	}
	fmt.Fprintf(out, "pulled %s\n", ref)
	return nil
}
