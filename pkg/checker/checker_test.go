package checker

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/irischaos/irischaos/pkg/history"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// at is t0 plus s seconds.
func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// h builds histories: ops are written one every 100 ms from seq 1, each
// taking 10 ms, unless placed explicitly.
type h struct{ recs []history.Record }

func (b *h) op(seq int64, invoke, complete float64, result string) *h {
	b.recs = append(b.recs, history.Record{Kind: history.KindOp, Seq: seq, Invoke: at(invoke), Complete: at(complete), Result: result})
	return b
}

// run adds ops seq from..to, one every 100 ms starting at start, all with result.
func (b *h) run(from, to int64, start float64, result string) *h {
	for s := from; s <= to; s++ {
		inv := start + float64(s-from)*0.1
		b.op(s, inv, inv+0.01, result)
	}
	return b
}

func (b *h) fault(t float64) *h {
	b.recs = append(b.recs, history.Record{Kind: history.KindFault, T: at(t), Name: "pod-delete", Target: "pod/iris-1"})
	return b
}

func (b *h) readback(seqs ...int64) *h {
	b.recs = append(b.recs, history.Record{Kind: history.KindReadback, T: at(100), Seqs: seqs})
	return b
}

func (b *h) event(t float64, phase string) *h {
	b.recs = append(b.recs, history.Record{Kind: history.KindEvent, T: at(t), Phase: phase, Source: "pod", Target: "pod/iris-2", Reason: "r"})
	return b
}

func seqs(from, to int64, except ...int64) []int64 {
	var out []int64
	for s := from; s <= to; s++ {
		if !slices.Contains(except, s) {
			out = append(out, s)
		}
	}
	return out
}

// acked is the ok seqs of standard(), but except.
func acked(except ...int64) []int64 {
	return append(seqs(1, 10, except...), seqs(41, 50, except...)...)
}

func f(v float64) *float64 { return &v }

// standard: 10 ok writes (seq 1-10, completing at 0.01 .. 0.91), the fault at
// 0.95, writes 11-40 failing from 1.0 to 3.9, writes 41-50 ok from 4.0
// (the first completing at 4.01).
func standard() *h {
	return new(h).run(1, 10, 0, history.OK).fault(0.95).run(11, 40, 1.0, history.Fail).run(41, 50, 4.0, history.OK)
}

