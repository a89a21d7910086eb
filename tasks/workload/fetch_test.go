package workload

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFetch(t *testing.T) {
	content := `{"prompt": "from the web", "max_tokens": 9}` + "\n" + `{"text": "second"}` + "\n"
	sum := sha256.Sum256([]byte(content))
	good := "sha256:" + hex.EncodeToString(sum[:])
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		if r.URL.Path != "/data.jsonl" {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Get("checksum") != "" {
			t.Errorf("checksum leaked to the server: %s", r.URL)
		}
		w.Write([]byte(content))
	}))
	defer srv.Close()

	reqs, f, err := openAll(t, Source{Path: srv.URL + "/data.jsonl?checksum=" + good})
	if err != nil || f != JSONL || len(reqs) != 2 || reqs[0].Prompt != "from the web" || reqs[0].MaxTokens != 9 {
		t.Fatalf("URL with checksum: %v %s %+v", err, f, reqs)
	}
	if reqs, _, err = openAll(t, Source{Path: srv.URL + "/data.jsonl", Checksum: good}); err != nil || len(reqs) != 2 {
		t.Fatalf("checksum option: %v", err)
	}
	before := hits
	_, _, err = openAll(t, Source{Path: srv.URL + "/data.jsonl"})
	if err == nil || !strings.Contains(err.Error(), "no checksum") || hits != before {
		t.Fatalf("no checksum: %v (server hit %d times)", err, hits-before)
	}
	wrong := "sha256:" + strings.Repeat("0", 64)
	if _, _, err = openAll(t, Source{Path: srv.URL + "/data.jsonl", Checksum: wrong}); err == nil {
		t.Fatal("wrong checksum accepted")
	}
	if _, _, err = openAll(t, Source{Path: srv.URL + "/data.jsonl?checksum=" + good, Checksum: wrong}); err == nil ||
		!strings.Contains(err.Error(), "give one") {
		t.Errorf("two checksums: %v", err)
	}
	for _, c := range []string{"md5:" + strings.Repeat("0", 32), "file:" + srv.URL + "/sums", "sha256:xyz"} {
		_, _, err = openAll(t, Source{Path: srv.URL + "/data.jsonl", Checksum: c})
		if err == nil || !strings.Contains(err.Error(), "expected sha256") {
			t.Errorf("checksum %q: %v", c, err)
		}
	}
	if _, _, err = openAll(t, Source{Path: "git::https://example.com/x.git"}); err == nil {
		t.Error("git source accepted")
	}
	if _, _, err = openAll(t, Source{Path: "s3://bucket/x.jsonl", Checksum: good}); err == nil ||
		!strings.Contains(err.Error(), "not supported") {
		t.Errorf("s3: %v", err)
	}
	_, _, err = openAll(t, Source{Path: "https://user:secret@127.0.0.1:1/x.jsonl", Checksum: good})
	if err == nil || strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "REDACTED") {
		t.Errorf("password not redacted: %v", err)
	}

	// A local path (no checksum needed) and a file:// URL.
	p := writeFile(t, "local.jsonl", content)
	for _, src := range []string{p, "file://" + p} {
		if reqs, _, err = openAll(t, Source{Path: src}); err != nil || len(reqs) != 2 {
			t.Errorf("%s: %v", src, err)
		}
	}
	os.WriteFile(p, []byte("{\"prompt\": \"ok\"}\nnot json\n"), 0o644)
	if _, _, err = openAll(t, Source{Path: p, Format: JSONL}); err == nil || !strings.Contains(err.Error(), p+":2:") {
		t.Errorf("bad line: %v", err)
	}
	if _, _, err = openAll(t, Source{Path: filepath.Join(t.TempDir(), "none.jsonl")}); err == nil ||
		!strings.Contains(err.Error(), "open dataset") {
		t.Errorf("missing file: %v", err)
	}
}

func TestFetchRemovesDownload(t *testing.T) {
	content := []byte(`{"prompt": "x"}` + "\n")
	sum := sha256.Sum256(content)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(content) }))
	defer srv.Close()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	rc, name, err := Fetch(t.Context(), srv.URL+"/d.jsonl", "sha256:"+hex.EncodeToString(sum[:]))
	if err != nil || name != srv.URL+"/d.jsonl" {
		t.Fatal(name, err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 1 {
		t.Fatalf("download directory: %v", left)
	}
	rc.Close()
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("left behind after Close: %v", left)
	}
}

func TestOpenFiles(t *testing.T) {
	p := writeFile(t, "trace.jsonl", `{"timestamp": 0, "input_length": 3, "output_length": 2}`+"\n")
	reqs, f, err := openAll(t, Source{Path: p})
	if err != nil || f != Mooncake || len(reqs) != 1 || !reqs[0].Timed || reqs[0].ID != p+":1" {
		t.Errorf("Open(%s): %s %v %+v", p, f, err, reqs)
	}
	p = writeFile(t, "sg.json", `[{"id": "a", "conversations": [{"from": "human", "value": "hi"}]}]`)
	r, err := OpenSessions(t.Context(), Source{Path: p})
	if err != nil {
		t.Fatal(err)
	}
	s, err := r.Next()
	if err != nil || s.ID != "a" || len(s.Turns) != 1 {
		t.Errorf("OpenSessions: %+v %v", s, err)
	}
	r.Close()
	if _, err := OpenSessions(t.Context(), Source{Path: filepath.Join(t.TempDir(), "none.json")}); err == nil ||
		!strings.Contains(err.Error(), "open dataset") {
		t.Errorf("OpenSessions of a missing file: %v", err)
	}
	if _, _, err := Open(t.Context(), Source{Path: writeFile(t, "x.txt", "hello\n")}); err == nil ||
		!strings.Contains(err.Error(), "cannot tell the format") {
		t.Errorf("Open of an unknown format: %v", err)
	}
}
