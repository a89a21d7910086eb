package sim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// fastConfig has zero latencies (the engine runs as fast as it can).
func fastConfig(personality string) Config {
	c := DefaultConfig(personality)
	c.Addr = "127.0.0.1:0"
	if personality != PersonalityVLLM {
		c.MetricsAddr = "127.0.0.1:0"
	}
	c.DCGMAddr = "127.0.0.1:0"
	c.PrefillBase, c.PrefillPerToken, c.DecodeBase, c.DecodePerSeq = 0, 0, 0, 0
	c.OutputTokensMean = 40
	return c
}

func startServer(t testing.TB, cfg Config) (*Server, *Running) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	run, err := s.Start(ctx)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		<-run.Done
	})
	return s, run
}

func oaClient(run *Running) openai.Client {
	return openai.NewClient(option.WithBaseURL(run.APIURL+"/v1/"), option.WithAPIKey("sim"), option.WithMaxRetries(0))
}

func TestOpenAIChat(t *testing.T) {
	s, run := startServer(t, fastConfig(PersonalityVLLM))
	c := oaClient(run)
	ctx := context.Background()
	msg := "Tell me a short story about a robot."
	resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:     "qwen",
		Messages:  []openai.ChatCompletionMessageParamUnion{openai.UserMessage(msg)},
		MaxTokens: openai.Int(12),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 1 || resp.Choices[0].Message.Role != "assistant" {
		t.Fatalf("choices: %+v", resp.Choices)
	}
	wantPrompt := int64(CountChatTokens("user", msg))
	if resp.Usage.PromptTokens != wantPrompt {
		t.Errorf("prompt_tokens %d, want %d", resp.Usage.PromptTokens, wantPrompt)
	}
	got := resp.Usage.CompletionTokens
	if got < 1 || got > 12 || (got < 12 && resp.Choices[0].FinishReason != "stop") || (got == 12 && resp.Choices[0].FinishReason != "length") {
		t.Errorf("completion_tokens %d with finish_reason %q", got, resp.Choices[0].FinishReason)
	}
	if n := int64(CountTokens(resp.Choices[0].Message.Content)); n != got {
		t.Errorf("the text %q counts %d tokens, usage says %d", resp.Choices[0].Message.Content, n, got)
	}
	if resp.Usage.TotalTokens != resp.Usage.PromptTokens+got {
		t.Errorf("total_tokens %d", resp.Usage.TotalTokens)
	}

	// max_completion_tokens and ignore_eos give exactly that many tokens.
	resp, err = c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:               "qwen",
		Messages:            []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		MaxCompletionTokens: openai.Int(300),
	}, option.WithJSONSet("ignore_eos", true))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Usage.CompletionTokens != 300 || resp.Choices[0].FinishReason != "length" {
		t.Errorf("ignore_eos: %d tokens, %q; want 300, length", resp.Usage.CompletionTokens, resp.Choices[0].FinishReason)
	}
	// min_tokens holds back EOS.
	resp, err = c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "qwen", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}, MaxTokens: openai.Int(500),
	}, option.WithJSONSet("min_tokens", 200))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Usage.CompletionTokens < 200 {
		t.Errorf("min_tokens 200: got %d tokens", resp.Usage.CompletionTokens)
	}
	_ = s
}