func TestCheck(t *testing.T) {
	budgets := Budgets{RTO: 10 * time.Second, RPO: 2 * time.Second}
	tests := []struct {
		name    string
		hist    *h
		budgets Budgets
		check   func(t *testing.T, r Result)
		verdict Verdict
		reason  string // a substring of some reason
	}{{
		name:    "no outage: RTO 0, no interruption",
		hist:    new(h).run(1, 10, 0, history.OK).faultEffect(0.45, 0.5).readback(seqs(1, 10)...),
		verdict: Pass, reason: "no interruption observed",
		check: func(t *testing.T, r Result) {
			eqF(t, "rto", r.RTOSeconds, f(0))
			eqF(t, "rpo", r.RPOSeconds, f(0))
			if !r.NoInterruption || r.Outage != nil {
				t.Errorf("no_interruption=%v outage=%v, want true and nil", r.NoInterruption, r.Outage)
			}
		},
	}, {
		name:    "lost suffix within budget; writes after recovery take no part",
		hist:    standard().readback(append(seqs(1, 8), seqs(41, 50)...)...),
		verdict: Pass, reason: "RPO 0.140s within",
		check: func(t *testing.T, r Result) {
			// RTO: first ok after the outage completes at 4.01, fault at 0.95.
			eqF(t, "rto", r.RTOSeconds, f(3.06))
			// RPO: oldest lost (seq 9) completed at 0.81.
			eqF(t, "rpo", r.RPOSeconds, f(0.14))
			eqI(t, "lost", r.LostAcked, 2)
			eqS(t, "lost seqs", r.LostSeqs, []int64{9, 10})
			if !r.Suffix.Checked || !r.Suffix.OK || r.Suffix.InScope != 10 {
				t.Errorf("suffix = %+v, want checked, ok, 10 in scope", r.Suffix)
			}
			if r.Outage == nil || r.Outage.StartSeq != 11 || r.Outage.FirstOKAfterSeq != 41 {
				t.Fatalf("outage = %+v, want start seq 11, first ok after seq 41", r.Outage)
			}
			// observed: last ok before completes at 0.91, first after at 4.01.
			eqF(t, "observed", r.Outage.ObservedSeconds, f(3.1))
			if r.Writes != (Counts{Total: 50, OK: 20, Fail: 30}) {
				t.Errorf("writes = %+v", r.Writes)
			}
			eqF(t, "probe resolution", r.ProbeResolutionSeconds, f(0.1))
		},
	}, {
		name:    "gap in the middle is an anomaly",
		hist:    standard().readback(acked(5, 6)...),
		verdict: Fail, reason: "anomaly lost_not_suffix",
		check: func(t *testing.T, r Result) {
			if r.Suffix.OK || r.Suffix.ViolationCount != 2 {
				t.Errorf("suffix = %+v, want 2 violations", r.Suffix)
			}
			if len(r.Suffix.Violations) != 2 || r.Suffix.Violations[0] != (Violation{LostSeq: 5, SurvivingSeq: 7}) {
				t.Errorf("violations = %+v, want first {5 7}", r.Suffix.Violations)
			}
			hasAnomaly(t, r, AnomalyNotSuffix)
		},
	}, {
		name: "info writes recovered or not",
		hist: new(h).run(1, 10, 0, history.OK).fault(0.95).
			op(11, 1.0, 1.5, history.Info).op(12, 1.5, 2.0, history.Info).op(13, 2.0, 2.5, history.Fail).
			run(14, 20, 3.0, history.OK).readback(append(seqs(1, 11), seqs(14, 20)...)...),
		verdict: Pass,
		check: func(t *testing.T, r Result) {
			eqS(t, "info recovered", r.InfoRecovered, []int64{11})
			eqS(t, "info not recovered", r.InfoNotRecovered, []int64{12})
			eqI(t, "lost", r.LostAcked, 0)
			// The outage starts at the first non-ok write, an info one.
			if r.Outage == nil || r.Outage.StartSeq != 11 {
				t.Errorf("outage = %+v, want start at seq 11", r.Outage)
			}
			eqF(t, "rto", r.RTOSeconds, f(3.01-0.95))
		},
	}, {
		name:    "unexpected, duplicate, failed-present and unparsable markers",
		hist:    standard().readback(append(acked(), 99, 3, 3, 12)...).withExtra("garbage"),
		verdict: Fail,
		check: func(t *testing.T, r Result) {
			eqS(t, "unexpected", r.Unexpected, []int64{99})
			eqS(t, "duplicates", r.Duplicates, []int64{3})
			eqS(t, "failed present", r.FailedPresent, []int64{12})
			if len(r.UnexpectedMarkers) != 1 || r.UnexpectedMarkers[0] != "garbage" {
				t.Errorf("unexpected markers = %q", r.UnexpectedMarkers)
			}
			hasAnomaly(t, r, AnomalyUnexpected)
			hasAnomaly(t, r, AnomalyDuplicate)
			hasAnomaly(t, r, AnomalyFailedPresent)
		},
	}, {
		name:    "no read-back: unknown, never pass",
		hist:    standard(),
		verdict: Unknown, reason: "no read-back",
		check: func(t *testing.T, r Result) {
			if r.RPOSeconds != nil || r.Suffix.Checked {
				t.Errorf("rpo = %v, suffix checked = %v; want null and false", r.RPOSeconds, r.Suffix.Checked)
			}
			eqF(t, "rto", r.RTOSeconds, f(3.06))
		},
	}, {
		name:    "write acknowledged after recovery and lost",
		hist:    standard().readback(acked(50)...),
		verdict: Fail, reason: "lost_after_recovery",
		check: func(t *testing.T, r Result) {
			if !r.Suffix.OK {
				t.Errorf("suffix = %+v; seq 50 is after recovery and takes no part", r.Suffix)
			}
			hasAnomaly(t, r, AnomalyLostAfterRecovery)
			// Completed after the fault: RPO never below 0.
			eqF(t, "rpo", r.RPOSeconds, f(0))
		},
	}, {
		name: "ok at or after t_fault but before the outage counts as before it (lost last: suffix)",
		hist: new(h).run(1, 10, 0, history.OK).fault(0.95).op(11, 0.96, 0.98, history.OK).
			run(12, 20, 1.0, history.Fail).run(21, 25, 2.0, history.OK).readback(append(seqs(1, 10), seqs(21, 25)...)...),
		verdict: Pass,
		check: func(t *testing.T, r Result) {
			eqS(t, "lost", r.LostSeqs, []int64{11})
			eqF(t, "rpo never below 0", r.RPOSeconds, f(0))
			if !r.Suffix.OK || r.Suffix.InScope != 11 {
				t.Errorf("suffix = %+v, want ok with 11 in scope", r.Suffix)
			}
		},
	}, {
		name: "ok at or after t_fault but before the outage counts as before it (survives after a lost one: gap)",
		hist: new(h).run(1, 10, 0, history.OK).fault(0.95).op(11, 0.96, 0.98, history.OK).
			run(12, 20, 1.0, history.Fail).run(21, 25, 2.0, history.OK).readback(append(seqs(1, 11, 10), seqs(21, 25)...)...),
		verdict: Fail, reason: "seq 10 lost, seq 11 survived",
	}, {
		name:    "RTO over budget fails",
		hist:    standard().readback(acked()...),
		budgets: Budgets{RTO: 2 * time.Second, RPO: 2 * time.Second},
		verdict: Fail, reason: "RTO 3.060s exceeds the 2.000s budget",
	}, {
		name:    "RPO over budget fails",
		hist:    standard().readback(append(seqs(1, 3), seqs(41, 50)...)...),
		budgets: Budgets{RTO: 10 * time.Second, RPO: 200 * time.Millisecond},
		verdict: Fail, reason: "RPO 0.640s exceeds the 0.200s budget (7 acknowledged write(s) lost)",
	}, {
		name:    "no RTO budget: measured, not judged",
		hist:    standard().readback(acked()...),
		budgets: Budgets{RPO: 2 * time.Second},
		verdict: Pass, reason: "no RTO budget: not judged",
	}, {
		name:    "no ok write after the outage, budget already exceeded: fail, naming where it is stuck",
		hist:    new(h).run(1, 10, 0, history.OK).fault(0.95).run(11, 40, 1.0, history.Info).readback(seqs(1, 10)...),
		verdict: Fail, reason: "already over the 2.000s budget",
		budgets: Budgets{RTO: 2 * time.Second, RPO: 2 * time.Second},
		check: func(t *testing.T, r Result) {
			if r.RTOSeconds != nil {
				t.Errorf("rto = %v, want null", *r.RTOSeconds)
			}
			eqF(t, "rto at least", r.RTOAtLeastSeconds, f(3.91-0.95))
			if !slices.ContainsFunc(r.Reasons, func(s string) bool {
				return strings.HasPrefix(s, "stuck after fault_issued; not seen within 3s: effect_confirmed")
			}) {
				t.Errorf("reasons do not say where the recovery is stuck: %q", r.Reasons)
			}
		},
	}, {
		name:    "no ok write after the outage, within the budget so far: unknown with a lower bound",
		hist:    new(h).run(1, 10, 0, history.OK).fault(0.95).run(11, 40, 1.0, history.Info).readback(seqs(1, 10)...),
		verdict: Unknown, reason: "RTO is at least 2.960s",
		budgets: Budgets{RTO: 10 * time.Second, RPO: 2 * time.Second},
		check: func(t *testing.T, r Result) {
			if r.RTOSeconds != nil {
				t.Errorf("rto = %v, want null", *r.RTOSeconds)
			}
			eqF(t, "rto at least", r.RTOAtLeastSeconds, f(3.91-0.95))
		},
	}, {
		name:    "no fault: unknown",
		hist:    new(h).run(1, 10, 0, history.OK).readback(seqs(1, 10)...),
		verdict: Unknown, reason: "no fault record",
	}, {
		name:    "two faults: unknown",
		hist:    standard().fault(5).readback(acked()...),
		verdict: Unknown, reason: "2 fault records",
	}, {
		name:    "no write after the fault: unknown",
		hist:    new(h).run(1, 10, 0, history.OK).fault(5).readback(seqs(1, 10)...),
		verdict: Unknown, reason: "no write was invoked after the fault",
	}, {
		name:    "no writes at all: unknown",
		hist:    new(h).fault(1).readback(),
		verdict: Unknown, reason: "no writes in the history",
	}, {
		name: "unusable op records: unknown",
		hist: standard().readback(acked()...).
			op(60, 9, 8, history.OK).op(61, 9, 9.1, "maybe").op(41, 9, 9.1, history.OK),
		verdict: Unknown, reason: "3 op record(s) unusable",
	}, {
		name: "a write in flight on another stream is not recovery",
		// Stream 2's write 100 was invoked before the outage began at 1.01
		// and completes ok at 1.5: it must not end the outage.
		hist:    standard().op(100, 0.97, 1.5, history.OK).readback(append(acked(), 100)...),
		verdict: Pass,
		check: func(t *testing.T, r Result) {
			eqF(t, "rto", r.RTOSeconds, f(3.06))
			if r.Suffix.InScope != 11 {
				t.Errorf("in scope = %d, want 11 (seq 100 completed before recovery)", r.Suffix.InScope)
			}
		},
	}, {
		name: "writes failing again after recovery: counted, noted",
		hist: standard().run(51, 52, 6.0, history.Info).run(53, 55, 7.0, history.OK).
			readback(append(acked(), 53, 54, 55)...),
		verdict: Pass, reason: "2 write(s) did not succeed after recovery (first: seq 51",
		check: func(t *testing.T, r Result) {
			eqF(t, "rto", r.RTOSeconds, f(3.06))
			if r.Outage.NonOKAfterRecovery != 2 {
				t.Errorf("non-ok after recovery = %d, want 2", r.Outage.NonOKAfterRecovery)
			}
		},
	}, {
		name:    "effect confirmed after the recovery: a blip before the fault took hold",
		hist:    standard().event(5.0, history.PhaseEffectConfirmed).readback(acked()...),
		verdict: Unknown, reason: "RTO cannot be trusted",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.budgets
			if b == (Budgets{}) {
				b = budgets
			}
			r := Check(tc.hist.recs, b)
			if r.Verdict != tc.verdict {
				t.Errorf("verdict = %s, want %s; reasons: %q", r.Verdict, tc.verdict, r.Reasons)
			}
			if tc.reason != "" && !slices.ContainsFunc(r.Reasons, func(s string) bool { return strings.Contains(s, tc.reason) }) {
				t.Errorf("no reason contains %q; reasons: %q", tc.reason, r.Reasons)
			}
			if len(r.Reasons) == 0 {
				t.Error("a verdict without reasons")
			}
			if tc.check != nil {
				tc.check(t, r)
			}
			// Deterministic: the same history gives the same JSON.
			a, _ := json.Marshal(r)
			c, _ := json.Marshal(Check(tc.hist.recs, b))
			if string(a) != string(c) {
				t.Error("two checks of one history differ")
			}
		})
	}
}

