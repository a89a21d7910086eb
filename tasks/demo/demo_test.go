package demo

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A results file that cannot be written is refused before the simulator
// starts or any request is sent.
func TestOutCheckedFirst(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ out, msg string }{
		{tmp, "-out=" + tmp + " is a directory; -out names the results file"},
		{filepath.Join(file, "r.json"), "-out=" + filepath.Join(file, "r.json") + ": cannot create " + file},
	} {
		var w bytes.Buffer
		err := Run(context.Background(), Options{Out: c.out, W: &w})
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("-out=%s: err %v, want %q", c.out, err, c.msg)
		}
		if w.Len() > 0 {
			t.Errorf("-out=%s: the demo started anyway:\n%s", c.out, w.String())
		}
	}
	ok := filepath.Join(tmp, "new", "r.json")
	if err := CheckOut(ok); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(filepath.Dir(ok)); len(left) != 0 {
		t.Errorf("CheckOut left %v", left)
	}
}
