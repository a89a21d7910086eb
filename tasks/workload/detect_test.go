package workload

import (
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	long := `{"prompt": "` + strings.Repeat("x ", DetectBytes) + `"}`
	cut := (`{"timestamp": 0, "input_length": 6755, "hash_ids": [` + strings.Repeat("1, ", DetectBytes))[:DetectBytes]
	for _, c := range []struct {
		head string
		want Format
	}{
		{"\ufeff[\n  {\n    \"id\": \"x\",\n    \"conversations\": [", ShareGPT},
		{`{"prompt": "hi", "max_tokens": 3}` + "\n" + `{"text": "x"}`, JSONL},
		{"\n\n" + `{"text": "x"}`, JSONL},
		{`{"text": "messages", "extra": "timestamp input_length"}`, JSONL},
		{`{"messages": [{"role": "user", "content": "hi"}]}`, OpenAIChat},
		{`{"timestamp": 0, "input_length": 6755, "output_length": 500, "hash_ids": [0, 1]}`, Mooncake},
		{cut, Mooncake}, // a first line cut short by the head's end
		{long[:DetectBytes], JSONL},
		{"TIMESTAMP,ContextTokens,GeneratedTokens\r\n2023-11-16 18:15:46.6805900,4808,10\r\n", Azure},
		{"Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n5,ChatGPT,472,18,490,Conversation log\n", BurstGPT},
	} {
		f, err := Detect([]byte(c.head))
		if err != nil || f != c.want {
			t.Errorf("Detect(%.50q) = %q, %v; want %q", c.head, f, err, c.want)
		}
	}
	for _, c := range []struct{ head, want string }{
		{"", "the file is empty; give -dataset-format=jsonl|sharegpt|openai-chat|mooncake|azure|burstgpt"},
		{"  \n", "the file is empty"},
		{`[{"prompt": "x"}]`, `a JSON array without "conversations"`},
		{`{"prompt": "x"`, `a first JSON line without "prompt"`}, // complete but not JSON
		{`{"question": "x"}`, `a first JSON line without "prompt", "text", "messages" or "timestamp" and "input_length": "{\"question\": \"x\"}"`},
		{"a,b,c\n1,2,3", `a first line that is neither JSON nor a known CSV header: "a,b,c"; give -dataset-format=`},
		{"TIMESTAMP,ContextTokens,GeneratedTokens,Extra\n", "neither JSON nor a known CSV header"},
		{strings.Repeat("z", 200), `"` + strings.Repeat("z", 80) + `"...`},
	} {
		_, err := Detect([]byte(c.head))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Detect(%.50q): %v, want %q", c.head, err, c.want)
		}
	}
	if _, _, err := readAll("x.txt", "hello", Source{}); err == nil || !strings.HasPrefix(err.Error(), "x.txt: cannot tell the format: ") {
		t.Errorf("through NewReader: %v", err)
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"": Auto, "auto": Auto, "ShareGPT": ShareGPT, " azure ": Azure, "openai-chat": OpenAIChat} {
		if f, err := ParseFormat(in); err != nil || f != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, f, err)
		}
	}
	_, err := ParseFormat("csv")
	if err == nil || err.Error() != `dataset format "csv": expected auto, jsonl, sharegpt, openai-chat, mooncake, azure, burstgpt` {
		t.Errorf("ParseFormat(csv): %v", err)
	}
	if _, _, err := readAll("x", "", Source{Format: "csv"}); err == nil || !strings.HasPrefix(err.Error(), `x: dataset format "csv"`) {
		t.Errorf("NewReader with a bad format: %v", err)
	}
}

func FuzzDetect(f *testing.F) {
	f.Add([]byte(`{"messages": []}`))
	f.Add([]byte("TIMESTAMP,ContextTokens,GeneratedTokens\n"))
	f.Add([]byte("[{\"conversations\": []}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		f, err := Detect(data)
		if (err == nil) == (f == "") {
			t.Fatalf("Detect = %q, %v", f, err)
		}
		if err != nil && !strings.Contains(err.Error(), "give -dataset-format=") {
			t.Fatalf("error without the formats: %v", err)
		}
	})
}
