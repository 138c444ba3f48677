package checker

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/irischaos/irischaos/pkg/history"
)

func (b *h) faultEffect(t, effect float64) *h {
	b.recs = append(b.recs, history.Record{Kind: history.KindFault, T: at(t), EffectT: at(effect), Name: "pod-delete", Target: "pod/iris-1"})
	return b
}

func (b *h) meta(k, v string) *h {
	b.recs = append(b.recs, history.Record{Kind: history.KindMeta, Meta: map[string]string{k: v}})
	return b
}

func (b *h) rec(r history.Record) *h { b.recs = append(b.recs, r); return b }

// opAt is op with an explicit stream, times in nanoseconds after t0.
func (b *h) opNS(seq int64, invoke, complete time.Duration, result string) *h {
	b.recs = append(b.recs, history.Record{Kind: history.KindOp, Seq: seq, Invoke: t0.Add(invoke), Complete: t0.Add(complete), Result: result})
	return b
}

// confirmed is standard() with the fault's effect confirmed.
func confirmed() *h {
	return new(h).run(1, 10, 0, history.OK).faultEffect(0.95, 1.0).run(11, 40, 1.0, history.Fail).run(41, 50, 4.0, history.OK)
}

// TestEdges: the checker exact at its edges (issue 10 item 9). Each case
// was written before its fix.
func TestEdges(t *testing.T) {
	budgets := Budgets{RTO: 10 * time.Second, RPO: 2 * time.Second}
	tests := []struct {
		name    string
		hist    *h
		budgets Budgets
		verdict Verdict
		reason  string
		check   func(t *testing.T, r Result)
	}{{
		name: "RTO over budget by less than a microsecond fails (exact durations, not rounded seconds)",
		// Recovery write 41 completes 3.06 s + 400 ns after the fault.
		hist: new(h).run(1, 10, 0, history.OK).faultEffect(0.95, 1.0).run(11, 40, 1.0, history.Fail).
			opNS(41, 4*time.Second, 4010*time.Millisecond+400, history.OK).readback(append(seqs(1, 10), 41)...),
		budgets: Budgets{RTO: 3060 * time.Millisecond, RPO: 2 * time.Second},
		verdict: Fail, reason: "RTO 3.060s exceeds the 3.060s budget",
	}, {
		name: "RPO over budget by less than a microsecond fails",
		// Seq 10 lost: completed at 0.91 s - 400 ns, fault at 0.95 s.
		hist: new(h).run(1, 9, 0, history.OK).opNS(10, 900*time.Millisecond, 910*time.Millisecond-400, history.OK).
			faultEffect(0.95, 1.0).run(11, 40, 1.0, history.Fail).run(41, 50, 4.0, history.OK).readback(acked(10)...),
		budgets: Budgets{RTO: 10 * time.Second, RPO: 40 * time.Millisecond},
		verdict: Fail, reason: "RPO 0.040s exceeds the 0.040s budget",
	}, {
		name:    "RPO budget 0: no acknowledged write may be lost, not even one acknowledged after the fault",
		hist:    new(h).run(1, 10, 0, history.OK).faultEffect(0.95, 1.0).op(11, 0.96, 0.98, history.OK).run(12, 20, 1.0, history.Fail).run(21, 25, 2.0, history.OK).readback(append(seqs(1, 10), seqs(21, 25)...)...),
		budgets: Budgets{RTO: 10 * time.Second},
		verdict: Fail, reason: "RPO budget 0: no acknowledged write may be lost, and 1 were",
	}, {
		name:    "RPO budget 0 and nothing lost passes",
		hist:    confirmed().readback(acked()...),
		budgets: Budgets{RTO: 10 * time.Second},
		verdict: Pass,
	}, {
		name: "a fault time that does not fit in a duration never passes",
		hist: new(h).run(1, 10, 0, history.OK).
			rec(history.Record{Kind: history.KindFault, T: time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC), EffectT: time.Date(1, 1, 2, 0, 0, 1, 0, time.UTC), Name: "pod-delete"}).
			readback(seqs(1, 10)...),
		verdict: Unknown, reason: "too far from the writes' times",
		check: func(t *testing.T, r Result) {
			if r.RTOSeconds != nil || r.RPOSeconds != nil {
				t.Errorf("rto %v rpo %v, want both null", r.RTOSeconds, r.RPOSeconds)
			}
		},
	}, {
		name: "a write with an absurd clock is unusable; its marker is unknown",
		hist: confirmed().rec(history.Record{Kind: history.KindOp, Seq: 60, Invoke: at(5), Complete: time.Date(2600, 1, 1, 0, 0, 0, 0, time.UTC), Result: history.OK}).
			readback(acked()...),
		verdict: Unknown, reason: "absurd clock",
		check: func(t *testing.T, r Result) {
			eqS(t, "unknown markers", r.UnknownMarkers, []int64{60})
			eqS(t, "lost", r.LostSeqs, []int64{})
		},
	}, {
		name:    "an op completing before its invocation: marker unknown, neither lost nor unexpected",
		hist:    confirmed().op(60, 9, 8, history.OK).op(61, 9, 8, history.OK).readback(append(acked(), 60)...),
		verdict: Unknown, reason: "completes before it was invoked",
		check: func(t *testing.T, r Result) {
			eqS(t, "unknown markers", r.UnknownMarkers, []int64{60, 61})
			eqS(t, "unexpected", r.Unexpected, []int64{})
			eqS(t, "lost", r.LostSeqs, []int64{})
			eqI(t, "anomalies", len(r.Anomalies), 0)
		},
	}, {
		name: "an op without a sequence number: the seq its value names is unknown",
		hist: confirmed().rec(history.Record{Kind: history.KindOp, Invoke: at(5), Complete: at(5.1), Result: history.OK, Value: "seq=77 run=r t=2026-11-27 10:00:05.05 host=h"}).
			readback(append(acked(), 77)...),
		verdict: Unknown, reason: "has no sequence number",
		check: func(t *testing.T, r Result) {
			eqS(t, "unknown markers", r.UnknownMarkers, []int64{77})
			eqS(t, "unexpected", r.Unexpected, []int64{})
		},
	}, {
		name: "an op naming no marker at all: seqs read back that no op wrote are unknown, not unexpected",
		hist: confirmed().rec(history.Record{Kind: history.KindOp, Invoke: at(5), Complete: at(5.1), Result: history.OK}).
			readback(append(acked(), 88)...),
		verdict: Unknown, reason: "name no marker",
		check: func(t *testing.T, r Result) {
			eqS(t, "unknown markers", r.UnknownMarkers, []int64{88})
			eqS(t, "unexpected", r.Unexpected, []int64{})
		},
	}, {
		name:    "a seq written twice: its marker is unknown",
		hist:    confirmed().op(41, 9, 9.1, history.OK).readback(acked(41)...),
		verdict: Unknown, reason: "seq 41 was already written",
		check: func(t *testing.T, r Result) {
			eqS(t, "unknown markers", r.UnknownMarkers, []int64{41})
			eqS(t, "lost", r.LostSeqs, []int64{})
		},
	}, {
		name:    "a record of an unknown kind is reported: verdict unknown",
		hist:    confirmed().readback(acked()...).rec(history.Record{Kind: "Op", Seq: 99}),
		verdict: Unknown, reason: `1 record(s) of a kind this checker does not know (first: "Op" on line`,
	}, {
		name: "a write that hangs past the workload's timeout is part of the outage",
		// One stream; write 11 is acknowledged only 3 s after it was sent
		// (timeout 1 s): the database was unavailable from 1.0 + 1 s.
		hist: new(h).meta(history.MetaWriteTimeout, "1s").run(1, 10, 0, history.OK).faultEffect(0.95, 1.0).
			op(11, 1.0, 4.0, history.OK).run(12, 20, 4.0, history.OK).readback(seqs(1, 20)...),
		verdict: Pass, reason: "1 write(s) recorded ok or fail took longer than the workload's 1s write timeout",
		check: func(t *testing.T, r Result) {
			if r.NoInterruption || r.Outage == nil || r.Outage.StartSeq != 11 || r.Outage.FirstOKAfterSeq != 12 {
				t.Fatalf("no_interruption %v outage %+v, want an outage from seq 11 to seq 12", r.NoInterruption, r.Outage)
			}
			if !r.Outage.Start.Equal(at(2.0)) {
				t.Errorf("outage start %s, want invoke + timeout", r.Outage.Start)
			}
			eqF(t, "rto", r.RTOSeconds, f(4.01-0.95))
		},
	}, {
		name: "one hung write on one stream while the others succeed does not inflate RTO",
		// Stream 2's write 100 hangs from 1.0 to its 5 s timeout (info)
		// while stream 1 keeps being acknowledged every 100 ms.
		hist: new(h).meta(history.MetaWriteTimeout, "5s").run(1, 100, 0, history.OK).faultEffect(0.95, 1.0).
			op(1000, 1.0, 6.0, history.Info).readback(seqs(1, 100)...),
		verdict: Pass, reason: "no interruption observed",
		check: func(t *testing.T, r Result) {
			eqF(t, "rto", r.RTOSeconds, f(0))
			eqI(t, "isolated", r.IsolatedNonOK, 1)
		},
	}, {
		name: "a hung write during a real outage is still the outage",
		hist: new(h).meta(history.MetaWriteTimeout, "5s").run(1, 10, 0, history.OK).faultEffect(0.95, 1.0).
			op(11, 1.0, 6.0, history.Info).op(12, 1.0, 1.5, history.Fail).run(13, 20, 6.0, history.OK).readback(append(seqs(1, 10), seqs(13, 20)...)...),
		verdict: Pass,
		check: func(t *testing.T, r Result) {
			eqI(t, "isolated", r.IsolatedNonOK, 0)
			eqF(t, "rto", r.RTOSeconds, f(6.01-0.95))
		},
	}, {
		name:    "an effect confirmed before the fault was injected is flagged: unknown",
		hist:    new(h).run(1, 10, 0, history.OK).faultEffect(0.95, 0.5).run(11, 40, 1.0, history.Fail).run(41, 50, 4.0, history.OK).readback(acked()...),
		verdict: Unknown, reason: "before the fault was injected",
		check: hasFlag(FlagEffectBeforeFault),
	}, {
		name:    "a read-back taken before the fault is flagged: unknown",
		hist:    confirmed().rec(history.Record{Kind: history.KindReadback, T: at(0.5), Seqs: seqs(1, 5)}),
		verdict: Unknown, reason: "before the fault at",
		check: func(t *testing.T, r Result) {
			hasFlag(FlagReadbackBeforeFault)(t, r)
			if r.LostAcked != 0 || r.RPOSeconds != nil || len(r.Anomalies) != 0 {
				t.Errorf("lost %d, rpo %v, anomalies %v: no loss may be judged from it", r.LostAcked, r.RPOSeconds, r.Anomalies)
			}
		},
	}, {
		name:    "an effect never confirmed, with an outage: flagged, noted",
		hist:    standard().readback(acked()...),
		verdict: Pass, reason: "the fault's effect was never confirmed (the writes' outage shows it took hold)",
		check: hasFlag(FlagEffectNotConfirmed),
	}, {
		name:    "an effect never confirmed and no interruption: nothing shows the fault took hold",
		hist:    new(h).run(1, 10, 0, history.OK).fault(0.45).readback(seqs(1, 10)...),
		verdict: Unknown, reason: "nothing shows the fault took hold",
		check: hasFlag(FlagEffectNotConfirmed),
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
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

func hasFlag(kind string) func(t *testing.T, r Result) {
	return func(t *testing.T, r Result) {
		t.Helper()
		if !slices.ContainsFunc(r.Flags, func(f Flag) bool { return f.Kind == kind }) {
			t.Errorf("no %s flag in %+v", kind, r.Flags)
		}
	}
}

// TestOutageAfter: the exported outage definition gives what Check gives.
func TestOutageAfter(t *testing.T) {
	hist := standard()
	w := OutageAfter(hist.recs, at(0.95), 0)
	if !w.Began || w.StartSeq != 11 || !w.Start.Equal(at(1.01)) || !w.Recovered || w.RecoverySeq != 41 || !w.Recovery.Equal(at(4.01)) {
		t.Errorf("window = %+v", w)
	}
	w = OutageAfter(new(h).run(1, 10, 0, history.OK).run(11, 15, 1.0, history.Fail).recs, at(0.95), 0)
	if !w.Began || w.Recovered {
		t.Errorf("no recovery yet: %+v", w)
	}
	w = OutageAfter(new(h).run(1, 20, 0, history.OK).recs, at(0.95), 0)
	if w.Began || !w.OKInvokedAfterFault || !w.LastOKInvoke.Equal(at(1.9)) {
		t.Errorf("no outage: %+v", w)
	}
}

// TestClockSamplesThinning: past maxClockSamples the samples are every
// stride-th write exactly, min, max and the count are over all of them.
func TestClockSamplesThinning(t *testing.T) {
	var cs clockSamples
	const n = 5*maxClockSamples + 123
	for i := 0; i < n; i++ {
		cs.add(time.Duration(i), time.Duration(i))
	}
	if cs.n != n || cs.min != 0 || cs.max != n-1 {
		t.Fatalf("n %d min %d max %d", cs.n, cs.min, cs.max)
	}
	if len(cs.offs) > maxClockSamples || len(cs.offs) < maxClockSamples/2 {
		t.Fatalf("%d samples kept", len(cs.offs))
	}
	for k, o := range cs.offs {
		if o != time.Duration(k*cs.stride) {
			t.Fatalf("sample %d = %d, want %d (stride %d)", k, o, k*cs.stride, cs.stride)
		}
	}
}

// TestOutageAfterTable: the cases the runner's own copy of the outage rule
// was tested with (the runner now asks OutageAfter).
func TestOutageAfterTable(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	op := func(seq int64, inv, comp int, res string) history.Record {
		return history.Record{Kind: history.KindOp, Seq: seq, Invoke: at(inv), Complete: at(comp), Result: res}
	}
	tests := []struct {
		name        string
		recs        []history.Record
		wantOutage  string
		wantRecover string
	}{
		{"no outage", []history.Record{op(1, -10, -5, "ok"), op(2, 5, 8, "ok")}, "", ""},
		{"outage then ok", []history.Record{op(1, -10, -5, "ok"), op(2, 5, 100, "info"), op(3, 110, 300, "fail"), op(4, 310, 320, "ok")}, "100", "320"},
		{"ok invoked before outage does not count", []history.Record{op(2, 5, 100, "fail"), op(3, 50, 150, "ok"), op(4, 160, 170, "ok")}, "100", "170"},
		{"failure before the fault ignored", []history.Record{op(1, -10, -5, "fail"), op(2, 5, 8, "ok")}, "", ""},
		{"still down", []history.Record{op(1, 5, 100, "fail")}, "100", ""},
		{"an isolated failure is not the outage", []history.Record{op(1, 5, 100, "info"), op(2, 10, 20, "ok"), op(3, 150, 160, "fail"), op(4, 170, 180, "ok")}, "160", "180"},
	}
	ms := func(ok bool, t time.Time) string {
		if !ok {
			return ""
		}
		return fmt.Sprint(t.Sub(t0).Milliseconds())
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := OutageAfter(tc.recs, t0, 0)
			if ms(w.Began, w.Start) != tc.wantOutage || ms(w.Recovered, w.Recovery) != tc.wantRecover {
				t.Fatalf("outage %s recovered %s, want %s %s", ms(w.Began, w.Start), ms(w.Recovered, w.Recovery), tc.wantOutage, tc.wantRecover)
			}
		})
	}
}
