package trt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/engine"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/modelrepo"
)

// The builder container: who it runs as, what it reads from the image, and
// the containers a killed build left behind.

// buildIn runs the builder container and installs its result.
func (r *resolved) buildIn(ctx context.Context, dk Docker, layout Layout, fam family) (err error) {
	out := r.Out
	rootless, err := dk.Rootless(ctx)
	if err != nil {
		return err
	}
	user, owner, err := hostUser(os.Getuid(), os.Getgid(), r.User, rootless)
	if err != nil {
		return err
	}
	repo := filepath.Join(r.Root, modelrepo.TRTRepoDir)
	parent := filepath.Dir(repo)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", parent, err)
	}
	if err := r.clearStale(ctx, dk); err != nil {
		return err
	}
	removeLeftovers(parent)
	cacheRoot, err := CacheRoot(r.CacheRoot)
	if err != nil {
		return err
	}
	hfDir, err := filepath.Abs(filepath.Join(cacheRoot, "hf"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(hfDir, 0o755); err != nil {
		return fmt.Errorf("creating the Hugging Face cache %s: %w", hfDir, err)
	}
	work, err := os.MkdirTemp(parent, ".build-")
	if err != nil {
		return fmt.Errorf("creating the build directory: %w", err)
	}
	defer os.RemoveAll(work)
	absWork, err := filepath.Abs(work)
	if err != nil {
		return err
	}
	outDir, homeDir := filepath.Join(absWork, "out"), filepath.Join(absWork, "home")
	for _, d := range []string{outDir, homeDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	if owner != nil {
		// Root builds for another user: what the steps write into must be theirs.
		for _, d := range []string{outDir, homeDir, hfDir} {
			if err := owner.chownTree(d); err != nil {
				return err
			}
		}
	}

	host, _ := os.Hostname()
	in := PlanInput{
		Settings: r.settings, Project: r.project, Convert: fam.Convert, Layout: layout,
		OutDir: outDir, HomeDir: homeDir, HFDir: hfDir, HFToken: r.token,
		User: user, GPUs: r.GPUs, NoGPU: r.NoGPU, PID: os.Getpid(), Host: host,
		Name: fmt.Sprintf("%s-trt-builder-%d-%d", r.project, os.Getpid(), time.Now().UnixNano()%100000),
	}
	plan, err := NewPlan(in)
	if err != nil {
		return err
	}

	id, err := dk.CreateContainer(ctx, plan.Create)
	if err != nil {
		return err
	}
	removed := false
	remove := func() {
		if removed {
			return
		}
		removed = true
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if rerr := dk.RemoveContainer(cctx, id); rerr != nil {
			fmt.Fprintf(out, "could not remove the builder container %s: %v; remove it with: docker rm -f %s\n", in.Name, rerr, in.Name)
		}
	}
	defer func() {
		remove()
		if err != nil {
			fmt.Fprintf(out, "removed the builder container; %s is unchanged\n", modelrepo.TRTRepoDir)
		}
	}()
	if err := dk.StartContainer(ctx, id); err != nil {
		if !r.NoGPU && strings.Contains(strings.ToLower(err.Error()), "gpu") {
			return fmt.Errorf("%w; the engine could not give the container a GPU: install the NVIDIA Container Toolkit (nvidia-ctk runtime configure --runtime=docker) or check %s", err, EnvGPUs)
		}
		return err
	}
	fmt.Fprintf(out, "builder container %s started (image %s, user %s)\n", in.Name, r.settings.Image, user)

	models, err := readTemplates(ctx, dk, id, layout, fam, r.settings.Image)
	if err != nil {
		return err
	}
	if layout.HostDir == "" {
		fmt.Fprintf(out, "examples and templates: the image's own (%s, %s)\n", layout.Examples, layout.AllModels)
	}

	in.DownloadCLI = "huggingface-cli"
	if code, err := dk.Exec(ctx, id, plan.Probe, io.Discard, io.Discard); err != nil {
		return interrupted(ctx, err, "checking the Hugging Face CLI")
	} else if code == 0 {
		in.DownloadCLI = "hf"
	}
	if plan, err = NewPlan(in); err != nil {
		return err
	}

	for i, st := range plan.Steps {
		label := fmt.Sprintf("[%d/%d] %s", i+1, len(plan.Steps), st.Title)
		fmt.Fprintf(out, "%s: %s\n", label, strings.Join(st.Exec.Argv, " "))
		lw := newLineWriter(out, "    ", r.token)
		code, err := dk.Exec(ctx, id, st.Exec, lw, lw)
		lw.Flush()
		if err != nil {
			return interrupted(ctx, err, label)
		}
		if code != 0 {
			return fmt.Errorf("%s failed with exit code %d%s", label, code, lw.Tail())
		}
	}
	remove()

	// The tokenizer, from the model in the Hugging Face cache.
	stage := filepath.Join(work, "repo")
	tokDir := filepath.Join(stage, filepath.FromSlash(modelrepo.TRTTokenizerRel))
	if err := os.MkdirAll(tokDir, 0o755); err != nil {
		return err
	}
	if err := copyTokenizer(plan.HostModelDir, hfDir, tokDir); err != nil {
		return err
	}
	if err := assemble(stage, models, outDir, r.settings); err != nil {
		return err
	}
	if owner != nil {
		if err := owner.chownTree(stage); err != nil {
			return err
		}
	}
	if err := swap(stage, repo); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s: engine %s, tokenizer %s (%s)\n", modelrepo.TRTRepoDir,
		modelrepo.TRTEngineRel, modelrepo.TRTTokenizerRel, r.settings.Describe())
	fmt.Fprintln(out, "start it with: mage up:trt")
	return nil
}

// owner is a host user that files are handed to.
type owner struct{ uid, gid int }

// chownTree hands dir and everything under it to o (links themselves, not
// what they point to).
func (o owner) chownTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, o.uid, o.gid); err != nil {
			return fmt.Errorf("handing %s to %d:%d (%s): %w", p, o.uid, o.gid, EnvUser, err)
		}
		return nil
	})
}

