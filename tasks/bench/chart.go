package bench

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"sort"
	"strings"
)

// The charts are SVG drawn here: no script, no network. Every chart is an
// <svg> with id and data-chart attributes (tests count them), a <title>
// for screen readers, and a <title> per point as its tooltip.

// Point is one point of a line series; Tip is its tooltip.
type Point struct {
	X, Y  float64
	Tip   string
	Label string // drawn beside the point when set
}

// Series is one line of a chart. Dash is an SVG stroke-dasharray ("" solid).
type Series struct {
	Name   string
	Color  string
	Dash   string
	Points []Point
}

// Threshold is a dashed horizontal line (an SLO).
type Threshold struct {
	Y     float64
	Label string
}

// Marker is a vertical line at X with a label (a search's capacity).
type Marker struct {
	X     float64
	Label string
}

// LineChart plots series against a numeric x axis.
type LineChart struct {
	ID, Kind      string // element id; data-chart (the kind of chart)
	Title         string
	XLabel        string
	YLabel        string
	LogX          bool      // log2 x axis (loads that double)
	XTicks        []float64 // explicit x ticks (default: nice ticks)
	XFormat       func(float64) string
	YFormat       func(float64) string
	Series        []Series
	Thresholds    []Threshold
	Markers       []Marker
	CategoryNames []string // x ticks 0..n-1 drawn as these names (percentile ladders)
	// InOrder joins the points in the order given instead of by x (a
	// latency-throughput curve, whose throughput can fall at high load).
	InOrder bool
}

// BarSeries is one bar per category; nil values draw no bar.
type BarSeries struct {
	Name   string
	Color  string
	Values []*float64
}

// BarChart plots grouped bars per category.
type BarChart struct {
	ID, Kind   string
	Title      string
	XLabel     string
	YLabel     string
	Categories []string
	Series     []BarSeries
	Thresholds []Threshold
	YFormat    func(float64) string
}

// palette is Tableau 10.
var palette = []string{"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"}

func color(i int) string { return palette[i%len(palette)] }

const (
	chartW  = 620
	plotTop = 40
	plotL   = 72
	plotR   = 20
	plotH   = 230
	legendW = 200
)

type frame struct {
	b          *strings.Builder
	xmin, xmax float64
	ymax       float64
	logX       bool
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func (f *frame) px(x float64) float64 {
	w := float64(chartW - plotL - plotR)
	if f.xmax == f.xmin {
		return plotL + w/2
	}
	if f.logX {
		return plotL + w*(math.Log2(x)-math.Log2(f.xmin))/(math.Log2(f.xmax)-math.Log2(f.xmin))
	}
	return plotL + w*(x-f.xmin)/(f.xmax-f.xmin)
}

func (f *frame) py(y float64) float64 {
	if f.ymax <= 0 {
		return plotTop + plotH
	}
	return plotTop + plotH*(1-y/f.ymax)
}

// niceStep rounds a raw tick step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if !(raw > 0) || !finite(raw) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// niceTicks returns ticks from 0 to at least max, about n of them, and the
// axis top.
func niceTicks(max float64, n int) ([]float64, float64) {
	if !(max > 0) || !finite(max) {
		max = 1
	}
	step := niceStep(max / float64(n))
	top := math.Ceil(max/step-1e-9) * step
	var ticks []float64
	for i := 0; float64(i)*step <= top+step/2 && i < 100; i++ {
		ticks = append(ticks, float64(i)*step)
	}
	return ticks, top
}

func esc(s string) string { return html.EscapeString(s) }

func svgOpen(b *strings.Builder, id, kind, title string, height int) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" id="%s" data-chart="%s" class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		esc(id), esc(kind), chartW, height, chartW, height, esc(title))
	fmt.Fprintf(b, `<title>%s</title>`, esc(title))
	fmt.Fprintf(b, `<text x="%d" y="20" class="ct">%s</text>`, chartW/2, esc(title))
}

// legendRows is the number of legend rows for n entries.
func legendRows(n int) int {
	per := (chartW - plotL) / legendW
	return (n + per - 1) / per
}

func chartHeight(legendEntries int) int {
	return plotTop + plotH + 48 + 18*legendRows(legendEntries) + 8
}

type legendEntry struct {
	name, color, dash string
	bar               bool
}

func drawLegend(b *strings.Builder, entries []legendEntry) {
	per := (chartW - plotL) / legendW
	y0 := plotTop + plotH + 52
	for i, e := range entries {
		x := plotL + (i%per)*legendW
		y := y0 + (i/per)*18
		if e.bar {
			fmt.Fprintf(b, `<rect x="%d" y="%d" width="18" height="10" fill="%s"/>`, x, y-9, esc(e.color))
		} else {
			fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2.5"%s/>`, x, y-4, x+18, y-4, esc(e.color), dashAttr(e.dash))
		}
		name := e.name
		if len([]rune(name)) > 28 {
			name = string([]rune(name)[:27]) + "…"
		}
		fmt.Fprintf(b, `<text x="%d" y="%d" class="lg">%s<title>%s</title></text>`, x+24, y, esc(name), esc(e.name))
	}
}

