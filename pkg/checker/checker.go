// Package checker turns a history into RTO, RPO, anomalies and a verdict. It
// is a pure, deterministic function of the records: no clock, no cluster.
// The definitions are those of DESIGN.md ("Definitions the checker
// implements") and docs/history.md; the comments below say how each one is
// read where the prose leaves room.
package checker

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/irischaos/irischaos/pkg/history"
)

// Check computes the result of one history in memory against budgets.
func Check(recs []history.Record, b Budgets) Result {
	e := NewEvidence()
	for i := range recs {
		e.Add(i+1, &recs[i])
	}
	return e.Check(b)
}

// Check computes the result of the evidence against budgets. It reorders
// the evidence's ops: call it once.
func (e *Evidence) Check(b Budgets) Result {
	c := &check{b: b, e: e}
	c.res = Result{
		Budgets:           budgetsJSON(b),
		Reasons:           []string{},
		LostSeqs:          []int64{},
		InfoRecovered:     []int64{},
		InfoNotRecovered:  []int64{},
		Unexpected:        []int64{},
		UnexpectedMarkers: []string{},
		UnknownMarkers:    []int64{},
		FailedPresent:     []int64{},
		Duplicates:        []int64{},
		Suffix:            Suffix{Violations: []Violation{}},
		Phases:            []Phase{},
		Anomalies:         []Anomaly{},
		Flags:             []Flag{},
	}
	c.run()
	return c.res
}

type check struct {
	b   Budgets
	e   *Evidence
	res Result

	ops      []op // usable ops: sorted by seq, then by completion
	fault    *history.Record
	tf       int64 // t_fault, nanoseconds since the evidence's base
	hasTF    bool  // t_fault fits on the ops' time line
	readback *history.Record
	unknown  []int64 // sorted markers of unusable ops

	unknownWhy []string // reasons the verdict is unknown
	// stuck: no recovery was seen and the RTO budget is already exceeded;
	// the verdict names the last RTO phase the evidence reached.
	stuck  bool
	failed []string // reasons the verdict is fail

	recovery    int64 // completion of the first ok write after the outage
	hasRecovery bool
	firstOKSeq  int64

	readbackBefore bool // the read-back predates the fault

	rto, rpo       time.Duration // exact, when known
	hasRTO, hasRPO bool
	writeTimeout   time.Duration
}

func (c *check) run() {
	clockNote := c.clock() // first, so its samples are freed before the rest allocates
	c.split()
	c.res.ProbeResolutionSeconds = c.probeResolution()
	if c.fault != nil && c.readback != nil && c.readback.T.Before(c.fault.T) {
		c.readbackBefore = true // flagged; it cannot show what the fault lost
	}
	c.matchReadback()
	sortByDone(c.ops)
	if c.fault != nil {
		c.res.Fault = &Fault{Name: c.fault.Name, Target: c.fault.Target, T: c.fault.T.UTC(), EffectT: utc(c.fault.EffectT)}
		if c.faultRel() {
			c.outage()
			c.phases()
			c.afterRecovery()
		}
		c.flags()
		c.res.Storage = storageAfter(c.e.storage, c.fault.T)
	}
	c.rpoCheck()
	c.splitBrain()
	if clockNote != "" {
		c.info(clockNote)
	}
	c.verdict()
}

