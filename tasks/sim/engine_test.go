package sim

import (
	"context"
	"math"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// testConfig is a small deterministic engine configuration.
func testConfig() Config {
	c := DefaultConfig(PersonalityVLLM)
	c.EnablePrefixCaching = false
	c.PrefillBase = 10 * time.Millisecond
	c.PrefillPerToken = 100 * time.Microsecond
	c.DecodeBase = 5 * time.Millisecond
	c.DecodePerSeq = time.Millisecond
	return c
}

// idsPrompt is a prompt of exactly n tokens (ids offset by salt).
func idsPrompt(cfg *Config, n int, salt int64) promptInfo {
	b := newPromptBuilder(cfg.BlockSize, cfg.EnablePrefixCaching)
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = salt*100000 + int64(i)
	}
	b.ids(ids)
	return b.info()
}

// harness is an engine with vLLM metrics attached, driven in virtual time.
type harness struct {
	cfg Config
	e   *engine
	m   *vllmMetrics
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	h := &harness{cfg: cfg, e: newEngine(cfg)}
	h.m = newVLLMMetrics(&h.cfg, h.e, t0)
	h.e.recorders = append(h.e.recorders, h.m)
	return h
}

func (h *harness) submit(t *testing.T, spec requestSpec, at time.Time) *request {
	t.Helper()
	r, err := h.e.submitAt(spec, at)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// run steps the batch scheduler in virtual time until idle; it returns the
// end time.
func (h *harness) run(t *testing.T, from time.Time) time.Time {
	t.Helper()
	now := from
	for i := 0; i < 1_000_000; i++ {
		dur, work, wakeAt := h.e.schedule(now)
		if !work {
			if wakeAt.IsZero() {
				return now
			}
			now = wakeAt
			continue
		}
		now = now.Add(dur)
		h.e.complete(now)
	}
	t.Fatal("engine did not become idle")
	return now
}

// step runs exactly one scheduler step.
func (h *harness) step(t *testing.T, now time.Time) time.Time {
	t.Helper()
	dur, work, _ := h.e.schedule(now)
	if !work {
		t.Fatalf("no work at %v", now.Sub(t0))
	}
	end := now.Add(dur)
	h.e.complete(end)
	return end
}

func fixedSpec(cfg *Config, prompt, out int, salt int64) requestSpec {
	return requestSpec{prompt: idsPrompt(cfg, prompt, salt), maxTokens: out, ignoreEOS: true, n: 1, noFaults: true}
}

func approx(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// Requests beyond max_num_seqs wait for running ones to finish: their TTFT
// is the first batch's whole run plus their own prefill.
func TestQueueingRaisesTTFT(t *testing.T) {
	cfg := testConfig()
	cfg.MaxNumSeqs = 2
	h := newHarness(t, cfg)
	var rs []*request
	for i := range 4 {
		rs = append(rs, h.submit(t, fixedSpec(&cfg, 100, 10, int64(i)), t0))
	}
	h.run(t, t0)
	prefill := cfg.PrefillBase + 200*cfg.PrefillPerToken // two prompts of 100 in one step
	decode := cfg.DecodeBase + 2*cfg.DecodePerSeq
	firstBatchEnd := prefill + 9*decode
	want := []time.Duration{prefill, prefill, firstBatchEnd + prefill, firstBatchEnd + prefill}
	for i, r := range rs {
		if got := r.ttft(); got != want[i] {
			t.Errorf("request %d: TTFT %v, want %v", i, got, want[i])
		}
		if r.generated != 10 || r.finishReason != FinishLength {
			t.Errorf("request %d: %d tokens, reason %q; want 10, length", i, r.generated, r.finishReason)
		}
	}
	if q := rs[2].queueTime(); q != firstBatchEnd {
		t.Errorf("queue time of the third request %v, want %v", q, firstBatchEnd)
	}
	approx(t, "request_queue_time_seconds_sum", h.m.queue.sum, 2*firstBatchEnd.Seconds())
	approx(t, "time_to_first_token_seconds_sum", h.m.ttft.sum, (2*prefill + 2*(firstBatchEnd+prefill)).Seconds())
	approx(t, "inter_token_latency_seconds_sum", h.m.itl.sum, 4*9*decode.Seconds())
}

func TestKVUsageRisesWithConcurrency(t *testing.T) {
	prev := -1.0
	for _, k := range []int{1, 4, 16, 48} { // 48 x 160 tokens fit the 8192-token step budget
		cfg := testConfig()
		h := newHarness(t, cfg)
		for i := range k {
			h.submit(t, fixedSpec(&cfg, 160, 50, int64(i)), t0) // 10 blocks each
		}
		h.step(t, t0)
		got := h.e.kvUsage()
		approx(t, "kv usage", got, float64(k*10)/float64(cfg.NumGPUBlocks))
		if got <= prev {
			t.Errorf("kv usage %v at %d requests is not above %v", got, k, prev)
		}
		prev = got
		var w promWriter
		h.m.write(&w)
		if !containsLine(w.b.String(), `vllm:kv_cache_usage_perc{engine="0",model_name="qwen"} `+pyFloatToGo(got)) {
			t.Errorf("metrics page lacks the kv usage %v", got)
		}
	}
}

func containsLine(page, line string) bool {
	for len(page) > 0 {
		i := 0
		for i < len(page) && page[i] != '\n' {
			i++
		}
		if page[:i] == line {
			return true
		}
		if i == len(page) {
			break
		}
		page = page[i+1:]
	}
	return false
}

func TestPreemptionWhenCacheFull(t *testing.T) {
	cfg := testConfig()
	cfg.NumGPUBlocks = 20 // 320 tokens
	cfg.MaxModelLen = 320
	h := newHarness(t, cfg)
	var rs []*request
	for i := range 4 {
		rs = append(rs, h.submit(t, fixedSpec(&cfg, 64, 100, int64(i)), t0))
	}
	h.run(t, t0)
	if h.m.preemptions == 0 {
		t.Fatal("no preemption although 4 x (64+100) tokens exceed 320 KV slots")
	}
	total := 0
	for i, r := range rs {
		if r.generated != 100 || r.finishReason != FinishLength {
			t.Errorf("request %d: %d tokens, %q; want 100, length", i, r.generated, r.finishReason)
		}
		total += r.preemptions
	}
	approx(t, "num_preemptions", h.m.preemptions, float64(total))
	approx(t, "prompt_tokens (once per request)", h.m.promptTokens, 4*64)
	approx(t, "generation_tokens", h.m.genTokens, 400)
	if h.e.usedBlocks != 0 || h.e.freeBlocks != cfg.NumGPUBlocks {
		t.Errorf("after the run %d blocks used, %d free; want 0, %d", h.e.usedBlocks, h.e.freeBlocks, cfg.NumGPUBlocks)
	}
}

func TestCountersAgree(t *testing.T) {
	cfg := testConfig()
	cfg.OutputTokensMean = 20
	cfg.EnablePrefixCaching = true
	cfg.MaxNumSeqs = 8
	h := newHarness(t, cfg)
	var rs []*request
	wantPrompt, wantMin := 0, map[*request]int{}
	for i := range 40 {
		spec := requestSpec{prompt: idsPrompt(&cfg, 20+i*7, int64(i%5)), maxTokens: 60, n: 1, noFaults: true}
		if i%4 == 0 {
			spec.minTokens = 50
		}
		wantPrompt += spec.prompt.tokens
		r := h.submit(t, spec, t0.Add(time.Duration(i)*3*time.Millisecond))
		wantMin[r] = spec.minTokens
		rs = append(rs, r)
	}
	h.run(t, t0)
	gen, stops := 0, 0
	for _, r := range rs {
		gen += r.generated
		if r.generated < wantMin[r] {
			t.Errorf("request with min_tokens %d stopped at %d", wantMin[r], r.generated)
		}
		if r.finishReason == FinishStop {
			stops++
		}
	}
	if stops == 0 {
		t.Error("no request stopped on EOS")
	}
	approx(t, "prompt_tokens_total", h.m.promptTokens, float64(wantPrompt))
	approx(t, "generation_tokens_total", h.m.genTokens, float64(gen))
	approx(t, "request_generation_tokens_sum", h.m.reqGen.sum, float64(gen))
	approx(t, "request_prompt_tokens_sum", h.m.reqPrompt.sum, float64(wantPrompt))
	approx(t, "iteration_tokens_total_sum", h.m.iter.sum, float64(wantPrompt+gen))
	approx(t, "request_success_total", h.m.success[FinishStop]+h.m.success[FinishLength], float64(len(rs)))
	approx(t, "request_success_total{stop}", h.m.success[FinishStop], float64(stops))
	approx(t, "time_to_first_token_seconds_count", float64(h.m.ttft.count), float64(len(rs)))
	approx(t, "inter_token_latency_seconds_count", float64(h.m.itl.count), float64(gen-len(rs)))
	approx(t, "prefix hits = local_cache_hit", h.m.prefixHits, h.m.srcCache)
	approx(t, "by source sum", h.m.srcCache+h.m.srcCompute, float64(wantPrompt))
	if h.m.prefixHits == 0 {
		t.Error("no prefix cache hit although prompts share prefixes")
	}
}

func TestAbortFreesBlocks(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg)
	a := h.submit(t, fixedSpec(&cfg, 64, 100, 1), t0)
	b := h.submit(t, fixedSpec(&cfg, 64, 100, 2), t0)
	now := h.step(t, t0)
	now = h.step(t, now)
	if h.e.usedBlocks != 2*5 {
		t.Fatalf("%d blocks used, want 10", h.e.usedBlocks)
	}
	h.e.abort(a)
	now = h.step(t, now)
	if h.e.usedBlocks != 5 || len(h.e.running) != 1 || h.e.running[0] != b {
		t.Errorf("after abort: %d blocks used, %d running; want 5, 1 (the other request)", h.e.usedBlocks, len(h.e.running))
	}
	p, err := a.next(context.Background(), 1<<30)
	if err != nil || !p.done || p.reason != FinishAbort {
		t.Errorf("aborted request: %+v, %v; want done with abort", p, err)
	}
	h.e.abort(b)
	h.run(t, now)
	if h.e.usedBlocks != 0 || h.e.freeBlocks != cfg.NumGPUBlocks {
		t.Errorf("%d blocks used after both aborts", h.e.usedBlocks)
	}
	if h.m.success[FinishAbort] != 0 {
		t.Error("client aborts must not count as finished_reason=abort (vLLM V1 behaviour)")
	}
	approx(t, "prompt tokens of aborted, prefilled requests", h.m.promptTokens, 128)
}

func TestConstantLatencyMode(t *testing.T) {
	cfg := testConfig()
	cfg.ConstantTTFT = 50 * time.Millisecond
	cfg.ConstantITL = 10 * time.Millisecond
	cfg.MaxNumSeqs = 5 // all run at once: none waits
	h := newHarness(t, cfg)
	var rs []*request
	for i := range 5 {
		rs = append(rs, h.submit(t, fixedSpec(&cfg, 100+i, 20, int64(i)), t0.Add(time.Duration(i)*time.Millisecond)))
	}
	h.e.constAdvance(t0.Add(time.Hour))
	for i, r := range rs {
		if r.ttft() != cfg.ConstantTTFT {
			t.Errorf("request %d TTFT %v, want %v", i, r.ttft(), cfg.ConstantTTFT)
		}
		if want := cfg.ConstantTTFT + 19*cfg.ConstantITL; r.e2e() != want {
			t.Errorf("request %d e2e %v, want %v", i, r.e2e(), want)
		}
	}
	approx(t, "ttft sum", h.m.ttft.sum, 5*0.05)
	approx(t, "itl sum", h.m.itl.sum, 5*19*0.01)
	if h.m.itl.count != 5*19 {
		t.Errorf("itl count %d, want %d", h.m.itl.count, 5*19)
	}
	if h.e.usedBlocks != 0 {
		t.Errorf("%d blocks still counted", h.e.usedBlocks)
	}
}

// Constant mode honours MaxNumSeqs: a request beyond it waits in a FIFO
// queue, and its TTFT counts the wait.
func TestConstantLatencyQueue(t *testing.T) {
	cfg := testConfig()
	cfg.ConstantTTFT = 50 * time.Millisecond
	cfg.ConstantITL = 10 * time.Millisecond
	cfg.MaxNumSeqs = 2
	h := newHarness(t, cfg)
	var rs []*request
	for i := range 3 {
		rs = append(rs, h.submit(t, fixedSpec(&cfg, 100, 20, int64(i)), t0))
	}
	h.e.constAdvance(t0)
	if w, r := h.e.waitingNow(), h.e.snapRunning.Load(); w != 1 || r != 2 || h.e.snapWaiting.Load() != 1 {
		t.Errorf("at arrival: %d waiting (snapshot %d), %d running; want 1 waiting, 2 running", w, h.e.snapWaiting.Load(), r)
	}
	var w promWriter
	h.m.write(&w)
	for _, line := range []string{`vllm:num_requests_waiting{engine="0",model_name="qwen"} 1.0`, `vllm:num_requests_running{engine="0",model_name="qwen"} 2.0`} {
		if !containsLine(w.b.String(), line) {
			t.Errorf("metrics page while one waits lacks %s", line)
		}
	}
	perRequest := cfg.ConstantTTFT + 19*cfg.ConstantITL
	h.e.constAdvance(t0.Add(time.Hour))
	for i, r := range rs[:2] {
		if r.ttft() != cfg.ConstantTTFT || r.e2e() != perRequest {
			t.Errorf("request %d: TTFT %v, e2e %v; want %v, %v", i, r.ttft(), r.e2e(), cfg.ConstantTTFT, perRequest)
		}
	}
	third := rs[2]
	if want := perRequest + cfg.ConstantTTFT; third.ttft() != want || third.queueTime() != perRequest || third.e2e() != 2*perRequest {
		t.Errorf("third request: TTFT %v, queued %v, e2e %v; want %v, %v, %v", third.ttft(), third.queueTime(), third.e2e(), want, perRequest, 2*perRequest)
	}
	if w := h.e.waitingNow(); w != 0 || h.e.snapWaiting.Load() != 0 || h.e.snapRunning.Load() != 0 {
		t.Errorf("after the end: %d waiting, %d running", w, h.e.snapRunning.Load())
	}
}

// In constant mode a client that leaves frees its place: a waiting
// request leaves the queue, a running one's slot goes to the next waiting
// one at once.
func TestConstantLatencyQueueAborts(t *testing.T) {
	cfg := testConfig()
	cfg.ConstantTTFT, cfg.ConstantITL = 50*time.Millisecond, 10*time.Millisecond
	cfg.MaxNumSeqs = 1
	h := newHarness(t, cfg)
	a := h.submit(t, fixedSpec(&cfg, 10, 20, 1), t0)
	b := h.submit(t, fixedSpec(&cfg, 10, 20, 2), t0)
	c := h.submit(t, fixedSpec(&cfg, 10, 20, 3), t0)
	h.e.constAdvance(t0)
	h.e.abort(b) // waiting
	h.e.abort(a) // running
	at := t0.Add(5 * time.Millisecond)
	h.e.constAdvance(at)
	if a.finishReason != FinishAbort || b.finishReason != FinishAbort || !c.running || c.scheduledAt != at {
		t.Fatalf("a %q, b %q, c running %v from %v", a.finishReason, b.finishReason, c.running, c.scheduledAt.Sub(t0))
	}
	if w := h.e.waitingNow(); w != 0 || h.e.snapRunning.Load() != 1 {
		t.Errorf("%d waiting, %d running; want 0, 1", w, h.e.snapRunning.Load())
	}
	h.e.constAdvance(t0.Add(time.Hour))
	if want := 5*time.Millisecond + cfg.ConstantTTFT; c.ttft() != want || c.finishReason != FinishLength {
		t.Errorf("c: TTFT %v (%q), want %v", c.ttft(), c.finishReason, want)
	}
}

// At saturation constant mode serves MaxNumSeqs / (TTFT + (tokens-1) x ITL)
// requests per second: arrivals faster than that, in virtual time, are
// served at that rate.
func TestConstantLatencyCapacity(t *testing.T) {
	cfg := testConfig()
	cfg.ConstantTTFT = 40 * time.Millisecond
	cfg.ConstantITL = 5 * time.Millisecond
	cfg.MaxNumSeqs = 8
	cfg.MaxWaiting = 0
	const tokens, n = 33, 2000
	perRequest := cfg.ConstantTTFT + (tokens-1)*cfg.ConstantITL // 200 ms
	capacity := float64(cfg.MaxNumSeqs) / perRequest.Seconds()  // 40 req/s
	h := newHarness(t, cfg)
	gap := time.Duration(float64(time.Second) / (3 * capacity)) // offered: 3 x capacity
	var rs []*request
	now := t0
	for i := range n {
		at := t0.Add(time.Duration(i) * gap)
		for now.Before(at) { // wake as the server would: at every due token
			next := at
			if len(h.e.cheap) > 0 && h.e.cheap[0].due.Before(next) {
				next = h.e.cheap[0].due
			}
			now = next
			h.e.constAdvance(now)
		}
		rs = append(rs, h.submit(t, fixedSpec(&cfg, 10, tokens, int64(i)), at))
		h.e.constAdvance(at)
		if r := h.e.snapRunning.Load(); r > int64(cfg.MaxNumSeqs) {
			t.Fatalf("%d running, more than -max-num-seqs %d", r, cfg.MaxNumSeqs)
		}
	}
	h.e.constAdvance(t0.Add(time.Hour))
	first, last := rs[0].finishedAt, rs[0].finishedAt
	for _, r := range rs {
		if !r.finished || r.finishReason != FinishLength {
			t.Fatalf("request %d: finished %v (%q)", r.seq, r.finished, r.finishReason)
		}
		first, last = minTime(first, r.finishedAt), maxTime(last, r.finishedAt)
	}
	got := float64(n-1) / last.Sub(first).Seconds()
	if math.Abs(got-capacity) > 0.02*capacity {
		t.Errorf("throughput at saturation %.3f req/s, want %.3f (-max-num-seqs / (TTFT + (tokens-1) x ITL)) within 2 %%", got, capacity)
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func TestSeedReproducible(t *testing.T) {
	outputs := func(seed uint64) []string {
		cfg := testConfig()
		cfg.Seed = seed
		cfg.OutputTokensMean = 30
		h := newHarness(t, cfg)
		var rs []*request
		for i := range 20 {
			rs = append(rs, h.submit(t, requestSpec{prompt: idsPrompt(&cfg, 10, int64(i)), maxTokens: 200, n: 1}, t0))
		}
		h.run(t, t0)
		var out []string
		for _, r := range rs {
			out = append(out, string(outputText(nil, r.textSeed, 0, r.generated)))
		}
		return out
	}
	a, b, c := outputs(7), outputs(7), outputs(8)
	same := 0
	for i := range a {
		if a[i] != b[i] {
			t.Errorf("seed 7, request %d: %q then %q", i, a[i], b[i])
		}
		if a[i] == c[i] {
			same++
		}
	}
	if same == len(a) {
		t.Error("seeds 7 and 8 gave the same outputs")
	}
}

func TestFaultsAndStalls(t *testing.T) {
	cfg := testConfig()
	cfg.MidstreamFailRate = 1
	h := newHarness(t, cfg)
	var rs []*request
	for i := range 10 {
		spec := fixedSpec(&cfg, 10, 50, int64(i))
		spec.noFaults = false
		rs = append(rs, h.submit(t, spec, t0))
	}
	h.run(t, t0)
	for i, r := range rs {
		if r.finishReason != FinishError || r.generated < 1 || r.generated >= 50 {
			t.Errorf("request %d: %q after %d tokens; want error before 50", i, r.finishReason, r.generated)
		}
	}
	approx(t, "finished_reason=error", h.m.success[FinishError], 10)

	cfg = testConfig()
	cfg.StallRate = 1
	cfg.Stall = 3 * time.Second
	h = newHarness(t, cfg)
	spec := fixedSpec(&cfg, 10, 50, 1)
	spec.noFaults = false
	r := h.submit(t, spec, t0)
	h.run(t, t0)
	if r.generated != 50 {
		t.Fatalf("stalled request made %d tokens, want 50", r.generated)
	}
	if r.e2e() < cfg.Stall || h.m.itl.sum < cfg.Stall.Seconds() {
		t.Errorf("e2e %v and ITL sum %vs do not include the %v stall", r.e2e(), h.m.itl.sum, cfg.Stall)
	}
}

func TestQueueBound(t *testing.T) {
	cfg := testConfig()
	cfg.MaxWaiting = 3
	e := newEngine(cfg)
	for i := range 3 {
		if _, err := e.submitAt(fixedSpec(&cfg, 10, 5, int64(i)), t0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.submitAt(fixedSpec(&cfg, 10, 5, 9), t0); err != ErrQueueFull {
		t.Fatalf("fourth request: %v, want ErrQueueFull", err)
	}
}
