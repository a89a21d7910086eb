package workload

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// EstimateTokens is the package's one token estimate: the number of
// whitespace-separated words of text. There is no tokenizer here; the
// synthesized prompts are made of short common English words, which BPE
// tokenizers count as 1 to about 1.3 tokens each, so a prompt of N
// estimated tokens is N to about 1.3N real ones. The server's
// usage.prompt_tokens gives the truth. Package load counted words the same
// way before this package existed, so the numbers stay comparable.
func EstimateTokens(text string) int { return len(strings.Fields(text)) }

// MaxPromptTokens bounds the length of any prompt this package
// synthesizes (trace input lengths, synthetic lengths): a corrupt line
// asking for a billion tokens is an error, not an allocation.
const MaxPromptTokens = 1 << 20

// vocabulary holds the words of synthesized text: short, common English
// words, one or two tokens each in the usual tokenizers.
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

// The PCG streams of the generators: each kind of text has its own, so
// that, for example, a Mooncake block and a synthetic prompt with the same
// seed differ.
const (
	streamPrompt = 0x6c6f616467656e // package load's SyntheticPrompts stream: the same prompts
	streamLength = 0x6c656e67746873 // sampled lengths
	streamPrefix = 0x707265666978   // synthetic shared prefixes
	streamBlock  = 0x626c6f636b     // Mooncake hash blocks
	streamTrace  = 0x7472616365     // trace prompts (Azure, BurstGPT, Mooncake's unhashed rest)
)

// newRand returns the generator of one stream for one seed.
func newRand(seed, stream uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, stream)) }

// writeWords appends n words drawn from rng to b, each preceded by a space
// unless b is empty.
func writeWords(b *strings.Builder, rng *rand.Rand, n int) {
	for range n {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(vocabulary[rng.IntN(len(vocabulary))])
	}
}

// distinctText returns text of words estimated tokens that starts with
// "Request-i:" (or label-i: for another label), so no two texts of
// different i share a first token and a prefix cache does not merge them;
// the rest is drawn from rng.
func distinctText(label string, i, words int, rng *rand.Rand) string {
	var b strings.Builder
	b.Grow(words * 6)
	fmt.Fprintf(&b, "%s-%d:", label, i)
	writeWords(&b, rng, words-1)
	return b.String()
}

// tracePrompt is the prompt of a trace's request i (its line or row) of n
// estimated tokens: distinct from every other request's, and the same on
// every run.
func tracePrompt(i, n int) string {
	return distinctText("Request", i, max(n, 1), newRand(uint64(i), streamTrace))
}
