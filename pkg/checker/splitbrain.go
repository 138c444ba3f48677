package checker

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/irischaos/irischaos/pkg/history"
)

// SplitBrain is the evidence about writers (docs/history.md, "Split
// brain"): the pods that acknowledged writes, the windows in which two of
// them did, and the old pod's acknowledged writes lost once its
// replacement had started.
type SplitBrain struct {
	// Checked: the acknowledged writes name their pod; false is "cannot
	// tell", with why in CannotTell (the verdict does not change).
	Checked    bool   `json:"checked"`
	CannotTell string `json:"cannot_tell,omitempty"`
	// Writers: each pod (with its node) that acknowledged writes, by first
	// invocation.
	Writers []Writer `json:"writers"`
	// Unattributed: acknowledged writes that name no pod.
	Unattributed int `json:"unattributed"`
	// Overlaps: pairs of writers whose acknowledged ranges overlap, at
	// most MaxViolations of them.
	Overlaps []Overlap `json:"overlaps"`
	// Replacement: the pod that replaced the old one, when one did, and
	// ReplacementStart when it started (see docs/history.md).
	Replacement      *WriterName `json:"replacement,omitempty"`
	ReplacementStart *time.Time  `json:"replacement_start,omitempty"`
	// OldLostChecked: the old pod's lost writes were judged; if not,
	// OldLostCannotTell says why (CannotTell when nothing was checked).
	OldLostChecked    bool   `json:"old_lost_checked"`
	OldLostCannotTell string `json:"old_lost_cannot_tell,omitempty"`
	// OldLost: the old pod's writes acknowledged at or after the
	// replacement start and missing from the read-back (OldLostSeqs: at
	// most MaxViolations of them).
	OldLost     int     `json:"old_lost"`
	OldLostSeqs []int64 `json:"old_lost_seqs"`
}

// WriterName is a pod and the node it ran on (empty when not recorded).
type WriterName struct {
	Pod  string `json:"pod"`
	Node string `json:"node,omitempty"`
}

// String is "pod on node", or the pod with "node unknown".
func (w WriterName) String() string {
	if w.Node == "" {
		return w.Pod + " (node unknown)"
	}
	return w.Pod + " on " + w.Node
}

// Writer is one pod that acknowledged writes, and its acknowledged range:
// from the first invocation to the last completion of its ok writes.
type Writer struct {
	WriterName
	OK           int       `json:"ok"`
	FirstInvoke  time.Time `json:"first_invoke"`
	LastComplete time.Time `json:"last_complete"`
	// Old: it acknowledged the last write completed at or before the fault.
	Old bool `json:"old,omitempty"`
}

// Overlap is a window in which two writers both acknowledged writes: the
// intersection of their acknowledged ranges, and the ok writes each
// completed within it (ends included).
type Overlap struct {
	A       WriterName `json:"a"`
	B       WriterName `json:"b"`
	Start   time.Time  `json:"start"`
	End     time.Time  `json:"end"`
	Seconds float64    `json:"seconds"`
	AWrites int        `json:"a_writes"`
	BWrites int        `json:"b_writes"`
}

// writerRange is a writer's acknowledged range, on the ops' time line.
type writerRange struct {
	id          int // index into Evidence.writers
	ok          int
	first, last int64
}

// splitBrain applies the split-brain definition (docs/history.md). Ops are
// sorted by completion; the read-back has been matched.
func (c *check) splitBrain() {
	ranges := make([]writerRange, len(c.e.writers))
	for i := range ranges {
		ranges[i].id = i
	}
	okTotal, unattributed := 0, 0
	for i := range c.ops {
		o := &c.ops[i]
		if o.res != resOK {
			continue
		}
		okTotal++
		if o.writer == 0 {
			unattributed++
			continue
		}
		r := &ranges[o.writer-1]
		if r.ok == 0 || o.inv < r.first {
			r.first = o.inv
		}
		if r.ok == 0 || o.done > r.last {
			r.last = o.done
		}
		r.ok++
	}
	if okTotal == 0 {
		return
	}
	sb := &SplitBrain{Writers: []Writer{}, Overlaps: []Overlap{}, OldLostSeqs: []int64{}, Unattributed: unattributed}
	c.res.SplitBrain = sb
	ranges = slices.DeleteFunc(ranges, func(r writerRange) bool { return r.ok == 0 })
	if len(ranges) == 0 {
		sb.CannotTell = fmt.Sprintf("none of the %d acknowledged writes names its pod (a history from before ops recorded it): two writers cannot be told apart", okTotal)
		return
	}
	sb.Checked = true
	slices.SortFunc(ranges, func(a, b writerRange) int {
		return cmp.Or(cmp.Compare(a.first, b.first), strings.Compare(c.e.writers[a.id].pod, c.e.writers[b.id].pod), strings.Compare(c.e.writers[a.id].node, c.e.writers[b.id].node))
	})
	name := func(id int) WriterName { return WriterName{Pod: c.e.writers[id].pod, Node: c.e.writers[id].node} }
	for _, r := range ranges {
		sb.Writers = append(sb.Writers, Writer{WriterName: name(r.id), OK: r.ok, FirstInvoke: c.e.abs(r.first), LastComplete: c.e.abs(r.last)})
	}

	// Overlapping acknowledged ranges, strictly: ranges that only touch
	// took turns.
	type window struct {
		a, b       int // indexes into ranges
		start, end int64
		na, nb     int
	}
	var wins []window
	overlaps := 0
	for i := range ranges {
		for j := i + 1; j < len(ranges); j++ {
			start, end := max(ranges[i].first, ranges[j].first), min(ranges[i].last, ranges[j].last)
			if start >= end {
				continue
			}
			overlaps++
			if len(wins) < MaxViolations {
				wins = append(wins, window{a: i, b: j, start: start, end: end})
			}
		}
	}
	if len(wins) > 0 {
		for k := range c.ops {
			o := &c.ops[k]
			if o.res != resOK || o.writer == 0 {
				continue
			}
			for w := range wins {
				x := &wins[w]
				if o.done < x.start || o.done > x.end {
					continue
				}
				switch int(o.writer - 1) {
				case ranges[x.a].id:
					x.na++
				case ranges[x.b].id:
					x.nb++
				}
			}
		}
	}
	for _, x := range wins {
		a, b := name(ranges[x.a].id), name(ranges[x.b].id)
		ov := Overlap{A: a, B: b, Start: c.e.abs(x.start), End: c.e.abs(x.end), Seconds: *secs(time.Duration(x.end - x.start)), AWrites: x.na, BWrites: x.nb}
		sb.Overlaps = append(sb.Overlaps, ov)
		c.res.Anomalies = append(c.res.Anomalies, Anomaly{Kind: AnomalySplitBrain,
			Message: fmt.Sprintf("two writers: pod %s and pod %s both acknowledged writes from %s to %s (%s; %d and %d write(s) acknowledged in that window)",
				a, b, fmtT(ov.Start), fmtT(ov.End), fmtD(time.Duration(x.end-x.start)), x.na, x.nb)})
	}
	if overlaps > len(wins) {
		c.res.Anomalies = append(c.res.Anomalies, Anomaly{Kind: AnomalySplitBrain,
			Message: fmt.Sprintf("and %d more pair(s) of pods with overlapping acknowledged writes", overlaps-len(wins))})
	}
	c.oldLost(sb)
}

