package bench

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/needs"
)

func fixtureRuns(t testing.TB, files ...string) []Named {
	t.Helper()
	var paths []string
	for _, f := range files {
		paths = append(paths, filepath.Join("testdata", f))
	}
	runs, err := LoadRuns(strings.Join(paths, ","))
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

func render(t testing.TB, runs []Named) string {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, runs); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

var (
	svgRe   = regexp.MustCompile(`(?s)<svg .*?</svg>`)
	chartRe = regexp.MustCompile(`<svg [^>]*id="([^"]+)" data-chart="([^"]+)"`)
)

// expectedCharts are the chart ids a report of these runs must hold.
func expectedCharts(runs []Named) []string {
	var ids []string
	for _, k := range ReportChartKinds {
		ids = append(ids, "chart-"+k)
	}
	for i, r := range runs {
		for _, k := range RunChartKinds {
			ids = append(ids, fmt.Sprintf("chart-%s-r%d", k, i))
		}
		for _, s := range r.Result.Steps {
			if s.Server != nil && len(s.Server.Gauges) > 0 {
				ids = append(ids, fmt.Sprintf("chart-%s-r%d", GaugeChartKind, i))
				break
			}
		}
	}
	sort.Strings(ids)
	return ids
}

func chartIDs(html string) []string {
	var ids []string
	for _, m := range chartRe.FindAllStringSubmatch(html, -1) {
		ids = append(ids, m[1])
	}
	sort.Strings(ids)
	return ids
}

// checkSVG parses every <svg> as XML and refuses NaN or Inf coordinates.
func checkSVG(t *testing.T, html string) {
	t.Helper()
	for _, s := range svgRe.FindAllString(html, -1) {
		d := xml.NewDecoder(strings.NewReader(s))
		for {
			_, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("an <svg> is not well-formed XML: %v\n%.400s", err, s)
			}
		}
		if regexp.MustCompile(`="[^"]*(NaN|Inf)`).MatchString(s) {
			t.Fatalf("an <svg> has a NaN or Inf attribute:\n%.400s", s)
		}
	}
}

func TestReportSingle(t *testing.T) {
	runs := fixtureRuns(t, "sweep-vllm.json")
	html := render(t, runs)
	if got, want := chartIDs(html), expectedCharts(runs); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("charts %v, want %v", got, want)
	}
	checkSVG(t, html)
	r := runs[0].Result
	for _, want := range []string{
		"<title>Benchmark: vllm (qwen)</title>",
		`class="slo"`,                                   // SLO lines
		"SLO: TTFT p95 &lt;= 2s",                        // their labels, escaped
		"highest load meeting every SLO: concurrency 8", // the verdict
		`id="steps-r0"`, "FAIL: ttft_p95_seconds",       // the failing step's verdict
		"server TTFT p95", "running peak", r.URL,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// One table row per step, plus the header.
	table := regexp.MustCompile(`(?s)<table class="steps" id="steps-r0">.*?</table>`).FindString(html)
	if n := strings.Count(table, "<tr"); n != len(r.Steps)+1 {
		t.Errorf("steps table has %d rows, want %d", n, len(r.Steps)+1)
	}
	// Self-contained: nothing fetched, no script.
	for _, bad := range []string{"<script", "http://cdn", "https://", "<link", "src="} {
		if strings.Contains(html, bad) {
			t.Errorf("report contains %q", bad)
		}
	}
	// Each latency-vs-load chart draws one point per step and percentile.
	ttft := regexp.MustCompile(`(?s)<svg [^>]*id="chart-ttft-vs-load".*?</svg>`).FindString(html)
	if n := strings.Count(ttft, "<circle"); n != 3*len(r.Steps) {
		t.Errorf("TTFT chart has %d points, want %d", n, 3*len(r.Steps))
	}
}

// Compare merges runs with different steps: the load axis and the table
// take the union of the loads, each run keeps its own points.
func TestReportCompare(t *testing.T) {
	runs := fixtureRuns(t, "sweep-vllm.json", "sweep-trt.json")
	if runs[0].Name != "sweep-vllm" || runs[1].Name != "sweep-trt" {
		t.Fatalf("names %q %q", runs[0].Name, runs[1].Name)
	}
	html := render(t, runs)
	if got, want := chartIDs(html), expectedCharts(runs); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("charts %v, want %v", got, want)
	}
	checkSVG(t, html)
	ttft := regexp.MustCompile(`(?s)<svg [^>]*id="chart-ttft-vs-load".*?</svg>`).FindString(html)
	n0, n1 := len(runs[0].Result.Steps), len(runs[1].Result.Steps)
	if n := strings.Count(ttft, "<circle"); n != 3*(n0+n1) {
		t.Errorf("TTFT chart has %d points, want %d", n, 3*(n0+n1))
	}
	for _, l := range unionLoads([]*Result{runs[0].Result, runs[1].Result}) {
		if !strings.Contains(ttft, fmt.Sprintf(`class="xt">%s</text>`, fmtLoad(l))) {
			t.Errorf("load axis lacks the tick %v", l)
		}
	}
	for _, want := range []string{"sweep-vllm p95", "sweep-trt p95", `id="steps-r1"`, "triton-trt", "ensemble", "sweep-vllm: highest load"} {
		if !strings.Contains(html, want) {
			t.Errorf("comparison lacks %q", want)
		}
	}
	var out bytes.Buffer
	rs, names := results(runs)
	PrintCompare(&out, rs, names)
	txt := out.String()
	// One row per load of the union (1 2 3 4 6 8 12 16), "-" where a run has no step.
	for _, l := range []string{"\n1 ", "\n3 ", "\n16 "} {
		if !strings.Contains(txt, l) {
			t.Errorf("compare table lacks the load row %q:\n%s", l, txt)
		}
	}
	if !regexp.MustCompile(`(?m)^3 .* - +- +- +- +\S`).MatchString(txt) {
		t.Errorf("load 3 (trt only) should show dashes for vllm:\n%s", txt)
	}
}

