package workload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	getter "github.com/hashicorp/go-getter/v2"
)

// MaxBytes bounds a workload file or download (1 GiB). Files stream, so
// the bound is on the disk a download takes, not on memory.
const MaxBytes = 1 << 30

var checksumRE = regexp.MustCompile(`^(sha256:[0-9a-fA-F]{64}|sha512:[0-9a-fA-F]{128})$`)

// Fetch opens a workload file for reading: a local path, a file:// URL or
// an http(s) URL. An http(s) URL needs a checksum, in the URL
// (?checksum=sha256:HEX) or as checksum (sha256:HEX or sha512:HEX; the
// two must agree when both are given); go-getter downloads the file into
// a temporary directory, which Close removes. name is what errors call
// the file: the path, or the URL with any password redacted. Reading past
// MaxBytes is an error.
func Fetch(ctx context.Context, path, checksum string) (rc io.ReadCloser, name string, err error) {
	u, err := url.Parse(path)
	if err != nil || u.Scheme == "" || len(u.Scheme) == 1 { // no scheme (or a Windows drive letter): a local path
		f, err := os.Open(path)
		if err != nil {
			return nil, "", fmt.Errorf("prompts: open dataset: %w (expected a file path or an http(s)/file URL)", err)
		}
		return limitFile(f, path, nil), path, nil
	}
	name = RedactURL(path)
	switch u.Scheme {
	case "http", "https", "file":
	default:
		return nil, "", fmt.Errorf("prompts: dataset URL scheme %q is not supported; use http, https or file", u.Scheme)
	}
	q := u.Query()
	inURL := q.Get("checksum")
	switch {
	case inURL != "" && checksum != "" && !strings.EqualFold(inURL, checksum):
		return nil, "", fmt.Errorf("prompts: dataset URL has checksum %q but the checksum option is %q; give one", inURL, checksum)
	case inURL == "" && checksum != "":
		q.Set("checksum", checksum)
		u.RawQuery = q.Encode()
		inURL = checksum
	}
	if inURL != "" && !checksumRE.MatchString(inURL) {
		return nil, "", fmt.Errorf("prompts: dataset checksum %q: expected sha256:<64 hex digits> or sha512:<128 hex digits>", inURL)
	}
	if inURL == "" && u.Scheme != "file" {
		return nil, "", fmt.Errorf("prompts: dataset URL %s has no checksum; add ?checksum=sha256:<hex> to the URL or set the checksum option (sha256sum FILE prints it)", name)
	}
	dir, err := os.MkdirTemp("", "loadgen-dataset-")
	if err != nil {
		return nil, "", err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	dst := filepath.Join(dir, "dataset")
	if err := download(ctx, u.String(), dst); err != nil {
		return nil, "", fmt.Errorf("prompts: fetch dataset %s: %w", name, err)
	}
	f, err := os.Open(dst)
	if err != nil {
		return nil, "", err
	}
	return limitFile(f, name, func() { os.RemoveAll(dir) }), name, nil
}

// download gets src into the file dst with go-getter: http(s) (at most
// MaxBytes, checksum verified) or file, no archive extraction, no
// symbolic links, no X-Terraform-Get redirection, within 10 minutes.
func download(ctx context.Context, src, dst string) error {
	client := &getter.Client{
		Getters: []getter.Getter{
			&getter.HttpGetter{
				Client:                &http.Client{Timeout: 10 * time.Minute},
				XTerraformGetDisabled: true,
				HeadFirstTimeout:      10 * time.Second,
				ReadTimeout:           5 * time.Minute,
				MaxBytes:              MaxBytes,
			},
			new(getter.FileGetter),
		},
		Decompressors:   map[string]getter.Decompressor{}, // no archive extraction
		DisableSymlinks: true,
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	_, err := client.Get(ctx, &getter.Request{
		Src:             src,
		Dst:             dst,
		GetMode:         getter.ModeFile,
		Copy:            true,
		DisableSymlinks: true,
	})
	return err
}

// RedactURL returns s with the password of a URL's user info replaced,
// for errors and results files.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	u.User = url.User("REDACTED")
	return u.String()
}

// limitedFile reads a file up to MaxBytes and runs cleanup on Close.
type limitedFile struct {
	f       *os.File
	name    string
	left    int64
	cleanup func()
}

func limitFile(f *os.File, name string, cleanup func()) *limitedFile {
	return &limitedFile{f: f, name: name, left: MaxBytes, cleanup: cleanup}
}

var errTooLarge = errors.New("larger than 1 GiB, the limit")

func (l *limitedFile) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// One byte more tells a file of exactly MaxBytes from a larger one.
		if n, _ := l.f.Read(make([]byte, 1)); n > 0 {
			return 0, fmt.Errorf("%s: %w", l.name, errTooLarge)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.f.Read(p)
	l.left -= int64(n)
	return n, err
}

func (l *limitedFile) Close() error {
	err := l.f.Close()
	if l.cleanup != nil {
		l.cleanup()
	}
	return err
}
