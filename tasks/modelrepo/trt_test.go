package modelrepo

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
)

// A small reader of protobuf text format, enough to check the rendered
// configs at parse level: every brace and bracket closes, every field has a
// value, and the values can be looked up by path.

type pbMsg map[string][]any // field name -> values (string, pbMsg)

type pbParser struct {
	toks []string
	pos  int
}

func tokenize(src string) ([]string, error) {
	var toks []string
	r := []rune(src)
	for i := 0; i < len(r); {
		c := r[i]
		switch {
		case c == '#':
			for i < len(r) && r[i] != '\n' {
				i++
			}
		case unicode.IsSpace(c):
			i++
		case strings.ContainsRune("{}[]:,", c):
			toks = append(toks, string(c))
			i++
		case c == '"':
			j := i + 1
			for j < len(r) && r[j] != '"' {
				if r[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(r) {
				return nil, fmt.Errorf("unterminated string at offset %d", i)
			}
			toks = append(toks, string(r[i:j+1]))
			i = j + 1
		case c == '-' || c == '_' || c == '.' || unicode.IsLetter(c) || unicode.IsDigit(c):
			j := i
			for j < len(r) && (r[j] == '-' || r[j] == '_' || r[j] == '.' || unicode.IsLetter(r[j]) || unicode.IsDigit(r[j])) {
				j++
			}
			toks = append(toks, string(r[i:j]))
			i = j
		default:
			return nil, fmt.Errorf("unexpected %q at offset %d", c, i)
		}
	}
	return toks, nil
}

func parsePbtxt(src string) (pbMsg, error) {
	toks, err := tokenize(src)
	if err != nil {
		return nil, err
	}
	p := &pbParser{toks: toks}
	m, err := p.message("")
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q after the top-level message", p.toks[p.pos])
	}
	return m, nil
}

func (p *pbParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *pbParser) next() string { t := p.peek(); p.pos++; return t }

func (p *pbParser) message(end string) (pbMsg, error) {
	m := pbMsg{}
	for {
		t := p.peek()
		if t == end {
			if end != "" {
				p.pos++
			}
			return m, nil
		}
		if t == "" {
			return nil, fmt.Errorf("missing %q", end)
		}
		name := p.next()
		if !isIdent(name) {
			return nil, fmt.Errorf("expected a field name, got %q", name)
		}
		if p.peek() == ":" {
			p.pos++
		}
		vals, err := p.value()
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", name, err)
		}
		m[name] = append(m[name], vals...)
		if p.peek() == "," {
			p.pos++
		}
	}
}

func (p *pbParser) value() ([]any, error) {
	switch t := p.next(); t {
	case "{":
		m, err := p.message("}")
		return []any{m}, err
	case "[":
		var out []any
		for p.peek() != "]" {
			if p.peek() == "" {
				return nil, fmt.Errorf("missing ]")
			}
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			out = append(out, v...)
			if p.peek() == "," {
				p.pos++
			}
		}
		p.pos++
		return out, nil
	case "", "}", "]", ":", ",":
		return nil, fmt.Errorf("missing value before %q", t)
	default:
		if strings.HasPrefix(t, `"`) {
			s, err := strconv.Unquote(t)
			return []any{s}, err
		}
		return []any{t}, nil
	}
}

func isIdent(s string) bool {
	return s != "" && (unicode.IsLetter(rune(s[0])) || s[0] == '_')
}

// get returns the scalar at a dotted path of first values.
func (m pbMsg) get(t *testing.T, path string) string {
	t.Helper()
	cur := m
	parts := strings.Split(path, ".")
	for i, p := range parts {
		vs := cur[p]
		if len(vs) == 0 {
			t.Fatalf("no field %s", path)
		}
		if i == len(parts)-1 {
			s, ok := vs[0].(string)
			if !ok {
				t.Fatalf("%s is a message, not a scalar", path)
			}
			return s
		}
		cur = vs[0].(pbMsg)
	}
	return ""
}