// split rejects what the definitions cannot use (each makes the verdict
// unknown: the history is not trustworthy) and counts the writes.
func (c *check) split() {
	e := c.e
	ops := e.ops
	slices.SortFunc(ops, func(a, b op) int {
		if c := cmpInt(a.seq, b.seq); c != 0 {
			return c
		}
		return cmpInt(int64(a.line), int64(b.line))
	})
	// A seq written twice: the later op is unusable.
	kept := ops[:0]
	for i := range ops {
		if len(kept) > 0 && kept[len(kept)-1].seq == ops[i].seq {
			o := ops[i]
			e.badCount++
			if len(e.bad) < showBad {
				e.bad = append(e.bad, fmt.Sprintf("line %d: seq %d was already written by an earlier op; every write needs its own sequence number", o.line, o.seq))
			}
			e.unknownSeqs = append(e.unknownSeqs, o.seq)
			continue
		}
		kept = append(kept, ops[i])
	}
	c.ops = kept
	c.unknown = slices.Clone(e.unknownSeqs)
	slices.Sort(c.unknown)
	c.unknown = slices.Compact(c.unknown)
	c.res.UnknownMarkers = append(c.res.UnknownMarkers, c.unknown...)
	for i := range c.ops {
		c.res.Writes.Total++
		switch c.ops[i].res {
		case resOK:
			c.res.Writes.OK++
		case resFail:
			c.res.Writes.Fail++
		case resInfo:
			c.res.Writes.Info++
		}
	}
	if e.badCount > 0 {
		msg := fmt.Sprintf("%d op record(s) unusable: %s", e.badCount, strings.Join(e.bad, "; "))
		if e.badCount > len(e.bad) {
			msg += fmt.Sprintf("; and %d more", e.badCount-len(e.bad))
		}
		msg += "; their markers are unknown, neither lost nor unexpected"
		c.unknownWhy = append(c.unknownWhy, msg)
	}
	if e.unknownKinds > 0 {
		c.unknownWhy = append(c.unknownWhy, fmt.Sprintf("%d record(s) of a kind this checker does not know (first: %q on line %d): what they say is not judged",
			e.unknownKinds, e.firstUnknownKind, e.firstUnknownLine))
	}
	c.readback = e.readback
	switch {
	case len(e.faults) == 0:
		c.unknownWhy = append(c.unknownWhy, "no fault record: there is no t_fault to measure RTO and RPO from")
	case len(e.faults) > 1:
		c.unknownWhy = append(c.unknownWhy, fmt.Sprintf("%d fault records; a history holds exactly one fault", len(e.faults)))
	case e.faults[0].T.IsZero():
		c.unknownWhy = append(c.unknownWhy, fmt.Sprintf("fault %q has no time t", e.faults[0].Name))
	default:
		c.fault = &e.faults[0]
	}
	if len(c.ops) == 0 {
		c.unknownWhy = append(c.unknownWhy, "no writes in the history: the workload recorded nothing")
	}
	if d, ok, err := history.MetaDuration(e.meta, history.MetaWriteTimeout); err == nil && ok && d > 0 {
		c.writeTimeout = d
	}
}

// faultRel places t_fault on the ops' time line; false (verdict unknown)
// when it is too far from the writes for any duration to be measured.
func (c *check) faultRel() bool {
	if !c.e.hasBase {
		c.e.base, c.e.hasBase = c.fault.T, true
	}
	tf, ok := c.e.rel(c.fault.T)
	if !ok {
		c.unknownWhy = append(c.unknownWhy, fmt.Sprintf("the fault's time %s is too far from the writes' times for RTO or RPO to be measured (an absurd clock)", c.fault.T.UTC().Format(time.RFC3339Nano)))
		return false
	}
	c.tf, c.hasTF = tf, true
	return true
}

// probeResolution is the median gap between consecutive write invocations.
func (c *check) probeResolution() *float64 {
	if len(c.ops) < 2 {
		return nil
	}
	inv := make([]int64, len(c.ops))
	for i := range c.ops {
		inv[i] = c.ops[i].inv
	}
	slices.Sort(inv)
	for i := len(inv) - 1; i > 0; i-- { // the gaps, in place
		inv[i] -= inv[i-1]
	}
	gaps := inv[1:]
	slices.Sort(gaps)
	n := len(gaps)
	med := gaps[n/2]
	if n%2 == 0 {
		med = (gaps[n/2-1] + gaps[n/2]) / 2
	}
	return secs(time.Duration(med))
}

// matchReadback counts how often each op's seq was read back (ops sorted by
// seq) and finds the seqs read back that no op wrote, and duplicates.
func (c *check) matchReadback() {
	rb := c.readback
	if rb == nil || c.readbackBefore {
		return
	}
	got := rb.Seqs // read in order, usually sorted already
	if !slices.IsSorted(got) {
		got = slices.Clone(got)
		slices.Sort(got)
	}
	i := 0
	for k := 0; k < len(got); {
		s := got[k]
		n := 1
		for k+n < len(got) && got[k+n] == s {
			n++
		}
		k += n
		for i < len(c.ops) && c.ops[i].seq < s {
			i++
		}
		if c.isUnknown(s) {
			continue
		}
		if n > 1 {
			c.res.Duplicates = append(c.res.Duplicates, s)
		}
		if i < len(c.ops) && c.ops[i].seq == s {
			c.ops[i].found = uint8(min(n, 2))
			continue
		}
		if c.e.unidentified > 0 {
			c.res.UnknownMarkers = append(c.res.UnknownMarkers, s)
			continue
		}
		c.res.Unexpected = append(c.res.Unexpected, s)
	}
	slices.Sort(c.res.UnknownMarkers)
	if c.e.unidentified > 0 && len(c.res.UnknownMarkers) > len(c.unknown) {
		c.unknownWhy = append(c.unknownWhy, fmt.Sprintf("%d unusable op(s) name no marker, so the %d seq(s) read back that no usable op wrote are unknown, not unexpected",
			c.e.unidentified, len(c.res.UnknownMarkers)-len(c.unknown)))
	}
}

