package stream

import (
	"encoding/json"
	"fmt"
	"testing"
)

func refOpenAI(data []byte) (oaChunk, error) {
	var c oaChunk
	err := json.Unmarshal(data, &c)
	return c, err
}

// FuzzFastPathMatchesEncodingJSON: the fast decoder accepts exactly what
// encoding/json accepts and decodes it to the same values.
func FuzzFastPathMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"id":"x","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi\u00e9\n"},"finish_reason":null}],"usage":null}`,
		`{"choices":[],"usage":{"prompt_tokens":12,"total_tokens":15,"completion_tokens":3}}`,
		`{"choices":[{"text":" a","finish_reason":"length"},{"text":"b"}]}`,
		`{"error":{"object":"error","message":"boom","code":500}}`,
		`{"object":"error","message":"bad"}`,
		`{"Choices":[{"Text":"x"}]}`,
		`{"choi\u0063es":[]}`,
		`{"choices":[{"delta":{"reasoning_content":"think","content":null}}]} `,
		`{"usage":{"completion_tokens":1.5}}`,
		`{"usage":{"completion_tokens":-0}}`,
		`{"choices":[null,{"message":{"content":"m"}}]}`,
		`{"text_output":"abc","num_output_tokens":[3],"finish_reason":["stop"],"error":null}`,
		`{"text_output":["a","b"],"num_input_tokens":7}`,
		`{"a":[1,2,{"b":[true,false,null,-1.5e+3]}],"choices":null}`,
		`{"choices":[{"text":"x"}],"choices":[{"text":"y"}]}`,
		`{"usage":{"prompt_tokens":1},"usage":{"completion_tokens":2}}`,
		"{\"choices\":[{\"text\":\"\xff\"}]}",
		`{"x":01}`, `{"x":1.}`, `{"x":"\u12"}`, `[1]`, `null`, `{"x":1}x`, `{"ſ":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// OpenAI chunk.
		want, wantErr := refOpenAI(data)
		var got oaChunk
		got.Choices = make([]oaChoice, 0, 1)
		got.Choices = append(got.Choices, oaChoice{Text: "stale"}) // reuse must not leak
		gotErr := decodeOpenAI(data, &got)
		if (wantErr == nil) != (gotErr == nil) {
			t.Fatalf("errors differ: encoding/json %v, fast %v", wantErr, gotErr)
		}
		if wantErr == nil {
			if w, g := evString(want.event()), evString(got.event()); w != g {
				t.Fatalf("openai events differ:\n ref  %s\n fast %s", w, g)
			}
			if string(want.Error) != string(got.Error) || want.Object != got.Object || want.Message != got.Message {
				t.Fatalf("fields differ: %+v vs %+v", want, got)
			}
		}
		// Triton event.
		var tw, tg tritonEvent
		werr := json.Unmarshal(data, &tw)
		gerr := decodeTriton(data, &tg)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("triton errors differ: encoding/json %v, fast %v", werr, gerr)
		}
		if werr == nil {
			if fmt.Sprintf("%s|%s|%s|%s|%s", tw.TextOutput, tw.Error, tw.FinishReason, tw.NumInputTokens, tw.NumOutputTokens) !=
				fmt.Sprintf("%s|%s|%s|%s|%s", tg.TextOutput, tg.Error, tg.FinishReason, tg.NumInputTokens, tg.NumOutputTokens) {
				t.Fatalf("triton fields differ: %+v vs %+v", tw, tg)
			}
		}
	})
}

// TestFastPathTaken makes sure ordinary chunks do not fall back.
func TestFastPathTaken(t *testing.T) {
	for _, s := range []string{
		`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null}`,
		`{"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":5,"total_tokens":7,"completion_tokens":2}}`,
	} {
		var c oaChunk
		if err := fastOpenAI([]byte(s), &c); err != nil {
			t.Errorf("fast path rejected %s: %v", s, err)
		}
	}
	var te tritonEvent
	if err := fastTriton([]byte(`{"model_name":"vllm_model","model_version":"1","text_output":" x"}`), &te); err != nil {
		t.Error(err)
	}
}

func evString(e Event) string {
	u := "nil"
	if e.Usage != nil {
		u = fmt.Sprintf("%+v", *e.Usage)
	}
	return fmt.Sprintf("text=%q finish=%q usage=%s err=%v", e.Text, e.FinishReason, u, e.Err)
}
