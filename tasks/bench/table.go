package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/ui"
)

// stepTable prints one row per step as it ends, in fixed-width columns
// (each row is written at once, so no tabwriter can wait for the last).
type stepTable struct {
	w      io.Writer
	mode   string
	server bool
	header bool
}

func newStepTable(w io.Writer, mode string, server bool) *stepTable {
	return &stepTable{w: w, mode: mode, server: server}
}

var stepColumns = []string{"step", "LOAD", "req/s", "out tok/s", "avail", "TTFT p50", "p95", "p99", "ITL p95", "E2E p95"}

func (t *stepTable) cols() []string {
	c := append([]string(nil), stepColumns...)
	if openLoop(t.mode) {
		c[1] = "rate/s"
	} else {
		c[1] = "conc."
	}
	if t.server {
		c = append(c, "srv TTFT p95", "srv ITL p95")
	}
	return append(c, "SLOs")
}

const colWidth = 10

func (t *stepTable) line(cells []string) {
	var b strings.Builder
	for i, c := range cells {
		if i == len(cells)-1 {
			b.WriteString(c)
			break
		}
		w := colWidth
		if i == 0 {
			w = 5
		}
		if t.server && (i == len(cells)-2 || i == len(cells)-3) {
			w = 13
		}
		fmt.Fprintf(&b, "%-*s ", w, c)
	}
	fmt.Fprintln(t.w, strings.TrimRight(b.String(), " "))
}

func (t *stepTable) row(n int, s Step) {
	if t.w == nil {
		return
	}
	if !t.header {
		t.line(t.cols())
		t.header = true
	}
	t.line(StepCells(n, s, t.server))
}

// StepCells are the table cells of one step.
func StepCells(n int, s Step, server bool) []string {
	r := s.Result
	avail := "-"
	if a := r.Requests.Availability; a != nil {
		avail = fmt.Sprintf("%.2f%%", *a*100)
	}
	lat := func(q float64, count int64) string {
		if count == 0 {
			return "-"
		}
		return ui.Seconds(q)
	}
	cells := []string{
		fmt.Sprint(n), fmtLoad(s.Load),
		fmt.Sprintf("%.2f", r.Throughput.RequestsPerSecond),
		fmt.Sprintf("%.1f", r.Throughput.OutputTokensPerSecond),
		avail,
		lat(r.TTFTFromIntended.P50, r.TTFTFromIntended.Count),
		lat(r.TTFTFromIntended.P95, r.TTFTFromIntended.Count),
		lat(r.TTFTFromIntended.P99, r.TTFTFromIntended.Count),
		lat(r.ITL.P95, r.ITL.Count),
		lat(r.E2EFromIntended.P95, r.E2EFromIntended.Count),
	}
	if server {
		cells = append(cells, serverCell(s.Server, func(sv *Server) *Distribution { return sv.TTFT }),
			serverCell(s.Server, func(sv *Server) *Distribution { return sv.ITL }))
	}
	return append(cells, Verdict(s))
}

func serverCell(sv *Server, pick func(*Server) *Distribution) string {
	if sv == nil || sv.Error != "" {
		return "-"
	}
	d := pick(sv)
	if d == nil || d.P95 == nil {
		return "-"
	}
	return ui.Seconds(*d.P95)
}

// Verdict is "ok", or "FAIL" with the broken objectives (and the
// arrivals not sent), or "partial".
func Verdict(s Step) string {
	if s.Partial {
		return "partial (canceled)"
	}
	rq := s.Result.Requests
	if invalid(s.Result) {
		return "INVALID (the load generator limited it): " + strings.Join(s.Result.Invalid, "; ")
	}
	if s.Result.SLOOK && rq.NotSent == 0 {
		return "ok"
	}
	var broken []string
	if rq.NotSent > 0 {
		broken = append(broken, fmt.Sprintf("%d of %d arrivals not sent (cap %d)", rq.NotSent,
			rq.OK+rq.Failed+rq.Canceled+rq.NotSent, s.Result.Config.Concurrency))
	}
	for _, o := range s.Result.SLO {
		if o.OK {
			continue
		}
		v := "no data"
		if o.Value != nil {
			v = fmt.Sprintf("%.4g", *o.Value)
		}
		broken = append(broken, fmt.Sprintf("%s %s (%s)", o.Name, v, o.Objective))
	}
	return "FAIL: " + strings.Join(broken, ", ")
}

