package checker

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/irischaos/irischaos/pkg/history"
)

// Evidence gathers what the checker needs from a history, one record at a
// time, so a history of millions of writes is judged without holding its
// records: each write is kept as a compact op (times as nanoseconds from the
// first write's invocation). Feed it with history.ScanView (Add copies what
// it keeps, and keeps no string of the records it drops), then call Check.
type Evidence struct {
	base    time.Time // the first op's invoke: op times are nanoseconds from it
	hasBase bool

	ops []op

	badCount     int
	bad          []string // the first few unusable ops, described
	unknownSeqs  []int64  // markers of unusable ops
	unidentified int      // unusable ops whose marker cannot be named

	faults   []history.Record
	readback *history.Record  // the last one counts
	events   []history.Record // events that mark a phase
	storage  []history.Record // the volume's attachment and redundancy events

	unknownKinds     int
	firstUnknownKind string
	firstUnknownLine int

	clock clockSamples

	meta map[string]string

	// writers: the distinct (pod, node) the ops name, in order of first
	// appearance; an op's writer is its index plus one (0: none named).
	writers     []writerID
	writerIndex map[writerID]uint8
	lastWriter  uint8 // the previous op's, which the next one almost always shares
	// tooManyWriters: ops naming a pod beyond maxWriters (counted as
	// naming none: a real history has a handful of pods).
	tooManyWriters int
}

// writerID is who wrote: the pod and the node it ran on (docs/history.md,
// "Split brain").
type writerID struct{ pod, node string }

const maxWriters = 255

// op is one usable write, compact.
type op struct {
	seq       int64
	inv, done int64 // nanoseconds since Evidence.base
	line      int32 // where it was read (record number for in-memory histories)
	res       uint8
	found     uint8 // times its seq was read back (capped at 2)
	writer    uint8 // Evidence.writers index plus one; 0: no pod named
}

const (
	resOK uint8 = iota + 1
	resFail
	resInfo
)

const showBad = 5

// NewEvidence returns empty evidence.
func NewEvidence() *Evidence { return &Evidence{meta: map[string]string{}} }

// Add takes one record and where it was read (its line; for a history in
// memory, its 1-based position, which is its line once written). r is not
// kept: Add copies what it needs.
func (e *Evidence) Add(line int, r *history.Record) {
	switch r.Kind {
	case history.KindOp:
		e.addOp(line, r)
	case history.KindFault:
		e.faults = append(e.faults, r.Clone())
	case history.KindReadback:
		rb := r.Clone()
		e.readback = &rb
	case history.KindEvent:
		if r.Source == history.SourceStorage || r.Source == history.SourceVolumeAttachment {
			e.storage = append(e.storage, r.Clone())
		}
		if p := eventPhase(r); p != "" {
			ev := r.Clone()
			ev.Phase = p
			e.events = append(e.events, ev)
		}
	case history.KindMeta:
		for k, v := range r.Meta {
			e.meta[k] = v
		}
	default:
		if !history.KnownKind(r.Kind) {
			if e.unknownKinds == 0 {
				e.firstUnknownKind, e.firstUnknownLine = r.Kind, line
			}
			e.unknownKinds++
		}
	}
}

func (e *Evidence) addOp(line int, r *history.Record) {
	var res uint8
	switch r.Result {
	case history.OK:
		res = resOK
	case history.Fail:
		res = resFail
	case history.Info:
		res = resInfo
	}
	why := ""
	switch {
	case r.Seq <= 0:
		why = "has no sequence number"
	case res == 0:
		why = fmt.Sprintf("has result %q, want ok, fail or info", r.Result)
	case r.Invoke.IsZero() || r.Complete.IsZero():
		why = "lacks its invoke or complete time"
	case r.Complete.Before(r.Invoke):
		why = "completes before it was invoked"
	}
	if why == "" && !e.hasBase {
		e.base, e.hasBase = r.Invoke, true
	}
	var inv, done int64
	if why == "" {
		var ok1, ok2 bool
		inv, ok1 = e.rel(r.Invoke)
		done, ok2 = e.rel(r.Complete)
		if !ok1 || !ok2 {
			why = "has a time too far from the other writes' to measure (an absurd clock)"
		}
	}
	if why != "" {
		e.unusable(line, r, why)
		return
	}
	e.ops = append(e.ops, op{seq: r.Seq, inv: inv, done: done, line: int32(min(line, math.MaxInt32)), res: res, writer: e.writer(r.Pod, r.Node)})
	if res == resOK && r.Value != "" {
		if dbT, ok := markerTime(r.Value); ok {
			half := r.Complete.Sub(r.Invoke) / 2
			e.clock.add(dbT.Sub(r.Invoke.Add(half)), half)
		}
	}
}

