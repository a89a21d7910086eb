package dash

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

const repoRoot = "../.."

var update = flag.Bool("update", false, "regenerate dashboards/*.json and deploy/prometheus/rules/slo.yml (as `mage dash` does)")

// The committed dashboards and rules must be what the code generates.
func TestCommittedFilesUpToDate(t *testing.T) {
	if *update {
		if err := GenerateAll(repoRoot); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range Dashboards() {
		want, err := d.JSON()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(repoRoot, "dashboards", d.File)
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v; run `mage dash` to generate it", path, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("dashboards/%s differs from what tasks/dash generates; run `mage dash` and commit the result", d.File)
		}
	}
	want, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(repoRoot, "deploy", "prometheus", "rules", RulesFile)
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v; run `mage dash` to generate it", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("deploy/prometheus/rules/%s differs from what tasks/dash generates; run `mage dash` and commit the result", RulesFile)
	}
}

func TestGenerateWritesEveryDashboard(t *testing.T) {
	dir := t.TempDir()
	if err := GenerateAll(dir); err != nil {
		t.Fatal(err)
	}
	for _, d := range Dashboards() {
		b, err := os.ReadFile(filepath.Join(dir, "dashboards", d.File))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := d.JSON()
		if !bytes.Equal(b, want) {
			t.Errorf("%s: written file differs from JSON()", d.File)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "deploy", "prometheus", "rules", RulesFile)); err != nil {
		t.Fatal(err)
	}
	// Regenerating gives the same bytes (stable output: maps, ids, order).
	first, _ := os.ReadFile(filepath.Join(dir, "dashboards", "vllm.json"))
	if err := Generate(filepath.Join(dir, "dashboards")); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(filepath.Join(dir, "dashboards", "vllm.json"))
	if !bytes.Equal(first, second) {
		t.Error("two generations differ")
	}
}

// Decoded dashboard, only what the tests look at.
type jd struct {
	UID        string   `json:"uid"`
	Title      string   `json:"title"`
	Tags       []string `json:"tags"`
	Panels     []jp     `json:"panels"`
	Templating struct {
		List []struct {
			Name, Type string
			Datasource *struct{ UID string } `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type jp struct {
	ID          int    `json:"id"`
	Type        string `json:"type"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Datasource  *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
		Datasource   *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Unit       string `json:"unit"`
			Thresholds struct {
				Steps []struct {
					Value *float64 `json:"value"`
				} `json:"steps"`
			} `json:"thresholds"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
}

func decodeAll(t *testing.T) map[string]jd {
	t.Helper()
	out := map[string]jd{}
	for _, d := range Dashboards() {
		b, err := d.JSON()
		if err != nil {
			t.Fatal(err)
		}
		var x jd
		if err := json.Unmarshal(b, &x); err != nil {
			t.Fatalf("%s: %v", d.File, err)
		}
		out[d.File] = x
	}
	return out
}

var rangeRe = regexp.MustCompile(`\[([^\]]+)\]`)

func TestEveryPanelIsComplete(t *testing.T) {
	for file, d := range decodeAll(t) {
		if !strings.HasPrefix(d.UID, "llmobs-") || d.Title == "" {
			t.Errorf("%s: uid %q title %q", file, d.UID, d.Title)
		}
		vars := map[string]string{}
		for _, v := range d.Templating.List {
			vars[v.Name] = v.Type
			if v.Type == "query" && (v.Datasource == nil || v.Datasource.UID != "${datasource}") {
				t.Errorf("%s: variable %s does not use the datasource variable", file, v.Name)
			}
		}
		if vars["datasource"] != "datasource" || vars["model"] != "query" {
			t.Errorf("%s: want a datasource and a model variable, have %v", file, vars)
		}
		ids := map[int]bool{}
		panels := 0
		for _, p := range d.Panels {
			if ids[p.ID] {
				t.Errorf("%s: panel id %d used twice", file, p.ID)
			}
			ids[p.ID] = true
			if p.Type == "row" {
				continue
			}
			panels++
			where := fmt.Sprintf("%s %q", file, p.Title)
			if len(p.Description) < 30 {
				t.Errorf("%s: description missing or too short: %q", where, p.Description)
			}
			if p.FieldConfig.Defaults.Unit == "" {
				t.Errorf("%s: no unit", where)
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" || p.Datasource.Type != "prometheus" {
				t.Errorf("%s: datasource is not the ${datasource} variable", where)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no query", where)
			}
			for _, tg := range p.Targets {
				if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
					t.Errorf("%s: query without the datasource variable", where)
				}
				for _, m := range rangeRe.FindAllStringSubmatch(tg.Expr, -1) {
					if m[1] != "$__rate_interval" && m[1] != "$__range" {
						t.Errorf("%s: range [%s] is hard-coded; use $__rate_interval (or $__range for stats): %s", where, m[1], tg.Expr)
					}
				}
				if strings.Contains(tg.Expr, "request_failure_total") {
					t.Errorf("%s: vllm:request_failure_total does not exist in vLLM: %s", where, tg.Expr)
				}
				if regexp.MustCompile(`model(_name)?="`).MatchString(tg.Expr) {
					t.Errorf("%s: hard-coded model: %s", where, tg.Expr)
				}
				if tg.LegendFormat == "" {
					t.Errorf("%s: query without a legend", where)
				}
			}
		}
		if panels < 8 {
			t.Errorf("%s: only %d panels", file, panels)
		}
	}
}