// end prints the sweep's conclusion.
func (t *stepTable) end(r *Result) {
	if t.w == nil {
		return
	}
	fmt.Fprintln(t.w, Conclusion(r))
}

// Conclusion is the one-line verdict of a sweep: the highest load that met
// every SLO and why the sweep ended.
func Conclusion(r *Result) string {
	unit := map[string]string{ModeConcurrency: "concurrency ", ModeRate: "rate "}[r.Settings.Mode]
	suffix := map[string]string{ModeRate: " req/s"}[r.Settings.Mode]
	var b strings.Builder
	if r.Settings.Mode == ModeSearch {
		b.WriteString(r.Capacity.String())
		if r.StoppedBy == StoppedLimit {
			return b.String()
		}
	} else if r.BestLoadMeetingSLOs != nil {
		fmt.Fprintf(&b, "highest load meeting every SLO: %s%s%s", unit, fmtLoad(*r.BestLoadMeetingSLOs), suffix)
	} else if len(completeSteps(r)) == 0 {
		b.WriteString("highest load meeting every SLO: none (no step finished)")
	} else {
		b.WriteString("highest load meeting every SLO: none (no step met every SLO)")
	}
	switch r.StoppedBy {
	case StoppedLimit:
		b.WriteString("; the sweep reached its limit")
	case StoppedRunning:
		fmt.Fprintf(&b, "; incomplete: %s", r.StoppedEarlyReason)
	default:
		fmt.Fprintf(&b, "; stopped early (%s): %s", r.StoppedBy, r.StoppedEarlyReason)
	}
	return b.String()
}

// PrintTable writes the step table of a finished sweep.
func PrintTable(w io.Writer, r *Result) {
	server := false
	for _, s := range r.Steps {
		if s.Server != nil {
			server = true
		}
	}
	t := newStepTable(w, r.Settings.Mode, server)
	for i, s := range r.Steps {
		t.row(i+1, s)
	}
	t.end(r)
}

// PrintCompare writes the runs side by side: one row per load (the union
// of every run's loads), one column group per run.
func PrintCompare(w io.Writer, runs []*Result, names []string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "run\tbackend\tmodel\tmode\tsteps\tstep\tmax tokens\tbest load meeting SLOs\tended\n")
	for i, r := range runs {
		best := "none"
		if r.BestLoadMeetingSLOs != nil {
			best = fmtLoad(*r.BestLoadMeetingSLOs)
		}
		ended := r.StoppedBy
		if r.StoppedEarlyReason != "" {
			ended += ": " + r.StoppedEarlyReason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%gs\t%d\t%s\t%s\n", names[i], r.Backend, r.Model, r.Settings.Mode,
			len(r.Steps), r.Settings.StepSeconds, r.Settings.MaxTokens, best, ended)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "load")
	for _, n := range names {
		fmt.Fprintf(tw, "\t%s TTFT p95\tITL p95\tout tok/s\tSLOs", n)
	}
	fmt.Fprintln(tw)
	for _, l := range unionLoads(runs) {
		fmt.Fprint(tw, fmtLoad(l))
		for _, r := range runs {
			s := stepAt(r, l)
			if s == nil {
				fmt.Fprint(tw, "\t-\t-\t-\t-")
				continue
			}
			v := "ok"
			if invalid(s.Result) {
				v = "INVALID"
			} else if Verdict(*s) != "ok" {
				v = "FAIL"
			}
			fmt.Fprintf(tw, "\t%s\t%s\t%.1f\t%s", ui.Seconds(s.Result.TTFTFromIntended.P95), ui.Seconds(s.Result.ITL.P95),
				s.Result.Throughput.OutputTokensPerSecond, v)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}