func (b *h) withExtra(s ...string) *h {
	for i := len(b.recs) - 1; i >= 0; i-- {
		if b.recs[i].Kind == history.KindReadback {
			b.recs[i].Extra = append(b.recs[i].Extra, s...)
			break
		}
	}
	return b
}

func TestLastReadbackCounts(t *testing.T) {
	hist := standard().readback(1, 2).readback(acked()...)
	if r := Check(hist.recs, DefaultBudgets()); r.LostAcked != 0 {
		t.Errorf("lost = %d; the last read-back (everything) must count", r.LostAcked)
	}
}

func TestPhases(t *testing.T) {
	hist := standard().readback(acked()...).
		event(0.5, history.PhasePodScheduled). // before the fault: ignored
		event(1.2, history.PhaseEffectConfirmed).
		event(2.0, history.PhasePodScheduled).
		event(2.5, history.PhasePodScheduled). // later duplicate: the first counts
		event(2.6, history.PhaseVolumeAttached).
		event(3.0, history.PhaseContainerStarted).
		event(3.9, history.PhaseDatabaseReady).
		event(3.1, "something_else")
	r := Check(hist.recs, DefaultBudgets())
	want := []struct {
		name            string
		seen            bool
		since, duration float64
	}{
		{PhaseFaultIssued, true, 0, 0},
		{PhaseEffectConfirmed, true, 0.25, 0.25},
		{PhasePodScheduled, true, 1.05, 0.8},
		{PhaseVolumeAttached, true, 1.65, 0.6},
		{PhaseContainerStarted, true, 2.05, 0.4},
		{PhaseDatabaseReady, true, 2.95, 0.9},
		{PhaseFirstAckWrite, true, 3.06, 0.11},
	}
	if len(r.Phases) != len(want) {
		t.Fatalf("phases = %+v", r.Phases)
	}
	for i, w := range want {
		p := r.Phases[i]
		if p.Name != w.name || p.Seen != w.seen || !near(p.SinceFaultSeconds, w.since) || !near(p.DurationSeconds, w.duration) {
			t.Errorf("phase %d = %s seen=%v since=%.3f dur=%.3f, want %+v", i, p.Name, p.Seen, p.SinceFaultSeconds, p.DurationSeconds, w)
		}
	}

	// The nemesis's own confirmation wins; a missing phase is listed unseen.
	hist = standard().readback(acked()...)
	hist.recs[10].EffectT = at(1.0) // the fault record
	r = Check(hist.recs, DefaultBudgets())
	if p := r.Phases[1]; !p.Seen || !near(p.SinceFaultSeconds, 0.05) {
		t.Errorf("effect phase = %+v, want seen 0.05 s after the fault", p)
	}
	if p := r.Phases[2]; p.Seen {
		t.Errorf("pod_scheduled = %+v, want unseen", p)
	}
	if p := r.Phases[6]; !near(p.DurationSeconds, 3.01) {
		t.Errorf("first ack duration = %.3f, want 3.01 (since the effect)", p.DurationSeconds)
	}
}

