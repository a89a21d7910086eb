package configcheck

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSubstitute(t *testing.T) {
	vars := map[string]string{"model": "qwen", "gpu": ".+"}
	cases := []struct{ in, want, err string }{
		{`rate(x{model=~"$model"}[$__rate_interval])`, `rate(x{model=~"qwen"}[1m])`, ""},
		{`rate(x{model=~"${model}"}[${__range}])`, `rate(x{model=~"qwen"}[1h])`, ""},
		{`x{gpu=~"${gpu:regex}"}`, `x{gpu=~".+"}`, ""},
		{`x{gpu=~"[[gpu]]"}`, `x{gpu=~".+"}`, ""},
		{`label_replace(x, "model", "$1", "model_name", "(.+)")`, `label_replace(x, "model", "$1", "model_name", "(.+)")`, ""},
		{`x[$__interval]`, `x[15s]`, ""},
		{`x{a="$"}`, `x{a="$"}`, ""},
		{`x{model=~"$nope"}`, "", "unknown Grafana variable $nope"},
		{`x{model=~"${model`, "", "unterminated"},
	}
	for _, c := range cases {
		got, err := Substitute(c.in, vars, Builtins)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Substitute(%q) error = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("Substitute(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func FuzzSubstitute(f *testing.F) {
	for _, s := range []string{`rate(x{model=~"$model"}[$__rate_interval])`, `${model:csv}`, `[[model]]`, `$`, `${`, `$1$2`, `[[`, `$__range_s`} {
		f.Add(s)
	}
	vars := map[string]string{"model": "m"}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := Substitute(s, vars, Builtins)
		if err != nil {
			return
		}
		if strings.Contains(out, "$model") || strings.Contains(out, "$__rate_interval") {
			t.Fatalf("Substitute(%q) = %q still holds a known variable", s, out)
		}
	})
}

func TestMissingFollowsOr(t *testing.T) {
	have := map[string]bool{"b": true, "c": true}
	cases := []struct {
		expr string
		want []string
	}{
		{`a or b`, nil},                                   // renamed metric: one side is enough
		{`rate(a[5m]) or rate(b[5m])`, nil},               // inside functions too
		{`sum(a) or vector(0)`, []string{"a"}},            // a constant does not satisfy an or
		{`(sum(b) or vector(0)) / sum(a)`, []string{"a"}}, // the division still needs a
		{`a / b`, []string{"a"}},
		{`a or d`, []string{"a", "d"}},
		{`vector(1)`, nil},
		{`{__name__="c", job="x"}`, nil},
		{`histogram_quantile(0.9, sum by (le) (rate(a_bucket[1m]) or rate(b[1m])))`, nil},
	}
	for _, c := range cases {
		e, err := ParsePromQL(c.expr)
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		got := Missing(e, func(n string) bool { return have[n] })
		if len(got) == 0 {
			got = nil
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Missing(%s) = %v, want %v", c.expr, got, c.want)
		}
	}
}

