package load

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	getter "github.com/hashicorp/go-getter/v2"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/workload"
)

// Prompt is one request's input.
type Prompt struct {
	Text string
	// MaxTokens overrides Options.MaxTokens for this prompt when > 0.
	MaxTokens int
}

// PromptSource selects the prompts. The zero value means the five default
// prompts. At most one of Prompts, Dataset and SyntheticTokens may be set.
type PromptSource struct {
	// Prompts are used as given.
	Prompts []Prompt
	// Dataset is a JSONL file: a local path, a file:// URL, or an http(s)
	// URL. Each non-blank line is {"prompt": "...", "max_tokens": N}
	// ("text" is accepted instead of "prompt"; max_tokens is optional).
	// An http(s) URL must carry a checksum, either in the URL
	// (?checksum=sha256:<hex>) or in Checksum; a local path needs none.
	Dataset string
	// Checksum is "sha256:<64 hex>" or "sha512:<128 hex>" for an http(s) Dataset.
	Checksum string
	// SyntheticTokens > 0 generates SyntheticCount prompts of about that many
	// tokens. Tokens are approximated as words: each prompt is
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

// shaped reports whether synthetic prompts have a shape that package
// workload makes (the plain -synthetic prompts are SyntheticPrompts).
func (p PromptSource) shaped() bool {
	return p.SyntheticDist != "" || p.OutputTokens > 0 || p.OutputDist != "" || p.PrefixTokens > 0 || p.PrefixGroups > 0
}

// synthetic returns the workload.Synthetic of shaped synthetic prompts.
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
		return "sessions of dataset " + redactURL(p.Dataset)
	case p.Dataset != "":
		return "dataset " + redactURL(p.Dataset)
	case p.SyntheticTokens > 0 && p.shaped():
		return fmt.Sprintf("synthetic (%d prompts of ~%d tokens, shaped)", p.syntheticCount(), p.SyntheticTokens)
	case p.SyntheticTokens > 0:
		return fmt.Sprintf("synthetic (%d prompts of ~%d words)", p.syntheticCount(), p.SyntheticTokens)
	}
	return "default (5 prompts)"
}

// DefaultSyntheticCount is the number of synthetic prompts when
// PromptSource.SyntheticCount is 0.
const DefaultSyntheticCount = 100

func (p PromptSource) syntheticCount() int {
	if p.SyntheticCount > 0 {
		return p.SyntheticCount
	}
	return DefaultSyntheticCount
}

// LoadPrompts resolves a PromptSource into prompts.
func LoadPrompts(ctx context.Context, src PromptSource) ([]Prompt, error) {
	n := 0
	if len(src.Prompts) > 0 {
		n++
	}
	if src.Dataset != "" {
		n++
	}
	if src.SyntheticTokens > 0 {
		n++
	}
	if n > 1 {
		return nil, errors.New("prompts: set only one of Prompts, Dataset and SyntheticTokens")
	}
	switch {
	case len(src.Prompts) > 0:
		for i, p := range src.Prompts {
			if strings.TrimSpace(p.Text) == "" {
				return nil, fmt.Errorf("prompts: prompt %d is empty", i)
			}
		}
		return src.Prompts, nil
	case src.Dataset != "":
		return loadDataset(ctx, src.Dataset, src.Checksum)
	case src.SyntheticTokens > 0:
		return SyntheticPrompts(src.SyntheticTokens, src.syntheticCount(), src.Seed), nil
	case src.SyntheticTokens < 0:
		return nil, fmt.Errorf("prompts: SyntheticTokens = %d, expected a positive number of tokens", src.SyntheticTokens)
	}
	return DefaultPrompts, nil
}

var vocabulary = strings.Fields(`the of and to in is it you that he was for on are with as his they be at one
have this from or had by hot word but what some we can out other were all there when up use your how said an
each she which do their time if will way about many then them write would like so these her long make thing see
him two has look more day could go come did number sound no most people my over know water than call first who
may down side been now find any new work part take get place made live where after back little only round man
year came show every good me give our under name very through just form sentence great think say help low line
differ turn cause much mean before move right boy old too same tell does set three want air well also play small
end put home read hand port large spell add even land here must big high such follow act why ask men change went
light kind off need house picture try us again animal point mother world near build self earth father head stand
own page should country found answer school grow study still learn plant cover food sun four between state keep
eye never last let thought city tree cross farm hard start might story saw far sea draw left late run while press
close night real life few north open seem together next white children begin got walk example ease paper group
always music those both mark often letter until mile river car feet care second book carry took science eat room
friend began idea fish mountain stop once base hear horse cut sure watch color face wood main enough plain girl
usual young ready above ever red list though feel talk bird soon body dog family direct pose leave song measure
door product black short numeral class wind question happen complete ship area half rock order fire south problem
piece told knew pass since top whole king space heard best hour better true during hundred five remember step
early hold west ground interest reach fast verb sing listen six table travel less morning ten simple several vowel
toward war lay against pattern slow center love person money serve appear road map rain rule govern pull cold
notice voice unit power town fine certain fly fall lead cry dark machine note wait plan figure star box noun field
rest correct able pound done beauty drive stood contain front teach week final gave green oh quick develop ocean
warm free minute strong special mind behind clear tail produce fact street inch multiply nothing course stay wheel
full force blue object decide surface deep moon island foot system busy test record boat common gold possible
plane stead dry wonder laugh thousand ago ran check game shape equate miss brought heat snow tire bring yes
distant fill east paint language among`)

