package promtext

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

const page = `# HELP vllm:num_requests_running Running.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 2
vllm:num_requests_running{engine="1",model_name="m"} 3
# TYPE vllm:ttft_seconds histogram
vllm:ttft_seconds_bucket{engine="0",le="0.1"} 1
vllm:ttft_seconds_bucket{engine="0",le="+Inf"} 4
vllm:ttft_seconds_sum{engine="0"} 1.5
vllm:ttft_seconds_count{engine="0"} 4
vllm:ttft_seconds_bucket{engine="1",le="0.1"} 2
vllm:ttft_seconds_sum{engine="1"} 0.1
vllm:ttft_seconds_count{engine="1"} 2
# TYPE nv_inference_request_success counter
nv_inference_request_success{model="a",version="1"} 5
nv_inference_request_success{model="b",version="1"} 7
# TYPE rpc summary
rpc{quantile="0.5"} 1
rpc_sum 9
rpc_count 3
# TYPE declared_only gauge
untyped_total 1
{"utf8.name",x="y"} 3`

func parse(t *testing.T, s string) *Page {
	t.Helper()
	p, err := Parse(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSeries(t *testing.T) {
	want := []string{"nv_inference_request_success", "rpc", "rpc_count", "rpc_sum", "untyped_total", "utf8.name",
		"vllm:num_requests_running", "vllm:ttft_seconds_bucket", "vllm:ttft_seconds_count", "vllm:ttft_seconds_sum"}
	if got := parse(t, page).Series(); !reflect.DeepEqual(got, want) {
		t.Errorf("Series() = %v, want %v", got, want)
	}
}

func TestHas(t *testing.T) {
	p := parse(t, page)
	for fam, want := range map[string]bool{
		"vllm:num_requests_running": true, "vllm:ttft_seconds": true, "vllm:ttft_seconds_bucket": true,
		"declared_only": true, "untyped": true, "untyped_total": true, "utf8.name": true, "rpc_count": true,
		"vllm:num_requests": false, "vllm:ttft_sec": false, "x": false,
	} {
		if got := p.Has(fam); got != want {
			t.Errorf("Has(%q) = %v, want %v", fam, got, want)
		}
	}
	var nilPage *Page
	if nilPage.Has("x") || len(nilPage.Series()) != 0 {
		t.Error("a nil page has something")
	}
}

// smoke's metrics step asks Has of pages like this one.
func TestHasSmokePage(t *testing.T) {
	p := parse(t, "# HELP a_total x\n# TYPE a_total counter\na_total{x=\"1\"} 2\nb 1\nc_bucket{le=\"1\"} 0\n# TYPE d gauge\n")
	// A family's samples may carry _total, _bucket, _count or _sum; a prefix
	// that is not a family does not match.
	for fam, want := range map[string]bool{"a_total": true, "b": true, "c_bucket": true, "d": true, "a": true, "c": true,
		"a_tot": false, "c_buck": false, "x": false} {
		if got := p.Has(fam); got != want {
			t.Errorf("Has(%q) = %v, want %v", fam, got, want)
		}
	}
}

func TestSum(t *testing.T) {
	p := parse(t, page)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
		ok     bool
	}{
		{"vllm:num_requests_running", nil, 5, true},
		{"vllm:num_requests_running", map[string]string{"engine": "1"}, 3, true},
		{"nv_inference_request_success", map[string]string{"model": "b"}, 7, true},
		{"nv_inference_request_success", map[string]string{"model": "c"}, 0, false},
		{"vllm:ttft_seconds_count", nil, 6, true},
		{"vllm:ttft_seconds_sum", map[string]string{"engine": "1"}, 0.1, true},
		{"rpc_count", nil, 3, true},
		{"rpc_sum", nil, 9, true},
		{"vllm:ttft_seconds", nil, 0, false}, // a histogram has no value of its own
		{"missing_count", nil, 0, false},
	} {
		got, ok := p.Sum(c.name, c.labels)
		if got != c.want || ok != c.ok {
			t.Errorf("Sum(%s, %v) = %v, %v; want %v, %v", c.name, c.labels, got, ok, c.want, c.ok)
		}
	}
}

func TestHistogram(t *testing.T) {
	p := parse(t, page)
	h, ok := p.Histogram("vllm:ttft_seconds", nil)
	if !ok {
		t.Fatal("no histogram")
	}
	// engine 1 has no +Inf bucket: its count stands for it.
	want := map[float64]float64{0.1: 3, math.Inf(1): 6}
	if !reflect.DeepEqual(h.Buckets, want) || h.Count != 6 || h.Sum != 1.6 {
		t.Errorf("histogram %+v, want buckets %v, count 6, sum 1.6", h, want)
	}
	if _, ok := p.Histogram("vllm:num_requests_running", nil); ok {
		t.Error("a gauge read as a histogram")
	}
	if _, ok := p.Histogram("vllm:ttft_seconds", map[string]string{"engine": "2"}); ok {
		t.Error("no series matched, yet ok")
	}
}

func TestParseErrors(t *testing.T) {
	for _, bad := range []string{"{novalue\n", "vllm:x{a=\"1\" 3\n", "# TYPE a counter\n# TYPE a gauge\na 1\n"} {
		if _, err := Parse(strings.NewReader(bad)); err == nil || !strings.HasPrefix(err.Error(), "not the Prometheus text format: ") {
			t.Errorf("Parse(%q): err %v", bad, err)
		}
	}
	// The last line may lack its newline.
	if p := parse(t, "a 1"); !p.Has("a") {
		t.Error("a page without its final newline lost its sample")
	}
}

func TestFromFamilies(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lat_seconds", Help: "x"})
	reg.MustRegister(h)
	h.Observe(0.2)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	p := FromFamilies(mfs)
	if got := p.Series(); !reflect.DeepEqual(got, []string{"lat_seconds_bucket", "lat_seconds_count", "lat_seconds_sum"}) {
		t.Errorf("Series() = %v", got)
	}
	if n, ok := p.Sum("lat_seconds_count", nil); !ok || n != 1 {
		t.Errorf("count %v, %v", n, ok)
	}
}

// Pages come from servers: any input parses or errors, and what parses
// answers consistently.
func FuzzParse(f *testing.F) {
	f.Add(page)
	f.Add("a 1\n")
	f.Add("# HELP x\nvllm:x{engine=\"0\"} 0.0\n")
	f.Add("# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n")
	f.Add("# TYPE \"a.b\" counter\n{\"a.b\"} 1\n")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, n := range p.Series() {
			if n == "" || strings.Contains(n, "\n") {
				t.Fatalf("bad series name %q from %q", n, s)
			}
			if !p.Has(n) {
				t.Fatalf("Has(%q) false for a series of %q", n, s)
			}
		}
		for n := range p.Families {
			if _, ok := p.Sum(n, nil); !ok && p.Families[n].GetType() != dto.MetricType_HISTOGRAM &&
				p.Families[n].GetType() != dto.MetricType_SUMMARY && p.Families[n].GetType() != dto.MetricType_GAUGE_HISTOGRAM {
				t.Fatalf("Sum(%q) found nothing in %q", n, s)
			}
			if h, ok := p.Histogram(n, nil); ok {
				if _, inf := h.Buckets[math.Inf(1)]; !inf {
					t.Fatalf("histogram %q without +Inf from %q", n, s)
				}
			}
		}
	})
}