// oldLost finds the old pod, its replacement, and the old pod's writes
// acknowledged at or after the replacement started that the read-back
// lacks.
func (c *check) oldLost(sb *SplitBrain) {
	cannot := func(why string) { sb.OldLostCannotTell = why }
	if c.fault == nil || !c.hasTF {
		cannot("no usable fault time: there is no old pod")
		return
	}
	old := -1 // the last ok write completed at or before t_fault
	for i := range c.ops {
		o := &c.ops[i]
		if o.done > c.tf {
			break
		}
		if o.res == resOK {
			old = i
		}
	}
	if old < 0 || c.ops[old].writer == 0 {
		cannot("no acknowledged write at or before the fault names its pod: the old pod is unknown")
		return
	}
	oldID := int(c.ops[old].writer - 1)
	oldName := WriterName{Pod: c.e.writers[oldID].pod, Node: c.e.writers[oldID].node}
	for i := range sb.Writers {
		if sb.Writers[i].WriterName == oldName {
			sb.Writers[i].Old = true
		}
	}
	// Replacement start: the first pod_scheduled of another pod at or
	// after the fault, or the first ok write of another writer sent at or
	// after it, whichever is earlier.
	start, has := int64(0), false
	var repl WriterName
	for _, ev := range c.e.events {
		if ev.Phase != history.PhasePodScheduled || ev.T.Before(c.fault.T) || ev.Target == "pod/"+oldName.Pod {
			continue
		}
		t, ok := c.e.rel(ev.T)
		if ok && (!has || t < start) {
			start, has, repl = t, true, WriterName{Pod: strings.TrimPrefix(ev.Target, "pod/"), Node: ev.Node}
		}
	}
	for i := range c.ops {
		o := &c.ops[i]
		if o.res != resOK || o.writer == 0 || int(o.writer-1) == oldID || o.inv < c.tf {
			continue
		}
		if !has || o.inv < start {
			w := c.e.writers[o.writer-1]
			start, has, repl = o.inv, true, WriterName{Pod: w.pod, Node: w.node}
		}
	}
	if !has {
		cannot(fmt.Sprintf("no replacement of the old pod %s was seen after the fault", oldName))
		return
	}
	t := c.e.abs(start)
	sb.Replacement, sb.ReplacementStart = &repl, &t
	if c.readback == nil || c.readbackBefore {
		cannot("no read-back taken after the fault")
		return
	}
	sb.OldLostChecked = true
	var lost []int64
	for i := range c.ops {
		o := &c.ops[i]
		if o.res == resOK && int(o.writer)-1 == oldID && o.done >= start && o.found == 0 && !c.isUnknown(o.seq) {
			lost = append(lost, o.seq)
		}
	}
	if len(lost) > 0 {
		slices.Sort(lost)
		sb.OldLost, sb.OldLostSeqs = len(lost), capSeqs(lost)
		c.res.Anomalies = append(c.res.Anomalies, Anomaly{Kind: AnomalySplitBrain,
			Message: fmt.Sprintf("the old pod %s acknowledged %d write(s) after its replacement %s started at %s that are missing from the read-back (first: seq %d): it acknowledged writes the database then serving never held",
				oldName, len(lost), repl, fmtT(t), lost[0]),
			Seqs: sb.OldLostSeqs})
	}
}
