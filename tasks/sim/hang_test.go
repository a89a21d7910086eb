package sim

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// -hang-rate: evenly spaced requests get no answer at all (no headers)
// until the client leaves; the others, and the server, are unaffected.
func TestHangRate(t *testing.T) {
	for _, c := range []struct{ personality, path, body string }{
		{PersonalityVLLM, "/v1/chat/completions", `{"model":"qwen","messages":[{"role":"user","content":"hi"}],"max_tokens":3,"stream":true}`},
		{PersonalityTritonVLLM, "/v2/models/qwen/generate_stream", `{"text_input":"hi","parameters":{"max_tokens":3}}`},
	} {
		t.Run(c.personality, func(t *testing.T) {
			cfg := fastConfig(c.personality)
			cfg.HangRate = 0.25
			_, run := startServer(t, cfg)
			var hung []int
			for i := 1; i <= 8; i++ {
				// A hung request is told apart by the client giving up; a
				// healthy one answers at once (zero latencies), far inside it.
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, run.APIURL+c.path, strings.NewReader(c.body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				switch {
				case errors.Is(err, context.DeadlineExceeded):
					hung = append(hung, i)
				case err != nil:
					t.Fatalf("request %d: %v", i, err)
				default:
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || len(b) == 0 {
						t.Fatalf("request %d: HTTP %d %q", i, resp.StatusCode, b)
					}
				}
				cancel()
			}
			if len(hung) != 2 || hung[0] != 4 || hung[1] != 8 {
				t.Fatalf("hung requests %v, want [4 8] (one in four, evenly spaced)", hung)
			}
		})
	}
}

func TestHangRateValidated(t *testing.T) {
	cfg := DefaultConfig(PersonalityVLLM)
	cfg.HangRate = 1.5
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "-hang-rate (SIM_HANG_RATE): want a fraction between 0 and 1") {
		t.Fatalf("err = %v", err)
	}
}
