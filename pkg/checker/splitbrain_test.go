package checker

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/irischaos/irischaos/pkg/history"
)

// runOn is run with every op written through pod on node.
func (b *h) runOn(pod, node string, from, to int64, start float64, result string) *h {
	n := len(b.recs)
	b.run(from, to, start, result)
	for i := n; i < len(b.recs); i++ {
		b.recs[i].Pod, b.recs[i].Node = pod, node
	}
	return b
}

// opOn is opNS through pod on node.
func (b *h) opOn(pod, node string, seq int64, invoke, complete time.Duration) *h {
	b.opNS(seq, invoke, complete, history.OK)
	b.recs[len(b.recs)-1].Pod, b.recs[len(b.recs)-1].Node = pod, node
	return b
}

func (b *h) scheduled(t float64, pod, node string) *h {
	return b.rec(history.Record{Kind: history.KindEvent, T: at(t), Phase: history.PhasePodScheduled, Source: "pod", Target: "pod/" + pod, Node: node, Reason: "Scheduled"})
}

var (
	podA = WriterName{Pod: "iris-a", Node: "node-1"}
	podB = WriterName{Pod: "iris-b", Node: "node-2"}
)

// failover: iris-a on node-1 acknowledges seq 1-10 (0 to 0.91), the fault at
// 0.95 (confirmed at 1.0), writes 11-40 fail with no pod, iris-b on node-2
// acknowledges 41-50 from 4.0.
func failover() *h {
	return new(h).runOn("iris-a", "node-1", 1, 10, 0, history.OK).faultEffect(0.95, 1.0).
		run(11, 40, 1.0, history.Fail).runOn("iris-b", "node-2", 41, 50, 4.0, history.OK)
}