func (c *check) isUnknown(s int64) bool {
	_, ok := slices.BinarySearch(c.unknown, s)
	return ok
}

// outage applies the outage definition (findOutage) and derives RTO.
func (c *check) outage() {
	o := findOutage(c.ops, c.tf, int64(c.writeTimeout))
	if o.hung > 0 {
		c.info(fmt.Sprintf("note: %d write(s) recorded ok or fail took longer than the workload's %s write timeout; each counts as unavailable from its invoke plus the timeout", o.hung, c.writeTimeout))
	}
	if o.isolated > 0 {
		c.res.IsolatedNonOK = o.isolated
		c.info(fmt.Sprintf("note: %d write(s) that did not succeed after the fault are not the outage: a write sent after each was acknowledged before it gave up (the database was serving)", o.isolated))
	}
	if o.start < 0 {
		if o.okAfterFault {
			c.res.NoInterruption = true
			c.setRTO(0)
			return
		}
		c.unknownWhy = append(c.unknownWhy, "no write was invoked after the fault, so the history cannot tell whether the database stayed available")
		return
	}
	first := c.ops[o.start]
	out := &Outage{Start: c.e.abs(o.startAt), StartSeq: first.seq}
	c.res.Outage = out
	lastOK := -1
	for i := range c.ops {
		if c.ops[i].res == resOK && c.ops[i].done <= o.startAt {
			lastOK = i
		}
	}
	if lastOK >= 0 {
		t := c.e.abs(c.ops[lastOK].done)
		out.LastOKBefore = &t
	}
	if o.recovery < 0 {
		last := c.ops[len(c.ops)-1].done
		if d, ok := sub(last, c.tf); ok {
			c.res.RTOAtLeastSeconds = secs(time.Duration(d))
			msg := fmt.Sprintf("no acknowledged write after the outage began at %s (seq %d): the database was not seen recovering; RTO is at least %s",
				fmtT(c.e.abs(o.startAt)), first.seq, fmtD(time.Duration(d)))
			if c.b.RTO > 0 && time.Duration(d) > c.b.RTO {
				// Not a harness error and not undecided: whatever the
				// database does later, the budget is already exceeded.
				c.stuck = true
				c.failed = append(c.failed, msg+fmt.Sprintf(", already over the %s budget", fmtD(c.b.RTO)))
			} else {
				c.unknownWhy = append(c.unknownWhy, msg)
			}
		} else {
			c.unknownWhy = append(c.unknownWhy, "no acknowledged write after the outage began, and its length does not fit in a duration")
		}
		return
	}
	rec := c.ops[o.recovery]
	c.recovery, c.hasRecovery, c.firstOKSeq = rec.done, true, rec.seq
	t := c.e.abs(rec.done)
	out.FirstOKAfter = &t
	out.FirstOKAfterSeq = rec.seq
	if lastOK >= 0 {
		out.ObservedSeconds = secs(time.Duration(rec.done - c.ops[lastOK].done))
	}
	d, ok := sub(rec.done, c.tf)
	if !ok {
		c.unknownWhy = append(c.unknownWhy, "RTO does not fit in a duration (an absurd clock)")
		return
	}
	c.setRTO(time.Duration(d))
}

func (c *check) setRTO(d time.Duration) {
	c.rto, c.hasRTO = d, true
	c.res.RTOSeconds = secs(d)
}

