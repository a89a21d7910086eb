package env

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/compose-spec/compose-go/v2/dotenv"
)

// Every malformed line names file, line and key (or says there is none) and
// the expected form, and prints no text of the line beyond the key.
func TestSyntaxErrorsNeverEchoTheLine(t *testing.T) {
	const tok = "hf_Zq9SecretTok3n"
	for _, tc := range []struct{ name, in, want string }{
		{"space instead of =", "HF_TOKEN " + tok, "deploy/.env:2: key HF_TOKEN: no '=' after the key; what follows it is not shown; expected HF_TOKEN=value"},
		{"yaml colon", "HF_TOKEN: " + tok, "deploy/.env:2: key HF_TOKEN: a ':' follows the key (YAML style), not '='; expected HF_TOKEN=value"},
		{"export and space", "export HF_TOKEN " + tok, "deploy/.env:2: key HF_TOKEN: no '=' after the key"},
		{"bare key", "HF_TOKEN", "deploy/.env:2: key HF_TOKEN: no '=' after the key; expected HF_TOKEN=value (HF_TOKEN= for an empty value)"},
		{"bare pasted token", tok, "deploy/.env:2: a line without a key: the line does not start with KEY= (its text is not shown, as it may hold a secret); expected KEY=value"},
		{"pasted token with a space", tok + " x", "deploy/.env:2: a line without a key:"},
		{"text after closing quote", `HF_TOKEN="` + tok + `" junk` + tok, "deploy/.env:2: key HF_TOKEN: text after the closing quote (not shown); expected HF_TOKEN=\"value\" with nothing after it but a # comment"},
		{"password split by a quote", "GRAFANA_ADMIN_PASSWORD='pa'" + tok, "deploy/.env:2: key GRAFANA_ADMIN_PASSWORD: text after the closing quote (not shown)"},
		{"password with a space before =", "GRAFANA_ADMIN_PASSWORD " + tok + "=1", "deploy/.env:2: key GRAFANA_ADMIN_PASSWORD: text between the key and '=' (not shown); expected GRAFANA_ADMIN_PASSWORD=value"},
		{"unclosed quote", `HF_TOKEN="` + tok, "deploy/.env:2: key HF_TOKEN: the value opens a \" quote that is never closed on this line; expected HF_TOKEN=\"value\""},
		{"dollar", "HF_TOKEN=" + tok + "$x", "deploy/.env:2: key HF_TOKEN: the value contains $, which Docker Compose expands"},
		{"escape in double quotes", `HF_TOKEN="` + tok + `\n"`, `deploy/.env:2: key HF_TOKEN: an escape other than \" or \\ inside double quotes`},
		{"backslash in single quotes", `HF_TOKEN='` + tok + `\'`, "deploy/.env:2: key HF_TOKEN: a backslash inside single quotes"},
		{"token as a key, value unclosed", tok + `="x`, "deploy/.env:2: a key not shown here (only upper-case key names are printed, so that a pasted secret never is): the value opens a \" quote"},
		{"lower-case key", "hf_token" + tok + "=\x01", "deploy/.env:2: a key not shown here"},
		{"control character", "HF_TOKEN=" + tok + "\x1b[0m", "deploy/.env:2: key HF_TOKEN: the value contains an escape character (ESC); expected HF_TOKEN=value with printable text"},
		{"invalid UTF-8", "HF_TOKEN=" + tok + "\xff", "deploy/.env:2: key HF_TOKEN: the line is not valid UTF-8 (docker-compose cannot read the file); expected HF_TOKEN=value in UTF-8"},
		{"invalid UTF-8 in a comment", "# " + tok + "\xfe", "deploy/.env:2: a line without a key: a comment that is not valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("deploy/.env", []byte("API_PORT=8000\n"+tc.in+"\nDTYPE=auto\n"))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want a SyntaxError", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("got  %s\nwant %s", msg, tc.want)
			}
			for _, leak := range []string{tok, "Zq9", "junk", "pa'", "hf_"} {
				if strings.Contains(msg, leak) {
					t.Errorf("error prints %q: %s", leak, msg)
				}
			}
			if !strings.Contains(msg, "; expected ") {
				t.Errorf("error without the expected form: %s", msg)
			}
		})
	}
}

