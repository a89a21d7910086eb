package workload

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
)

// DetectBytes is how much of a file Open gives Detect.
const DetectBytes = 64 << 10

// Detect tells a workload's format from its first bytes (head, which may
// end in the middle of a line): a JSON array whose objects have
// "conversations" is ShareGPT; JSON lines with "messages" are OpenAI chat,
// with "timestamp" and "input_length" Mooncake, with "prompt" or "text"
// JSONL; a CSV header TIMESTAMP,ContextTokens,GeneratedTokens is Azure's,
// one starting Timestamp,Model,Request tokens,Response tokens BurstGPT's.
// Anything else is an error that quotes what it saw and names the
// -dataset-format values.
func Detect(head []byte) (Format, error) {
	head = bytes.TrimPrefix(head, byteOrderMark)
	trimmed := bytes.TrimLeft(head, " \t\r\n")
	first, _, complete := bytes.Cut(trimmed, []byte("\n"))
	first = bytes.TrimSpace(first)
	switch {
	case len(trimmed) == 0:
		return "", fmt.Errorf("the file is empty; %s", formatHint())
	case trimmed[0] == '[':
		if bytes.Contains(trimmed, []byte(`"conversations"`)) {
			return ShareGPT, nil
		}
		return "", fmt.Errorf("a JSON array without \"conversations\" (ShareGPT's) in its first %d bytes: %s; %s", len(head), quoteHead(first), formatHint())
	case trimmed[0] == '{':
		if f := detectJSONLine(first, complete || len(head) < DetectBytes); f != "" {
			return f, nil
		}
		return "", fmt.Errorf("a first JSON line without \"prompt\", \"text\", \"messages\" or \"timestamp\" and \"input_length\": %s; %s", quoteHead(first), formatHint())
	}
	row, err := csv.NewReader(bytes.NewReader(first)).Read()
	if err == nil {
		switch {
		case csvHeaderIs(row, azureHeader) && len(row) == len(azureHeader):
			return Azure, nil
		case csvHeaderIs(row, burstGPTHeader):
			return BurstGPT, nil
		}
	}
	return "", fmt.Errorf("a first line that is neither JSON nor a known CSV header: %s; %s", quoteHead(first), formatHint())
}

// detectJSONLine tells the format of a JSON line by its keys; a line cut
// short by the head's end (whole is false) is searched for the keys'
// names instead.
func detectJSONLine(line []byte, whole bool) Format {
	var keys map[string]json.RawMessage
	has := func(k string) bool { _, ok := keys[k]; return ok }
	switch {
	case json.Unmarshal(line, &keys) == nil:
	case whole:
		return ""
	default:
		has = func(k string) bool { return bytes.Contains(line, []byte(`"`+k+`"`)) }
	}
	switch {
	case has("messages"):
		return OpenAIChat
	case has("timestamp") && has("input_length"):
		return Mooncake
	case has("prompt") || has("text"):
		return JSONL
	}
	return ""
}

// quoteHead quotes the start of a line for an error.
func quoteHead(line []byte) string {
	const n = 80
	if len(line) > n {
		return fmt.Sprintf("%q...", line[:n])
	}
	return fmt.Sprintf("%q", line)
}

// formatHint names the -dataset-format values.
func formatHint() string {
	return "give -dataset-format=" + strings.Join(formatNames(), "|")
}

// formatNames returns the names of Formats.
func formatNames() []string {
	names := make([]string, len(Formats))
	for i, f := range Formats {
		names[i] = string(f)
	}
	return names
}

// ParseFormat returns the Format named s ("" is Auto); errors list the
// names.
func ParseFormat(s string) (Format, error) {
	f := Format(strings.ToLower(strings.TrimSpace(s)))
	if f == "" || f == Auto {
		return Auto, nil
	}
	for _, g := range Formats {
		if f == g {
			return f, nil
		}
	}
	return "", fmt.Errorf("dataset format %q: expected auto, %s", s, strings.Join(formatNames(), ", "))
}
