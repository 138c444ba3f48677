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
	"sort"
	"strings"
	"time"

	"github.com/irischaos/irischaos/pkg/history"
)

// Check computes the result of one history against budgets.
func Check(recs []history.Record, b Budgets) Result {
	c := &check{b: b}
	c.res = Result{
		Budgets:           budgetsJSON(b),
		Reasons:           []string{},
		LostSeqs:          []int64{},
		InfoRecovered:     []int64{},
		InfoNotRecovered:  []int64{},
		Unexpected:        []int64{},
		UnexpectedMarkers: []string{},
		FailedPresent:     []int64{},
		Duplicates:        []int64{},
		Suffix:            Suffix{Violations: []Violation{}},
		Phases:            []Phase{},
		Anomalies:         []Anomaly{},
	}
	c.run(recs)
	return c.res
}

type check struct {
	b   Budgets
	res Result

	ops      []*history.Record // valid op records (pointers into the caller's slice, never written)
	fault    *history.Record
	readback *history.Record
	events   []history.Record

	unknown []string // reasons the verdict is unknown
	failed  []string // reasons the verdict is fail

	recovery time.Time // completion of the first ok write after the outage; zero if none
}

func (c *check) run(recs []history.Record) {
	c.split(recs)
	c.res.ProbeResolutionSeconds = c.probeResolution()
	if c.fault != nil {
		c.res.Fault = &Fault{Name: c.fault.Name, Target: c.fault.Target, T: c.fault.T.UTC(), EffectT: utc(c.fault.EffectT)}
		c.rto()
		c.phases()
		c.afterRecovery()
	}
	c.rpo()
	c.clock()
	c.verdict()
}

// split sorts records by kind and rejects op records the definitions cannot
// use (each one makes the verdict unknown: the history is not trustworthy).
func (c *check) split(recs []history.Record) {
	var faults []history.Record
	seen := make(map[int64]bool, len(recs))
	c.ops = make([]*history.Record, 0, len(recs))
	var bad []string
	for i := range recs {
		r := &recs[i]
		switch r.Kind {
		case history.KindOp:
			switch {
			case r.Result != history.OK && r.Result != history.Fail && r.Result != history.Info:
				bad = append(bad, fmt.Sprintf("record %d (seq %d) has result %q, want ok, fail or info", i+1, r.Seq, r.Result))
				continue
			case r.Invoke.IsZero() || r.Complete.IsZero():
				bad = append(bad, fmt.Sprintf("record %d (seq %d) lacks its invoke or complete time", i+1, r.Seq))
				continue
			case r.Complete.Before(r.Invoke):
				bad = append(bad, fmt.Sprintf("record %d (seq %d) completes before it was invoked", i+1, r.Seq))
				continue
			case seen[r.Seq]:
				bad = append(bad, fmt.Sprintf("record %d: seq %d was already written by an earlier op; every write needs its own sequence number", i+1, r.Seq))
				continue
			}
			seen[r.Seq] = true
			c.ops = append(c.ops, r)
			c.res.Writes.Total++
			switch r.Result {
			case history.OK:
				c.res.Writes.OK++
			case history.Fail:
				c.res.Writes.Fail++
			case history.Info:
				c.res.Writes.Info++
			}
		case history.KindFault:
			faults = append(faults, *r)
		case history.KindReadback:
			c.readback = r // the last one counts
		case history.KindEvent:
			c.events = append(c.events, *r)
		}
	}
	if len(bad) > 0 {
		const show = 5
		msg := fmt.Sprintf("%d op record(s) unusable: %s", len(bad), strings.Join(bad[:min(show, len(bad))], "; "))
		if len(bad) > show {
			msg += fmt.Sprintf("; and %d more", len(bad)-show)
		}
		c.unknown = append(c.unknown, msg)
	}
	switch {
	case len(faults) == 0:
		c.unknown = append(c.unknown, "no fault record: there is no t_fault to measure RTO and RPO from")
	case len(faults) > 1:
		c.unknown = append(c.unknown, fmt.Sprintf("%d fault records; a history holds exactly one fault", len(faults)))
	case faults[0].T.IsZero():
		c.unknown = append(c.unknown, fmt.Sprintf("fault %q has no time t", faults[0].Name))
	default:
		f := faults[0]
		c.fault = &f
	}
	if len(c.ops) == 0 {
		c.unknown = append(c.unknown, "no writes in the history: the workload recorded nothing")
	}
}

