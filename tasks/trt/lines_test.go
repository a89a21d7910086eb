package trt

import (
	"bytes"
	"strings"
	"testing"
)

func TestLineWriter(t *testing.T) {
	var out bytes.Buffer
	lw := newLineWriter(&out, "  > ", "hf_tok123")
	// A progress bar redrawn with \r, a secret split across writes, a last
	// line without an end.
	for _, chunk := range []string{"Fetching 3 files:  0%\r", "Fetching 3 files: 100%\n", "bad token hf_t", "ok123 given\n\n", "last line"} {
		lw.Write([]byte(chunk))
	}
	lw.Flush()
	want := "  > Fetching 3 files:  0%\n  > Fetching 3 files: 100%\n  > bad token *** given\n  > last line\n"
	if out.String() != want {
		t.Errorf("output\n%q\nwant\n%q", out.String(), want)
	}
	if tail := lw.Tail(); !strings.HasSuffix(tail, "bad token *** given\n  last line") {
		t.Errorf("tail %q", tail)
	}
}

func TestLineWriterTailKeepsLast(t *testing.T) {
	lw := newLineWriter(&bytes.Buffer{}, "", "")
	for i := 0; i < 40; i++ {
		lw.Write([]byte(strings.Repeat("x", i+1) + "\n"))
	}
	lines := strings.Split(strings.TrimPrefix(lw.Tail(), "; last lines:\n  "), "\n  ")
	if len(lines) != tailLines || lines[len(lines)-1] != strings.Repeat("x", 40) {
		t.Errorf("tail has %d lines, last %q", len(lines), lines[len(lines)-1])
	}
	if newLineWriter(&bytes.Buffer{}, "", "").Tail() != "" {
		t.Error("tail of nothing")
	}
}

// Whatever a tool prints, and however it is split, the secret never comes
// out whole.
func FuzzLineWriterRedacts(f *testing.F) {
	f.Add("token hf_abcdef in a line\n", 5)
	f.Add("\r\r\nhf_abcdefhf_abcdef", 1)
	f.Add("", 0)
	f.Fuzz(func(t *testing.T, s string, split int) {
		const secret = "hf_abcdef"
		var out bytes.Buffer
		lw := newLineWriter(&out, "| ", secret)
		if split < 0 {
			split = -split
		}
		if split > len(s) {
			split = len(s)
		}
		lw.Write([]byte(s[:split]))
		lw.Write([]byte(s[split:]))
		lw.Flush()
		if strings.Contains(out.String(), secret) {
			t.Fatalf("secret printed: %q", out.String())
		}
		for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
			if l != "" && !strings.HasPrefix(l, "| ") {
				t.Fatalf("line without prefix %q", l)
			}
		}
	})
}
