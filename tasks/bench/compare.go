package bench

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// Named names a sweep in a comparison.
type Named struct {
	Name   string
	Path   string
	Result *Result
}

// LoadRuns reads the results files of a comma-separated list and names
// each run (its directory for .../bench.json, else the file name; the
// backend when names collide).
func LoadRuns(list string) ([]Named, error) {
	var paths []string
	for _, p := range strings.Split(list, ",") {
		if p = strings.TrimSpace(p); p != "" {
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no results files: give a comma-separated list, e.g. mage bench:compare results/a/bench.json,results/b/bench.json")
	}
	var runs []Named
	for _, p := range paths {
		r, err := ReadResult(p)
		if err != nil {
			return nil, err
		}
		runs = append(runs, Named{Name: runName(p), Path: p, Result: r})
	}
	NameRuns(runs)
	if err := CheckComparable(runs); err != nil {
		return nil, err
	}
	return runs, nil
}

func runName(p string) string {
	base := filepath.Base(p)
	if base == "bench.json" {
		if d := filepath.Base(filepath.Dir(p)); d != "." && d != string(filepath.Separator) {
			return d
		}
	}
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// NameRuns makes run names unique: "name (backend)", then "#N".
func NameRuns(runs []Named) {
	count := map[string]int{}
	for _, r := range runs {
		count[r.Name]++
	}
	for i := range runs {
		if runs[i].Name == "" {
			runs[i].Name = runs[i].Result.Backend
		}
		if count[runs[i].Name] > 1 {
			runs[i].Name = fmt.Sprintf("%s (%s)", runs[i].Name, runs[i].Result.Backend)
		}
	}
	seen := map[string]int{}
	for i := range runs {
		seen[runs[i].Name]++
		if n := seen[runs[i].Name]; n > 1 {
			runs[i].Name = fmt.Sprintf("%s #%d", runs[i].Name, n)
		}
	}
}

// CheckComparable refuses runs that sweep different kinds of load (a
// concurrency axis and a rate axis cannot share a chart).
func CheckComparable(runs []Named) error {
	for _, r := range runs[1:] {
		if r.Result.Settings.Mode != runs[0].Result.Settings.Mode {
			return fmt.Errorf("%s sweeps %s but %s sweeps %s: compare runs of one mode (-mode)",
				runs[0].Path, runs[0].Result.Settings.Mode, r.Path, r.Result.Settings.Mode)
		}
	}
	return nil
}

// unionLoads is every load of any run, sorted.
func unionLoads(runs []*Result) []float64 {
	set := map[float64]bool{}
	for _, r := range runs {
		for _, s := range r.Steps {
			set[s.Load] = true
		}
	}
	out := make([]float64, 0, len(set))
	for l := range set {
		out = append(out, l)
	}
	sort.Float64s(out)
	return out
}

// stepAt is a run's step at a load, or nil.
func stepAt(r *Result, l float64) *Step {
	for i := range r.Steps {
		if r.Steps[i].Load == l {
			return &r.Steps[i]
		}
	}
	return nil
}

func results(runs []Named) ([]*Result, []string) {
	rs := make([]*Result, len(runs))
	ns := make([]string, len(runs))
	for i, r := range runs {
		rs[i], ns[i] = r.Result, r.Name
	}
	return rs, ns
}