// writer is the index plus one of the op's (pod, node); 0 when it names
// no pod, or a pod past maxWriters.
func (e *Evidence) writer(pod, node string) uint8 {
	if pod == "" {
		return 0
	}
	if w := e.lastWriter; w > 0 && e.writers[w-1].pod == pod && e.writers[w-1].node == node {
		return w
	}
	id := writerID{pod, node}
	if i, ok := e.writerIndex[id]; ok {
		e.lastWriter = i
		return i
	}
	if len(e.writers) >= maxWriters {
		e.tooManyWriters++
		return 0
	}
	if e.writerIndex == nil {
		e.writerIndex = map[writerID]uint8{}
	}
	id = writerID{strings.Clone(pod), strings.Clone(node)} // the record may alias a reader's buffer
	e.writers = append(e.writers, id)
	e.writerIndex[id] = uint8(len(e.writers))
	e.lastWriter = uint8(len(e.writers))
	return e.lastWriter
}

// unusable records an op the definitions cannot use: its marker (its seq,
// else the seq its value names) becomes unknown, neither lost nor
// unexpected.
func (e *Evidence) unusable(line int, r *history.Record, why string) {
	e.badCount++
	if len(e.bad) < showBad {
		e.bad = append(e.bad, fmt.Sprintf("line %d (seq %d) %s", line, r.Seq, why))
	}
	switch s := markerSeq(r); {
	case s > 0:
		e.unknownSeqs = append(e.unknownSeqs, s)
	default:
		e.unidentified++
	}
}

// markerSeq is the op's seq, else the "seq=N" its value carries, else 0.
func markerSeq(r *history.Record) int64 {
	if r.Seq > 0 {
		return r.Seq
	}
	for _, f := range strings.Fields(r.Value) {
		if v, ok := strings.CutPrefix(f, "seq="); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
				return n
			}
		}
	}
	return 0
}

// rel is t in nanoseconds since the base; false when that does not fit.
func (e *Evidence) rel(t time.Time) (int64, bool) {
	d := t.Sub(e.base)
	if d == math.MaxInt64 || d == math.MinInt64 || !e.base.Add(d).Equal(t) {
		return 0, false
	}
	return int64(d), true
}

func (e *Evidence) abs(n int64) time.Time { return e.base.Add(time.Duration(n)).UTC() }

// Meta is the merged meta records (later keys win).
func (e *Evidence) Meta() map[string]string { return e.meta }

// Budgets are the budgets the history's meta records give, from
// DefaultBudgets for what is absent.
func (e *Evidence) Budgets() (Budgets, error) { return budgetsFrom(e.meta) }

// sub is a-b, false on overflow.
func sub(a, b int64) (int64, bool) {
	d := a - b
	if (b > 0 && d > a) || (b < 0 && d < a) {
		return 0, false
	}
	return d, true
}

// eventPhase is the RTO phase an event marks: its own, or, for a history
// whose observer did not name it, the kubelet's "Started container" event
// (a liveness restart shows it even when no pod update caught the container
// down).
func eventPhase(r *history.Record) string {
	if r.Phase != "" {
		return r.Phase
	}
	if r.Source == "event" && r.Reason == "Started" && strings.HasPrefix(r.Target, "pod/") && strings.HasPrefix(r.Message, "Started container ") {
		return history.PhaseContainerStarted
	}
	return ""
}
