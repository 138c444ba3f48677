package report

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/history"
)

// Plot geometry (pixels).
const (
	plotW, plotH         = 960, 300
	padL, padR           = 60, 20
	padT, padB           = 40, 40
	innerW, innerH       = plotW - padL - padR, plotH - padT - padB
	minLatency, floorLat = 1e-3, 1e-4
	// Writer lanes, under the plot when two or more pods acknowledged writes.
	laneH, maxLanes = 22, 8
)

// RenderTimeline draws one iteration as Jepsen draws its latency plots: each
// write at its invoke time (x) and latency (y, log scale), coloured by
// result, lost acknowledged writes crossed, the outage (fault to first
// acknowledged write after it) shaded and the phases of RTO marked.
// Points that fall on the same pixel are drawn once, so the file stays small.
// When two or more pods acknowledged writes, each pod's writes get a lane of
// their own under the plot, and windows in which two pods both
// acknowledged writes (split brain) are shaded across the lanes.
func RenderTimeline(w io.Writer, recs []history.Record, res checker.Result) error {
	var ops []history.Record
	for _, r := range recs {
		if r.Kind == history.KindOp && !r.Invoke.IsZero() && !r.Complete.IsZero() {
			ops = append(ops, r)
		}
	}
	start, end := time.Time{}, time.Time{}
	maxLat := 0.0
	for _, o := range ops {
		if start.IsZero() || o.Invoke.Before(start) {
			start = o.Invoke
		}
		if o.Complete.After(end) {
			end = o.Complete
		}
		maxLat = math.Max(maxLat, o.Complete.Sub(o.Invoke).Seconds())
	}
	if res.Fault != nil && (start.IsZero() || res.Fault.T.Before(start)) {
		start = res.Fault.T
	}
	if res.Fault != nil && res.Fault.T.After(end) {
		end = res.Fault.T
	}
	if !end.After(start) {
		end = start.Add(time.Second)
	}
	span := end.Sub(start).Seconds()
	top := math.Pow(10, math.Ceil(math.Log10(math.Max(maxLat, minLatency*10))))
	x := func(t time.Time) float64 { return padL + t.Sub(start).Seconds()/span*innerW }
	y := func(lat float64) float64 {
		l := math.Log10(math.Max(lat, floorLat)/floorLat) / math.Log10(top/floorLat)
		return padT + innerH*(1-math.Max(0, math.Min(1, l)))
	}

	var writers []checker.Writer
	if sb := res.SplitBrain; sb != nil && len(sb.Writers) >= 2 {
		writers = sb.Writers[:min(len(sb.Writers), maxLanes)]
	}
	height := plotH
	if len(writers) > 0 {
		height += len(writers)*laneH + 8
	}

	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", plotW, height, plotW, height)
	p(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	title := "writes by latency"
	if res.Fault != nil {
		title = fmt.Sprintf("%s on %s: writes by latency; outage shaded", res.Fault.Name, res.Fault.Target)
	}
	title += " — verdict " + string(res.Verdict)
	if r := []rune(title); len(r) > 72 { // keep clear of the legend
		title = string(r[:71]) + "…"
	}
	p(`<text x="%d" y="16" font-size="13">%s</text>`+"\n", padL, xmlEscape(title))

	// The outage: from the fault to the first acknowledged write after it.
	if res.Fault != nil {
		fx := x(res.Fault.T)
		endT := end
		if o := res.Outage; o != nil && o.FirstOKAfter != nil {
			endT = *o.FirstOKAfter
		}
		if !res.NoInterruption {
			p(`<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#f4cccc" opacity="0.6"><title>outage</title></rect>`+"\n", fx, padT, math.Max(1, x(endT)-fx), innerH)
		}
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#c00" stroke-width="2"/>`+"\n", fx, padT, fx, padT+innerH)
	}
	// Phases of RTO, labelled above the plot, staggered so labels do not overlap.
	row := 0
	for _, ph := range res.Phases {
		if !ph.Seen || ph.Name == checker.PhaseFaultIssued {
			continue
		}
		px := x(ph.T)
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#555" stroke-dasharray="3,3"/>`+"\n", px, padT, px, padT+innerH)
		p(`<text x="%.1f" y="%d" fill="#555">%s</text>`+"\n", px+2, padT-14+10*(row%2), xmlEscape(phaseName(ph.Name)))
		row++
	}
	// Axes: latency decades on y, seconds since the fault (or start) on x.
	p(`<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", padL, padT, innerW, innerH)
	for lat := floorLat * 10; lat <= top*1.0001; lat *= 10 {
		yy := y(lat)
		p(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/><text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", padL, yy, padL+innerW, yy, padL-4, yy+4, latencyLabel(lat))
	}
	origin := start
	if res.Fault != nil {
		origin = res.Fault.T
	}
	step := niceStep(span / 8)
	first := math.Ceil(start.Sub(origin).Seconds()/step) * step
	for s := first; s <= end.Sub(origin).Seconds(); s += step {
		xx := x(origin.Add(time.Duration(s * float64(time.Second))))
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#999"/><text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", xx, padT+innerH, xx, padT+innerH+4, xx, padT+innerH+16, secondsLabel(s))
	}
	axis := "seconds since the fault"
	if res.Fault == nil {
		axis = "seconds"
	}
	p(`<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", padL+innerW/2, plotH-6, axis)

	// The writes.
	lost := map[int64]bool{}
	for _, s := range res.LostSeqs {
		lost[s] = true
	}
	colors := map[string]string{history.OK: "#1f77b4", history.Info: "#ff7f0e", history.Fail: "#d62728"}
	type px struct {
		x, y int
		res  string
	}
	drawn := map[px]bool{}
	for _, o := range ops {
		xx, yy := x(o.Invoke), y(o.Complete.Sub(o.Invoke).Seconds())
		k := px{int(xx), int(yy), o.Result}
		if lost[o.Seq] && o.Result == history.OK {
			p(`<path d="M%.1f %.1fl6 6m0 -6l-6 6" stroke="black" stroke-width="1.5"><title>seq %d lost</title></path>`+"\n", xx-3, yy-3, o.Seq)
			continue
		}
		if drawn[k] {
			continue
		}
		drawn[k] = true
		c, ok := colors[o.Result]
		if !ok {
			c = "#888"
		}
		p(`<circle cx="%d" cy="%d" r="2" fill="%s"/>`+"\n", k.x, k.y, c)
	}
	// Legend.
	lx := padL + innerW - 330
	for i, l := range []struct{ c, s string }{{"#1f77b4", "ok"}, {"#ff7f0e", "info (unknown)"}, {"#d62728", "fail"}, {"black", "lost (×)"}} {
		p(`<circle cx="%d" cy="%d" r="4" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n", lx+i*85, 12, l.c, lx+i*85+7, 16, l.s)
	}
	if len(writers) > 0 {
		writerLanes(p, ops, lost, writers, res.SplitBrain, x)
	}
	p("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// writerLanes draws one lane per writer under the plot: each of its writes
// as a tick at its invoke time, coloured by result (black: acknowledged,
// then lost), and the split-brain windows shaded across the lanes.
func writerLanes(p func(string, ...any), ops []history.Record, lost map[int64]bool, writers []checker.Writer, sb *checker.SplitBrain, x func(time.Time) float64) {
	top := plotH + 4
	lane := map[checker.WriterName]int{}
	for i, wr := range writers {
		lane[wr.WriterName] = i
		y := top + i*laneH
		fill := "#f7f7f7"
		if i%2 == 1 {
			fill = "#eeeeee"
		}
		label := wr.WriterName.String()
		if wr.Old {
			label += " (old pod)"
		}
		p(`<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/><text x="%d" y="%d" font-size="9" fill="#333">%s</text>`+"\n",
			padL, y, innerW, laneH, fill, padL+3, y+9, xmlEscape(fmt.Sprintf("%s: %d acknowledged", label, wr.OK)))
	}
	colors := map[string]string{history.OK: "#1f77b4", history.Info: "#ff7f0e", history.Fail: "#d62728"}
	type tick struct {
		lane, x int
		color   string
	}
	drawn := map[tick]bool{}
	for _, o := range ops {
		i, ok := lane[checker.WriterName{Pod: o.Pod, Node: o.Node}]
		if !ok {
			continue
		}
		c, ok := colors[o.Result]
		if !ok {
			c = "#888"
		}
		if o.Result == history.OK && lost[o.Seq] {
			c = "black"
		}
		k := tick{i, int(x(o.Invoke)), c}
		if drawn[k] {
			continue
		}
		drawn[k] = true
		p(`<rect x="%d" y="%d" width="1" height="8" fill="%s"/>`+"\n", k.x, top+i*laneH+11, c)
	}
	for _, ov := range sb.Overlaps {
		x0, x1 := x(ov.Start), x(ov.End)
		p(`<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#c00" opacity="0.3"><title>%s</title></rect>`+"\n",
			x0, top, math.Max(1, x1-x0), len(writers)*laneH, xmlEscape(fmt.Sprintf("split brain: %s and %s both acknowledged writes", ov.A, ov.B)))
	}
}

func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

func latencyLabel(s float64) string {
	switch {
	case s < 1e-3:
		return fmt.Sprintf("%.0fµs", s*1e6)
	case s < 1:
		return fmt.Sprintf("%.0fms", s*1e3)
	default:
		return fmt.Sprintf("%.0fs", s)
	}
}

func secondsLabel(s float64) string {
	if math.Abs(s) < 1e-9 {
		return "0"
	}
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", s), "0"), ".")
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