func hasStep(p jp, v float64) bool {
	for _, s := range p.FieldConfig.Defaults.Thresholds.Steps {
		if s.Value != nil && *s.Value == v {
			return true
		}
	}
	return false
}

// Every panel about an SLO draws its threshold at the SLO value.
func TestSLOThresholds(t *testing.T) {
	checked := 0
	for file, d := range decodeAll(t) {
		for _, p := range d.Panels {
			title := strings.ToLower(p.Title)
			var want float64
			switch {
			case strings.Contains(title, "error budget"), strings.Contains(title, "burn rate"), p.Type == "row":
				continue
			case strings.HasPrefix(title, "availability"), strings.Contains(title, "client availability"):
				want = AvailabilityObjective
			case strings.Contains(title, "time to first token: sli"):
				want = LatencyObjective
			case strings.Contains(title, "ttft within"):
				want = LatencyObjective
			case strings.Contains(title, "time to first token"), strings.Contains(title, "ttft p95"):
				want = TTFTThresholdSeconds
			case strings.Contains(title, "first response"):
				want = TTFTThresholdSeconds * 1000
			case strings.Contains(title, "inter-token latency: sli"):
				want = LatencyObjective
			case strings.Contains(title, "inter-token"), strings.Contains(title, "itl p95"), strings.Contains(title, "time per output token"):
				want = ITLThresholdSeconds
			default:
				continue
			}
			checked++
			if !hasStep(p, want) {
				t.Errorf("%s %q: no threshold at %g", file, p.Title, want)
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d SLO panels found; the title matching is broken", checked)
	}
}

// GPU panels from dcgm-exporter are on every backend dashboard.
func TestGPUPanelsOnBackendDashboards(t *testing.T) {
	all := decodeAll(t)
	for _, file := range []string{"vllm.json", "triton-vllm.json", "triton-trt.json"} {
		exprs := ""
		for _, p := range all[file].Panels {
			for _, tg := range p.Targets {
				exprs += tg.Expr + "\n"
			}
		}
		for _, m := range []string{"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_SM_CLOCK"} {
			if !strings.Contains(exprs, m) {
				t.Errorf("%s: no panel reads %s", file, m)
			}
		}
	}
	// Version-robust names on the vLLM dashboard.
	var exprs string
	for _, p := range all["vllm.json"].Panels {
		for _, tg := range p.Targets {
			exprs += tg.Expr + "\n"
		}
	}
	for _, pair := range [][2]string{
		{"vllm:inter_token_latency_seconds_bucket", "vllm:time_per_output_token_seconds_bucket"},
		{"vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"},
	} {
		if !strings.Contains(exprs, pair[0]+`{model_name=~"$model"}[$__rate_interval]) or rate(`+pair[1]) &&
			!strings.Contains(exprs, pair[0]+`{model_name=~"$model"} or `+pair[1]) {
			t.Errorf("vllm.json: %s is not read with %s as the alternative", pair[0], pair[1])
		}
	}
}

func TestLeMatcher(t *testing.T) {
	cases := []struct {
		v       float64
		match   []string
		nomatch []string
	}{
		{1, []string{"1", "1.0", "1.000000"}, []string{"10", "1.5", "0.1", "11.0"}},
		{2.5, []string{"2.5", "2.50", "2.500000"}, []string{"2.55", "25", "2.05"}},
		{0.15, []string{"0.15", "0.150000"}, []string{"0.155", "0.015", "0.1"}},
		{2000, []string{"2000", "2000.0", "2000.000000"}, []string{"20000", "200", "2000.5"}},
	}
	for _, c := range cases {
		m := leMatcher(c.v)
		re := regexp.MustCompile("^(?:" + strings.Trim(m, "`") + ")$") // Prometheus anchors label regexes
		for _, s := range c.match {
			if !re.MatchString(s) {
				t.Errorf("leMatcher(%g) = %s does not match %q", c.v, m, s)
			}
		}
		for _, s := range c.nomatch {
			if re.MatchString(s) {
				t.Errorf("leMatcher(%g) = %s matches %q", c.v, m, s)
			}
		}
	}
}

func TestRulesShape(t *testing.T) {
	b, err := Rules()
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, slo := range SLOs {
		for _, w := range append(append([]string{}, shortWindows...), longWindows...) {
			if !strings.Contains(s, "record: "+RecordErrorRatio(w)) {
				t.Errorf("no %s rule", RecordErrorRatio(w))
			}
		}
		if strings.Count(s, "alert: "+slo.Alert) != 2 {
			t.Errorf("%s: want a page and a ticket alert", slo.Alert)
		}
	}
	// The workbook's thresholds for a 99.9 % objective.
	for _, want := range []string{
		`slo:sli_error:ratio_rate1h{slo="availability"} > 0.0144 and slo:sli_error:ratio_rate5m{slo="availability"} > 0.0144`,
		`slo:sli_error:ratio_rate6h{slo="availability"} > 0.006 and slo:sli_error:ratio_rate30m{slo="availability"} > 0.006`,
		`slo:sli_error:ratio_rate1d{slo="availability"} > 0.003 and slo:sli_error:ratio_rate2h{slo="availability"} > 0.003`,
		`slo:sli_error:ratio_rate3d{slo="availability"} > 0.001 and slo:sli_error:ratio_rate6h{slo="availability"} > 0.001`,
		`slo:sli_error:ratio_rate1h{slo="ttft"} > 0.72 and slo:sli_error:ratio_rate5m{slo="ttft"} > 0.72`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("rules lack %s", want)
		}
	}
}

// The generated JSON reads back with the SDK's decoder (panels and queries
// through the registered panel and query types) into the same dashboard.
func TestDashboardsRoundTrip(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	for _, d := range Dashboards() {
		b, err := d.JSON()
		if err != nil {
			t.Fatal(err)
		}
		var db dashboard.Dashboard
		if err := json.Unmarshal(b, &db); err != nil {
			t.Errorf("%s: %v", d.File, err)
			continue
		}
		again, err := json.Marshal(db)
		if err != nil {
			t.Fatal(err)
		}
		var a, c any
		_ = json.Unmarshal(b, &a)
		_ = json.Unmarshal(again, &c)
		if !reflect.DeepEqual(a, c) {
			t.Errorf("%s: decoding and encoding again changes the dashboard", d.File)
		}
	}
}
