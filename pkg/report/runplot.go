package report

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// Run plot geometry (pixels): one panel per measure, one band per row.
const (
	rpW        = 960
	rpLabelW   = 200 // the failure domain's name, left of the axis
	rpRightW   = 250 // the figures, right of the axis
	rpBandH    = 34
	rpPanelTop = 34 // panel title and axis labels above the bands
	rpPanelBot = 30 // tick labels below
	rpPanelGap = 16
)

// measure is one panel of the run plot: RTO or RPO.
type measure struct {
	name   string
	values func(Iteration) (v float64, ok bool)
	budget func(Iteration) (b float64, ok bool)
}

var runMeasures = []measure{
	{"RTO", func(it Iteration) (float64, bool) {
		if p := it.Result.RTOSeconds; p != nil {
			return *p, true
		}
		return 0, false
	}, func(it Iteration) (float64, bool) {
		if p := it.Result.Budgets.RTOSeconds; p != nil {
			return *p, true
		}
		return 0, false
	}},
	{"RPO", func(it Iteration) (float64, bool) {
		if p := it.Result.RPOSeconds; p != nil {
			return *p, true
		}
		return 0, false
	}, func(it Iteration) (float64, bool) { return it.Result.Budgets.RPOSeconds, true }},
}

// RenderRunPlot draws the run at a glance: for RTO and for RPO a panel with
// one band per failure-domain row (scenario): every iteration's value as a
// dot, the p50 as a bar, p95 and max as ticks when there are several
// iterations, and the budget as a red line. A row whose max is over its
// budget is drawn red. Values are the checker's; nothing is judged here.
func RenderRunPlot(w io.Writer, run Run) error {
	rows := Rows(run)
	panelH := rpPanelTop + rpBandH*max(1, len(rows)) + rpPanelBot
	h := len(runMeasures)*panelH + (len(runMeasures)-1)*rpPanelGap
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" class="runplot" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11" role="img" aria-label="RTO and RPO per failure domain against their budgets">`+"\n", rpW, h, rpW, h)
	p(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	for mi, m := range runMeasures {
		top := mi * (panelH + rpPanelGap)
		drawPanel(p, m, rows, top)
	}
	p("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func drawPanel(p func(string, ...any), m measure, rows []Row, top int) {
	axisL, axisR := float64(rpLabelW), float64(rpW-rpRightW)
	// The scale: 0 to the largest value or budget, with a little room.
	hi := 0.0
	for _, r := range rows {
		for _, it := range r.Iterations {
			if v, ok := m.values(it); ok {
				hi = math.Max(hi, v)
			}
			if bud, ok := m.budget(it); ok {
				hi = math.Max(hi, bud)
			}
		}
	}
	if hi <= 0 {
		hi = 1
	}
	step := niceStep(hi / 6)
	hi = math.Ceil(hi*1.05/step) * step
	x := func(v float64) float64 { return axisL + v/hi*(axisR-axisL) }
	bandsTop := top + rpPanelTop
	bandsH := rpBandH * max(1, len(rows))

	p(`<g class="panel" data-measure="%s">`+"\n", m.name)
	p(`<text x="%d" y="%d" font-size="13" font-weight="bold">%s per failure domain (seconds); budget in red</text>`+"\n", 4, top+14, m.name)
	// Grid and ticks.
	for v := 0.0; v <= hi*1.0001; v += step {
		xx := x(v)
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/><text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>`+"\n",
			xx, bandsTop, xx, bandsTop+bandsH, xx, bandsTop+bandsH+14, secondsLabel(v))
	}
	p(`<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="none" stroke="#999"/>`+"\n", axisL, bandsTop, axisR-axisL, bandsH)
	if len(rows) == 0 {
		p(`<text x="%.1f" y="%d" text-anchor="middle" fill="#555">no iterations</text>`+"\n", (axisL+axisR)/2, bandsTop+rpBandH/2+4)
	}
	for i, r := range rows {
		y0 := float64(bandsTop + i*rpBandH)
		mid := y0 + rpBandH/2
		var vals []float64
		unknown := 0
		for _, it := range r.Iterations {
			if v, ok := m.values(it); ok {
				vals = append(vals, v)
			} else {
				unknown++
			}
		}
		slices.Sort(vals)
		bud, hasBudget := m.budget(r.Iterations[0])
		over := hasBudget && len(vals) > 0 && vals[len(vals)-1] > bud
		color := "#2b7a2b"
		if over {
			color = "#b00020"
		}
		label := r.FailureDomain
		if label == "" {
			label = r.Scenario
		}
		if len([]rune(label)) > 32 {
			label = string([]rune(label)[:31]) + "…"
		}
		p(`<g class="band" data-scenario="%s">`+"\n", xmlEscape(r.Scenario))
		p(`<text x="%d" y="%.1f" text-anchor="end">%s</text><text x="%d" y="%.1f" text-anchor="end" fill="#777" font-size="9">%s</text>`+"\n",
			rpLabelW-6, mid-2, xmlEscape(label), rpLabelW-6, mid+9, xmlEscape(r.Scenario))
		summary := "unknown"
		if len(vals) > 0 {
			p50 := percentile(vals, 0.50)
			p(`<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s" opacity="0.35"><title>%s p50 %s</title></rect>`+"\n",
				axisL, mid-7, math.Max(1, x(p50)-axisL), 14, color, xmlEscape(r.Scenario), sec(p50))
			for _, v := range vals {
				p(`<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s</title></circle>`+"\n", x(v), mid, color, sec(v))
			}
			summary = sec(vals[0])
			if len(vals) > 1 {
				p95, mx := percentile(vals, 0.95), vals[len(vals)-1]
				for _, q := range []struct {
					name string
					v    float64
				}{{"p95", p95}, {"max", mx}} {
					p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"><title>%s %s</title></line>`+"\n",
						x(q.v), mid-9, x(q.v), mid+9, color, q.name, sec(q.v))
				}
				summary = fmt.Sprintf("p50 %s p95 %s max %s", sec(p50), sec(p95), sec(mx))
			}
		}
		if unknown > 0 {
			summary += fmt.Sprintf(" (%d unknown)", unknown)
		}
		if hasBudget {
			bx := x(bud)
			p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#d00" stroke-width="2" stroke-dasharray="4,2"><title>budget %s</title></line>`+"\n",
				bx, y0+2, bx, y0+rpBandH-2, sec(bud))
			summary += " / budget " + sec(bud)
		} else {
			summary += " / no budget"
		}
		p(`<text x="%.1f" y="%.1f" fill="%s" font-size="10">%s</text>`+"\n", axisR+6, mid+4, color, xmlEscape(summary))
		p("</g>\n")
	}
	p("</g>\n")
}