func dashAttr(d string) string {
	if d == "" {
		return ""
	}
	return fmt.Sprintf(` stroke-dasharray="%s"`, esc(d))
}

// drawYAxis draws the horizontal grid, the y tick labels and the y label.
func drawYAxis(b *strings.Builder, f *frame, ticks []float64, yf func(float64) string, label string) {
	for _, t := range ticks {
		y := f.py(t)
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" class="grid"/>`, plotL, y, chartW-plotR, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" class="yt">%s</text>`, plotL-6, y+4, esc(yf(t)))
	}
	fmt.Fprintf(b, `<text x="14" y="%d" class="al" transform="rotate(-90 14 %d)">%s</text>`, plotTop+plotH/2, plotTop+plotH/2, esc(label))
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" class="axis"/>`, plotL, plotTop, plotL, plotTop+plotH)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" class="axis"/>`, plotL, plotTop+plotH, chartW-plotR, plotTop+plotH)
}

func drawThresholds(b *strings.Builder, f *frame, th []Threshold) {
	for _, t := range th {
		if !finite(t.Y) || t.Y <= 0 {
			continue
		}
		y := f.py(t.Y)
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" class="slo"><title>%s</title></line>`, plotL, y, chartW-plotR, y, esc(t.Label))
		fmt.Fprintf(b, `<text x="%d" y="%.1f" class="slot">%s</text>`, chartW-plotR-4, y-4, esc(t.Label))
	}
}

// drawMarkers draws each marker as a vertical line with its label at the
// top, one label below the other.
func drawMarkers(b *strings.Builder, f *frame, ms []Marker, logX bool) {
	for i, m := range ms {
		if !finite(m.X) || (logX && m.X <= 0) {
			continue
		}
		x := f.px(m.X)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" class="knee" data-marker="%g"><title>%s</title></line>`, x, plotTop, x, plotTop+plotH, m.X, esc(m.Label))
		fmt.Fprintf(b, `<text x="%.1f" y="%d" class="kneet">%s</text>`, x+4, plotTop+12+12*i, esc(m.Label))
	}
}

func defaultFormat(v float64) string { return fmt.Sprintf("%.4g", v) }