func TestDuplicateKey(t *testing.T) {
	in := "# c\nA=1\n\n\nAPI_PORT=8000\nB=2\nAPI_PORT=8001\n"
	_, err := Parse("deploy/.env", []byte(in))
	want := "deploy/.env:7: key API_PORT is also set on line 5; keep one"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
	_, err = Parse("deploy/.env", []byte("hf_Zq9tok=1\nhf_Zq9tok=2\n"))
	if err == nil || !strings.Contains(err.Error(), "deploy/.env:2: a key not shown here") || !strings.Contains(err.Error(), "is also set on line 1; keep one") || strings.Contains(err.Error(), "Zq9") {
		t.Fatalf("duplicate hidden key: %v", err)
	}
}

// Values are UTF-8 without control characters or white space other than
// the plain space; the error says which character, never the value.
func TestValueCharacters(t *testing.T) {
	for _, tc := range []struct{ val, want string }{
		{"Zq\x00Xw", "contains a NUL byte"},
		{"Zq\rXw", "contains a carriage return (CR)"},
		{"Zq\x1bXw", "contains an escape character (ESC)"},
		{"Zq\x7fXw", "contains a DEL character"},
		{"Zq\tXw", "contains a tab"},
		{"'Zq\tXw'", "contains a tab"},
		{"Zq\u0085Xw", "contains the control character U+0085"},
		{"Zq\u00a0Xw", "contains the white space character U+00A0"},
		{"Zq\u2028Xw", "contains the white space character U+2028"},
		{"Zq\x01Xw", "contains the control character U+0001"},
	} {
		_, err := Parse("x.env", []byte("MODEL_NAME="+tc.val+"\n"))
		if err == nil || !strings.Contains(err.Error(), "x.env:1: key MODEL_NAME: the value "+tc.want) || strings.Contains(err.Error(), "Zq") {
			t.Errorf("%q: %v, want %q", tc.val, err, tc.want)
		}
	}
	f, err := Parse("x.env", []byte("\uFEFFMODEL_NAME=Qwen/Qwen2.5 ünïcödé 模型\nB='  spaced  '\n"))
	if err != nil || f.Map()["MODEL_NAME"] != "Qwen/Qwen2.5 ünïcödé 模型" || f.Map()["B"] != "  spaced  " {
		t.Fatalf("printable UTF-8 refused: %v %v", f, err)
	}
}

func setupRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "deploy"), 0o755)
	ex, err := os.ReadFile(filepath.Join("..", "..", ExamplePath))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, ExamplePath), ex, 0o644)
	if _, err := Init(root); err != nil {
		t.Fatal(err)
	}
	return root
}

// An environment variable that overrides the file passes the same checks,
// so Compose (which prefers it to the file) never gets an unchecked value.
func TestEnvironmentOverrideCharacters(t *testing.T) {
	root := setupRoot(t)
	t.Setenv("HF_TOKEN", "hf_Zq9SecretTok3n\x1b[31m")
	t.Setenv("GRAFANA_ADMIN_PASSWORD", "Zq9pass\xff")
	t.Setenv("MODEL_NAME", "Qwen\nX")
	_, err := Load(root)
	if err == nil {
		t.Fatal("Load accepted control characters from the environment")
	}
	msg := err.Error()
	for _, want := range []string{
		"key HF_TOKEN: the value contains an escape character (ESC) (the value is not shown) (value from the environment variable HF_TOKEN",
		"key GRAFANA_ADMIN_PASSWORD: the value is not valid UTF-8",
		"key MODEL_NAME: the value contains a line break",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("got %s\nwant it to contain %q", msg, want)
		}
	}
	if strings.Contains(msg, "Zq9") || strings.Contains(msg, "hf_") {
		t.Errorf("error prints a secret: %s", msg)
	}
}