func (m pbMsg) msgs(name string) []pbMsg {
	var out []pbMsg
	for _, v := range m[name] {
		if mm, ok := v.(pbMsg); ok {
			out = append(out, mm)
		}
	}
	return out
}

// params returns the string_value of each parameters entry.
func (m pbMsg) params(t *testing.T) map[string]string {
	out := map[string]string{}
	for _, p := range m.msgs("parameters") {
		out[p.get(t, "key")] = p.get(t, "value.string_value")
	}
	return out
}

func (m pbMsg) tensorNames(field string) []string {
	var out []string
	for _, t := range m.msgs(field) {
		out = append(out, t["name"][0].(string))
	}
	return out
}

func renderTRT(t *testing.T, s TRTSettings) map[string]pbMsg {
	t.Helper()
	files, err := TRTFiles(s)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]pbMsg{}
	for _, model := range TRTModels {
		src, ok := files[model+"/config.pbtxt"]
		if !ok {
			t.Fatalf("no %s/config.pbtxt rendered", model)
		}
		m, err := parsePbtxt(string(src))
		if err != nil {
			t.Fatalf("%s/config.pbtxt does not parse: %v\n%s", model, err, src)
		}
		if got := m.get(t, "name"); got != model {
			t.Errorf("%s/config.pbtxt: name %q", model, got)
		}
		out[model] = m
	}
	if _, ok := files["ensemble/1/.keep"]; !ok {
		t.Error("the ensemble's version directory is missing")
	}
	return out
}

func TestTRTConfigsParseWithSettings(t *testing.T) {
	for _, tc := range []struct {
		batch int
		frac  float64
	}{{64, 0.9}, {1, 0.5}, {256, 1}} {
		t.Run(fmt.Sprint(tc.batch), func(t *testing.T) {
			s := DefaultTRTSettings(tc.batch, tc.frac)
			s.TokenizerDir = "/models/tensorrt_llm/tokenizer"
			cfgs := renderTRT(t, s)
			for model, m := range cfgs {
				if got := m.get(t, "max_batch_size"); got != strconv.Itoa(tc.batch) {
					t.Errorf("%s: max_batch_size %s, want %d", model, got, tc.batch)
				}
			}
			llm := cfgs["tensorrt_llm"]
			if got := llm.get(t, "backend"); got != "tensorrtllm" {
				t.Errorf("tensorrt_llm backend %q", got)
			}
			if got := llm.get(t, "model_transaction_policy.decoupled"); got != "true" {
				t.Errorf("tensorrt_llm decoupled %q, want true (streaming)", got)
			}
			if got := llm.get(t, "dynamic_batching.preferred_batch_size"); got != strconv.Itoa(tc.batch) {
				t.Errorf("preferred_batch_size %s", got)
			}
			p := llm.params(t)
			want := map[string]string{
				"gpt_model_path":                 "/models/tensorrt_llm/1",
				"gpt_model_type":                 "inflight_fused_batching",
				"kv_cache_free_gpu_mem_fraction": strconv.FormatFloat(tc.frac, 'f', -1, 64),
				"batch_scheduler_policy":         "guaranteed_no_evict",
				"max_beam_width":                 "1",
				"exclude_input_in_output":        "true",
			}
			for k, v := range want {
				if p[k] != v {
					t.Errorf("tensorrt_llm parameter %s = %q, want %q", k, p[k], v)
				}
			}
			for _, model := range []string{"preprocessing", "postprocessing"} {
				m := cfgs[model]
				if m.get(t, "backend") != "python" {
					t.Errorf("%s is not a python model", model)
				}
				if got := m.params(t)["tokenizer_dir"]; got != "/models/tensorrt_llm/tokenizer" {
					t.Errorf("%s tokenizer_dir %q", model, got)
				}
				if got := m.get(t, "instance_group.kind"); got != "KIND_CPU" {
					t.Errorf("%s instance kind %q", model, got)
				}
			}
			// preprocessing's model.py reads these keys and output types unconditionally.
			pp := cfgs["preprocessing"].params(t)
			if _, ok := pp["multimodal_model_path"]; !ok {
				t.Error("preprocessing lacks multimodal_model_path")
			}
			outs := cfgs["preprocessing"].tensorNames("output")
			for _, n := range []string{"INPUT_ID", "DECODER_INPUT_ID", "REQUEST_INPUT_LEN", "REQUEST_DECODER_INPUT_LEN", "BAD_WORDS_IDS", "STOP_WORDS_IDS", "OUT_END_ID", "OUT_PAD_ID", "OUT_PROMPT_TABLE_EXTRA_IDS", "PIXEL_VALUES", "IMAGE_SIZES"} {
				if !slices.Contains(outs, n) {
					t.Errorf("preprocessing lacks output %s", n)
				}
			}
		})
	}
}

