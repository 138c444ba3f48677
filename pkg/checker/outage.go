package checker

import (
	"math"
	"slices"
	"time"

	"github.com/irischaos/irischaos/pkg/history"
)

// Window is the outage the writes show after a fault: the one definition of
// the outage, used by the checker and by the runner's wait for recovery
// (docs/history.md, "What the checker computes").
type Window struct {
	// Began: some write showed the database unavailable at or after the
	// fault. Start is when (the completion of the first such write, or
	// invoke + write timeout for a write that hung past it), StartSeq its seq.
	Began    bool
	Start    time.Time
	StartSeq int64
	// Recovered: an acknowledged write invoked at or after Start completed
	// (within the write timeout). Recovery is the earliest such completion.
	Recovered   bool
	Recovery    time.Time
	RecoverySeq int64
	// Isolated: writes that failed, went unknown or hung at or after the
	// fault while a write sent after them was acknowledged before they gave
	// up; the database was serving, so they are not the outage.
	Isolated int
	// Hung: writes that took longer than the write timeout yet were
	// recorded ok or fail (an info write past it is the workload giving up).
	Hung int
	// OKInvokedAfterFault: an acknowledged write was invoked at or after
	// the fault; LastOKInvoke is the latest invocation of one.
	OKInvokedAfterFault bool
	LastOKInvoke        time.Time
}

// OutageAfter is the outage the op records among recs show after a fault
// issued at tFault. writeTimeout is the workload's own bound on a write (0:
// unknown, no write counts as hung). Records that are not usable ops are
// skipped. Pure; recs is not modified.
func OutageAfter(recs []history.Record, tFault time.Time, writeTimeout time.Duration) Window {
	e := &Evidence{base: tFault, hasBase: true}
	for i := range recs {
		if recs[i].Kind == history.KindOp {
			e.addOp(i+1, &recs[i])
		}
	}
	sortByDone(e.ops)
	w := findOutage(e.ops, 0, int64(writeTimeout))
	return w.window(e, e.ops)
}

// outage is findOutage's answer, as indexes into the ops it was given.
type outage struct {
	start, recovery int // -1: none
	startAt         int64
	isolated, hung  int
	lastOKInv       int64
	okAfterFault    bool
}

func (o outage) window(e *Evidence, ops []op) Window {
	w := Window{Isolated: o.isolated, Hung: o.hung, OKInvokedAfterFault: o.okAfterFault}
	if o.okAfterFault {
		w.LastOKInvoke = e.abs(o.lastOKInv)
	}
	if o.start >= 0 {
		w.Began, w.Start, w.StartSeq = true, e.abs(o.startAt), ops[o.start].seq
	}
	if o.recovery >= 0 {
		w.Recovered, w.Recovery, w.RecoverySeq = true, e.abs(ops[o.recovery].done), ops[o.recovery].seq
	}
	return w
}

// sortByDone sorts by completion, ties in file order (lines are unique).
func sortByDone(ops []op) {
	slices.SortFunc(ops, func(a, b op) int {
		if c := cmpInt(a.done, b.done); c != 0 {
			return c
		}
		return cmpInt(int64(a.line), int64(b.line))
	})
}

// findOutage applies the definition to ops sorted by completion, with the
// fault at tf and the write timeout (0: none), all in nanoseconds:
//   - a write hung when it took longer than the timeout; it gave up at
//     invoke + timeout, otherwise at its completion;
//   - a write shows the database unavailable when it did not succeed or it
//     hung, and it gave up at or after tf;
//   - unless it was isolated: a write invoked at or after it and completed
//     ok (without hanging) at or after tf and no later than it gave up;
//   - the outage starts at the earliest give-up of a write showing the
//     database unavailable; recovery is the earliest completion of an ok
//     write that did not hang, invoked at or after that start.
func findOutage(ops []op, tf, timeout int64) outage {
	out := outage{start: -1, recovery: -1}
	hung := func(o *op) bool { return timeout > 0 && o.done-o.inv > timeout }
	gaveUp := func(o *op) int64 {
		if hung(o) {
			return o.inv + timeout
		}
		return o.done
	}
	// The ok writes that can isolate a failure: sorted by invoke, with the
	// earliest completion among those invoked at or after each.
	// The ok writes that can isolate a failure, sorted by invoke, each with
	// the earliest completion among those invoked at or after it.
	type iv struct{ inv, minDone int64 }
	var oks []iv
	built := false
	build := func() {
		built = true
		usable := func(o *op) bool { return o.res == resOK && !hung(o) && o.done >= tf }
		n := 0
		for i := range ops {
			if usable(&ops[i]) {
				n++
			}
		}
		oks = make([]iv, 0, n)
		for i := range ops {
			if o := &ops[i]; usable(o) {
				oks = append(oks, iv{o.inv, o.done})
			}
		}
		slices.SortFunc(oks, func(a, b iv) int { return cmpInt(a.inv, b.inv) })
		m := int64(math.MaxInt64)
		for i := len(oks) - 1; i >= 0; i-- {
			m = min(m, oks[i].minDone)
			oks[i].minDone = m
		}
	}
	isolated := func(o *op, end int64) bool {
		if !built {
			build()
		}
		i, _ := slices.BinarySearchFunc(oks, o.inv, func(x iv, t int64) int { return cmpInt(x.inv, t) })
		return i < len(oks) && oks[i].minDone <= end
	}
	for i := range ops {
		o := &ops[i]
		h := hung(o)
		if h && o.res != resInfo { // info past the timeout is the workload giving up, as expected
			out.hung++
		}
		if o.res == resOK && !h && o.inv >= tf {
			if !out.okAfterFault || o.inv > out.lastOKInv {
				out.lastOKInv = o.inv
			}
			out.okAfterFault = true
		}
		if o.res == resOK && !h {
			continue
		}
		end := gaveUp(o)
		if end < tf {
			continue
		}
		if isolated(o, end) {
			out.isolated++
			continue
		}
		if out.start < 0 || end < out.startAt {
			out.start, out.startAt = i, end
		}
	}
	if out.start < 0 {
		return out
	}
	for i := range ops { // by completion: the first found is the earliest
		o := &ops[i]
		if o.res == resOK && !hung(o) && o.inv >= out.startAt {
			out.recovery = i
			break
		}
	}
	return out
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