func TestOpenAIStreamUsage(t *testing.T) {
	s, run := startServer(t, fastConfig(PersonalityVLLM))
	c := oaClient(run)
	ctx := context.Background()
	var sumPrompt, sumGen int64
	for i := range 5 {
		st := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:         "qwen",
			Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage(strings.Repeat("word ", 10*i+1))},
			MaxTokens:     openai.Int(64),
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		var acc openai.ChatCompletionAccumulator
		var text strings.Builder
		chunks, finish := 0, ""
		for st.Next() {
			ch := st.Current()
			acc.AddChunk(ch)
			chunks++
			for _, c := range ch.Choices {
				text.WriteString(c.Delta.Content)
				if c.FinishReason != "" {
					finish = c.FinishReason
				}
			}
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		u := acc.Usage
		if u.CompletionTokens < 1 || int64(CountTokens(text.String())) != u.CompletionTokens {
			t.Errorf("stream %d: text of %d tokens, usage %d", i, CountTokens(text.String()), u.CompletionTokens)
		}
		if finish != "stop" && finish != "length" {
			t.Errorf("stream %d: finish_reason %q", i, finish)
		}
		if chunks < 3 { // role chunk, content, usage
			t.Errorf("stream %d: only %d chunks", i, chunks)
		}
		sumPrompt += u.PromptTokens
		sumGen += u.CompletionTokens
	}
	// completions, streamed, with a token-id prompt
	st := c.Completions.NewStreaming(ctx, openai.CompletionNewParams{
		Model:         openai.CompletionNewParamsModel("qwen"),
		Prompt:        openai.CompletionNewParamsPromptUnion{OfArrayOfTokens: []int64{1, 2, 3, 4, 5, 6, 7}},
		MaxTokens:     openai.Int(9),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	}, option.WithJSONSet("ignore_eos", true))
	var text strings.Builder
	var usage openai.CompletionUsage
	for st.Next() {
		ch := st.Current()
		for _, c := range ch.Choices {
			text.WriteString(c.Text)
		}
		if ch.Usage.TotalTokens > 0 {
			usage = ch.Usage
		}
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if usage.PromptTokens != 7 || usage.CompletionTokens != 9 || CountTokens(text.String()) != 9 {
		t.Errorf("completion stream: usage %+v, text %q", usage, text.String())
	}
	sumPrompt += usage.PromptTokens
	sumGen += usage.CompletionTokens
	// The metrics count what the responses reported.
	fams := scrape(t, run.MetricsURL)
	if v := value(t, fams, "vllm:prompt_tokens_total", nil); v != float64(sumPrompt) {
		t.Errorf("vllm:prompt_tokens_total %v, usage sum %d", v, sumPrompt)
	}
	if v := value(t, fams, "vllm:generation_tokens_total", nil); v != float64(sumGen) {
		t.Errorf("vllm:generation_tokens_total %v, usage sum %d", v, sumGen)
	}
	// http_requests_total counts a request once its handler has returned,
	// which can be just after the client read the stream's last byte (as
	// with a real server's instrumentation): wait for it a little.
	chat2xx := map[string]string{"handler": "/v1/chat/completions", "status": "2xx"}
	v := value(t, fams, "http_requests_total", chat2xx)
	for deadline := time.Now().Add(2 * time.Second); v != 5 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		v = value(t, scrape(t, run.MetricsURL), "http_requests_total", chat2xx)
	}
	if v != 5 {
		t.Errorf("http_requests_total chat 2xx = %v, want 5", v)
	}
	_ = s
}