// The ensemble wires text_input -> preprocessing -> tensorrt_llm ->
// postprocessing -> text_output, and every tensor a step reads is an
// ensemble input or an earlier step's output, and exists on the model.
func TestTRTEnsembleWiring(t *testing.T) {
	cfgs := renderTRT(t, DefaultTRTSettings(8, 0.9))
	ens := cfgs["ensemble"]
	if ens.get(t, "platform") != "ensemble" {
		t.Fatal("ensemble platform")
	}
	inputs := ens.tensorNames("input")
	for _, n := range []string{"text_input", "max_tokens", "stream", "bad_words", "stop_words", "temperature", "top_p"} {
		if !slices.Contains(inputs, n) {
			t.Errorf("ensemble lacks input %s", n)
		}
	}
	for _, in := range ens.msgs("input") {
		name := in["name"][0].(string)
		required := len(in["optional"]) == 0
		if required != (name == "text_input" || name == "max_tokens") {
			t.Errorf("ensemble input %s: required=%v", name, required)
		}
	}
	outputs := ens.tensorNames("output")
	if outputs[0] != "text_output" {
		t.Errorf("first ensemble output %q", outputs[0])
	}
	available := map[string]bool{}
	for _, n := range inputs {
		available[n] = true
	}
	steps := ens.msgs("ensemble_scheduling")[0].msgs("step")
	var order []string
	for _, st := range steps {
		model := st.get(t, "model_name")
		order = append(order, model)
		cfg := cfgs[model]
		modelIn, modelOut := cfg.tensorNames("input"), cfg.tensorNames("output")
		for _, m := range st.msgs("input_map") {
			key, val := m.get(t, "key"), m.get(t, "value")
			if !available[val] {
				t.Errorf("step %s reads %s, which nothing produced before it", model, val)
			}
			if !slices.Contains(modelIn, key) {
				t.Errorf("step %s maps to input %s, which %s does not have", model, key, model)
			}
		}
		for _, m := range st.msgs("output_map") {
			key, val := m.get(t, "key"), m.get(t, "value")
			if !slices.Contains(modelOut, key) {
				t.Errorf("step %s maps output %s, which %s does not have", model, key, model)
			}
			available[val] = true
		}
		// Every required input of the model is fed.
		for _, in := range cfg.msgs("input") {
			if len(in["optional"]) > 0 {
				continue
			}
			name := in["name"][0].(string)
			fed := false
			for _, m := range st.msgs("input_map") {
				fed = fed || m.get(t, "key") == name
			}
			if !fed {
				t.Errorf("step %s does not feed required input %s", model, name)
			}
		}
	}
	if strings.Join(order, ",") != "preprocessing,tensorrt_llm,postprocessing" {
		t.Errorf("steps %v", order)
	}
	for _, n := range outputs {
		if !available[n] {
			t.Errorf("ensemble output %s is produced by no step", n)
		}
	}
	// The specific wiring of the text path.
	want := map[string][2]string{
		"preprocessing/QUERY":     {"text_input", ""},
		"tensorrt_llm/input_ids":  {"_INPUT_ID", ""},
		"tensorrt_llm/streaming":  {"stream", ""},
		"postprocessing/OUTPUT":   {"", "text_output"},
		"tensorrt_llm/output_ids": {"", "_TOKENS_BATCH"},
	}
	for _, st := range steps {
		model := st.get(t, "model_name")
		for _, m := range st.msgs("input_map") {
			if w, ok := want[model+"/"+m.get(t, "key")]; ok && w[0] != m.get(t, "value") {
				t.Errorf("%s/%s reads %s, want %s", model, m.get(t, "key"), m.get(t, "value"), w[0])
			}
		}
		for _, m := range st.msgs("output_map") {
			if w, ok := want[model+"/"+m.get(t, "key")]; ok && w[1] != m.get(t, "value") {
				t.Errorf("%s/%s writes %s, want %s", model, m.get(t, "key"), m.get(t, "value"), w[1])
			}
		}
	}
}

