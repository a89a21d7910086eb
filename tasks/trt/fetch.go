package trt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	getter "github.com/hashicorp/go-getter/v2"
)

// What a build needs from a TensorRT-LLM release, relative to its root:
// the examples (the checkpoint converters) and the Triton Python models.
var (
	examplesSubtrees = []string{"examples", "triton_backend/all_models/inflight_batcher_llm"}
	// pythonModels maps the Triton Python models of the release to their
	// place in the repository.
	pythonModels = map[string]string{
		"triton_backend/all_models/inflight_batcher_llm/preprocessing/1/model.py":  "preprocessing/1/model.py",
		"triton_backend/all_models/inflight_batcher_llm/postprocessing/1/model.py": "postprocessing/1/model.py",
	}
)

// EnvSource overrides where the release is fetched from: any go-getter
// source the fetch allows (git::https://..., git::file:///...?ref=TAG, or an
// https URL of a .tar.gz).
const EnvSource = "LOP_TRTLLM_SOURCE"

// DefaultSource is GitHub's source archive of a TensorRT-LLM release: one
// download of the tag's files, without the history and submodules (and the
// gigabytes) a clone would fetch.
func DefaultSource(ref string) string {
	return "https://github.com/NVIDIA/TensorRT-LLM/archive/refs/tags/" + ref + ".tar.gz"
}

// Limits of a fetch.
const (
	fetchTimeout     = 20 * time.Minute
	archiveMaxBytes  = 2 << 30 // compressed download
	archiveMaxFiles  = 200000
	archiveMaxSize   = 8 << 30 // unpacked
	extractMaxBytes  = 1 << 30 // one file copied into the cache
	cacheDirName     = "llm-observability-pack"
	cacheEntryPrefix = "trtllm-"
)

// CacheDir returns the examples cache of ref under root (default:
// $XDG_CACHE_HOME or ~/.cache).
func CacheDir(root, ref string) (string, error) {
	if root == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("no cache directory: %v; set XDG_CACHE_HOME", err)
		}
		root = filepath.Join(base, cacheDirName)
	}
	return filepath.Join(root, cacheEntryPrefix+ref), nil
}

// getterClient is go-getter restricted to what the fetch needs: git (the
// git binary, with a timeout) and HTTPS archives (no netrc, no
// X-Terraform-Get redirection, bounded size and time), tar.gz only, with
// limits on files and size, and symlinks refused.
func getterClient() *getter.Client {
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	limited := getter.LimitedDecompressors(archiveMaxFiles, archiveMaxSize)
	return &getter.Client{
		Getters: []getter.Getter{
			&getter.GitGetter{Timeout: fetchTimeout},
			&getter.HttpGetter{
				Client:                &http.Client{Transport: transport},
				Netrc:                 false,
				XTerraformGetDisabled: true,
				DoNotCheckHeadFirst:   true,
				ReadTimeout:           fetchTimeout,
				MaxBytes:              archiveMaxBytes,
			},
		},
		Decompressors: map[string]getter.Decompressor{
			"tar.gz": limited["tar.gz"],
			"tgz":    limited["tgz"],
		},
		DisableSymlinks: true,
	}
}

// FetchOptions say which release to fetch and where to keep it.
type FetchOptions struct {
	Ref       string    // TensorRT-LLM tag, e.g. v1.2.1
	Source    string    // go-getter source; "" for DefaultSource(Ref)
	CacheRoot string    // "" for the user cache dir
	Out       io.Writer // progress lines (may be nil)
}

// FetchExamples makes sure the cache holds the release's examples and
// Triton models and returns the cache entry. A complete entry is reused; an
// interrupted fetch leaves nothing that looks complete (the entry appears
// by one rename at the end).
func FetchExamples(ctx context.Context, o FetchOptions) (string, error) {
	if !ValidRef(o.Ref) {
		return "", fmt.Errorf("TensorRT-LLM ref %q: want a release tag such as v1.2.1 (%s)", o.Ref, EnvRef)
	}
	dir, err := CacheDir(o.CacheRoot, o.Ref)
	if err != nil {
		return "", err
	}
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	if complete(dir) {
		fmt.Fprintf(out, "TensorRT-LLM %s examples: cached in %s\n", o.Ref, dir)
		return dir, nil
	}
	src := o.Source
	if src == "" {
		src = DefaultSource(o.Ref)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("creating the cache directory: %w", err)
	}
	removeStale(filepath.Dir(dir), filepath.Base(dir))
	staging, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".fetch-")
	if err != nil {
		return "", fmt.Errorf("creating the cache directory: %w", err)
	}
	defer os.RemoveAll(staging)

	fmt.Fprintf(out, "fetching TensorRT-LLM %s from %s\n", o.Ref, redactURL(src))
	fctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	got := filepath.Join(staging, "src")
	if _, err := getterClient().Get(fctx, &getter.Request{
		Src: src, Dst: got, Pwd: staging, GetMode: getter.ModeDir, Umask: 0o022,
	}); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("fetching TensorRT-LLM %s from %s: %v; check the network, or set %s to a reachable copy (e.g. git::file:///path/to/TensorRT-LLM?ref=%s)",
			o.Ref, redactURL(src), err, EnvSource, o.Ref)
	}
	root, err := releaseRoot(got)
	if err != nil {
		return "", fmt.Errorf("TensorRT-LLM %s from %s: %w", o.Ref, redactURL(src), err)
	}
	entry := filepath.Join(staging, "entry")
	for _, sub := range examplesSubtrees {
		if err := copyTree(ctx, filepath.Join(root, sub), filepath.Join(entry, sub)); err != nil {
			return "", fmt.Errorf("TensorRT-LLM %s from %s: %w", o.Ref, redactURL(src), err)
		}
	}
	if err := os.Rename(entry, dir); err != nil {
		return "", fmt.Errorf("storing the examples in %s: %w", dir, err)
	}
	fmt.Fprintf(out, "TensorRT-LLM %s examples: stored in %s\n", o.Ref, dir)
	return dir, nil
}

