package main

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"strings"
)

var targetColors = map[string]string{"duet": "#2563eb", "duet-wd": "#7c3aed", "centrifugo": "#f59e0b", "bare": "#6b7280"}

// panel is one bar chart: a value per scenario per server.
type panel struct {
	title  string
	unit   string
	value  func(*result) float64
	filter func(*result) bool
}

// renderSVG draws the report as grouped bar charts, one panel per figure:
// deliveries/s and p99 latency for the scenarios that publish, RSS per
// connection for the idle ones. Plain SVG, no dependency.
func renderSVG(r *report) []byte {
	publishing := func(x *result) bool { return !x.Idle && x.Interval == 0 }
	panels := []panel{
		{"Delivered messages/s (higher is better)", "", func(x *result) float64 { return x.DeliveriesPerSec }, publishing},
		{"p99 publish→receive latency (lower is better)", " ms", func(x *result) float64 { return x.P99ms }, publishing},
		{"Server RSS per idle connection (lower is better)", " KiB", func(x *result) float64 { return x.RSSPerConnKiB }, func(x *result) bool { return x.Idle }},
	}
	var targets []string
	for _, x := range r.Results {
		if !strings.Contains(strings.Join(targets, ","), x.Target) {
			targets = append(targets, x.Target)
		}
	}
	const width, panelH, left, top = 960, 260, 70, 86
	var body bytes.Buffer
	y := top
	for _, p := range panels {
		var scs []string
		for _, sc := range r.scenarios() {
			for _, x := range r.Results {
				if x.Scenario == sc && p.filter(x) {
					scs = append(scs, sc)
					break
				}
			}
		}
		if len(scs) == 0 {
			continue
		}
		maxV := 0.0
		for _, x := range r.Results {
			if p.filter(x) {
				maxV = math.Max(maxV, p.value(x))
			}
		}
		maxV = niceCeil(maxV)
		plotW, plotH := width-left-20, panelH-70
		fmt.Fprintf(&body, `<text x="%d" y="%d" font-size="15" font-weight="bold">%s</text>`+"\n", left, y, html.EscapeString(p.title))
		y0 := y + 15
		// Grid and axis labels.
		for i := 0; i <= 4; i++ {
			v := maxV * float64(i) / 4
			gy := float64(y0+plotH) - float64(plotH)*float64(i)/4
			fmt.Fprintf(&body, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e7eb"/>`+"\n", left, gy, left+plotW, gy)
			fmt.Fprintf(&body, `<text x="%d" y="%.1f" font-size="11" text-anchor="end" fill="#374151">%s</text>`+"\n", left-6, gy+4, html.EscapeString(short(v)+p.unit))
		}
		groupW := float64(plotW) / float64(len(scs))
		barW := math.Min(28, (groupW-16)/float64(max(len(targets), 1)))
		for gi, sc := range scs {
			gx := float64(left) + groupW*float64(gi) + (groupW-barW*float64(len(targets)))/2
			for ti, t := range targets {
				x := r.find(sc, t)
				if x == nil || !p.filter(x) {
					continue
				}
				v := p.value(x)
				h := 0.0
				if maxV > 0 {
					h = float64(plotH) * v / maxV
				}
				bx := gx + barW*float64(ti)
				fmt.Fprintf(&body, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s%s</title></rect>`+"\n",
					bx, float64(y0+plotH)-h, barW-2, h, targetColors[t], html.EscapeString(t), html.EscapeString(sc), short(v), html.EscapeString(p.unit))
				fmt.Fprintf(&body, `<text x="%.1f" y="%.1f" font-size="9" text-anchor="middle" fill="#111827">%s</text>`+"\n", bx+barW/2-1, float64(y0+plotH)-h-3, short(v))
			}
			fmt.Fprintf(&body, `<text x="%.1f" y="%d" font-size="11" text-anchor="middle" fill="#111827">%s</text>`+"\n", float64(left)+groupW*(float64(gi)+0.5), y0+plotH+16, html.EscapeString(sc))
		}
		y += panelH
	}
	// Legend.
	var legend bytes.Buffer
	lx := left
	for _, t := range targets {
		fmt.Fprintf(&legend, `<rect x="%d" y="46" width="12" height="12" fill="%s"/><text x="%d" y="56" font-size="12">%s</text>`+"\n", lx, targetColors[t], lx+16, html.EscapeString(t))
		lx += 110
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif">`+"\n", width, y+10, width, y+10)
	fmt.Fprintf(&out, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	cpu, _ := r.Machine["cpu"].(string)
	where := "server and load generator share them"
	if r.Pinned != "" {
		where = "pinned: " + r.Pinned
	}
	fmt.Fprintf(&out, `<text x="%d" y="18" font-size="12" fill="#374151">duet-load, %s: %v CPUs %s (%s)</text>`+"\n",
		left, html.EscapeString(r.Started), r.Machine["cpus"], html.EscapeString(cpu), html.EscapeString(where))
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range r.Results {
		var l float64
		if _, err := fmt.Sscan(x.LoadAvg, &l); err == nil {
			lo, hi = math.Min(lo, l), math.Max(hi, l)
		}
	}
	if hi >= lo {
		fmt.Fprintf(&out, `<text x="%d" y="%d" font-size="12" fill="#374151">1-minute load average after each measurement: %.1f to %.1f; read the ratios: the servers ran in turn under the same load</text>`+"\n", left, 34, lo, hi)
	}
	out.Write(legend.Bytes())
	out.Write(body.Bytes())
	out.WriteString("</svg>\n")
	return out.Bytes()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// short formats v with k/M suffixes and at most three significant digits.
func short(v float64) string {
	switch {
	case v >= 1e6:
		return trimZero(fmt.Sprintf("%.2f", v/1e6)) + "M"
	case v >= 1e3:
		return trimZero(fmt.Sprintf("%.1f", v/1e3)) + "k"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return trimZero(fmt.Sprintf("%.1f", v))
	}
	return trimZero(fmt.Sprintf("%.2f", v))
}

func trimZero(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