func TestTRTSettingsValidate(t *testing.T) {
	for name, mod := range map[string]func(*TRTSettings){
		"zero batch":       func(s *TRTSettings) { s.MaxBatchSize = 0 },
		"relative engine":  func(s *TRTSettings) { s.EngineDir = "models/x" },
		"quote in path":    func(s *TRTSettings) { s.TokenizerDir = `/models/"x` },
		"fraction above 1": func(s *TRTSettings) { s.KVCacheFreeGPUMemFraction = 1.5 },
		"fraction zero":    func(s *TRTSettings) { s.KVCacheFreeGPUMemFraction = 0 },
		"policy":           func(s *TRTSettings) { s.BatchSchedulerPolicy = "fifo" },
		"logits type":      func(s *TRTSettings) { s.LogitsDatatype = "TYPE_INT8" },
	} {
		s := DefaultTRTSettings(8, 0.9)
		mod(&s)
		if _, err := TRTFiles(s); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Not decoupled renders decoupled: false (a non-streaming deployment).
func TestTRTNotDecoupled(t *testing.T) {
	s := DefaultTRTSettings(4, 0.9)
	s.Decoupled = false
	cfgs := renderTRT(t, s)
	if got := cfgs["tensorrt_llm"].get(t, "model_transaction_policy.decoupled"); got != "false" {
		t.Errorf("decoupled %q", got)
	}
}

// The checker itself rejects what a broken template would produce.
func TestPbtxtParserRejectsBroken(t *testing.T) {
	for _, src := range []string{
		"name: \"x\"\ninput [ { name: \"a\" }",
		"name: \"x\" }",
		"parameters: { key: }",
		"name: \"x",
	} {
		if _, err := parsePbtxt(src); err == nil {
			t.Errorf("accepted %q", src)
		}
	}
}

func FuzzPbtxtParser(f *testing.F) {
	files, _ := TRTFiles(DefaultTRTSettings(8, 0.9))
	for _, b := range files {
		f.Add(string(b))
	}
	f.Add("a { b: [1, 2] }")
	f.Fuzz(func(t *testing.T, src string) {
		parsePbtxt(src) // must not panic or loop
	})
}

// The backend table names the model clients of the TensorRT-LLM backend
// call; it is the repository's ensemble.
func TestTRTEnsembleIsTheBackendModel(t *testing.T) {
	b, err := backend.Lookup(string(backend.TRT))
	if err != nil {
		t.Fatal(err)
	}
	if b.ModelName(func(string) string { return "" }) != TRTEnsemble || TRTModels[0] != TRTEnsemble {
		t.Errorf("backend %s model %q, repository ensemble %q (models %v)", b.Name, b.Model, TRTEnsemble, TRTModels)
	}
}