// A history written before the observer named the phase still shows it: the
// kubelet's Started event of a container after the fault is "container
// started" (the iris-force run: liveness restart, Killing then Started).
func TestContainerStartedFromKubeletEvent(t *testing.T) {
	hist := standard().readback(acked()...)
	kev := func(s float64, reason, msg string) history.Record {
		return history.Record{Kind: history.KindEvent, T: at(s), Source: "event", Target: "pod/iris-1", Reason: reason, Message: msg}
	}
	hist.recs = append(hist.recs,
		kev(0.5, "Started", "Started container iris"), // before the fault: not this recovery
		kev(2.0, "Killing", "Container iris failed liveness probe, will be restarted"),
		kev(2.4, "Started", "Started container iris"),
		history.Record{Kind: history.KindEvent, T: at(2.2), Source: "pod", Target: "pod/iris-1", Reason: "Started", Message: "not the kubelet's event"},
	)
	r := Check(hist.recs, DefaultBudgets())
	p := r.Phases[4]
	if p.Name != PhaseContainerStarted || !p.Seen || !near(p.SinceFaultSeconds, 1.45) {
		t.Errorf("container started = %+v, want seen 1.45 s after the fault", p)
	}
}

func TestCombine(t *testing.T) {
	for _, tc := range []struct {
		in   []Verdict
		want Verdict
	}{
		{nil, Unknown},
		{[]Verdict{Pass, Pass}, Pass},
		{[]Verdict{Pass, Unknown}, Unknown},
		{[]Verdict{Unknown, Fail, Pass}, Fail},
		{[]Verdict{"bogus"}, Unknown},
	} {
		if got := Combine(tc.in...); got != tc.want {
			t.Errorf("Combine(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestBudgetsFromMeta(t *testing.T) {
	recs := []history.Record{
		{Kind: history.KindMeta, Meta: map[string]string{history.MetaRTOBudget: "45s"}},
		{Kind: history.KindMeta, Meta: map[string]string{history.MetaRPOBudget: "500ms"}},
	}
	b, err := BudgetsFromMeta(recs)
	if err != nil || b != (Budgets{RTO: 45 * time.Second, RPO: 500 * time.Millisecond}) {
		t.Errorf("got %+v, %v", b, err)
	}
	b, err = BudgetsFromMeta(nil)
	if err != nil || b != DefaultBudgets() {
		t.Errorf("empty meta: got %+v, %v; want defaults", b, err)
	}
	_, err = BudgetsFromMeta([]history.Record{{Kind: history.KindMeta, Meta: map[string]string{history.MetaRPOBudget: "2 s"}}})
	if err == nil || !strings.Contains(err.Error(), "rpo_budget=2 s") {
		t.Errorf("bad duration: err = %v, want one naming the key and value", err)
	}
}

func TestResultJSONFields(t *testing.T) {
	b, _ := json.Marshal(Check(standard().readback(acked()...).recs, DefaultBudgets()))
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"rto_seconds", "rpo_seconds", "lost_acked", "verdict", "anomalies", "outage", "probe_resolution_seconds", "phases", "writes", "lost_seqs", "info_recovered", "info_not_recovered", "unexpected", "duplicates", "suffix", "reasons"} {
		if _, ok := m[k]; !ok {
			t.Errorf("result JSON lacks %q", k)
		}
	}
	if m["anomalies"] == nil {
		t.Error("anomalies is null, want []")
	}
}

func near(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 }

func eqF(t *testing.T, what string, got, want *float64) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Errorf("%s = %v, want %v", what, got, want)
	case !near(*got, *want):
		t.Errorf("%s = %.6f, want %.6f", what, *got, *want)
	}
}