// probeResolution is the median gap between consecutive write invocations.
func (c *check) probeResolution() *float64 {
	if len(c.ops) < 2 {
		return nil
	}
	inv := make([]time.Time, len(c.ops))
	for i, o := range c.ops {
		inv[i] = o.Invoke
	}
	slices.SortFunc(inv, time.Time.Compare)
	gaps := make([]time.Duration, 0, len(inv)-1)
	for i := 1; i < len(inv); i++ {
		gaps = append(gaps, inv[i].Sub(inv[i-1]))
	}
	slices.Sort(gaps)
	n := len(gaps)
	med := gaps[n/2]
	if n%2 == 0 {
		med = (gaps[n/2-1] + gaps[n/2]) / 2
	}
	return secs(med)
}

// rto finds the outage and the recovery. The outage starts at the completion
// of the first non-ok write completing at or after t_fault. Recovery is the
// first ok write invoked at or after that instant (earliest completion):
// writes already in flight on other streams when the outage began prove
// nothing about recovery.
func (c *check) rto() {
	tf := c.fault.T
	// Pointers, not copies: a record is large and histories can hold millions.
	byComplete := slices.Clone(c.ops)
	sort.SliceStable(byComplete, func(i, j int) bool { return byComplete[i].Complete.Before(byComplete[j].Complete) })

	var first *history.Record
	for _, o := range byComplete {
		if o.Result != history.OK && !o.Complete.Before(tf) {
			first = o
			break
		}
	}
	if first == nil {
		// No failed write: RTO 0, provided the database was seen serving
		// writes after the fault at all.
		for _, o := range c.ops {
			if o.Result == history.OK && !o.Invoke.Before(tf) {
				c.res.NoInterruption = true
				c.res.RTOSeconds = secs(0)
				return
			}
		}
		c.unknown = append(c.unknown, "no write was invoked after the fault, so the history cannot tell whether the database stayed available")
		return
	}
	out := &Outage{Start: first.Complete.UTC(), StartSeq: first.Seq}
	c.res.Outage = out
	var lastOK, firstOK *history.Record
	for _, o := range byComplete {
		if o.Result != history.OK {
			continue
		}
		if !o.Complete.After(first.Complete) {
			lastOK = o
		}
		if firstOK == nil && !o.Invoke.Before(first.Complete) {
			firstOK = o
		}
	}
	if lastOK != nil {
		t := lastOK.Complete.UTC()
		out.LastOKBefore = &t
	}
	if firstOK == nil {
		last := byComplete[len(byComplete)-1].Complete
		c.res.RTOAtLeastSeconds = secs(last.Sub(tf))
		msg := fmt.Sprintf("no acknowledged write after the outage began at %s (seq %d): the database was not seen recovering; RTO is at least %s",
			fmtT(first.Complete), first.Seq, fmtD(last.Sub(tf)))
		if c.b.RTO > 0 && last.Sub(tf) > c.b.RTO {
			msg += fmt.Sprintf(", already over the %s budget", fmtD(c.b.RTO))
		}
		c.unknown = append(c.unknown, msg)
		return
	}
	c.recovery = firstOK.Complete
	t := firstOK.Complete.UTC()
	out.FirstOKAfter = &t
	out.FirstOKAfterSeq = firstOK.Seq
	if lastOK != nil {
		out.ObservedSeconds = secs(firstOK.Complete.Sub(lastOK.Complete))
	}
	c.res.RTOSeconds = secs(firstOK.Complete.Sub(tf))
}

