package trt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	getter "github.com/hashicorp/go-getter/v2"
)

// What a build needs from a TensorRT-LLM release given with -examples,
// relative to its root: the examples (the checkpoint converters) and the
// Triton model templates.
var examplesSubtrees = []string{"examples", "triton_backend/all_models/inflight_batcher_llm"}

// releaseAllModels is where a release keeps what the image has at
// ImageAllModelsDir.
const releaseAllModels = "triton_backend/all_models"

// pythonModels maps the Triton Python models, relative to all_models, to
// their place in the repository.
var pythonModels = map[string]string{
	"inflight_batcher_llm/preprocessing/1/model.py":  "preprocessing/1/model.py",
	"inflight_batcher_llm/postprocessing/1/model.py": "postprocessing/1/model.py",
}

// Limits of a fetch.
const (
	fetchTimeout     = 20 * time.Minute
	archiveMaxBytes  = 2 << 30 // compressed download
	archiveMaxFiles  = 200000
	archiveMaxSize   = 8 << 30 // unpacked
	extractMaxBytes  = 1 << 30 // one file copied into the cache
	cacheDirName     = "llm-observability-pack"
	cacheEntryPrefix = "examples-"
)

// CacheRoot returns root, or where it defaults to: $XDG_CACHE_HOME or
// ~/.cache, under llm-observability-pack.
func CacheRoot(root string) (string, error) {
	if root != "" {
		return root, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: %v; set XDG_CACHE_HOME or %s", err, EnvCache)
	}
	return filepath.Join(base, cacheDirName), nil
}