// TestSplitBrain: the split-brain anomaly (docs/history.md, "Split brain")
// on crafted histories.
func TestSplitBrain(t *testing.T) {
	budgets := Budgets{RTO: 10 * time.Second, RPO: 2 * time.Second}
	tests := []struct {
		name    string
		hist    *h
		verdict Verdict
		first   string // a substring of the first reason
		check   func(t *testing.T, sb *SplitBrain)
	}{{
		name:    "normal failover: the old pod's acks end before the new pod's first write; pass",
		hist:    failover().scheduled(1.5, "iris-b", "node-2").readback(acked()...),
		verdict: Pass,
		check: func(t *testing.T, sb *SplitBrain) {
			if !sb.Checked || len(sb.Writers) != 2 || len(sb.Overlaps) != 0 {
				t.Fatalf("split brain %+v, want checked, 2 writers, no overlap", sb)
			}
			a, b := sb.Writers[0], sb.Writers[1]
			if a.WriterName != podA || !a.Old || a.OK != 10 || !a.FirstInvoke.Equal(at(0)) || !a.LastComplete.Equal(at(0.91)) {
				t.Errorf("old writer %+v", a)
			}
			if b.WriterName != podB || b.Old || b.OK != 10 || !b.FirstInvoke.Equal(at(4.0)) {
				t.Errorf("new writer %+v", b)
			}
			if sb.Replacement == nil || *sb.Replacement != podB || !sb.ReplacementStart.Equal(at(1.5)) {
				t.Errorf("replacement %v at %v, want iris-b at the pod_scheduled event", sb.Replacement, sb.ReplacementStart)
			}
			if !sb.OldLostChecked || sb.OldLost != 0 {
				t.Errorf("old lost checked %v, %d", sb.OldLostChecked, sb.OldLost)
			}
		},
	}, {
		name: "the old pod's writes lost before its replacement started are RPO's to judge, not split brain",
		hist: failover().readback(acked(9, 10)...), verdict: Pass,
		check: func(t *testing.T, sb *SplitBrain) {
			if !sb.OldLostChecked || sb.OldLost != 0 || !sb.ReplacementStart.Equal(at(4.0)) {
				t.Errorf("old lost %v %d, replacement start %v (want the new pod's first write)", sb.OldLostChecked, sb.OldLost, sb.ReplacementStart)
			}
		},
	}, {
		name: "two writers overlapping: fail whatever RTO and RPO say, naming both pods and nodes",
		// iris-a keeps acknowledging until 1.91; iris-b acknowledges from 1.55.
		hist: new(h).runOn("iris-a", "node-1", 1, 10, 0, history.OK).faultEffect(0.95, 1.0).
			runOn("iris-a", "node-1", 11, 20, 1.0, history.OK).runOn("iris-b", "node-2", 21, 30, 1.55, history.OK).readback(seqs(1, 30)...),
		verdict: Fail, first: "anomaly split_brain: two writers: pod iris-a on node-1 and pod iris-b on node-2 both acknowledged writes from 10:00:01.550 to 10:00:01.910 (0.360s; 4 and 4 write(s)",
		check: func(t *testing.T, sb *SplitBrain) {
			if len(sb.Overlaps) != 1 {
				t.Fatalf("overlaps %+v", sb.Overlaps)
			}
			o := sb.Overlaps[0]
			if o.A != podA || o.B != podB || !o.Start.Equal(at(1.55)) || !o.End.Equal(at(1.91)) || o.AWrites != 4 || o.BWrites != 4 {
				t.Errorf("overlap %+v", o)
			}
			eqF(t, "seconds", &o.Seconds, f(0.36))
		},
	}, {
		name: "two writers and no read-back: fail, not unknown",
		hist: new(h).runOn("iris-a", "node-1", 1, 10, 0, history.OK).faultEffect(0.95, 1.0).
			runOn("iris-a", "node-1", 11, 20, 1.0, history.OK).runOn("iris-b", "node-2", 21, 30, 1.55, history.OK),
		verdict: Fail, first: "pod iris-a on node-1 and pod iris-b on node-2",
		check: func(t *testing.T, sb *SplitBrain) {
			if sb.OldLostChecked || !strings.Contains(sb.OldLostCannotTell, "no read-back") {
				t.Errorf("old lost checked %v: %q", sb.OldLostChecked, sb.OldLostCannotTell)
			}
		},
	}, {
		name: "the old pod's acknowledged writes lost after its replacement started: fail",
		// iris-a acknowledges until 2.91; iris-b is scheduled at 2.0 and
		// acknowledges from 3.5; the read-back lacks iris-a's 21-30 (2.0 to 2.91).
		hist: new(h).runOn("iris-a", "node-1", 1, 10, 0, history.OK).faultEffect(0.95, 1.0).
			runOn("iris-a", "node-1", 11, 30, 1.0, history.OK).scheduled(2.0, "iris-b", "node-2").
			runOn("iris-b", "node-2", 31, 40, 3.5, history.OK).readback(append(seqs(1, 20), seqs(31, 40)...)...),
		verdict: Fail, first: "anomaly split_brain: the old pod iris-a on node-1 acknowledged 10 write(s) after its replacement iris-b on node-2 started at 10:00:02.000 that are missing from the read-back (first: seq 21)",
		check: func(t *testing.T, sb *SplitBrain) {
			if len(sb.Overlaps) != 0 || sb.OldLost != 10 {
				t.Errorf("overlaps %v, old lost %d", sb.Overlaps, sb.OldLost)
			}
			eqS(t, "old lost seqs", sb.OldLostSeqs, seqs(21, 30))
		},
	}, {
		name: "the same pod reconnecting is one writer, not split brain",
		hist: new(h).runOn("iris-a", "node-1", 1, 10, 0, history.OK).faultEffect(0.95, 1.0).run(11, 20, 1.0, history.Fail).
			runOn("iris-a", "node-1", 21, 30, 2.0, history.OK).readback(append(seqs(1, 10), seqs(21, 30)...)...),
		verdict: Pass,
		check: func(t *testing.T, sb *SplitBrain) {
			if !sb.Checked || len(sb.Writers) != 1 || len(sb.Overlaps) != 0 || sb.OldLostChecked || !strings.Contains(sb.OldLostCannotTell, "no replacement") {
				t.Errorf("split brain %+v", sb)
			}
		},
	}, {
		name: "ops without a pod (older histories): cannot tell, no false positive, verdict unchanged",
		hist: standard().readback(acked()...), verdict: Pass,
		check: func(t *testing.T, sb *SplitBrain) {
			if sb.Checked || !strings.Contains(sb.CannotTell, "none of the 20 acknowledged writes names its pod") || len(sb.Writers) != 0 || sb.Unattributed != 20 {
				t.Errorf("split brain %+v", sb)
			}
		},
	}, {
		name: "some acknowledged writes without a pod: judged from those that name one, the others counted",
		hist: new(h).run(1, 10, 0, history.OK).faultEffect(0.95, 1.0).run(11, 40, 1.0, history.Fail).
			runOn("iris-b", "node-2", 41, 50, 4.0, history.OK).readback(acked()...),
		verdict: Pass,
		check: func(t *testing.T, sb *SplitBrain) {
			if !sb.Checked || len(sb.Writers) != 1 || sb.Unattributed != 10 || sb.OldLostChecked || !strings.Contains(sb.OldLostCannotTell, "old pod is unknown") {
				t.Errorf("split brain %+v", sb)
			}
		},
	}, {
		name:    "pods without a node (a pod alone names the writer): overlap still found",
		hist:    new(h).runOn("iris-a", "", 1, 10, 0, history.OK).runOn("iris-b", "", 11, 20, 0.5, history.OK).faultEffect(0.95, 1.0).readback(seqs(1, 20)...),
		verdict: Fail, first: "pod iris-a (node unknown) and pod iris-b (node unknown)",
	}, {
		name: "ranges that touch do not overlap: the old pod's last ack completes as the new pod's first write is sent",
		hist: new(h).opOn("iris-a", "node-1", 1, 0, time.Second).faultEffect(1.5, 1.6).
			opOn("iris-a", "node-1", 2, 1500*time.Millisecond, 2*time.Second).
			opOn("iris-b", "node-2", 3, 2*time.Second, 2100*time.Millisecond).readback(1, 2, 3),
		verdict: Pass,
		check: func(t *testing.T, sb *SplitBrain) {
			if len(sb.Overlaps) != 0 || len(sb.Writers) != 2 {
				t.Errorf("split brain %+v", sb)
			}
		},
	}, {
		name: "ranges overlapping by one nanosecond overlap",
		hist: new(h).opOn("iris-a", "node-1", 1, 0, time.Second).faultEffect(1.5, 1.6).
			opOn("iris-a", "node-1", 2, 1500*time.Millisecond, 2*time.Second+1).
			opOn("iris-b", "node-2", 3, 2*time.Second, 2100*time.Millisecond).readback(1, 2, 3),
		verdict: Fail, first: "split_brain",
		check: func(t *testing.T, sb *SplitBrain) {
			if len(sb.Overlaps) != 1 || sb.Overlaps[0].End.Sub(sb.Overlaps[0].Start) != 1 || sb.Overlaps[0].AWrites != 1 || sb.Overlaps[0].BWrites != 0 {
				t.Errorf("overlaps %+v", sb.Overlaps)
			}
		},
	}, {
		name:    "failed and unknown writes are no writer: an old pod's info write during the new pod's writes is not split brain",
		hist:    failover().op(60, 3.9, 4.5, history.Info).readback(acked()...),
		verdict: Pass,
	}, {
		name: "the same pod name on another node (a pod recreated elsewhere) is another writer",
		hist: new(h).runOn("iris-0", "node-1", 1, 10, 0, history.OK).faultEffect(0.95, 1.0).run(11, 40, 1.0, history.Fail).
			runOn("iris-0", "node-2", 41, 50, 4.0, history.OK).readback(acked()...),
		verdict: Pass,
		check: func(t *testing.T, sb *SplitBrain) {
			if len(sb.Writers) != 2 || sb.Replacement == nil || sb.Replacement.Node != "node-2" {
				t.Errorf("split brain %+v", sb)
			}
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Check(tc.hist.recs, budgets)
			if r.Verdict != tc.verdict {
				t.Errorf("verdict = %s, want %s; reasons: %q", r.Verdict, tc.verdict, r.Reasons)
			}
			if tc.first != "" && !strings.Contains(r.Reasons[0], tc.first) {
				t.Errorf("first reason %q, want it to contain %q", r.Reasons[0], tc.first)
			}
			if tc.verdict == Pass && slices.ContainsFunc(r.Anomalies, func(a Anomaly) bool { return a.Kind == AnomalySplitBrain }) {
				t.Errorf("split_brain anomaly in a pass: %+v", r.Anomalies)
			}
			if r.SplitBrain == nil {
				t.Fatal("no split_brain in the result")
			}
			if b, _ := json.Marshal(r.SplitBrain); strings.Contains(string(b), "null") {
				t.Errorf("split_brain has a null list: %s", b) // lists are [] when empty, as the result's others
			}
			if tc.check != nil {
				tc.check(t, r.SplitBrain)
			}
		})
	}
}

// TestSplitBrainNoAckedWrites: nothing acknowledged, nothing to say.
func TestSplitBrainNoAckedWrites(t *testing.T) {
	r := Check(new(h).run(1, 5, 0, history.Fail).fault(0.2).recs, DefaultBudgets())
	if r.SplitBrain != nil {
		t.Errorf("split brain %+v without an acknowledged write", r.SplitBrain)
	}
}