// rpo compares the acknowledged writes with the last read-back.
func (c *check) rpo() {
	if c.readback == nil {
		c.unknown = append(c.unknown, "no read-back: lost writes and RPO cannot be known")
		return
	}
	rb := c.readback
	c.res.Readback = &Readback{T: rb.T.UTC(), Markers: len(rb.Seqs) + len(rb.Extra)}
	count := make(map[int64]int, len(rb.Seqs))
	for _, s := range rb.Seqs {
		count[s]++
	}
	written := make(map[int64]bool, len(c.ops))
	for _, o := range c.ops {
		written[o.Seq] = true
	}

	var lost []*history.Record
	for _, o := range c.ops {
		switch o.Result {
		case history.OK:
			if count[o.Seq] == 0 {
				lost = append(lost, o)
			}
		case history.Info:
			if count[o.Seq] > 0 {
				c.res.InfoRecovered = append(c.res.InfoRecovered, o.Seq)
			} else {
				c.res.InfoNotRecovered = append(c.res.InfoNotRecovered, o.Seq)
			}
		case history.Fail:
			if count[o.Seq] > 0 {
				c.res.FailedPresent = append(c.res.FailedPresent, o.Seq)
			}
		}
	}
	for s, n := range count {
		if !written[s] {
			c.res.Unexpected = append(c.res.Unexpected, s)
		}
		if n > 1 {
			c.res.Duplicates = append(c.res.Duplicates, s)
		}
	}
	c.res.UnexpectedMarkers = append(c.res.UnexpectedMarkers, rb.Extra...)
	for _, l := range lost {
		c.res.LostSeqs = append(c.res.LostSeqs, l.Seq)
	}
	for _, s := range [][]int64{c.res.LostSeqs, c.res.InfoRecovered, c.res.InfoNotRecovered, c.res.FailedPresent, c.res.Unexpected, c.res.Duplicates} {
		slices.Sort(s)
	}
	c.res.LostAcked = len(lost)

	if c.fault != nil {
		rpo := time.Duration(0)
		for _, l := range lost {
			if d := c.fault.T.Sub(l.Complete); d > rpo {
				rpo = d
			}
		}
		c.res.RPOSeconds = secs(rpo)
	}
	c.suffix(count)
	c.anomalies()
}

// suffix runs the suffix test over the acknowledged writes completed before
// the first ok write after the outage (all of them when there was no outage
// or no recovery). Writes acknowledged after recovery take no part, but if
// one of them is lost that is an anomaly of its own.
func (c *check) suffix(count map[int64]int) {
	inScope := func(o *history.Record) bool {
		return c.recovery.IsZero() || o.Complete.Before(c.recovery)
	}
	var survivors, lostIn []int64
	var lostAfter []int64
	for _, o := range c.ops {
		if o.Result != history.OK {
			continue
		}
		if !inScope(o) {
			if count[o.Seq] == 0 {
				lostAfter = append(lostAfter, o.Seq)
			}
			continue
		}
		if count[o.Seq] == 0 {
			lostIn = append(lostIn, o.Seq)
		} else {
			survivors = append(survivors, o.Seq)
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
	for _, e := range c.events {
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
	if !c.recovery.IsZero() {
		set(PhaseFirstAckWrite, c.recovery, "", fmt.Sprintf("seq %d", c.res.Outage.FirstOKAfterSeq))
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
	if c.recovery.IsZero() {
		return
	}
	var first *history.Record
	for _, o := range c.ops {
		if o.Result != history.OK && o.Complete.After(c.recovery) {
			c.res.Outage.NonOKAfterRecovery++
			if first == nil || o.Complete.Before(first.Complete) {
				first = o
			}
		}
	}
	if first != nil {
		c.info(fmt.Sprintf("note: %d write(s) did not succeed after recovery (first: seq %d at %s); RTO covers the first outage only",
			c.res.Outage.NonOKAfterRecovery, first.Seq, fmtT(first.Complete)))
	}
	for _, p := range c.res.Phases {
		if p.Name == PhaseEffectConfirmed && p.Seen && p.T.After(c.recovery) {
			c.unknown = append(c.unknown, fmt.Sprintf("the fault's effect was confirmed at %s, after the first acknowledged write following the outage (%s): the writes saw a blip before the fault took hold, so RTO cannot be trusted",
				fmtT(p.T), fmtT(c.recovery)))
		}
	}
}

func (c *check) verdict() {
	r := &c.res
	if rto, ok := r.RTO(); ok {
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
	if rpo, ok := r.RPO(); ok {
		if rpo > c.b.RPO {
			c.failed = append(c.failed, fmt.Sprintf("RPO %s exceeds the %s budget (%d acknowledged write(s) lost)", fmtD(rpo), fmtD(c.b.RPO), r.LostAcked))
		} else {
			c.info(fmt.Sprintf("RPO %s within the %s budget (%d acknowledged write(s) lost)", fmtD(rpo), fmtD(c.b.RPO), r.LostAcked))
		}
	}
	for _, a := range r.Anomalies {
		c.failed = append(c.failed, "anomaly "+a.Kind+": "+a.Message)
	}
	switch {
	case len(c.failed) > 0:
		r.Verdict = Fail
	case len(c.unknown) > 0:
		r.Verdict = Unknown
	default:
		r.Verdict = Pass
	}
	// Reasons: what decided first, then the rest.
	r.Reasons = append(append(append([]string{}, c.failed...), c.unknown...), r.Reasons...)
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