var (
	checksumRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	gitRefRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]*$`)
)

// ExamplesSource is a validated -examples source.
type ExamplesSource struct {
	Getter string // what go-getter is given (the checksum in its query)
	Key    string // the cache entry's name
	Stamp  string // what the build records: the source without credentials, and its checksum
}

// ParseExamplesSource checks an -examples source and its -checksum: an
// https (or http) URL of a .tar.gz with -checksum=sha256:HEX, which
// go-getter verifies before unpacking, or git::URL?ref=REF, pinned by its
// ref (a tag or a commit), without a checksum.
func ParseExamplesSource(src, checksum string) (ExamplesSource, error) {
	const want = "want https://.../TensorRT-LLM-X.Y.Z.tar.gz with -checksum=sha256:HEX, or git::URL?ref=TAG"
	if rest, ok := strings.CutPrefix(src, "git::"); ok {
		if checksum != "" {
			return ExamplesSource{}, fmt.Errorf("-checksum=%s: a git source is pinned by its ref=, -checksum is for archives", checksum)
		}
		u, err := url.Parse(rest)
		if err != nil || u.Scheme == "" {
			return ExamplesSource{}, fmt.Errorf("-examples=%s: not a URL (%v); %s", redactURL(src), err, want)
		}
		ref := u.Query().Get("ref")
		if ref == "" {
			return ExamplesSource{}, fmt.Errorf("-examples=%s: a git source needs ?ref=TAG (the TensorRT-LLM release the image has, e.g. ?ref=v1.2.1)", redactURL(src))
		}
		if !gitRefRE.MatchString(ref) {
			return ExamplesSource{}, fmt.Errorf("-examples=%s: ref %q: want a tag or commit (letters, digits, . _ / -)", redactURL(src), ref)
		}
		sum := sha256.Sum256([]byte(src))
		return ExamplesSource{Getter: src, Key: "git-" + hex.EncodeToString(sum[:8]), Stamp: redactURL(src)}, nil
	}
	u, err := url.Parse(src)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ExamplesSource{}, fmt.Errorf("-examples=%s: %s", redactURL(src), want)
	}
	if !strings.HasSuffix(u.Path, ".tar.gz") && !strings.HasSuffix(u.Path, ".tgz") {
		return ExamplesSource{}, fmt.Errorf("-examples=%s: not a .tar.gz archive; %s", redactURL(src), want)
	}
	if u.Query().Has("checksum") || u.Query().Has("archive") {
		return ExamplesSource{}, fmt.Errorf("-examples=%s: give the checksum as -checksum=sha256:HEX, not in the URL", redactURL(src))
	}
	if checksum == "" {
		return ExamplesSource{}, fmt.Errorf("-examples=%s needs -checksum=sha256:HEX (sha256sum of the archive), so that what is fetched is what you meant", redactURL(src))
	}
	if !checksumRE.MatchString(checksum) {
		return ExamplesSource{}, fmt.Errorf("-checksum=%s: want sha256: and 64 lower-case hex digits", checksum)
	}
	sep := "?"
	if u.RawQuery != "" {
		sep = "&"
	}
	hexsum := strings.TrimPrefix(checksum, "sha256:")
	return ExamplesSource{Getter: src + sep + "checksum=" + checksum, Key: "sha256-" + hexsum[:16],
		Stamp: redactURL(src) + " " + checksum}, nil
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
	Source    string    // -examples
	Checksum  string    // -checksum
	CacheRoot string    // "" for the user cache dir
	Out       io.Writer // progress lines (may be nil)
}

// FetchExamples makes sure the cache holds the release's examples and
// Triton models and returns the cache entry. A complete entry is reused; an
// interrupted fetch leaves nothing that looks complete (the entry appears
// by one rename at the end).
func FetchExamples(ctx context.Context, o FetchOptions) (string, error) {
	src, err := ParseExamplesSource(o.Source, o.Checksum)
	if err != nil {
		return "", err
	}
	root, err := CacheRoot(o.CacheRoot)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, cacheEntryPrefix+src.Key)
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	if complete(dir) {
		fmt.Fprintf(out, "TensorRT-LLM examples of %s: cached in %s\n", src.Stamp, dir)
		return dir, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("creating the cache directory: %w", err)
	}
	removeStale(root, filepath.Base(dir))
	staging, err := os.MkdirTemp(root, "."+filepath.Base(dir)+".fetch-")
	if err != nil {
		return "", fmt.Errorf("creating the cache directory: %w", err)
	}
	defer os.RemoveAll(staging)

	fmt.Fprintf(out, "fetching TensorRT-LLM examples from %s\n", src.Stamp)
	fctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	got := filepath.Join(staging, "src")
	if _, err := getterClient().Get(fctx, &getter.Request{
		Src: src.Getter, Dst: got, Pwd: staging, GetMode: getter.ModeDir, Umask: 0o022,
	}); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		msg := strings.ReplaceAll(err.Error(), o.Source, redactURL(o.Source))
		if strings.Contains(strings.ToLower(msg), "checksum") {
			return "", fmt.Errorf("fetching TensorRT-LLM examples from %s: %s; the archive is not the one -checksum names: check the URL and the checksum (sha256sum of the archive)", src.Stamp, msg)
		}
		return "", fmt.Errorf("fetching TensorRT-LLM examples from %s: %s; check the network and the source, or leave -examples out to use the image's own examples", src.Stamp, msg)
	}
	rel, err := releaseRoot(got)
	if err != nil {
		return "", fmt.Errorf("TensorRT-LLM examples from %s: %w", src.Stamp, err)
	}
	entry := filepath.Join(staging, "entry")
	for _, sub := range examplesSubtrees {
		if err := copyTree(ctx, filepath.Join(rel, sub), filepath.Join(entry, sub)); err != nil {
			return "", fmt.Errorf("TensorRT-LLM examples from %s: %w", src.Stamp, err)
		}
	}
	if err := os.Rename(entry, dir); err != nil {
		return "", fmt.Errorf("storing the examples in %s: %w", dir, err)
	}
	fmt.Fprintf(out, "TensorRT-LLM examples of %s: stored in %s\n", src.Stamp, dir)
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
		if fi, err := os.Stat(filepath.Join(dir, releaseAllModels, src)); err != nil || !fi.Mode().IsRegular() {
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
