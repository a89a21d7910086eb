package sim

import (
	"bytes"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Prometheus text exposition, written by hand so that each personality
// looks like its real server on the wire: vLLM's prometheus_client number
// format ("0.0", "1.7e+09"), Triton's "%f", dcgm-exporter's label order.

type numStyle int

const (
	stylePython numStyle = iota // prometheus_client (vLLM)
	styleTriton                 // Triton: %f
	styleGo                     // plain shortest decimal
)

// histo is a histogram with fixed upper bounds (+Inf implied).
type histo struct {
	bounds []float64
	counts []uint64 // per bucket, not cumulative; last is +Inf
	sum    float64
	count  uint64
}

func newHisto(bounds []float64) *histo {
	return &histo{bounds: bounds, counts: make([]uint64, len(bounds)+1)}
}

func (h *histo) observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v) // first bound >= v
	h.counts[i]++
	h.sum += v
	h.count++
}

// promWriter writes families to a buffer.
type promWriter struct {
	b      bytes.Buffer
	style  numStyle
	sorted bool // sort label names (prometheus_client does)
	tmp    []byte
}

func (w *promWriter) header(name, help, typ string) {
	w.b.WriteString("# HELP ")
	w.b.WriteString(name)
	w.b.WriteByte(' ')
	w.b.WriteString(escapeHelp(help))
	w.b.WriteString("\n# TYPE ")
	w.b.WriteString(name)
	w.b.WriteByte(' ')
	w.b.WriteString(typ)
	w.b.WriteByte('\n')
}

func escapeHelp(s string) string {
	if !strings.ContainsAny(s, "\\\n") {
		return s
	}
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

func escapeLabel(s string) string {
	if !strings.ContainsAny(s, "\\\n\"") {
		return s
	}
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`).Replace(s)
}

// sample writes one line; labels are name, value pairs.
func (w *promWriter) sample(name string, labels []string, v float64) {
	w.b.WriteString(name)
	if len(labels) > 0 {
		if w.sorted && len(labels) > 2 {
			labels = sortPairs(labels)
		}
		w.b.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				w.b.WriteByte(',')
			}
			w.b.WriteString(labels[i])
			w.b.WriteString(`="`)
			w.b.WriteString(escapeLabel(labels[i+1]))
			w.b.WriteByte('"')
		}
		w.b.WriteByte('}')
	}
	w.b.WriteByte(' ')
	w.b.WriteString(w.num(v))
	w.b.WriteByte('\n')
}

func sortPairs(l []string) []string {
	type kv struct{ k, v string }
	ps := make([]kv, 0, len(l)/2)
	for i := 0; i+1 < len(l); i += 2 {
		ps = append(ps, kv{l[i], l[i+1]})
	}
	slices.SortFunc(ps, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	out := make([]string, 0, len(l))
	for _, p := range ps {
		out = append(out, p.k, p.v)
	}
	return out
}

func (w *promWriter) num(v float64) string {
	switch w.style {
	case stylePython:
		return pyFloatToGo(v)
	case styleTriton:
		if math.IsInf(v, 1) {
			return "+Inf"
		}
		return strconv.FormatFloat(v, 'f', 6, 64)
	default:
		return goFloat(v)
	}
}

func (w *promWriter) le(v float64) string {
	if w.style == stylePython {
		return pyFloatToGo(v)
	}
	return goFloat(v)
}

// histogram writes the _bucket, _count and _sum lines of h.
func (w *promWriter) histogram(name string, labels []string, h *histo) {
	var cum uint64
	lb := append(slices.Clip(labels), "le", "")
	for i := 0; i <= len(h.bounds); i++ {
		cum += h.counts[i]
		if i < len(h.bounds) {
			lb[len(lb)-1] = w.le(h.bounds[i])
		} else {
			lb[len(lb)-1] = "+Inf"
		}
		w.sample(name+"_bucket", lb, float64(cum))
	}
	if w.style == stylePython {
		// prometheus_client writes _count before _sum
		w.sample(name+"_count", labels, float64(h.count))
		w.sample(name+"_sum", labels, h.sum)
	} else {
		w.sample(name+"_sum", labels, h.sum)
		w.sample(name+"_count", labels, float64(h.count))
	}
}

// Spellings of +Inf, -Inf and NaN.
var (
	goSpecials = [3]string{"+Inf", "-Inf", "NaN"} // Go's and Prometheus'
	pySpecials = [3]string{"inf", "-inf", "nan"}  // Python's repr
)

// special spells v with names when it is +Inf, -Inf or NaN.
func special(v float64, names *[3]string) (string, bool) {
	switch {
	case math.IsInf(v, 1):
		return names[0], true
	case math.IsInf(v, -1):
		return names[1], true
	case math.IsNaN(v):
		return names[2], true
	}
	return "", false
}

func goFloat(v float64) string {
	if s, ok := special(v, &goSpecials); ok {
		return s
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// pyRepr is Python's repr(float).
func pyRepr(v float64) string {
	if s, ok := special(v, &pySpecials); ok {
		return s
	}
	if v == 0 {
		if math.Signbit(v) {
			return "-0.0"
		}
		return "0.0"
	}
	e := strconv.FormatFloat(v, 'e', -1, 64) // d.ddde±XX
	ei := strings.IndexByte(e, 'e')
	exp, _ := strconv.Atoi(e[ei+1:])
	if exp < -4 || exp >= 16 {
		mant := e[:ei]
		sign := "+"
		if exp < 0 {
			sign = "-"
			exp = -exp
		}
		es := strconv.Itoa(exp)
		if len(es) < 2 {
			es = "0" + es
		}
		return mant + "e" + sign + es
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// pyFloatToGo is prometheus_client's floatToGoString.
func pyFloatToGo(v float64) string {
	if s, ok := special(v, &goSpecials); ok {
		return s
	}
	s := pyRepr(v)
	dot := strings.IndexByte(s, '.')
	if v > 0 && dot > 6 {
		mant := strings.TrimRight(s[:1]+"."+s[1:dot]+s[dot+1:], "0.")
		return mant + "e+0" + strconv.Itoa(dot-1)
	}
	return s
}

// Bucket sets.
var (
	vllmTTFTBuckets = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0}
	vllmITLBuckets  = []float64{0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0}
	vllmReqBuckets  = []float64{0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0}
	vllmIterBuckets = []float64{1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384}
	vllmNBuckets    = []float64{1, 2, 5, 10, 20}

	// Triton vLLM backend (src/utils/metrics.py).
	tvTTFTBuckets = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0}
	tvTPOTBuckets = []float64{0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5}
	tvE2EBuckets  = []float64{1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0}

	trtTokenLenBuckets  = []float64{10, 50, 100, 500, 1000}
	tritonFirstRespMs   = []float64{100, 500, 2000, 5000}
	httpHighrBuckets    = []float64{0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 7.5, 10, 30, 60}
	httpDurationBuckets = []float64{0.1, 0.5, 1.0}
)

// buckets125 is vLLM's build_1_2_5_buckets(max).
func buckets125(maxV int) []float64 {
	var out []float64
	for exp := 1.0; ; exp *= 10 {
		for _, m := range []float64{1, 2, 5} {
			v := m * exp
			if v > float64(maxV) {
				return out
			}
			out = append(out, v)
		}
	}
}