func TestShowValue(t *testing.T) {
	for _, tc := range []struct{ key, val, want string }{
		{"API_PORT", "80a0", `"80a0" is not a port`},
		{"API_PORT", "hf_Zq9SecretTok3n", "the value (not shown: it looks like a token or a hash) is not a port"},
		{"API_PORT", "ghpZq9AAAABBBB1111", "the value (not shown: it looks like a token or a hash) is not a port"},
		{"VLLM_IMAGE", "Vllm:" + strings.Repeat("a", 130), "the value (not shown: it is longer than 128 characters) is not an image reference"},
		{"VLLM_IMAGE", "vllm/vllm-openai:v0.20.0 ", `"vllm/vllm-openai:v0.20.0 " is not an image reference`},
	} {
		f := validExample(t)
		for i := range f.Entries {
			if f.Entries[i].Key == tc.key {
				f.Entries[i].Value = tc.val
			}
		}
		err := Validate(f)
		if err == nil || !strings.Contains(err.Error(), "key "+tc.key+": "+tc.want) {
			t.Errorf("%s=%q: got %v\nwant %q", tc.key, tc.val, err, tc.want)
		}
	}
	for name, want := range map[string]bool{
		"HF_TOKEN": true, "GRAFANA_ADMIN_PASSWORD": true, "OPENAI_API_KEY": true, "db_passwd": true,
		"MY_SECRET": true, "AWS_CREDENTIALS": true, "API_PORT": false, "MODEL_NAME": false,
	} {
		if IsSecret(name) != want {
			t.Errorf("IsSecret(%s) = %v", name, !want)
		}
	}
}

func TestNameable(t *testing.T) {
	for name, want := range map[string]bool{
		"HF_TOKEN": true, "VLLM_EXTRA_ARGS": true, "DEBUG": true, "API_PROT": true,
		"hf_abcdef": false, "c2VjcmV0dG9rZW4": false, "api_port": false,
		"ABCDEFGHIJKLMNOPQRST": false, // 20 upper-case characters without _: base32 text
	} {
		if Nameable(name) != want {
			t.Errorf("Nameable(%s) = %v", name, !want)
		}
	}
}

// A pasted base64 token ends in '=' and so parses as a key: validation and
// env:init report it without printing it.
func TestHiddenUnknownKey(t *testing.T) {
	const tok = "c2VjcmV0Zq9Rva2Vu"
	root := setupRoot(t)
	dot := filepath.Join(root, DotEnvPath)
	data, _ := os.ReadFile(dot)
	os.WriteFile(dot, append(data, []byte("\n"+tok+"=\n")...), 0o600)
	_, err := Load(root)
	if err == nil || !strings.Contains(err.Error(), "a key not shown here") || !strings.Contains(err.Error(), "unknown key; nothing reads it") || strings.Contains(err.Error(), "Zq9") {
		t.Fatalf("Load: %v", err)
	}
	rep, err := Init(root)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	rep.Print(&b)
	if !strings.Contains(b.String(), "unread:  deploy/.env:") || !strings.Contains(b.String(), "sets a key not shown here") || strings.Contains(b.String(), "Zq9") {
		t.Fatalf("env:init report: %s", b.String())
	}
}

// What Parse accepts, Compose v2 (compose-go's dotenv) reads identically.
func TestParseAgreesWithCompose(t *testing.T) {
	in := "\uFEFF# c\nA=1\nexport B = two words # note\nC=\"quoted # not a comment\"\nD='pa$word'\nE=\nF=\"a\\\\b \\\"c\\\"\"\r\nG=x#y\nH='a b' # c\nI=ünï\n"
	checkAgainstCompose(t, []byte(in))
}