// rpoCheck compares the acknowledged writes with the last read-back.
func (c *check) rpoCheck() {
	if c.readback == nil {
		c.unknownWhy = append(c.unknownWhy, "no read-back: lost writes and RPO cannot be known")
		return
	}
	rb := c.readback
	c.res.Readback = &Readback{T: rb.T.UTC(), Markers: len(rb.Seqs) + len(rb.Extra)}
	if c.readbackBefore {
		return // flagged: no loss is judged from it
	}
	oldest := -1
	for i := range c.ops {
		o := &c.ops[i]
		if c.isUnknown(o.seq) {
			continue
		}
		switch o.res {
		case resOK:
			if o.found == 0 {
				c.res.LostSeqs = append(c.res.LostSeqs, o.seq)
				if oldest < 0 || o.done < c.ops[oldest].done {
					oldest = i
				}
			}
		case resInfo:
			if o.found > 0 {
				c.res.InfoRecovered = append(c.res.InfoRecovered, o.seq)
			} else {
				c.res.InfoNotRecovered = append(c.res.InfoNotRecovered, o.seq)
			}
		case resFail:
			if o.found > 0 {
				c.res.FailedPresent = append(c.res.FailedPresent, o.seq)
			}
		}
	}
	c.res.UnexpectedMarkers = append(c.res.UnexpectedMarkers, rb.Extra...)
	for _, s := range [][]int64{c.res.LostSeqs, c.res.InfoRecovered, c.res.InfoNotRecovered, c.res.FailedPresent, c.res.Unexpected, c.res.Duplicates} {
		slices.Sort(s)
	}
	c.res.LostAcked = len(c.res.LostSeqs)

	if c.fault != nil && c.hasTF {
		rpo := time.Duration(0)
		if oldest >= 0 {
			d, ok := sub(c.tf, c.ops[oldest].done)
			if !ok {
				c.unknownWhy = append(c.unknownWhy, "RPO does not fit in a duration (an absurd clock)")
				rpo = -1
			} else if d > 0 {
				rpo = time.Duration(d)
			}
		}
		if rpo >= 0 {
			c.rpo, c.hasRPO = rpo, true
			c.res.RPOSeconds = secs(rpo)
		}
	}
	c.suffix()
	c.anomalies()
}

// suffix runs the suffix test over the acknowledged writes completed before
// the first ok write after the outage (all of them when there was no outage
// or no recovery). Writes acknowledged after recovery take no part, but if
// one of them is lost that is an anomaly of its own.
func (c *check) suffix() {
	var survivors, lostIn, lostAfter []int64
	survivors = make([]int64, 0, c.res.Writes.OK) // sized once: millions in a soak
	for i := range c.ops {
		o := &c.ops[i]
		if o.res != resOK || c.isUnknown(o.seq) {
			continue
		}
		if c.hasRecovery && o.done >= c.recovery {
			if o.found == 0 {
				lostAfter = append(lostAfter, o.seq)
			}
			continue
		}
		if o.found == 0 {
			lostIn = append(lostIn, o.seq)
		} else {
			survivors = append(survivors, o.seq)
		}
	}
	slices.Sort(survivors)
	slices.Sort(lostIn)
	slices.Sort(lostAfter)
	s := &c.res.Suffix
	s.Checked = true
	s.InScope = len(survivors) + len(lostIn)
	for _, l := range lostIn {
		i, _ := slices.BinarySearch(survivors, l)
		if i == len(survivors) {
			continue
		}
		s.ViolationCount++
		if len(s.Violations) < MaxViolations {
			s.Violations = append(s.Violations, Violation{LostSeq: l, SurvivingSeq: survivors[i]})
		}
	}
	s.OK = s.ViolationCount == 0
	if !s.OK {
		var seqs []int64
		for _, v := range s.Violations {
			seqs = append(seqs, v.LostSeq)
		}
		v := s.Violations[0]
		c.res.Anomalies = append(c.res.Anomalies, Anomaly{
			Kind: AnomalyNotSuffix,
			Message: fmt.Sprintf("%d lost acknowledged write(s) followed by a surviving later write (e.g. seq %d lost, seq %d survived): the loss is a gap, not a suffix",
				s.ViolationCount, v.LostSeq, v.SurvivingSeq),
			Seqs: seqs,
		})
	}
	if len(lostAfter) > 0 {
		c.res.Anomalies = append(c.res.Anomalies, Anomaly{
			Kind:    AnomalyLostAfterRecovery,
			Message: fmt.Sprintf("%d write(s) acknowledged after recovery are missing from the read-back (first: seq %d)", len(lostAfter), lostAfter[0]),
			Seqs:    capSeqs(lostAfter),
		})
	}
}