func eqI(t *testing.T, what string, got, want int) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %d, want %d", what, got, want)
	}
}

func eqS(t *testing.T, what string, got, want []int64) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func hasAnomaly(t *testing.T, r Result, kind string) {
	t.Helper()
	if !slices.ContainsFunc(r.Anomalies, func(a Anomaly) bool { return a.Kind == kind }) {
		t.Errorf("no %s anomaly in %+v", kind, r.Anomalies)
	}
}

func TestClock(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"seq=42 run=r1 t=2026-11-27 10:15:03.123456 host=iris-0", "2026-11-27T10:15:03.123456Z", true},
		{"seq=1 t=2026-11-27 10:15:03 host=x", "2026-11-27T10:15:03Z", true},
		{"seq=1 start=2026-11-27 10:15:03", "", false},
		{"seq=1 t=2026-11-27", "", false},
		{"seq=1 t=yesterday noon", "", false},
		{"", "", false},
	} {
		got, ok := markerTime(tc.in)
		if ok != tc.ok || ok && got.Format(time.RFC3339Nano) != tc.want {
			t.Errorf("markerTime(%q) = %v, %v; want %s, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}

	// The database's clock runs 1.5 s ahead: noted, and measured within the window.
	hist := standard().readback(acked()...)
	for i := range hist.recs {
		r := &hist.recs[i]
		if r.Kind == history.KindOp && r.Result == history.OK {
			r.Value = fmt.Sprintf("seq=%d run=r t=%s host=h", r.Seq, r.Invoke.Add(1505*time.Millisecond).Format(markerTimeLayout))
		}
	}
	r := Check(hist.recs, DefaultBudgets())
	if r.Clock == nil || r.Clock.Samples != 20 || !near(r.Clock.MedianOffsetSeconds, 1.5) || !near(r.Clock.MedianHalfWindowSeconds, 0.005) {
		t.Fatalf("clock = %+v", r.Clock)
	}
	if !slices.ContainsFunc(r.Reasons, func(s string) bool { return strings.Contains(s, "1.500s ahead of the harness's") }) {
		t.Errorf("reasons %q lack the clock note", r.Reasons)
	}
	if r.Verdict != Pass {
		t.Errorf("a clock offset must not change the verdict: %s", r.Verdict)
	}
	if Check(standard().readback(acked()...).recs, DefaultBudgets()).Clock != nil {
		t.Error("clock without timed markers")
	}
}

func TestStuckAt(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 11, 58, 0, 0, time.UTC)
	ph := func(name string, seen bool, since float64, detail string) Phase {
		return Phase{Name: name, Seen: seen, T: t0.Add(time.Duration(since * float64(time.Second))), SinceFaultSeconds: since, Detail: detail}
	}
	tests := []struct {
		name   string
		phases []Phase
		within float64
		want   string
	}{
		{"none", nil, 300, "stuck before any RTO phase was seen"},
		{"multi-attach: the replacement is scheduled, its volume never attached", []Phase{
			ph(PhaseFaultIssued, true, 0, "vm-poweroff"), ph(PhaseEffectConfirmed, true, 21.1, "node NotReady"),
			ph(PhasePodScheduled, true, 41.3, "bound to node-3"), ph(PhaseVolumeAttached, false, 0, ""),
			ph(PhaseContainerStarted, false, 0, ""), ph(PhaseDatabaseReady, false, 0, ""), ph(PhaseFirstAckWrite, false, 0, "")},
			300, "stuck after pod_scheduled (+41.300s: bound to node-3); not seen within 300s: volume_attached"},
		{"phases after the window (the node powered back on) do not count", []Phase{
			ph(PhaseFaultIssued, true, 0, "vm-poweroff"), ph(PhasePodScheduled, true, 41.3, "bound to node-3"),
			ph(PhaseVolumeAttached, true, 337.3, "attached to node-3"), ph(PhaseContainerStarted, true, 338.6, "running")},
			299.7, "stuck after pod_scheduled (+41.300s: bound to node-3); not seen within 300s: volume_attached"},
		{"container up, database never answered", []Phase{
			ph(PhaseFaultIssued, true, 0, "pod-delete"), ph(PhaseContainerStarted, true, 5, "running"), ph(PhaseDatabaseReady, false, 0, "")},
			60, "stuck after container_started (+5.000s: running); not seen within 60s: database_ready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stuckAt(tt.phases, tt.within); got != tt.want {
				t.Errorf("stuckAt = %q\nwant     %q", got, tt.want)
			}
		})
	}
}

