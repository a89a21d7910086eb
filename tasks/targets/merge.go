package targets

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
)

// LoadMerge merges the results files named in files (comma-separated) into
// one result (load.Merge), prints its summary and SLO verdicts, and writes
// it to out (default results/load-merged-TIME.json). It ends as load:*
// does: an error naming the broken SLOs, or an *InvalidRunError (exit
// status ExitInvalid) when a merged run measured its generator.
func LoadMerge(files string, out *string) error {
	paths := splitList(files)
	if len(paths) == 0 {
		return errors.New("load:merge: name the results files to merge, comma-separated: mage load:merge results/a.json,results/b.json")
	}
	seen := map[string]bool{}
	var in []load.MergeInput
	for _, p := range paths {
		if seen[p] {
			return fmt.Errorf("load:merge: %s is named twice; its requests would count twice", p)
		}
		seen[p] = true
		r, err := load.ReadResult(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("load:merge: %s: no such results file (load:* and cmd/loadgen write them with -out)", p)
			}
			return fmt.Errorf("load:merge: %w", err)
		}
		in = append(in, load.MergeInput{Name: p, Result: r})
	}
	res, err := load.Merge(in, nil)
	if err != nil {
		return err
	}
	path := str(out)
	if path == "" {
		path = filepath.Join("results", fmt.Sprintf("load-merged-%s.json", time.Now().Format("20060102-150405")))
	}
	if err := load.CheckWritable(path); err != nil {
		return err
	}
	res.PrintSummary(os.Stdout)
	if err := load.WriteResult(path, res); err != nil {
		return err
	}
	fmt.Printf("results written to %s\n", path)
	if ierr := res.InvalidError(); ierr != nil {
		return &InvalidRunError{Err: ierr}
	}
	return res.SLOError()
}

// splitList splits a comma-separated list, dropping empty items and spaces.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