func (c *check) anomalies() {
	add := func(kind string, seqs []int64, format string) {
		if len(seqs) == 0 {
			return
		}
		c.res.Anomalies = append(c.res.Anomalies, Anomaly{Kind: kind, Message: fmt.Sprintf(format, len(seqs), seqs[0]), Seqs: capSeqs(seqs)})
	}
	add(AnomalyUnexpected, c.res.Unexpected, "%d marker(s) read back that no op wrote (first: seq %d)")
	if n := len(c.res.UnexpectedMarkers); n > 0 {
		c.res.Anomalies = append(c.res.Anomalies, Anomaly{Kind: AnomalyUnexpected,
			Message: fmt.Sprintf("%d marker(s) read back without a sequence number (first: %q)", n, c.res.UnexpectedMarkers[0])})
	}
	add(AnomalyFailedPresent, c.res.FailedPresent, "%d write(s) recorded as failed were read back (first: seq %d); fail must mean not applied")
	add(AnomalyDuplicate, c.res.Duplicates, "%d marker(s) read back more than once (first: seq %d)")
}

// phases places the observer's phase events on the RTO timeline: the first
// event of each phase at or after t_fault; the fault's own effect time wins
// for effect_confirmed; the first ok write after the outage ends it.
func (c *check) phases() {
	tf := c.fault.T
	ph := make([]Phase, len(PhaseOrder))
	idx := map[string]int{}
	for i, n := range PhaseOrder {
		ph[i].Name = n
		idx[n] = i
	}
	set := func(name string, t time.Time, target, detail string) {
		p := &ph[idx[name]]
		if p.Seen && !t.Before(p.T) {
			return
		}
		*p = Phase{Name: name, Seen: true, T: t.UTC(), Target: target, Detail: detail}
	}
	set(PhaseFaultIssued, tf, c.fault.Target, c.fault.Name)
	for _, e := range c.e.events {
		if e.Phase == "" || e.T.Before(tf) {
			continue
		}
		if _, ok := idx[e.Phase]; !ok || e.Phase == PhaseFaultIssued || e.Phase == PhaseFirstAckWrite {
			continue
		}
		detail := e.Reason
		if e.Message != "" {
			detail = strings.TrimSpace(detail + ": " + e.Message)
			detail = strings.TrimPrefix(detail, ": ")
		}
		set(e.Phase, e.T, e.Target, detail)
	}
	if !c.fault.EffectT.IsZero() {
		p := &ph[idx[PhaseEffectConfirmed]]
		*p = Phase{Name: PhaseEffectConfirmed, Seen: true, T: c.fault.EffectT.UTC(), Target: c.fault.Target, Detail: "confirmed by the nemesis"}
	}
	if c.hasRecovery {
		set(PhaseFirstAckWrite, c.e.abs(c.recovery), "", fmt.Sprintf("seq %d", c.firstOKSeq))
	}
	latest := tf
	for i := range ph {
		if !ph[i].Seen {
			continue
		}
		ph[i].SinceFaultSeconds = *secs(ph[i].T.Sub(tf))
		prev := tf
		for j := 0; j < i; j++ {
			if ph[j].Seen && !ph[j].T.After(ph[i].T) && ph[j].T.After(prev) {
				prev = ph[j].T
			}
		}
		ph[i].DurationSeconds = *secs(ph[i].T.Sub(prev))
		if ph[i].T.After(latest) {
			latest = ph[i].T
		}
	}
	c.res.Phases = ph
}

// afterRecovery looks at what happened after the first ok write following
// the outage. Writes failing again are worth a note (RTO covers the first
// outage only). If the fault's effect was confirmed only after that "recovery",
// the writes saw a blip before the fault took hold and RTO would measure the
// wrong thing: the verdict is then unknown.
func (c *check) afterRecovery() {
	if !c.hasRecovery {
		return
	}
	first := -1
	for i := range c.ops {
		o := &c.ops[i]
		if o.res != resOK && o.done > c.recovery {
			c.res.Outage.NonOKAfterRecovery++
			if first < 0 {
				first = i // ops are sorted by completion
			}
		}
	}
	if first >= 0 {
		c.info(fmt.Sprintf("note: %d write(s) did not succeed after recovery (first: seq %d at %s); RTO covers the first outage only",
			c.res.Outage.NonOKAfterRecovery, c.ops[first].seq, fmtT(c.e.abs(c.ops[first].done))))
	}
	rec := c.e.abs(c.recovery)
	for _, p := range c.res.Phases {
		if p.Name == PhaseEffectConfirmed && p.Seen && p.T.After(rec) {
			c.unknownWhy = append(c.unknownWhy, fmt.Sprintf("the fault's effect was confirmed at %s, after the first acknowledged write following the outage (%s): the writes saw a blip before the fault took hold, so RTO cannot be trusted",
				fmtT(p.T), fmtT(rec)))
		}
	}
}