func TestStorageAfter(t *testing.T) {
	tf := time.Date(2026, 12, 2, 11, 57, 59, 0, time.UTC)
	at := func(s float64) time.Time { return tf.Add(time.Duration(s * float64(time.Second))) }
	va := func(s float64, reason, node string) history.Record {
		return history.Record{Kind: history.KindEvent, T: at(s), Source: history.SourceVolumeAttachment, Reason: reason, Node: node}
	}
	pool := func(s float64, reason string) history.Record {
		return history.Record{Kind: history.KindEvent, T: at(s), Source: history.SourceStorage, Reason: reason}
	}
	// The node-lost run on the local cluster's Ceph RBD, as recorded.
	got := storageAfter([]history.Record{
		va(-10, history.ReasonObserved, "node-1"), pool(-9, history.ReasonObserved),
		pool(25.3, "unavailable"), pool(28, "degraded"), pool(308.7, history.RedundancyClean),
		va(336.5, "Detaching", "node-1"), va(336.6, "Deleted", "node-1"),
		va(337.1, "Attaching", "node-3"), va(337.3, "Attached", "node-3"),
	}, tf)
	if got == nil || got.DetachedFrom != "node-1" || !got.DetachedAt.Equal(at(336.6)) || got.AttachedTo != "node-3" || !got.AttachedAt.Equal(at(337.3)) {
		t.Fatalf("attachment: %+v", got)
	}
	if got.RedundancyLost != "unavailable" || !got.RedundancyLostAt.Equal(at(25.3)) || !got.RedundancyRestoredAt.Equal(at(308.7)) || got.DegradedSeconds == nil || *got.DegradedSeconds != 283.4 {
		t.Fatalf("redundancy: %+v (degraded %v)", got, got.DegradedSeconds)
	}
	// Only the state found at start, or unknown readings: nothing to say.
	if s := storageAfter([]history.Record{pool(-1, history.ReasonObserved), pool(3, history.RedundancyUnknown)}, tf); s != nil {
		t.Errorf("no change after the fault gave %+v", s)
	}
	// Lost and not restored: no degraded time.
	if s := storageAfter([]history.Record{pool(3, "degraded")}, tf); s == nil || s.RedundancyRestoredAt != nil || s.DegradedSeconds != nil {
		t.Errorf("not restored: %+v", s)
	}
}