func TestOpenAIErrors(t *testing.T) {
	cfg := fastConfig(PersonalityVLLM)
	cfg.MaxModelLen = 64
	cfg.NumGPUBlocks = 10
	_, run := startServer(t, cfg)
	c := oaClient(run)
	ctx := context.Background()
	_, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "gpt-4", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || !strings.Contains(apiErr.Message, "gpt-4") || apiErr.Type != "NotFoundError" {
		t.Errorf("unknown model: %v (%+v)", err, apiErr)
	}
	_, err = c.Completions.New(ctx, openai.CompletionNewParams{
		Model:  openai.CompletionNewParamsModel("qwen"),
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String(strings.Repeat("long prompt text ", 40))}})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || !strings.Contains(apiErr.Message, "maximum context length is 64") || apiErr.Type != "BadRequestError" {
		t.Errorf("too long prompt: %v (%+v)", err, apiErr)
	}
	_, err = c.Completions.New(ctx, openai.CompletionNewParams{
		Model: openai.CompletionNewParamsModel("qwen"), MaxTokens: openai.Int(60),
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("ten tokens of text here and there and more")}})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || !strings.Contains(apiErr.Message, "'max_tokens' or 'max_completion_tokens' is too large: 60") {
		t.Errorf("prompt + max_tokens too long: %v", err)
	}
	// Raw: invalid JSON is a 400 with vLLM's error body.
	resp, err := http.Post(run.APIURL+"/v1/chat/completions", "application/json", strings.NewReader("{"))
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    int    `json:"code"`
		} `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	_ = resp.Body.Close()
	if resp.StatusCode != 400 || body.Error.Code != 400 || body.Error.Type != "BadRequestError" {
		t.Errorf("invalid JSON: HTTP %d, %+v", resp.StatusCode, body)
	}
	fams := scrape(t, run.MetricsURL)
	if v := value(t, fams, "http_requests_total", map[string]string{"handler": "/v1/chat/completions", "status": "4xx"}); v != 2 {
		t.Errorf("http_requests_total chat 4xx = %v, want 2", v)
	}
}

func TestOpenAIFaults(t *testing.T) {
	cfg := fastConfig(PersonalityVLLM)
	cfg.ErrorRate = 1
	_, run := startServer(t, cfg)
	c := oaClient(run)
	_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "qwen", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 500 {
		t.Errorf("error-rate 1: %v", err)
	}
	fams := scrape(t, run.MetricsURL)
	if v := value(t, fams, "vllm:request_success_total", map[string]string{"finished_reason": "error"}); v != 1 {
		t.Errorf("finished_reason=error %v, want 1", v)
	}

	cfg = fastConfig(PersonalityVLLM)
	cfg.MidstreamFailRate = 1
	_, run = startServer(t, cfg)
	c = oaClient(run)
	st := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "qwen", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}, MaxTokens: openai.Int(50),
	}, option.WithJSONSet("ignore_eos", true))
	n := 0
	for st.Next() {
		n++
	}
	if st.Err() == nil || !strings.Contains(st.Err().Error(), "InternalServerError") || n < 2 {
		t.Errorf("midstream failure: %d chunks then %v; want chunks then an error event", n, st.Err())
	}

	cfg = fastConfig(PersonalityVLLM)
	cfg.StartupDelay = time.Hour
	_, run = startServer(t, cfg)
	resp, err := http.Get(run.APIURL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("/health during startup: %d, want 503", resp.StatusCode)
	}
	if err := Healthcheck(context.Background(), run.APIURL, PersonalityVLLM); err == nil {
		t.Error("Healthcheck passed during startup")
	}
}

// A client that goes away aborts its request and frees its KV blocks.
func TestDisconnectFreesBlocks(t *testing.T) {
	cfg := fastConfig(PersonalityVLLM)
	cfg.ConstantTTFT = time.Millisecond
	cfg.ConstantITL = time.Hour // the stream would never end by itself
	s, run := startServer(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", run.APIURL+"/v1/completions",
		strings.NewReader(`{"model":"qwen","prompt":"`+strings.Repeat("abcd ", 100)+`","max_tokens":1000,"stream":true}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "data: ") {
		t.Fatalf("first line %q, %v", line, err)
	}
	if s.eng.snapUsed.Load() == 0 {
		t.Fatal("no KV blocks in use while the stream is open")
	}
	cancel()
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for s.eng.snapUsed.Load() != 0 || s.eng.snapRunning.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("blocks still used after the client left: %d", s.eng.snapUsed.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestModelsAndVersion(t *testing.T) {
	cfg := fastConfig(PersonalityVLLM)
	_, run := startServer(t, cfg)
	c := oaClient(run)
	page, err := c.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].ID != "qwen" || !strings.Contains(page.Data[0].RawJSON(), `"root":"Qwen/Qwen2.5-1.5B-Instruct"`) {
		t.Errorf("models: %+v", page.Data)
	}
	resp, err := http.Get(run.APIURL + "/version")
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Version string }
	_ = json.NewDecoder(resp.Body).Decode(&v)
	_ = resp.Body.Close()
	if v.Version != cfg.VLLMVersion {
		t.Errorf("/version %q", v.Version)
	}
	if err := Healthcheck(context.Background(), run.APIURL, PersonalityVLLM); err != nil {
		t.Errorf("Healthcheck: %v", err)
	}
}
