package sim

import (
	"strings"
	"testing"
)

// The request decoders take bytes from the network: they must never panic,
// and what they accept must be a valid engine request.

func checkSpec(t *testing.T, cfg *Config, sp requestSpec) {
	t.Helper()
	if sp.maxTokens < 1 || sp.minTokens < 0 || sp.minTokens > sp.maxTokens {
		t.Fatalf("accepted max_tokens %d, min_tokens %d", sp.maxTokens, sp.minTokens)
	}
	if sp.prompt.tokens+sp.maxTokens > cfg.MaxModelLen {
		t.Fatalf("accepted %d prompt + %d output tokens beyond max_model_len %d", sp.prompt.tokens, sp.maxTokens, cfg.MaxModelLen)
	}
	if len(sp.prompt.blocks) != sp.prompt.tokens/cfg.BlockSize {
		t.Fatalf("%d block hashes for %d tokens", len(sp.prompt.blocks), sp.prompt.tokens)
	}
}

func FuzzDecodeOpenAI(f *testing.F) {
	for _, s := range []string{
		`{"model":"qwen","messages":[{"role":"user","content":"hi"}],"max_tokens":5}`,
		`{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url"}]}],"stream":true,"stream_options":{"include_usage":true}}`,
		`{"model":"qwen","prompt":"hello","max_tokens":3,"min_tokens":2,"ignore_eos":true,"seed":4}`,
		`{"prompt":[1,2,3]}`, `{"prompt":[[1,2],[3]]}`, `{"prompt":["a","b"]}`, `{"prompt":[]}`,
		`{"model":"other","prompt":"x"}`, `{"max_completion_tokens":0,"messages":[]}`, `{"n":2,"prompt":"x"}`,
		`{"prompt":"` + strings.Repeat("x ", 100) + `","max_tokens":1}`, `{`, `null`, `[]`, `{"messages":null}`,
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	cfg := DefaultConfig(PersonalityVLLM)
	cfg.MaxModelLen = 64
	f.Fuzz(func(t *testing.T, body []byte, chat bool) {
		_, specs, aerr := decodeOpenAI(body, chat, &cfg)
		if aerr != nil {
			if aerr.status != 400 && aerr.status != 404 {
				t.Fatalf("status %d for a client error", aerr.status)
			}
			if len(aerr.body()) == 0 || aerr.message == "" {
				t.Fatal("empty error")
			}
			return
		}
		if len(specs) == 0 {
			t.Fatal("accepted a request with no prompt")
		}
		for _, sp := range specs {
			checkSpec(t, &cfg, sp)
		}
	})
}

func FuzzDecodeGenerate(f *testing.F) {
	for _, s := range []string{
		`{"text_input":"hi","parameters":{"max_tokens":5,"stream":true}}`,
		`{"text_input":["hi"],"sampling_parameters":"{\"max_tokens\":3,\"min_tokens\":1}","stream":[true]}`,
		`{"text_input":"hi","max_tokens":20,"bad_words":"","stop_words":"","stream":true}`,
		`{"id":"7","text_input":"x","max_tokens":[5],"min_tokens":9}`, `{"parameters":[]}`, `{}`, `null`, `{"text_input":1}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	cfg := DefaultConfig(PersonalityTritonVLLM)
	cfg.MaxModelLen = 64
	vs := &Server{cfg: cfg}
	trtCfg := cfg
	trtCfg.Personality = PersonalityTritonTRT
	ts := &Server{cfg: trtCfg}
	f.Fuzz(func(t *testing.T, body []byte, trt bool) {
		m := vs.findTritonModel("qwen")
		c := &vs.cfg
		if trt {
			m, c = ts.findTritonModel("ensemble"), &ts.cfg
		}
		g, err := decodeGenerate(body, m, c)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		checkSpec(t, c, g.spec)
	})
}

func FuzzDecodeInfer(f *testing.F) {
	for _, s := range []string{
		`{"inputs":[{"name":"input_ids","shape":[1,3],"datatype":"INT32","data":[[1,2,3]]},{"name":"input_lengths","shape":[1,1],"datatype":"INT32","data":[3]},{"name":"request_output_len","shape":[1,1],"datatype":"INT32","data":[4]}]}`,
		`{"inputs":[{"name":"text_input","shape":[1,1],"datatype":"BYTES","data":["hi"]},{"name":"max_tokens","shape":[1,1],"datatype":"INT32","data":[[4]]}],"outputs":[{"name":"text_output"}]}`,
		`{"inputs":[{"name":"input_ids","shape":[2],"data":[1]}]}`, `{"inputs":null}`, `{}`, `[`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	cfg := DefaultConfig(PersonalityTritonTRT)
	cfg.MaxModelLen = 64
	s := &Server{cfg: cfg}
	f.Fuzz(func(t *testing.T, body []byte, ensemble bool) {
		m := s.findTritonModel("tensorrt_llm")
		if ensemble {
			m = s.findTritonModel("ensemble")
		}
		_, x, err := decodeInfer(body, m, &s.cfg)
		if err != nil {
			return
		}
		checkSpec(t, &s.cfg, x.spec)
		if !ensemble && x.spec.prompt.tokens != len(x.ids) {
			t.Fatalf("%d prompt tokens for %d input ids", x.spec.prompt.tokens, len(x.ids))
		}
	})
}

func FuzzCountTokens(f *testing.F) {
	for _, s := range []string{"", "hello world", "a.b,c", "日本語 text", "\xff\xfe", "abcdefghij 123456789"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := CountTokens(s)
		if n < 0 || n > len(s) {
			t.Fatalf("CountTokens(%q) = %d", s, n)
		}
		if CountTokens(s+" "+s) != 2*n {
			t.Fatalf("counting is not additive over whitespace for %q", s)
		}
	})
}
