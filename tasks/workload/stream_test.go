package workload

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
)

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestLargeFilesStream reads large files of each kind of reader (lines,
// CSV, a JSON array): the first request comes after a small part of the
// file is read, and the live heap stays far below the file's size to the
// end.
func TestLargeFilesStream(t *testing.T) {
	if testing.Short() {
		t.Skip("writes large files")
	}
	const n = 200_000
	for _, c := range []struct {
		f                Format
		head, line, foot string
		sep              string
	}{
		{Mooncake, "", `{"timestamp": %d, "input_length": 8, "output_length": 4, "hash_ids": [%[1]d]}`, "", "\n"},
		{BurstGPT, "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n", "%d,ChatGPT,8,4,12,Conversation log", "", "\n"},
		{ShareGPT, "[\n", `{"id": "c%d", "conversations": [{"from": "human", "value": "one two three four five"}, {"from": "gpt", "value": "six seven eight nine"}]}`, "\n]\n", ",\n"},
	} {
		t.Run(string(c.f), func(t *testing.T) {
			p := largeFile(t, c.head, c.line, c.sep, c.foot, n)
			st, _ := os.Stat(p)
			file, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer file.Close()
			cr := &countingReader{r: file}
			r, f, err := NewReader(cr, p, Source{})
			if err != nil || f != c.f {
				t.Fatal(f, err)
			}
			if _, err := r.Next(); err != nil {
				t.Fatal(err)
			}
			if cr.n > 2*readBuffer {
				t.Errorf("read %d of %d bytes for the first request", cr.n, st.Size())
			}
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			base, peak := ms.HeapAlloc, ms.HeapAlloc
			count := 1
			for ; ; count++ {
				_, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if count%20_000 == 0 { // the live heap, not garbage yet to collect
					runtime.GC()
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapAlloc)
				}
			}
			if count != n {
				t.Errorf("%d requests, want %d", count, n)
			}
			if grew := int64(peak) - int64(base); grew > st.Size()/8 {
				t.Errorf("the heap grew by %d bytes reading a file of %d", grew, st.Size())
			}
		})
	}
}

// largeFile writes head, n lines (line formatted with the line's index)
// separated by sep, and foot.
func largeFile(t *testing.T, head, line, sep, foot string, n int) string {
	var b strings.Builder
	b.WriteString(head)
	for i := range n {
		if i > 0 {
			b.WriteString(sep)
		}
		fmt.Fprintf(&b, line, i)
	}
	b.WriteString(foot)
	return writeFile(t, "large", b.String())
}
