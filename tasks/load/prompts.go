package load

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/wire"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/workload"
)

// Prompt is one request's input.
type Prompt struct {
	Text string
	// MaxTokens overrides Options.MaxTokens for this prompt when > 0.
	MaxTokens int
	// Messages, when set, are the chat messages of the request (an
	// openai-chat dataset); Text then holds their contents.
	Messages []workload.Message
}

// PromptSource selects the prompts. The zero value means the five default
// prompts. At most one of Prompts, Dataset and SyntheticTokens may be set.
type PromptSource struct {
	// Prompts are used as given.
	Prompts []Prompt
	// Dataset is a dataset or trace file (package workload reads it, in
	// Format): a local path, a file:// URL, or an http(s) URL. A JSONL
	// file has {"prompt": "...", "max_tokens": N} on each non-blank line
	// ("text" is accepted instead of "prompt"; max_tokens is optional).
	// An http(s) URL must carry a checksum, either in the URL
	// (?checksum=sha256:<hex>) or in Checksum; a local path needs none.
	Dataset string
	// Checksum is "sha256:<64 hex>" or "sha512:<128 hex>" for an http(s) Dataset.
	Checksum string
	// SyntheticTokens > 0 generates SyntheticCount prompts of about that many
	// tokens (workload.Synthetic). Tokens are approximated as words: each prompt is
	// SyntheticTokens words drawn from a fixed vocabulary of short common
	// English words (seeded, so runs repeat). BPE tokenizers give about 1 to
	// 1.3 tokens per such word, so the real prompt length is the same or up
	// to ~30% longer; the server's usage.prompt_tokens reports the truth.
	// Each prompt starts with a distinct word sequence, so prefix caching
	// does not turn them into one prompt.
	SyntheticTokens int
	// SyntheticCount is the number of synthetic prompts (default
	// DefaultSyntheticCount).
	SyntheticCount int
	// Seed for synthetic prompts (default 1).
	Seed uint64

	// Format is the Dataset's format (workload.Formats); "" or auto
	// detects it from the content. Trace formats (mooncake, azure,
	// burstgpt) are replayed open loop at their own times, divided by
	// TraceSpeed (default 1), and their end ends the run.
	Format     workload.Format
	TraceSpeed float64
	// Once plays the workload once: its end ends the run (stopped_by
	// "dataset_end") instead of cycling it.
	Once bool
	// Sessions replays each conversation of a sharegpt or openai-chat
	// Dataset turn by turn (protocol openai-chat only): a worker takes the
	// next session, sends each turn with the history and the server's
	// answers so far, and waits ThinkTime between turns.
	Sessions  bool
	ThinkTime time.Duration
	// Synthetic prompts' shapes (with SyntheticTokens): the distribution
	// of their lengths (workload.ParseDist: fixed, uniform:LO:HI,
	// normal:SD, lognormal:SIGMA), an output length OutputTokens with its
	// distribution (0: MaxTokens, fixed), and PrefixGroups shared prefixes
	// of PrefixTokens tokens (PrefixGroups 0 with PrefixTokens: one).
	SyntheticDist              string
	OutputTokens               int
	OutputDist                 string
	PrefixTokens, PrefixGroups int
}

// shaped reports whether synthetic prompts have more shape than a fixed
// length.
func (p PromptSource) shaped() bool {
	return p.SyntheticDist != "" || p.OutputTokens > 0 || p.OutputDist != "" || p.PrefixTokens > 0 || p.PrefixGroups > 0
}

// synthetic returns the workload.Synthetic of the synthetic prompts.
func (p PromptSource) synthetic() (workload.Synthetic, error) {
	s := workload.Synthetic{InputTokens: p.SyntheticTokens, OutputTokens: p.OutputTokens,
		PrefixTokens: p.PrefixTokens, PrefixGroups: p.PrefixGroups, Count: p.syntheticCount(), Seed: cmp.Or(p.Seed, 1)}
	if s.PrefixTokens > 0 && s.PrefixGroups == 0 {
		s.PrefixGroups = 1
	}
	var err error
	if s.InputDist, err = workload.ParseDist(p.SyntheticDist); err != nil {
		return s, fmt.Errorf("prompts: synthetic distribution: %w", err)
	}
	if s.OutputDist, err = workload.ParseDist(p.OutputDist); err != nil {
		return s, fmt.Errorf("prompts: output distribution: %w", err)
	}
	return s, nil
}

