package trt

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/modelrepo"
)

// Installing a build's output: the tokenizer copied from the Hugging Face
// cache, the repository assembled in a staging directory and swapped in.

// Tokenizer files a Hugging Face model may have; the Python models load
// the tokenizer with AutoTokenizer from these.
var tokenizerFiles = []string{
	"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
	"special_tokens_map.json", "added_tokens.json", "vocab.json", "vocab.txt", "merges.txt",
	"tokenizer.model", "spiece.model", "sentencepiece.bpe.model", "chat_template.jinja",
}

const tokenizerFileLimit = 64 << 20

// copyTokenizer copies the tokenizer files of the downloaded model, on the
// host in modelDir (in the Hugging Face cache hfDir), to dst.
func copyTokenizer(modelDir, hfDir, dst string) error {
	var got []string
	for _, name := range tokenizerFiles {
		p, err := inCache(filepath.Join(modelDir, name), hfDir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		data, err := readLimited(p, tokenizerFileLimit)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, name), data, 0o644); err != nil {
			return err
		}
		got = append(got, name)
	}
	if !slices.Contains(got, "tokenizer_config.json") || !slices.ContainsFunc(got, func(n string) bool {
		return n == "tokenizer.json" || n == "tokenizer.model" || n == "vocab.json" || n == "vocab.txt" || n == "spiece.model"
	}) {
		return fmt.Errorf("the model in %s has no tokenizer files (found %v); the preprocessing model needs tokenizer_config.json and a vocabulary", modelDir, got)
	}
	return nil
}

// inCache resolves p to a regular file inside the Hugging Face cache hfDir.
// A symlink (older huggingface_hub links --local-dir files to its blobs)
// may point into the cache by its path in the builder (HFMount), or
// relatively; one that leaves the cache is refused.
func inCache(p, hfDir string) (string, error) {
	for range 8 {
		fi, err := os.Lstat(p)
		if err != nil {
			return "", err
		}
		if fi.Mode().IsRegular() {
			return p, nil
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return "", fmt.Errorf("%s is not a regular file", p)
		}
		target, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		switch {
		case target == HFMount || strings.HasPrefix(target, HFMount+"/"):
			target = filepath.Join(hfDir, filepath.FromSlash(strings.TrimPrefix(target, HFMount)))
		case filepath.IsAbs(target):
			return "", fmt.Errorf("%s links to %s, outside the Hugging Face cache", p, target)
		default:
			target = filepath.Join(filepath.Dir(p), target)
		}
		if rel, err := filepath.Rel(hfDir, target); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return "", fmt.Errorf("%s links to %s, outside the Hugging Face cache %s", p, target, hfDir)
		}
		p = target
	}
	return "", fmt.Errorf("%s: too many levels of symbolic links", p)
}

func readLimited(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(data)) > limit {
		err = fmt.Errorf("%s is larger than %d bytes", p, limit)
	}
	return data, err
}

// assemble completes the staged repository: configs, Python models, the
// engine (moved from the build's output) and the stamp.
func assemble(stage string, models map[string][]byte, outDir string, s Settings) error {
	files, err := modelrepo.TRTFiles(modelrepo.DefaultTRTSettings(s.MaxBatchSize, s.KVCacheFraction))
	if err != nil {
		return err
	}
	for rel, data := range files {
		if err := writeFile(filepath.Join(stage, filepath.FromSlash(rel)), data); err != nil {
			return err
		}
	}
	for dst, data := range models {
		if err := writeFile(filepath.Join(stage, filepath.FromSlash(dst)), data); err != nil {
			return err
		}
	}
	engineOut := filepath.Join(outDir, "engine")
	var cfg struct {
		BuildConfig struct {
			MaxBatchSize int `json:"max_batch_size"`
		} `json:"build_config"`
	}
	b, err := os.ReadFile(filepath.Join(engineOut, "config.json"))
	if err == nil {
		err = json.Unmarshal(b, &cfg)
	}
	if err != nil {
		return fmt.Errorf("trtllm-build left no readable engine config.json in its output: %v", err)
	}
	if cfg.BuildConfig.MaxBatchSize != 0 && cfg.BuildConfig.MaxBatchSize != s.MaxBatchSize {
		return fmt.Errorf("the engine was built with max_batch_size %d, not %d", cfg.BuildConfig.MaxBatchSize, s.MaxBatchSize)
	}
	for rank := 0; rank < s.TPSize; rank++ {
		if _, err := os.Stat(filepath.Join(engineOut, fmt.Sprintf("rank%d.engine", rank))); err != nil {
			return fmt.Errorf("trtllm-build left no rank%d.engine (tensor parallel size %d)", rank, s.TPSize)
		}
	}
	engineDir := filepath.Join(stage, filepath.FromSlash(modelrepo.TRTEngineRel))
	if err := os.MkdirAll(engineDir, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(engineOut)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.Rename(filepath.Join(engineOut, e.Name()), filepath.Join(engineDir, e.Name())); err != nil {
			return fmt.Errorf("moving the engine into the repository: %w", err)
		}
	}
	stamp, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(stage, StampFile), append(stamp, '\n'))
}

func writeFile(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}

// swap replaces repo with stage: the old repository is renamed aside, the
// new one renamed into place, and the old one removed. If the second rename
// fails the old one is put back.
func swap(stage, repo string) error {
	old := ""
	if _, err := os.Lstat(repo); err == nil {
		old = filepath.Join(filepath.Dir(repo), fmt.Sprintf(".%s.old-%d", filepath.Base(repo), time.Now().UnixNano()))
		if err := os.Rename(repo, old); err != nil {
			return fmt.Errorf("moving the previous repository aside: %w", err)
		}
	}
	if err := os.Rename(stage, repo); err != nil {
		if old != "" {
			if rerr := os.Rename(old, repo); rerr != nil {
				return fmt.Errorf("installing the new repository: %v; and restoring the previous one from %s: %v", err, old, rerr)
			}
		}
		return fmt.Errorf("installing the new repository: %w", err)
	}
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return fmt.Errorf("removing the previous repository %s: %w", old, err)
		}
	}
	return nil
}

// removeLeftovers removes build and swap directories that an interrupted
// run could not remove (a killed process runs no defers).
func removeLeftovers(parent string) {
	entries, _ := os.ReadDir(parent)
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, ".build-") || strings.HasPrefix(n, ".model_repository.old-") {
			os.RemoveAll(filepath.Join(parent, n))
		}
	}
}