// SyntheticPrompts returns count prompts of words words each (words
// approximate tokens; see PromptSource.SyntheticTokens).
func SyntheticPrompts(words, count int, seed uint64) []Prompt {
	if seed == 0 {
		seed = 1
	}
	rng := rand.New(rand.NewPCG(seed, 0x6c6f616467656e))
	out := make([]Prompt, count)
	var b strings.Builder
	for i := range out {
		b.Reset()
		fmt.Fprintf(&b, "Request-%d:", i)
		for w := 1; w < words; w++ {
			b.WriteByte(' ')
			b.WriteString(vocabulary[rng.IntN(len(vocabulary))])
		}
		out[i] = Prompt{Text: b.String()}
	}
	return out
}

// maxDatasetBytes bounds a dataset download or file.
const maxDatasetBytes = 1 << 30

var checksumRE = regexp.MustCompile(`^(sha256:[0-9a-fA-F]{64}|sha512:[0-9a-fA-F]{128})$`)

func loadDataset(ctx context.Context, src, checksum string) ([]Prompt, error) {
	u, err := url.Parse(src)
	if err != nil || u.Scheme == "" || len(u.Scheme) == 1 { // no scheme (or a Windows drive letter): a local path
		f, err := os.Open(src)
		if err != nil {
			return nil, fmt.Errorf("prompts: open dataset: %w (expected a JSONL file path or an http(s)/file URL)", err)
		}
		defer f.Close()
		return ParseJSONL(io.LimitReader(f, maxDatasetBytes), src)
	}
	switch u.Scheme {
	case "http", "https", "file":
	default:
		return nil, fmt.Errorf("prompts: dataset URL scheme %q is not supported; use http, https or file", u.Scheme)
	}
	q := u.Query()
	inURL := q.Get("checksum")
	switch {
	case inURL != "" && checksum != "" && !strings.EqualFold(inURL, checksum):
		return nil, fmt.Errorf("prompts: dataset URL has checksum %q but the checksum option is %q; give one", inURL, checksum)
	case inURL == "" && checksum != "":
		q.Set("checksum", checksum)
		u.RawQuery = q.Encode()
		inURL = checksum
	}
	if inURL != "" && !checksumRE.MatchString(inURL) {
		return nil, fmt.Errorf("prompts: dataset checksum %q: expected sha256:<64 hex digits> or sha512:<128 hex digits>", inURL)
	}
	if inURL == "" && u.Scheme != "file" {
		return nil, fmt.Errorf("prompts: dataset URL %s has no checksum; add ?checksum=sha256:<hex> to the URL or set the checksum option (sha256sum FILE prints it)", redactURL(src))
	}
	dir, err := os.MkdirTemp("", "loadgen-dataset-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	dst := filepath.Join(dir, "dataset.jsonl")
	client := &getter.Client{
		Getters: []getter.Getter{
			&getter.HttpGetter{
				Client:                &http.Client{Timeout: 10 * time.Minute},
				XTerraformGetDisabled: true,
				HeadFirstTimeout:      10 * time.Second,
				ReadTimeout:           5 * time.Minute,
				MaxBytes:              maxDatasetBytes,
			},
			new(getter.FileGetter),
		},
		Decompressors:   map[string]getter.Decompressor{}, // no archive extraction
		DisableSymlinks: true,
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if _, err := client.Get(ctx, &getter.Request{
		Src:             u.String(),
		Dst:             dst,
		GetMode:         getter.ModeFile,
		Copy:            true,
		DisableSymlinks: true,
	}); err != nil {
		return nil, fmt.Errorf("prompts: fetch dataset %s: %w", redactURL(src), err)
	}
	f, err := os.Open(dst)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseJSONL(io.LimitReader(f, maxDatasetBytes), redactURL(src))
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	u.User = url.User("REDACTED")
	return u.String()
}

type jsonlLine struct {
	Prompt    *string         `json:"prompt"`
	Text      *string         `json:"text"`
	MaxTokens json.RawMessage `json:"max_tokens"`
}

// ParseJSONL reads prompts, one JSON object per line:
// {"prompt": "...", "max_tokens": N} (or "text" instead of "prompt").
// Blank lines are skipped. name is used in errors as name:line.
func ParseJSONL(r io.Reader, name string) ([]Prompt, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	var out []Prompt
	const form = `expected {"prompt": "...", "max_tokens": N}`
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var l jsonlLine
		dec := json.NewDecoder(bytes.NewReader(line))
		if err := dec.Decode(&l); err != nil {
			return nil, fmt.Errorf("%s:%d: invalid JSON: %v; %s", name, n, err, form)
		}
		if dec.More() {
			return nil, fmt.Errorf("%s:%d: more than one JSON value on the line; %s", name, n, form)
		}
		var p Prompt
		switch {
		case l.Prompt != nil && l.Text != nil:
			return nil, fmt.Errorf("%s:%d: both \"prompt\" and \"text\" are set; keep one", name, n)
		case l.Prompt != nil:
			p.Text = *l.Prompt
		case l.Text != nil:
			p.Text = *l.Text
		default:
			return nil, fmt.Errorf("%s:%d: missing \"prompt\" (or \"text\"); %s", name, n, form)
		}
		if strings.TrimSpace(p.Text) == "" {
			return nil, fmt.Errorf("%s:%d: the prompt is empty", name, n)
		}
		if mt := bytes.TrimSpace(l.MaxTokens); len(mt) > 0 && !bytes.Equal(mt, []byte("null")) {
			var v int
			if err := json.Unmarshal(mt, &v); err != nil || v <= 0 {
				return nil, fmt.Errorf("%s:%d: \"max_tokens\" is %s; expected a positive integer", name, n, mt)
			}
			p.MaxTokens = v
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: read: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no prompts; %s on each line", name, form)
	}
	return out, nil
}

// approxTokens estimates a prompt's tokens as its word count.
func approxTokens(s string) int { return len(strings.Fields(s)) }