// SVG renders the chart.
func (c LineChart) SVG() template.HTML {
	yf, xf := c.YFormat, c.XFormat
	if yf == nil {
		yf = defaultFormat
	}
	if xf == nil {
		xf = defaultFormat
	}
	f := &frame{b: &strings.Builder{}, xmin: math.Inf(1), xmax: math.Inf(-1), logX: c.LogX}
	ymax := 0.0
	points := 0
	for _, s := range c.Series {
		for _, p := range s.Points {
			if !finite(p.X) || !finite(p.Y) || (c.LogX && p.X <= 0) {
				continue
			}
			points++
			f.xmin, f.xmax, ymax = math.Min(f.xmin, p.X), math.Max(f.xmax, p.X), math.Max(ymax, p.Y)
		}
	}
	for _, t := range c.XTicks {
		if finite(t) && (!c.LogX || t > 0) {
			f.xmin, f.xmax = math.Min(f.xmin, t), math.Max(f.xmax, t)
		}
	}
	for _, t := range c.Thresholds {
		if finite(t.Y) && t.Y > 0 {
			ymax = math.Max(ymax, t.Y)
		}
	}
	for _, m := range c.Markers {
		if finite(m.X) && (!c.LogX || m.X > 0) {
			f.xmin, f.xmax = math.Min(f.xmin, m.X), math.Max(f.xmax, m.X)
		}
	}
	if f.xmin > f.xmax {
		f.xmin, f.xmax = 0, 1
	}
	if !c.LogX && len(c.CategoryNames) == 0 && f.xmin > 0 {
		f.xmin = 0
	}
	if len(c.CategoryNames) > 0 {
		f.xmin, f.xmax = -0.5, float64(len(c.CategoryNames))-0.5
	}
	yt, top := niceTicks(ymax*1.05, 5)
	f.ymax = top
	var entries []legendEntry
	for _, s := range c.Series {
		entries = append(entries, legendEntry{name: s.Name, color: s.Color, dash: s.Dash})
	}
	h := chartHeight(len(entries))
	b := f.b
	svgOpen(b, c.ID, c.Kind, c.Title, h)
	drawYAxis(b, f, yt, yf, c.YLabel)
	// X ticks.
	var xt []float64
	switch {
	case len(c.CategoryNames) > 0:
		for i := range c.CategoryNames {
			xt = append(xt, float64(i))
		}
	case len(c.XTicks) > 0:
		xt = c.XTicks
	case c.LogX:
		for v := math.Exp2(math.Floor(math.Log2(f.xmin))); v <= f.xmax*1.0001; v *= 2 {
			xt = append(xt, v)
		}
	default:
		var top float64
		xt, top = niceTicks(f.xmax*1.02, 6)
		f.xmax = top
	}
	lastX := -1e9
	for i, t := range xt {
		if !finite(t) || (c.LogX && t <= 0) {
			continue
		}
		x := f.px(t)
		label := xf(t)
		if len(c.CategoryNames) > 0 {
			label = c.CategoryNames[i]
		}
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" class="axis"/>`, x, plotTop+plotH, x, plotTop+plotH+4)
		if x-lastX >= 28 { // skip labels that would overlap
			fmt.Fprintf(b, `<text x="%.1f" y="%d" class="xt">%s</text>`, x, plotTop+plotH+18, esc(label))
			lastX = x
		}
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" class="al">%s</text>`, plotL+(chartW-plotL-plotR)/2, plotTop+plotH+38, esc(c.XLabel))
	drawThresholds(b, f, c.Thresholds)
	drawMarkers(b, f, c.Markers, c.LogX)
	for _, s := range c.Series {
		var pts []Point
		for _, p := range s.Points {
			if finite(p.X) && finite(p.Y) && (!c.LogX || p.X > 0) {
				pts = append(pts, p)
			}
		}
		if len(c.CategoryNames) == 0 && !c.InOrder {
			sort.SliceStable(pts, func(i, j int) bool { return pts[i].X < pts[j].X })
		}
		if len(pts) > 1 {
			var d strings.Builder
			for i, p := range pts {
				cmd := "L"
				if i == 0 {
					cmd = "M"
				}
				fmt.Fprintf(&d, "%s%.1f %.1f ", cmd, f.px(p.X), f.py(p.Y))
			}
			fmt.Fprintf(b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"%s/>`, strings.TrimSpace(d.String()), esc(s.Color), dashAttr(s.Dash))
		}
		for _, p := range pts {
			tip := p.Tip
			if tip == "" {
				tip = fmt.Sprintf("%s: %s at %s", s.Name, yf(p.Y), xf(p.X))
			}
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s</title></circle>`, f.px(p.X), f.py(p.Y), esc(s.Color), esc(tip))
			if p.Label != "" {
				fmt.Fprintf(b, `<text x="%.1f" y="%.1f" class="pl">%s</text>`, f.px(p.X)+5, f.py(p.Y)-5, esc(p.Label))
			}
		}
	}
	if points == 0 {
		fmt.Fprintf(b, `<text x="%d" y="%d" class="nodata">no data</text>`, plotL+(chartW-plotL-plotR)/2, plotTop+plotH/2)
	}
	drawLegend(b, entries)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// SVG renders the chart.
func (c BarChart) SVG() template.HTML {
	yf := c.YFormat
	if yf == nil {
		yf = defaultFormat
	}
	ymax, bars := 0.0, 0
	for _, s := range c.Series {
		for _, v := range s.Values {
			if v != nil && finite(*v) && *v >= 0 {
				ymax = math.Max(ymax, *v)
				bars++
			}
		}
	}
	for _, t := range c.Thresholds {
		if finite(t.Y) && t.Y > 0 {
			ymax = math.Max(ymax, t.Y)
		}
	}
	f := &frame{b: &strings.Builder{}, xmin: 0, xmax: 1}
	yt, top := niceTicks(ymax*1.05, 5)
	f.ymax = top
	var entries []legendEntry
	for _, s := range c.Series {
		entries = append(entries, legendEntry{name: s.Name, color: s.Color, bar: true})
	}
	b := f.b
	svgOpen(b, c.ID, c.Kind, c.Title, chartHeight(len(entries)))
	drawYAxis(b, f, yt, yf, c.YLabel)
	n := max(len(c.Categories), 1)
	slot := float64(chartW-plotL-plotR) / float64(n)
	ns := max(len(c.Series), 1)
	bw := math.Min(slot*0.8/float64(ns), 40)
	for i, cat := range c.Categories {
		cx := plotL + slot*(float64(i)+0.5)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" class="xt">%s</text>`, cx, plotTop+plotH+18, esc(cat))
		x0 := cx - bw*float64(ns)/2
		for j, s := range c.Series {
			if i >= len(s.Values) || s.Values[i] == nil || !finite(*s.Values[i]) || *s.Values[i] < 0 {
				continue
			}
			v := *s.Values[i]
			y := f.py(v)
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>`,
				x0+bw*float64(j), y, math.Max(bw-2, 1), float64(plotTop+plotH)-y, esc(s.Color), esc(fmt.Sprintf("%s, %s: %s", s.Name, cat, yf(v))))
		}
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" class="al">%s</text>`, plotL+(chartW-plotL-plotR)/2, plotTop+plotH+38, esc(c.XLabel))
	drawThresholds(b, f, c.Thresholds)
	if bars == 0 {
		fmt.Fprintf(b, `<text x="%d" y="%d" class="nodata">no data</text>`, plotL+(chartW-plotL-plotR)/2, plotTop+plotH/2)
	}
	drawLegend(b, entries)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