// complete reports whether a cache entry holds everything a build reads.
func complete(dir string) bool {
	for _, sub := range examplesSubtrees {
		if fi, err := os.Stat(filepath.Join(dir, sub)); err != nil || !fi.IsDir() {
			return false
		}
	}
	for src := range pythonModels {
		if fi, err := os.Stat(filepath.Join(dir, src)); err != nil || !fi.Mode().IsRegular() {
			return false
		}
	}
	return true
}

// removeStale removes staging directories of fetches that were interrupted.
func removeStale(parent, base string) {
	entries, _ := os.ReadDir(parent)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "."+base+".fetch-") {
			os.RemoveAll(filepath.Join(parent, e.Name()))
		}
	}
}

// releaseRoot finds the release's top directory: the fetched directory
// itself (a git checkout) or its only subdirectory (GitHub's archives hold
// TensorRT-LLM-<version>/).
func releaseRoot(dir string) (string, error) {
	if fi, err := os.Stat(filepath.Join(dir, "examples")); err == nil && fi.IsDir() {
		return dir, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			dirs = append(dirs, e.Name())
		}
	}
	if len(dirs) == 1 {
		sub := filepath.Join(dir, dirs[0])
		if fi, err := os.Stat(filepath.Join(sub, "examples")); err == nil && fi.IsDir() {
			return sub, nil
		}
	}
	return "", errors.New("no examples/ directory at the top: not a TensorRT-LLM source tree")
}

// ErrSymlinkEscape is returned for a symlink that points outside the release.
var ErrSymlinkEscape = errors.New("symlink points outside the TensorRT-LLM tree")

// copyTree copies the directory src to dst: directories and regular files
// only, mode bits limited to 0755/0644. A symlink whose target stays inside
// src is copied as the file it points to (symlinked directories are left
// out); one that points outside, or anything else, fails the copy.
func copyTree(ctx context.Context, src, dst string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return fmt.Errorf("%s is missing: %w", filepath.Base(src), err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", src)
	}
	realSrc, err := filepath.EvalSymlinks(src)
	if err != nil {
		return err
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			resolved, err := filepath.EvalSymlinks(p)
			if err != nil {
				link, _ := os.Readlink(p)
				return fmt.Errorf("%s: dangling symlink to %s: %w", rel, link, ErrSymlinkEscape)
			}
			if r, err := filepath.Rel(realSrc, resolved); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
				link, _ := os.Readlink(p)
				return fmt.Errorf("%s -> %s: %w", rel, link, ErrSymlinkEscape)
			}
			rfi, err := os.Stat(resolved)
			if err != nil || !rfi.Mode().IsRegular() {
				return nil // a link to a directory inside the tree: its files are copied where they are
			}
			return copyFile(resolved, target, rfi.Mode())
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			return copyFile(p, target, info.Mode())
		default:
			return fmt.Errorf("%s: not a regular file or directory (%v)", rel, d.Type())
		}
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	perm := fs.FileMode(0o644)
	if mode&0o111 != 0 {
		perm = 0o755
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	n, err := io.Copy(out, io.LimitReader(in, extractMaxBytes+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > extractMaxBytes {
		err = fmt.Errorf("%s is larger than %d bytes", src, extractMaxBytes)
	}
	return err
}

// redactURL drops credentials from a source URL for messages.
func redactURL(src string) string {
	prefix := ""
	if i := strings.Index(src, "::"); i >= 0 {
		prefix, src = src[:i+2], src[i+2:]
	}
	if i := strings.Index(src, "://"); i >= 0 {
		rest := src[i+3:]
		if at := strings.IndexByte(rest, '@'); at >= 0 && at < strings.IndexAny(rest+"/", "/?") {
			src = src[:i+3] + "***@" + rest[at+1:]
		}
	}
	return prefix + src
}