func TestCompareRefusesMixedModes(t *testing.T) {
	runs := fixtureRuns(t, "sweep-vllm.json")
	rate := *runs[0].Result
	rate.Settings.Mode = ModeRate
	p := filepath.Join(t.TempDir(), "rate.json")
	if err := WriteResult(p, &rate); err != nil {
		t.Fatal(err)
	}
	_, err := LoadRuns("testdata/sweep-vllm.json," + p)
	if err == nil || !strings.Contains(err.Error(), "one mode") {
		t.Errorf("mixed modes: %v", err)
	}
	if _, err := LoadRuns(" , "); err == nil || !strings.Contains(err.Error(), "comma-separated") {
		t.Errorf("empty list: %v", err)
	}
	if _, err := LoadRuns("testdata/vllm-0.10.metrics.txt"); err == nil || !strings.Contains(err.Error(), "vllm-0.10.metrics.txt") {
		t.Errorf("not JSON: %v", err)
	}
}

func TestNameRuns(t *testing.T) {
	runs := []Named{
		{Name: "bench", Result: &Result{Backend: "vllm"}},
		{Name: "bench", Result: &Result{Backend: "trt"}},
		{Name: "bench", Result: &Result{Backend: "trt"}},
		{Name: "x", Result: &Result{Backend: "sim"}},
	}
	NameRuns(runs)
	got := []string{runs[0].Name, runs[1].Name, runs[2].Name, runs[3].Name}
	want := []string{"bench (vllm)", "bench (trt)", "bench (trt) #2", "x"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("names %q, want %q", got, want)
	}
	if n := runName("results/bench-vllm-1/bench.json"); n != "bench-vllm-1" {
		t.Errorf("runName %q", n)
	}
}

// Text from results files is escaped in the report.
func TestReportEscapes(t *testing.T) {
	runs := fixtureRuns(t, "sweep-vllm.json")
	r := *runs[0].Result
	r.Model = `<script>alert("x")</script>`
	r.Steps = append([]Step(nil), r.Steps...)
	html := render(t, []Named{{Name: `a"b<c>`, Result: &r}})
	if strings.Contains(html, "<script>alert") {
		t.Error("the model name was not escaped")
	}
	checkSVG(t, html)
}

// The report of fixed results opened in headless Chromium: every chart is
// in the DOM and the console stays silent (no script error, no SVG
// attribute error). The report has no script, so any console line fails.
func TestReportInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the browser")
	}
	bin := needs.Tool(t, "chromium", "chromium-browser", "google-chrome")
	for name, files := range map[string][]string{
		"single":  {"sweep-vllm.json"},
		"compare": {"sweep-vllm.json", "sweep-trt.json"},
	} {
		t.Run(name, func(t *testing.T) {
			runs := fixtureRuns(t, files...)
			dir := t.TempDir()
			page := filepath.Join(dir, "report.html")
			if err := RenderFile(page, runs); err != nil {
				t.Fatal(err)
			}
			args := []string{"--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions",
				"--user-data-dir=" + filepath.Join(dir, "profile"), "--enable-logging=stderr", "--v=0"}
			if shot := os.Getenv("BENCH_SCREENSHOT_DIR"); shot != "" {
				// For people: BENCH_SCREENSHOT_DIR=/tmp go test -run Chromium ./tasks/bench
				out := filepath.Join(shot, "report-"+name+".png")
				cmd := exec.Command(bin, append(args, "--screenshot="+out, "--window-size=1340,5200", "--hide-scrollbars", "file://"+page)...)
				if b, err := cmd.CombinedOutput(); err != nil {
					t.Logf("screenshot: %v\n%s", err, b)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, append(args, "--dump-dom", "file://"+page)...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("chromium: %v\n%s", err, tail(stderr.String()))
			}
			for _, line := range strings.Split(stderr.String(), "\n") {
				if strings.Contains(line, ":CONSOLE") || strings.Contains(line, "Uncaught") {
					t.Errorf("console message: %s", line)
				}
			}
			dom := stdout.String()
			if got, want := chartIDs(dom), expectedCharts(runs); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("charts in the DOM %v, want %v", got, want)
			}
			if !strings.Contains(dom, "highest load meeting every SLO") {
				t.Error("the DOM lacks the verdict")
			}
		})
	}
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}

func FuzzParseResult(f *testing.F) {
	for _, name := range []string{"sweep-vllm.json", "sweep-trt.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"schema":"bench/v1","settings":{"mode":"rate"},"steps":[{"load":1,"result":{"ttft_seconds":{"count":1,"p95":1e308}}}]}`))
	f.Add([]byte(`{"schema":"bench/v1","settings":{"mode":"concurrency"},"steps":[{"load":0.5,"result":{}},{"load":1e300,"result":{}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseResult(b, "fuzz")
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := Render(&out, []Named{{Name: "fuzz", Result: r}}); err != nil {
			t.Fatalf("Render: %v", err)
		}
		checkSVG(t, out.String())
		PrintTable(io.Discard, r)
	})
}

// BenchmarkRender renders the comparison of the two fixed sweeps.
func BenchmarkRender(b *testing.B) {
	runs := fixtureRuns(b, "sweep-vllm.json", "sweep-trt.json")
	b.ReportAllocs()
	for b.Loop() {
		if err := Render(io.Discard, runs); err != nil {
			b.Fatal(err)
		}
	}
}