func TestParseDashboard(t *testing.T) {
	js := `{"title":"x","tags":["backend:triton-trt"],
	"templating":{"list":[
	  {"type":"datasource","name":"datasource","current":{"value":"prometheus"}},
	  {"type":"query","name":"model","query":"label_values(nv_inference_request_success, model)","current":{"value":"ensemble"}},
	  {"type":"query","name":"all","query":{"query":"label_values(up{job=\"a\"}, instance)"},"allValue":".+","current":{"value":["$__all"]}}
	]},
	"panels":[
	  {"type":"row","title":"r","panels":[{"type":"timeseries","title":"inner","targets":[{"expr":"up","refId":"A"}]}]},
	  {"type":"stat","title":"outer","targets":[{"expr":"sum(x{model=~\"$model\"})","refId":"A"},{"expr":"","refId":"B"}]}
	]}`
	d, err := ParseDashboard("d.json", []byte(js))
	if err != nil {
		t.Fatal(err)
	}
	if d.Backend != "triton-trt" {
		t.Errorf("backend %q", d.Backend)
	}
	if d.Vars["model"] != "ensemble" || d.Vars["all"] != ".+" || d.Vars["datasource"] != "prometheus" {
		t.Errorf("vars %v", d.Vars)
	}
	var got []string
	for _, q := range d.Queries {
		got = append(got, q.Where+"="+q.Expr)
	}
	want := []string{"variable model=nv_inference_request_success", `variable all=up{job="a"}`, `"inner"/A=up`, `"outer"/A=sum(x{model=~"$model"})`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("queries\n got %q\nwant %q", got, want)
	}
	if _, err := ParseDashboard("bad.json", []byte(`{"templating":{"list":[{"type":"query","name":"m","query":"query_result(up)"}]}}`)); err == nil {
		t.Error("a non-label_values variable query was accepted")
	}
	if _, err := ParseDashboard("bad.json", []byte(`[`)); err == nil {
		t.Error("broken JSON was accepted")
	}
}

func TestParseExposition(t *testing.T) {
	page, err := ParseExposition(strings.NewReader(`# HELP a x
# TYPE a counter
a_total{x="1"} 1
vllm:num_requests_running{engine="0",model_name="m"} 0.0

b 2
{"utf8.name",x="y"} 3
`))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a_total", "b", "utf8.name", "vllm:num_requests_running"}; !reflect.DeepEqual(page.Names(), want) {
		t.Errorf("names %v, want %v", page.Names(), want)
	}
	if _, err := ParseExposition(strings.NewReader("{novalue\n")); err == nil {
		t.Error("a line without a name was accepted")
	}
}

// The real captures parse and hold what server-metrics.md says they hold.
func TestParseCaptures(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "fixtures", "metrics")
	for _, c := range loadCaptures(dir) {
		if c.err != nil {
			if os.IsNotExist(c.err) {
				t.Skipf("captures not available: %v", c.err)
			}
			t.Fatalf("%s: %v", c.Name, c.err)
		}
		for n := range c.Newer {
			if c.Page[n] {
				t.Errorf("%s has %s, listed as newer than the capture", c.Name, n)
			}
		}
	}
	caps := loadCaptures(dir)
	if !caps[0].Page["vllm:time_per_output_token_seconds_bucket"] || !caps[0].Page["http_requests_total"] || caps[0].Page["vllm:request_failure_total"] {
		t.Error("vLLM capture: unexpected content")
	}
	if !caps[1].Page["nv_inference_request_failure"] || caps[1].Page["nv_inference_pending_request_count"] {
		t.Error("Triton capture: unexpected content")
	}
}

func FuzzParseExposition(f *testing.F) {
	f.Add("a 1\n")
	f.Add("# HELP x\nvllm:x{engine=\"0\"} 0.0\n")
	f.Add("{\"a.b\"} 1\n")
	f.Add("nv_gpu_utilization{gpu_uuid=\"GPU-1\"} 0.000000\n")
	f.Fuzz(func(t *testing.T, s string) {
		page, err := ParseExposition(strings.NewReader(s))
		if err != nil {
			return
		}
		for n := range page {
			if n == "" || strings.ContainsAny(n, "\n") {
				t.Fatalf("bad name %q from %q", n, s)
			}
		}
	})
}

func FuzzParseDashboard(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("..", "..", "dashboards", "triton-trt.json")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"tags":["backend:vllm"],"panels":[{"title":"t","targets":[{"expr":"up","refId":"A"}]}]}`))
	f.Add([]byte(`{"templating":{"list":[{"type":"query","name":"m","query":{"query":"label_values(up, job)"},"current":{"value":["a","b"]}}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDashboard("f.json", b)
		if err != nil {
			return
		}
		for _, q := range d.Queries {
			if strings.TrimSpace(q.Expr) == "" || q.Dashboard != "f.json" {
				t.Fatalf("bad query %+v", q)
			}
		}
	})
}
