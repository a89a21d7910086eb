package sim

import (
	"math"
	"strings"
	"unicode/utf8"
)

// Token counting without a tokenizer.
//
// CountTokens approximates a BPE tokenizer deterministically:
//   - whitespace is free (it attaches to the next token);
//   - a run of ASCII letters and digits costs ceil(len/4) tokens;
//   - every other ASCII character (punctuation, symbols) is one token;
//   - every non-ASCII rune is one token.
//
// Chat prompts are rendered ChatML-style (Qwen's template) before counting:
// each message costs 2 special tokens (<|im_start|>, <|im_end|>) plus its
// role and content, and the generation prompt "<|im_start|>assistant" adds 4.
//
// Generated text is a sequence of pseudo-words of at most 4 letters (each
// preceded by a space) and occasional "." tokens, so counting the output again
// gives exactly the number of generated tokens.

// splitmix64 is the hash/PRNG step used everywhere (deterministic, cheap).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func hashString(h uint64, s string) uint64 {
	// FNV-1a folded into splitmix.
	const prime = 1099511628211
	x := h ^ 14695981039346656037
	for i := 0; i < len(s); i++ {
		x ^= uint64(s[i])
		x *= prime
	}
	return splitmix64(x)
}

// unitFloat maps a hash to [0,1).
func unitFloat(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// tokenize calls emit once per token with a hash of the token's text.
func tokenize(s string, emit func(tok uint64)) {
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\n' || c == '\t' || c == '\r':
			i++
		case isAlnum(c):
			j := i
			for j < len(s) && isAlnum(s[j]) {
				j++
			}
			for k := i; k < j; k += 4 {
				e := min(k+4, j)
				emit(hashString(0, s[k:e]))
			}
			i = j
		case c < utf8.RuneSelf:
			emit(hashString(1, s[i:i+1]))
			i++
		default:
			_, n := utf8.DecodeRuneInString(s[i:])
			emit(hashString(2, s[i:i+n]))
			i += n
		}
	}
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// CountTokens is the simulator's token count of s (see the package rule).
func CountTokens(s string) int {
	n := 0
	tokenize(s, func(uint64) { n++ })
	return n
}

// promptInfo is what the engine needs of a prompt: its length and the hashes
// of its full KV blocks (for prefix caching).
type promptInfo struct {
	tokens int
	blocks []uint64 // chained hash of each full block
}

type promptBuilder struct {
	blockSize int
	n         int
	chain     uint64
	inBlock   int
	blocks    []uint64
	wantHash  bool
}

func newPromptBuilder(blockSize int, wantHash bool) *promptBuilder {
	return &promptBuilder{blockSize: blockSize, wantHash: wantHash, chain: 0x5eed}
}

func (b *promptBuilder) tok(h uint64) {
	b.n++
	if !b.wantHash {
		return
	}
	b.chain = splitmix64(b.chain ^ h)
	b.inBlock++
	if b.inBlock == b.blockSize {
		b.blocks = append(b.blocks, b.chain)
		b.inBlock = 0
	}
}

func (b *promptBuilder) text(s string)     { tokenize(s, b.tok) }
func (b *promptBuilder) special(id uint64) { b.tok(splitmix64(id ^ 0xabcdef)) }
func (b *promptBuilder) ids(ids []int64) {
	for _, id := range ids {
		b.tok(splitmix64(uint64(id)))
	}
}
func (b *promptBuilder) info() promptInfo { return promptInfo{tokens: b.n, blocks: b.blocks} }

// chatMessage is one message of a chat prompt, content already flattened.
type chatMessage struct{ role, content string }

func buildChatPrompt(msgs []chatMessage, blockSize int, wantHash bool) promptInfo {
	b := newPromptBuilder(blockSize, wantHash)
	for _, m := range msgs {
		b.special(1) // <|im_start|>
		b.text(m.role)
		b.text(m.content)
		b.special(2) // <|im_end|>
	}
	b.special(1)
	b.text("assistant")
	return b.info()
}

// CountChatTokens is the prompt length of a chat request (role, content pairs).
func CountChatTokens(roleContent ...string) int {
	var msgs []chatMessage
	for i := 0; i+1 < len(roleContent); i += 2 {
		msgs = append(msgs, chatMessage{roleContent[i], roleContent[i+1]})
	}
	return buildChatPrompt(msgs, 16, false).tokens
}

// vocab: pseudo-words of at most 4 ASCII letters (one token each).
var vocab = strings.Fields(`the of and to in is it you that he was for on are as with his they at be this have from or one had
by word but not what all were we when your can said use an each she do how if will up out many then
them so some her make like him into time has look two more go see no way my than been call who its
now find long down day did get come made may part over new take only very know work year live back
give most just name good mean old any same tell boy set try ask men went read need land line help
turn much kind high move left such city tree farm keep play self near hand show late open seem hold
felt head town fine road map rain rule pull cold note main rest`)

// tokenText appends the text of output token i of a request with seed s.
func tokenText(dst []byte, s uint64, i int) []byte {
	h := splitmix64(s ^ uint64(i)*0x9e3779b97f4a7c15)
	if i > 0 && h%11 == 0 {
		return append(dst, '.')
	}
	if i > 0 {
		dst = append(dst, ' ')
	}
	return append(dst, vocab[(h>>8)%uint64(len(vocab))]...)
}

// outputText appends the text of output tokens [from, to).
func outputText(dst []byte, s uint64, from, to int) []byte {
	for i := from; i < to; i++ {
		dst = tokenText(dst, s, i)
	}
	return dst
}

// tokenID is output token i as a token id (TRT-LLM output_ids), in Qwen's vocab range.
func tokenID(s uint64, i int) int64 {
	return int64(splitmix64(s^uint64(i)*0x9e3779b97f4a7c15) % 151643)
}

// sampleOutputLen draws a lognormal length with the given mean and sigma.
func sampleOutputLen(h uint64, mean, sigma float64) int {
	if sigma <= 0 {
		return max(1, int(math.Round(mean)))
	}
	u1 := unitFloat(splitmix64(h ^ 1))
	u2 := unitFloat(splitmix64(h ^ 2))
	if u1 < 1e-300 {
		u1 = 1e-300
	}
	z := math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
	mu := math.Log(mean) - sigma*sigma/2
	v := math.Exp(mu + sigma*z)
	if v > 1e9 {
		v = 1e9
	}
	return max(1, int(math.Round(v)))
}