// flags: evidence that contradicts itself or is missing around the fault
// is flagged in the result, never silently accepted.
func (c *check) flags() {
	f := c.fault
	flag := func(kind, msg string, decides bool) {
		c.res.Flags = append(c.res.Flags, Flag{Kind: kind, Message: msg})
		if decides {
			c.unknownWhy = append(c.unknownWhy, msg)
		} else {
			c.info("note: " + msg)
		}
	}
	if !f.EffectT.IsZero() && f.EffectT.Before(f.T) {
		flag(FlagEffectBeforeFault, fmt.Sprintf("the fault's effect is recorded as confirmed at %s, before the fault was injected at %s: the history contradicts itself",
			fmtT(f.EffectT), fmtT(f.T)), true)
	}
	if rb := c.readback; c.readbackBefore {
		flag(FlagReadbackBeforeFault, fmt.Sprintf("the read-back was taken at %s, before the fault at %s: it cannot show what the fault lost",
			fmtT(rb.T), fmtT(f.T)), true)
	}
	confirmed := !f.EffectT.IsZero()
	for _, e := range c.e.events {
		if e.Phase == history.PhaseEffectConfirmed && !e.T.Before(f.T) {
			confirmed = true
		}
	}
	if !confirmed {
		msg := "the fault's effect was never confirmed"
		if c.res.NoInterruption {
			flag(FlagEffectNotConfirmed, msg+", and no write was interrupted: nothing shows the fault took hold", true)
		} else {
			flag(FlagEffectNotConfirmed, msg+" (the writes' outage shows it took hold)", false)
		}
	}
}

func (c *check) verdict() {
	r := &c.res
	// Two writers first: they fail the verdict whatever RTO and RPO say.
	for _, a := range r.Anomalies {
		if a.Kind == AnomalySplitBrain {
			c.failed = append(c.failed, "anomaly "+a.Kind+": "+a.Message)
		}
	}
	if c.hasRTO {
		rto := c.rto
		switch {
		case r.NoInterruption:
			c.info("no interruption observed: no write failed after the fault (RTO 0)")
		case c.b.RTO > 0 && rto > c.b.RTO:
			c.failed = append(c.failed, fmt.Sprintf("RTO %s exceeds the %s budget", fmtD(rto), fmtD(c.b.RTO)))
		case c.b.RTO > 0:
			c.info(fmt.Sprintf("RTO %s within the %s budget", fmtD(rto), fmtD(c.b.RTO)))
		default:
			c.info(fmt.Sprintf("RTO %s (no RTO budget: not judged)", fmtD(rto)))
		}
	}
	if c.hasRPO {
		rpo := c.rpo
		switch {
		case rpo > c.b.RPO:
			c.failed = append(c.failed, fmt.Sprintf("RPO %s exceeds the %s budget (%d acknowledged write(s) lost)", fmtD(rpo), fmtD(c.b.RPO), r.LostAcked))
		case c.b.RPO == 0 && r.LostAcked > 0:
			c.failed = append(c.failed, fmt.Sprintf("RPO budget 0: no acknowledged write may be lost, and %d were (RPO %s)", r.LostAcked, fmtD(rpo)))
		default:
			c.info(fmt.Sprintf("RPO %s within the %s budget (%d acknowledged write(s) lost)", fmtD(rpo), fmtD(c.b.RPO), r.LostAcked))
		}
	}
	for _, a := range r.Anomalies {
		if a.Kind != AnomalySplitBrain {
			c.failed = append(c.failed, "anomaly "+a.Kind+": "+a.Message)
		}
	}
	if c.stuck {
		c.failed = append(c.failed, stuckAt(r.Phases, *r.RTOAtLeastSeconds))
	}
	switch {
	case len(c.failed) > 0:
		r.Verdict = Fail
	case len(c.unknownWhy) > 0:
		r.Verdict = Unknown
	default:
		r.Verdict = Pass
	}
	// Reasons: what decided first, then the rest.
	r.Reasons = append(append(append([]string{}, c.failed...), c.unknownWhy...), r.Reasons...)
}