func checkAgainstCompose(t *testing.T, data []byte) {
	t.Helper()
	f, err := Parse("x.env", data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	theirs, err := dotenv.Parse(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("we accept %q, compose-go refuses it: %v", data, err)
	}
	ours := f.Map()
	for k, v := range ours {
		if theirs[k] != v {
			t.Fatalf("%q: %s = %q here, %q in compose-go", data, k, v, theirs[k])
		}
	}
	for k := range theirs {
		if _, ok := ours[k]; !ok {
			t.Fatalf("%q: compose-go reads key %q that we do not", data, k)
		}
	}
}

// marker makes a Hugging Face token of random bytes, on one line, that
// starts with "hf_Zq" and ends with "Qz9": text no message holds, so any
// part of the token printed up to its start or from its end is caught.
func marker(tok []byte) string {
	return "hf_Zq" + strings.NewReplacer("\n", "", "\r", "").Replace(string(tok)) + "Qz9"
}

// leaks reports whether msg prints the start or the end of a marker.
func leaks(msg string) bool {
	return strings.Contains(msg, "Zq") || strings.Contains(msg, "Qz9")
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("A=1\nB='x'\n# c\nexport C=\"d\\\\\"\n"), uint8(0), "=", "", []byte("abc"))
	f.Add([]byte("=\n"), uint8(1), " ", " junk", []byte("x"))
	f.Add([]byte("A=\"\n"), uint8(2), ": ", "", []byte("\x00"))
	f.Add([]byte("\xff=1"), uint8(3), "=\"", "\" x", []byte("a\"b"))
	f.Add([]byte("API_PORT=80a0\n"), uint8(4), "='", "'", []byte("\\"))
	f.Add([]byte("B=\"\\n\"\n"), uint8(0), "= \"", "", []byte("$HOME"))
	f.Add([]byte("HF_TOKEN=1\n"), uint8(5), "=", "", []byte("\t"))
	f.Add([]byte("API_PORT=1\n"), uint8(1), "='", "' x", []byte("a'b"))
	f.Add([]byte(""), uint8(0), " ", "=1", []byte("pw"))
	f.Add([]byte(""), uint8(5), "", "=\"", []byte("a"))
	example, err := os.ReadFile(filepath.Join("..", "..", ExamplePath))
	if err != nil {
		f.Fatal(err)
	}
	keys := []string{"HF_TOKEN", "GRAFANA_ADMIN_PASSWORD", "OPENAI_API_KEY", "export HF_TOKEN", "  HF_TOKEN", ""}
	f.Fuzz(func(t *testing.T, data []byte, which uint8, sep, post string, tok []byte) {
		// 1. Any input: errors have a line and the expected form; accepted
		// values are printable UTF-8 and what Compose v2 reads too.
		file, err := Parse("fuzz.env", data)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line < 1 || se.Want == "" {
				t.Fatalf("error without a line or an expected form: %v", err)
			}
		} else {
			for _, e := range file.Entries {
				if !keyRE.MatchString(e.Key) || e.Line < 1 {
					t.Fatalf("bad entry %+v", e)
				}
				if !utf8.ValidString(e.Value) || strings.ContainsFunc(e.Value, func(r rune) bool {
					return unicode.IsControl(r) || r != ' ' && unicode.IsSpace(r)
				}) {
					t.Fatalf("accepted value %q of %s", e.Value, e.Key)
				}
			}
			checkAgainstCompose(t, data)
			_ = Validate(file) // must not panic
		}

		// 2. A secret on a line of mutated syntax, among other lines: no
		// error ever prints it.
		secret := marker(tok)
		sep = strings.NewReplacer("\n", "", "\r", "").Replace(sep)
		post = strings.NewReplacer("\n", "", "\r", "").Replace(post)
		if bytes.Contains(data, []byte("Zq")) || bytes.Contains(data, []byte("Qz9")) {
			return // the other lines must not hold the marker's text
		}
		key := keys[int(which)%len(keys)]
		line := key + sep + secret + post
		if key == "" {
			line = secret + post
		}
		for _, doc := range [][]byte{
			append(append(append([]byte{}, data...), '\n'), line...),
			[]byte(strings.Replace(string(example), "HF_TOKEN=", line+"\n#", 1)),
		} {
			file, err := Parse("fuzz.env", doc)
			if err == nil {
				err = Validate(file)
			}
			if err != nil && leaks(err.Error()) {
				t.Fatalf("error prints (part of) the secret line %q:\n%v", line, err)
			}
		}

		// 3. The same secret from the environment, for each secret key.
		for _, k := range []string{"HF_TOKEN", "GRAFANA_ADMIN_PASSWORD"} {
			file, err := Parse("fuzz.env", example)
			if err != nil {
				t.Fatal(err)
			}
			for i := range file.Entries {
				if file.Entries[i].Key == k {
					file.Entries[i].Value = secret + post
				}
			}
			if err := Validate(file); err != nil && leaks(err.Error()) {
				t.Fatalf("validation prints the secret of %s: %v", k, err)
			}
		}
	})
}