// hostUser decides whom the builder runs as ("uid:gid") and to whom mage
// hands the directories it creates (nil: they are that user's already).
// uid and gid are the calling user's; override is LOP_TRT_USER.
func hostUser(uid, gid int, override string, rootless bool) (string, *owner, error) {
	if rootless {
		// Root in a rootless engine's containers is the calling user.
		if override != "" {
			return "", nil, fmt.Errorf("%s=%s: a rootless Docker engine writes every file as the user who runs it; unset %s", EnvUser, override, EnvUser)
		}
		return "0:0", nil, nil
	}
	own := fmt.Sprintf("%d:%d", uid, gid)
	if override == "" || override == own {
		return own, nil, nil
	}
	var o owner
	if _, err := fmt.Sscanf(override, "%d:%d", &o.uid, &o.gid); err != nil || !userRE.MatchString(override) {
		return "", nil, fmt.Errorf("%s=%s: want UID:GID of the host user who is to own the engine files, e.g. 1000:1000", EnvUser, override)
	}
	if uid != 0 {
		return "", nil, fmt.Errorf("%s=%s: only root can build for another user (you are %s); unset %s", EnvUser, override, own, EnvUser)
	}
	return override, &o, nil
}

// templateLimit bounds a converter or Python model read from the image.
const templateLimit = 16 << 20

// readTemplates checks that the builder has the family's converter and
// returns the Triton Python models (their place in the repository ->
// content), from the image or the release mounted in it.
func readTemplates(ctx context.Context, dk Docker, id string, l Layout, fam family, image string) (map[string][]byte, error) {
	where := "image " + image
	fix := "compile:trt uses the TensorRT-LLM examples and Triton model templates a Triton TensorRT-LLM image holds under /app, " +
		"so TRITON_TRTLLM_IMAGE (deploy/.env) must be such an image (nvcr.io/nvidia/tritonserver:YY.MM-trtllm-python-py3); " +
		"or give the matching TensorRT-LLM release with -examples=URL -checksum=sha256:HEX"
	if l.HostDir != "" {
		where = "the TensorRT-LLM release from -examples (" + l.HostDir + ")"
		fix = "give a release of the TensorRT-LLM the image has, or leave -examples out to use the image's own examples"
	}
	conv := path.Join(l.Examples, fam.Convert)
	if _, err := dk.ReadFile(ctx, id, conv, templateLimit); errors.Is(err, engine.ErrNotFound) {
		return nil, fmt.Errorf("%s has no %s (the checkpoint converter for %s models); %s", where, conv, fam.Name, fix)
	} else if err != nil {
		return nil, interrupted(ctx, err, "reading "+conv)
	}
	srcs := slices.Sorted(maps.Keys(pythonModels))
	models := map[string][]byte{}
	for _, src := range srcs {
		p := path.Join(l.AllModels, src)
		data, err := dk.ReadFile(ctx, id, p, templateLimit)
		if errors.Is(err, engine.ErrNotFound) {
			return nil, fmt.Errorf("%s has no %s (a Triton Python model of the repository); %s", where, p, fix)
		} else if err != nil {
			return nil, interrupted(ctx, err, "reading "+p)
		}
		models[pythonModels[src]] = data
	}
	return models, nil
}

// interrupted words an error of a step whose context may have ended.
func interrupted(ctx context.Context, err error, what string) error {
	if ctx.Err() != nil {
		return fmt.Errorf("compile:trt interrupted during %s: %w", what, ctx.Err())
	}
	return fmt.Errorf("%s: %w", what, err)
}

// clearStale removes builder containers of this project left by a mage that
// no longer runs, and refuses to start next to a build that still runs.
func (r *resolved) clearStale(ctx context.Context, dk Docker) error {
	cs, err := dk.ContainersWithLabels(ctx, LabelRole+"="+RoleBuilder, LabelProject+"="+r.project)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	for _, c := range cs {
		pid, _ := strconv.Atoi(c.Labels[LabelPID])
		alive := c.State == "running" && c.Labels[LabelHost] == host && pid > 0 && processAlive(pid)
		if alive || (c.State == "running" && c.Labels[LabelHost] != host) {
			return fmt.Errorf("another compile:trt is running (container %s, pid %s on %s); wait for it to finish, or stop it and remove the container: docker rm -f %s",
				c.Name, c.Labels[LabelPID], c.Labels[LabelHost], c.Name)
		}
		fmt.Fprintf(r.Out, "removing the builder container %s left by an earlier run\n", c.Name)
		if err := dk.RemoveContainer(ctx, c.ID); err != nil {
			return err
		}
	}
	return nil
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