// TestStorageAfterLonghorn: a Longhorn node loss as the observer records it
// (copies per zone on every reading): time to full redundancy from the
// fault, and the copies per zone at the fault and once restored.
func TestStorageAfterLonghorn(t *testing.T) {
	tf := time.Date(2026, 12, 2, 11, 57, 59, 0, time.UTC)
	at := func(s float64) time.Time { return tf.Add(time.Duration(s * float64(time.Second))) }
	vol := func(s float64, reason string, zones map[string]int) history.Record {
		return history.Record{Kind: history.KindEvent, T: at(s), Source: history.SourceStorage, Target: "volume pvc-1", Reason: reason, Zones: zones}
	}
	all := map[string]int{"zone-a": 1, "zone-b": 1, "zone-c": 1}
	two := map[string]int{"zone-a": 1, "zone-c": 1}
	moved := map[string]int{"zone-a": 2, "zone-c": 1}
	got := storageAfter([]history.Record{
		vol(-30, history.ReasonObserved, all),
		vol(41, "degraded", two), vol(641, "recovering", two), vol(650, "recovering", two),
		vol(702.5, history.RedundancyClean, moved),
		vol(800, history.RedundancyClean, all), // a later change (auto-balance) is not the restoration
	}, tf)
	if got == nil || got.RedundancyLost != "degraded" || got.DegradedSeconds == nil || *got.DegradedSeconds != 661.5 ||
		got.FullRedundancySeconds == nil || *got.FullRedundancySeconds != 702.5 {
		t.Fatalf("redundancy: %+v", got)
	}
	if fmt.Sprint(got.ZonesBefore) != fmt.Sprint(all) || fmt.Sprint(got.ZonesAfter) != fmt.Sprint(moved) {
		t.Errorf("zones before %v after %v", got.ZonesBefore, got.ZonesAfter)
	}
	// Never restored: after is the last reading; no time to full redundancy.
	got = storageAfter([]history.Record{vol(-1, history.ReasonObserved, all), vol(41, "degraded", two), vol(60, "recovering", two)}, tf)
	if got == nil || got.FullRedundancySeconds != nil || fmt.Sprint(got.ZonesAfter) != fmt.Sprint(two) || fmt.Sprint(got.ZonesBefore) != fmt.Sprint(all) {
		t.Errorf("not restored: %+v", got)
	}
}