// info records a reason that supports a pass; it is listed after the
// reasons that decided a fail or unknown.
func (c *check) info(s string) { c.res.Reasons = append(c.res.Reasons, s) }

func budgetsJSON(b Budgets) BudgetsJSON {
	out := BudgetsJSON{RPOSeconds: *secs(b.RPO)}
	if b.RTO > 0 {
		out.RTOSeconds = secs(b.RTO)
	}
	return out
}

// secs is d in seconds, rounded to the microsecond so results are stable.
func secs(d time.Duration) *float64 {
	s := math.Round(d.Seconds()*1e6) / 1e6
	return &s
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

func capSeqs(s []int64) []int64 {
	if len(s) > MaxViolations {
		return slices.Clone(s[:MaxViolations])
	}
	return s
}

func fmtT(t time.Time) string { return t.UTC().Format("15:04:05.000") }

// fmtD prints a duration in seconds with millisecond precision, as reports do.
func fmtD(d time.Duration) string { return fmt.Sprintf("%.3fs", d.Seconds()) }

// stuckAt says where a recovery that never completed stopped: the latest
// RTO phase seen within the window the writes covered (within seconds of
// the fault: what came later, e.g. once the fault was healed, is not the
// recovery being measured), and the first one not seen.
func stuckAt(phases []Phase, within float64) string {
	seen := func(p Phase) bool { return p.Seen && p.SinceFaultSeconds <= within && p.Name != PhaseFirstAckWrite }
	last := -1
	for i, p := range phases {
		if seen(p) && (last < 0 || !p.T.Before(phases[last].T)) {
			last = i
		}
	}
	if last < 0 {
		return "stuck before any RTO phase was seen"
	}
	p := phases[last]
	msg := fmt.Sprintf("stuck after %s", p.Name)
	if p.SinceFaultSeconds != 0 || p.Name != PhaseFaultIssued {
		msg += fmt.Sprintf(" (+%.3fs", p.SinceFaultSeconds)
		if p.Detail != "" {
			msg += ": " + p.Detail
		}
		msg += ")"
	}
	for _, q := range phases[last+1:] {
		if !seen(q) && q.Name != PhaseFirstAckWrite {
			return msg + fmt.Sprintf("; not seen within %.0fs: %s", within, q.Name)
		}
	}
	return msg
}

// storageAfter reads the volume's storage after the fault at tf: the first
// detach (or removal) of an attachment, the first attach after it, the
// first redundancy short of full and the first full one after that, and
// where the storage gave them (Longhorn) the copies per zone before the
// fault (its last reading at or before tf) and after (the reading that
// restored full redundancy, else the last one). Events are in the order
// they were recorded. Nil when there is none of these.
func storageAfter(events []history.Record, tf time.Time) *Storage {
	var s Storage
	any := false
	var last map[string]int
	for _, e := range events {
		if e.Source == history.SourceStorage && e.Zones != nil {
			if !e.T.After(tf) {
				s.ZonesBefore = e.Zones
			} else if s.RedundancyRestoredAt == nil {
				last = e.Zones
			}
		}
		if e.T.Before(tf) || e.Reason == history.ReasonObserved {
			continue
		}
		t := e.T.UTC()
		switch e.Source {
		case history.SourceVolumeAttachment:
			switch e.Reason {
			case "Detached", "Deleted":
				if s.DetachedAt == nil {
					s.DetachedAt, s.DetachedFrom, any = &t, e.Node, true
				}
			case "Attached":
				if s.AttachedAt == nil && (s.DetachedAt == nil || e.Node != s.DetachedFrom) {
					s.AttachedAt, s.AttachedTo, any = &t, e.Node, true
				}
			}
		case history.SourceStorage:
			switch {
			case e.Reason == history.RedundancyUnknown:
			case e.Reason == history.RedundancyClean:
				if s.RedundancyLostAt != nil && s.RedundancyRestoredAt == nil {
					s.RedundancyRestoredAt = &t
					s.DegradedSeconds = secs(t.Sub(*s.RedundancyLostAt))
					s.FullRedundancySeconds = secs(t.Sub(tf))
				}
			case s.RedundancyLostAt == nil:
				s.RedundancyLostAt, s.RedundancyLost, any = &t, e.Reason, true
			}
		}
	}
	if !any {
		return nil
	}
	s.ZonesAfter = last
	return &s
}
