package trt

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/needs"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/trt/trttest"
)

func needGit(t *testing.T) {
	t.Helper()
	needs.Tool(t, "git")
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// The fetch checks out the tag, not the branch head, and reuses the cache.
func TestFetchGitByTag(t *testing.T) {
	needGit(t)
	repo := t.TempDir()
	src, err := trttest.GitRelease(repo, "v1.2.1", nil)
	if err != nil {
		t.Fatal(err)
	}
	// A commit after the tag must not be what the fetch gets.
	pre := filepath.Join(repo, "triton_backend/all_models/inflight_batcher_llm/preprocessing/1/model.py")
	os.WriteFile(pre, []byte("# after the release\n"), 0o644)
	git(t, repo, "commit", "-q", "-am", "later")

	cache := t.TempDir()
	var out bytes.Buffer
	dir, err := FetchExamples(context.Background(), FetchOptions{Source: src, CacheRoot: cache, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(dir) != cache || !strings.HasPrefix(filepath.Base(dir), "examples-git-") {
		t.Errorf("cache entry %s", dir)
	}
	got, err := os.ReadFile(filepath.Join(dir, "triton_backend/all_models/inflight_batcher_llm/preprocessing/1/model.py"))
	if err != nil || string(got) != "# preprocessing model.py v1.2.1\n" {
		t.Errorf("model.py = %q, %v; want the tagged content", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "examples/models/core/qwen/convert_checkpoint.py")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "README.md")); !os.IsNotExist(err) {
		t.Error("files outside the needed subtrees were cached")
	}
	if _, err := os.Stat(filepath.Join(dir, ".git")); !os.IsNotExist(err) {
		t.Error(".git was cached")
	}

	// Cached: a second fetch does not need the source any more.
	os.RemoveAll(repo)
	out.Reset()
	if _, err := FetchExamples(context.Background(), FetchOptions{Source: src, CacheRoot: cache, Out: &out}); err != nil {
		t.Fatalf("cached fetch: %v", err)
	}
	if !strings.Contains(out.String(), "cached in") {
		t.Errorf("output %q", out.String())
	}
	entries, _ := os.ReadDir(cache)
	if len(entries) != 1 {
		t.Errorf("cache holds %d entries (staging left behind?)", len(entries))
	}
}

func TestFetchRefusesSymlinkEscape(t *testing.T) {
	needGit(t)
	for name, target := range map[string]string{
		"relative": "../../../../../../etc/passwd",
		"absolute": "/etc/passwd",
		"parent":   "../../README.md", // inside the repository but outside the copied subtree
	} {
		t.Run(name, func(t *testing.T) {
			repo := t.TempDir()
			if err := os.MkdirAll(filepath.Join(repo, "examples", "models"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, filepath.Join(repo, "examples", "models", "evil.py")); err != nil {
				t.Fatal(err)
			}
			src, err := trttest.GitRelease(repo, "v1.2.1", nil)
			if err != nil {
				t.Fatal(err)
			}
			cache := t.TempDir()
			_, err = FetchExamples(context.Background(), FetchOptions{Source: src, CacheRoot: cache})
			if !errors.Is(err, ErrSymlinkEscape) {
				t.Fatalf("fetch with a symlink to %s: %v", target, err)
			}
			if !strings.Contains(err.Error(), "evil.py") {
				t.Errorf("error does not name the link: %v", err)
			}
			entries, _ := os.ReadDir(cache)
			if len(entries) != 0 {
				t.Errorf("a refused fetch left %v in the cache", entries)
			}
		})
	}
}

// A symlink that stays inside the subtree is copied as its file.
func TestFetchInternalSymlink(t *testing.T) {
	needGit(t)
	repo := t.TempDir()
	os.MkdirAll(filepath.Join(repo, "examples", "utils"), 0o755)
	os.WriteFile(filepath.Join(repo, "examples", "utils", "common.py"), []byte("X = 1\n"), 0o644)
	os.MkdirAll(filepath.Join(repo, "examples", "models", "core", "qwen"), 0o755)
	if err := os.Symlink("../../../utils/common.py", filepath.Join(repo, "examples", "models", "core", "qwen", "common.py")); err != nil {
		t.Fatal(err)
	}
	src, err := trttest.GitRelease(repo, "v1.2.1", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := FetchExamples(context.Background(), FetchOptions{Source: src, CacheRoot: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "examples/models/core/qwen/common.py")
	fi, err := os.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("internal link not copied as a file: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(p); string(b) != "X = 1\n" {
		t.Errorf("content %q", b)
	}
}

func TestFetchErrors(t *testing.T) {
	needGit(t)
	cache := t.TempDir()
	if _, err := FetchExamples(context.Background(), FetchOptions{Source: "git::file:///x?ref=--upload-pack=touch%20x", CacheRoot: cache}); err == nil || !strings.Contains(err.Error(), "want a tag or commit") {
		t.Errorf("bad ref: %v", err)
	}
	// A tag that does not exist in the source.
	repo := t.TempDir()
	src, err := trttest.GitRelease(repo, "v1.2.1", nil)
	if err != nil {
		t.Fatal(err)
	}
	src = strings.Replace(src, "ref=v1.2.1", "ref=v9.9.9", 1)
	_, err = FetchExamples(context.Background(), FetchOptions{Source: src, CacheRoot: cache})
	if err == nil || !strings.Contains(err.Error(), "leave -examples out") {
		t.Errorf("missing tag: %v", err)
	}
	// Not a TensorRT-LLM tree.
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "x"), []byte("x"), 0o644)
	git(t, other, "init", "-q")
	git(t, other, "add", "-A")
	git(t, other, "commit", "-q", "-m", "x")
	git(t, other, "tag", "v1.0.0")
	_, err = FetchExamples(context.Background(), FetchOptions{Source: "git::file://" + other + "?ref=v1.0.0", CacheRoot: cache})
	if err == nil || !strings.Contains(err.Error(), "not a TensorRT-LLM source tree") {
		t.Errorf("other repository: %v", err)
	}
	// Schemes the fetch does not allow, and an archive without a checksum.
	for _, src := range []string{"file://" + repo, "s3::https://example.com/x", "hg::https://example.com/x", "https://example.com/v1.2.1.tar.gz"} {
		if _, err := FetchExamples(context.Background(), FetchOptions{Source: src, CacheRoot: t.TempDir()}); err == nil {
			t.Errorf("source %s accepted", src)
		}
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 0 {
		t.Errorf("failed fetches left %v", entries)
	}
}

// A release archive over HTTP(S): a tar.gz with one top-level directory, as
// GitHub serves them, fetched only when its sha256 is the one given.
func TestFetchArchive(t *testing.T) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range map[string]string{
		"TensorRT-LLM-1.2.1/examples/models/core/qwen/convert_checkpoint.py":                          "# qwen\n",
		"TensorRT-LLM-1.2.1/triton_backend/all_models/inflight_batcher_llm/preprocessing/1/model.py":  "# pre\n",
		"TensorRT-LLM-1.2.1/triton_backend/all_models/inflight_batcher_llm/postprocessing/1/model.py": "# post\n",
		"TensorRT-LLM-1.2.1/tests/huge.bin":                                                           "not needed",
	} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	var requests int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests++
		if r.URL.Path != "/archive/refs/tags/v1.2.1.tar.gz" || r.URL.RawQuery != "" {
			http.NotFound(w, r)
			return
		}
		w.Write(buf.Bytes())
	}))
	defer srv.Close()
	url := srv.URL + "/archive/refs/tags/v1.2.1.tar.gz"
	good := sha256.Sum256(buf.Bytes())
	sum := "sha256:" + hex.EncodeToString(good[:])

	// Another checksum: refused, nothing cached.
	cache := t.TempDir()
	_, err := FetchExamples(context.Background(), FetchOptions{Source: url, Checksum: "sha256:" + strings.Repeat("0", 64), CacheRoot: cache})
	if err == nil || !strings.Contains(err.Error(), "not the one -checksum names") {
		t.Fatalf("wrong checksum: %v", err)
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 0 {
		t.Errorf("a refused archive left %v", entries)
	}

	dir, err := FetchExamples(context.Background(), FetchOptions{Source: url, Checksum: sum, CacheRoot: cache})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(dir) != "examples-sha256-"+hex.EncodeToString(good[:8]) {
		t.Errorf("cache entry %s", dir)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "triton_backend/all_models/inflight_batcher_llm/postprocessing/1/model.py")); string(b) != "# post\n" {
		t.Errorf("post model.py %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "tests")); !os.IsNotExist(err) {
		t.Error("tests/ was cached")
	}
	if requests != 2 {
		t.Errorf("%d requests, want 2 (no HEAD first)", requests)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"git::https://user:tok@github.com/x.git?ref=v1": "git::https://***@github.com/x.git?ref=v1",
		"https://github.com/a/b.tar.gz":                 "https://github.com/a/b.tar.gz",
		"git::file:///tmp/x?ref=v1":                     "git::file:///tmp/x?ref=v1",
		"https://example.com/a?x=u@h":                   "https://example.com/a?x=u@h",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// Whatever -examples and -checksum say, an accepted source names a cache
// entry that stays in the cache directory, and its stamp has no password.
func FuzzParseExamplesSource(f *testing.F) {
	sum := "sha256:" + strings.Repeat("0f", 32)
	f.Add("https://github.com/NVIDIA/TensorRT-LLM/archive/refs/tags/v1.2.1.tar.gz", sum)
	f.Add("git::https://u:pw@github.com/NVIDIA/TensorRT-LLM?ref=v1.2.1", "")
	f.Add("https://u:pw@h/x.tgz?a=1", sum)
	f.Add("git::file:///x?ref=../..", "")
	keyRE := regexp.MustCompile(`^(git|sha256)-[0-9a-f]{16}$`)
	f.Fuzz(func(t *testing.T, src, checksum string) {
		s, err := ParseExamplesSource(src, checksum)
		if err != nil {
			return
		}
		if !keyRE.MatchString(s.Key) {
			t.Fatalf("key %q", s.Key)
		}
		if !strings.HasPrefix(s.Getter, src) {
			t.Fatalf("getter %q does not start with %q", s.Getter, src)
		}
		if strings.HasPrefix(src, "git::") == strings.Contains(s.Getter, "checksum=") {
			t.Fatalf("checksum and git: %q", s.Getter)
		}
		if u, err := url.Parse(strings.TrimPrefix(src, "git::")); err == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok && pw != "" && strings.Contains(s.Stamp, ":"+pw+"@") {
				t.Fatalf("stamp %q shows the password", s.Stamp)
			}
		}
	})
}