// validate checks the source's combinations; protocol and rate are the
// run's.
func (p PromptSource) validate(protocol Protocol, rate float64) error {
	n := 0
	for _, set := range []bool{len(p.Prompts) > 0, p.Dataset != "", p.SyntheticTokens > 0} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return errors.New("prompts: set only one of Prompts, Dataset and SyntheticTokens")
	case p.Format != "" && p.Format != workload.Auto && !slices.Contains(workload.Formats, p.Format):
		return fmt.Errorf("prompts: dataset format %q: expected auto or one of %v", p.Format, workload.Formats)
	case p.Format != "" && p.Format != workload.Auto && p.Dataset == "":
		return fmt.Errorf("prompts: dataset format %s needs a dataset", p.Format)
	case p.TraceSpeed < 0 || math.IsNaN(p.TraceSpeed) || math.IsInf(p.TraceSpeed, 0):
		return fmt.Errorf("prompts: trace speed %v: expected > 0 (2 replays a trace twice as fast)", p.TraceSpeed)
	case p.Sessions && p.Dataset == "":
		return errors.New("prompts: sessions replay the conversations of a dataset: give a sharegpt or openai-chat dataset")
	case p.Sessions && protocol != ProtocolOpenAIChat:
		return fmt.Errorf("prompts: sessions send chat histories, which protocol %s cannot carry: use a backend that speaks %s (vllm or sim)", protocol, ProtocolOpenAIChat)
	case p.Sessions && rate > 0:
		return errors.New("prompts: sessions are replayed by closed-loop workers (one session each at a time): drop the rate")
	case p.ThinkTime < 0:
		return fmt.Errorf("prompts: think time %v: expected >= 0", p.ThinkTime)
	case p.ThinkTime > 0 && !p.Sessions:
		return errors.New("prompts: think time is the pause between the turns of a session: it needs sessions")
	case p.shaped() && p.SyntheticTokens <= 0:
		return errors.New("prompts: synthetic distributions, output tokens and prefixes shape synthetic prompts: give the synthetic prompt length too")
	case p.OutputTokens < 0 || p.PrefixTokens < 0 || p.PrefixGroups < 0:
		return errors.New("prompts: OutputTokens, PrefixTokens and PrefixGroups must not be negative")
	}
	return nil
}

// DefaultPrompts are the five prompts used when no source is given.
var DefaultPrompts = []Prompt{
	{Text: "Explain the difference between TCP and UDP in two sentences."},
	{Text: "Write a short haiku about autumn leaves falling in a quiet city park."},
	{Text: "Summarize the main causes of the French Revolution in three bullet points."},
	{Text: "What is a hash table, and why are lookups usually constant time?"},
	{Text: "Give three practical tips for writing readable Go code, with one example each."},
}

// Describe returns a short description of the source for the results file.
func (p PromptSource) Describe() string {
	switch {
	case len(p.Prompts) > 0:
		return fmt.Sprintf("given (%d prompts)", len(p.Prompts))
	case p.Dataset != "" && p.Sessions:
		return "sessions of dataset " + workload.RedactURL(p.Dataset)
	case p.Dataset != "":
		return "dataset " + workload.RedactURL(p.Dataset)
	case p.SyntheticTokens > 0 && p.shaped():
		return fmt.Sprintf("synthetic (%d prompts of ~%d tokens, shaped)", p.syntheticCount(), p.SyntheticTokens)
	case p.SyntheticTokens > 0:
		return fmt.Sprintf("synthetic (%d prompts of ~%d words)", p.syntheticCount(), p.SyntheticTokens)
	}
	return "default (5 prompts)"
}

// DefaultSyntheticCount is the number of synthetic prompts when
// PromptSource.SyntheticCount is 0.
const DefaultSyntheticCount = workload.DefaultSyntheticCount

func (p PromptSource) syntheticCount() int {
	if p.SyntheticCount > 0 {
		return p.SyntheticCount
	}
	return DefaultSyntheticCount
}

// LoadPrompts resolves a PromptSource into prompts: the given or default
// ones, or a dataset or synthetic prompts read whole (a trace's times are
// left out; sessions are refused).
func LoadPrompts(ctx context.Context, src PromptSource) ([]Prompt, error) {
	if src.Sessions {
		return nil, errors.New("prompts: sessions are replayed by load.Run, not read as prompts")
	}
	if err := src.validate(DefaultProtocol, 0); err != nil {
		return nil, err
	}
	if len(src.Prompts) > 0 {
		for i, p := range src.Prompts {
			if strings.TrimSpace(p.Text) == "" {
				return nil, fmt.Errorf("prompts: prompt %d is empty", i)
			}
		}
		return src.Prompts, nil
	}
	if src.Dataset == "" && src.SyntheticTokens == 0 {
		return DefaultPrompts, nil
	}
	rd, _, err := src.open(ctx, 0)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	reqs, err := readAll(rd)
	if err != nil {
		return nil, err
	}
	out := make([]Prompt, len(reqs))
	for i, r := range reqs {
		out[i] = Prompt{Text: r.Prompt, MaxTokens: r.MaxTokens, Messages: r.Messages}
		if len(r.Messages) > 0 {
			out[i].Text = wire.Request{Messages: wireMessages(r.Messages)}.Text()
		}
	}
	return out, nil
}

// open opens the source's dataset, or its synthetic prompts, with output
// lengths capped at maxTokens (0: no cap), and returns its format ("" for
// synthetic prompts).
func (p PromptSource) open(ctx context.Context, maxTokens int) (workload.Reader, workload.Format, error) {
	if p.Dataset != "" {
		return workload.Open(ctx, workload.Source{Path: p.Dataset, Checksum: p.Checksum, Format: p.Format, MaxTokens: maxTokens})
	}
	if p.SyntheticTokens < 0 {
		return nil, "", fmt.Errorf("prompts: SyntheticTokens = %d, expected a positive number of tokens", p.SyntheticTokens)
	}
	syn, err := p.synthetic()
	if err != nil {
		return nil, "", err
	}
	rd, err := syn.Reader()
	if err != nil {
		return nil, "", fmt.Errorf("prompts: %w", err)
	}
	return rd, "", nil
}
