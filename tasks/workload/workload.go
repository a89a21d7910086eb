// Package workload reads what a load run sends: datasets of prompts and
// conversations (JSONL, ShareGPT, OpenAI chat), production traces with
// their timing (Mooncake, Azure LLM inference, BurstGPT) and synthetic
// prompts with length distributions and shared prefixes. It knows formats
// and text, not HTTP: package load turns each Request into a request body
// (package wire) and decides when to send it.
//
// Files stream: a Reader holds one record at a time, so a 1 GB trace is
// not loaded whole. A URL is fetched with go-getter and needs a checksum.
//
// The files: workload.go the types and entry points; open.go picks a
// reader for a format; fetch.go opens or downloads a file; detect.go tells
// the format from the first bytes; lines.go reads line-based files, for
// jsonl.go, chat.go (OpenAI chat requests and sessions) and mooncake.go
// (with the trace timing that csv.go's Azure and BurstGPT readers share);
// sharegpt.go streams the ShareGPT array (requests and sessions);
// text.go estimates tokens and synthesizes text; synthetic.go holds Dist
// and the synthetic prompts.
package workload

import (
	"context"
	"time"
)

// Format names a dataset or trace format (-dataset-format).
type Format string

const (
	Auto       Format = "auto"        // detected from the first bytes (Detect)
	JSONL      Format = "jsonl"       // {"prompt": "...", "max_tokens": N} per line ("text" for "prompt")
	ShareGPT   Format = "sharegpt"    // JSON array of {"id", "conversations": [{"from", "value"}]}
	OpenAIChat Format = "openai-chat" // {"messages": [{"role", "content"}], "max_tokens": N} per line
	Mooncake   Format = "mooncake"    // {"timestamp" (ms), "input_length", "output_length", "hash_ids"} per line
	Azure      Format = "azure"       // CSV TIMESTAMP,ContextTokens,GeneratedTokens
	BurstGPT   Format = "burstgpt"    // CSV Timestamp,Model,Request tokens,Response tokens,...
)

// Timed reports whether f is a trace format: its requests carry their
// times (Request.At) and are replayed at them.
func (f Format) Timed() bool { return f == Mooncake || f == Azure || f == BurstGPT }

// Formats lists every format but Auto, in the order help texts give them.
var Formats = []Format{JSONL, ShareGPT, OpenAIChat, Mooncake, Azure, BurstGPT}

// Message is one chat message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Request is one request of a workload.
type Request struct {
	// ID is the dataset's own id where it has one (ShareGPT "id"), else
	// the source name and line or index, e.g. "trace.jsonl:12".
	ID string
	// Prompt is the text of a single-prompt request; Messages the chat
	// messages of one (OpenAI chat files). Exactly one is set.
	Prompt   string
	Messages []Message
	// InputTokens is the prompt length the source intends, where it says
	// (traces, synthetic prompts); 0 when unknown.
	InputTokens int
	// MaxTokens is the output length the source intends: a reference
	// answer's estimated length (ShareGPT, as vLLM's benchmark does; OpenAI
	// chat) or a trace's output length, capped by Source.MaxTokens; or a
	// line's own max_tokens (JSONL, OpenAI chat), as given. 0: the run's
	// default.
	MaxTokens int
	// Timed requests (traces) carry At, their time from the trace's first
	// request; the run sends each at start + At/speed, open loop.
	Timed bool
	At    time.Duration
}

// Session is one conversation, replayed turn by turn (-sessions): each
// turn's messages are appended to the history with the server's answers.
type Session struct {
	ID    string
	Turns []Turn
}

// Turn is one user turn of a session.
type Turn struct {
	// Messages are what the user adds in this turn (normally one user
	// message; a leading system message in the first turn).
	Messages []Message
	// MaxTokens is the reference answer's length where the file has one
	// (capped by Source.MaxTokens); 0: the run's default.
	MaxTokens int
}

// Source says where a workload comes from.
type Source struct {
	// Path is a local path, a file:// URL or an http(s) URL (which needs
	// Checksum, or ?checksum= in the URL).
	Path     string
	Checksum string // sha256:HEX or sha512:HEX
	Format   Format // Auto or "" detects it
	// MaxTokens caps the output lengths the source derives: reference
	// answers' and traces' (0: no cap). A line's own max_tokens is the
	// user's and is not capped.
	MaxTokens int
}

// Reader streams the requests of a workload, one at a time. Next returns
// io.EOF after the last; errors name the source, line and field.
type Reader interface {
	Next() (Request, error)
	Close() error
}

// Skipper is what a Reader or SessionReader that drops records
// implements: Skipped returns how many it dropped so far (ShareGPT
// conversations outside vLLM's filter or without a human turn, Azure and
// BurstGPT rows without output), for the caller to report.
type Skipper interface {
	Skipped() int
}

// SessionReader streams the sessions of a conversation file.
type SessionReader interface {
	Next() (Session, error)
	Close() error
}

// Open opens a workload and returns its Reader and its format (detected
// when s.Format is Auto or ""). The file is fetched as Fetch does; Close
// closes it (and removes a download). A Reader that skips records
// (ShareGPT's filter, BurstGPT's failures) implements Skipper.
func Open(ctx context.Context, s Source) (Reader, Format, error) {
	return openRequests(ctx, s)
}

// OpenSessions opens a conversation file (ShareGPT or OpenAI chat) for
// -sessions; another format is an error.
func OpenSessions(ctx context.Context, s Source) (SessionReader, error) {
	return openSessions(ctx, s)
}

// Dist is a length distribution around a mean (-synthetic-dist,
// -output-dist): "fixed" (or ""), "uniform:LO:HI" (LO and HI absolute),
// "normal:SD", "lognormal:SIGMA" (the mean is the median's scale: exp(mu)
// is chosen so the mean is the given one). Samples are at least 1.
type Dist struct {
	Kind   string // fixed, uniform, normal, lognormal
	Lo, Hi int    // uniform
	Spread float64
}

// ParseDist parses a Dist; errors give the expected forms.
func ParseDist(s string) (Dist, error) { return parseDist(s) }

// Synthetic describes synthetic prompts.
type Synthetic struct {
	InputTokens  int  // mean prompt length in tokens (> 0)
	InputDist    Dist // its distribution
	OutputTokens int  // mean output length (0: the run's -max-tokens, not sampled)
	OutputDist   Dist
	// PrefixTokens > 0 and PrefixGroups > 0: every prompt is one of
	// PrefixGroups shared prefixes of PrefixTokens tokens (prompt i has
	// prefix i mod PrefixGroups) plus its own part of the sampled input
	// length, to exercise the prefix cache; Request.InputTokens counts both.
	PrefixTokens, PrefixGroups int
	Count                      int    // number of distinct prompts (default 100)
	Seed                       uint64 // the same seed gives the same prompts
}

// Reader returns the synthetic prompts: Count requests, then io.EOF.
func (s Synthetic) Reader() (Reader, error) { return s.reader() }
