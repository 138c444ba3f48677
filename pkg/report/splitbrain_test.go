package report

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/history"
)

// splitBrainHist: iris-0 on node-1 keeps acknowledging writes until 4.0
// while iris-1 on node-2, scheduled at 2.5, acknowledges from 3.0; the
// read-back lacks iris-0's writes from 3.5 on.
func splitBrainHist() []history.Record {
	var recs []history.Record
	var seq int64
	var rb []int64
	add := func(t float64, pod, node string, keep bool) {
		seq++
		recs = append(recs, history.Record{Kind: history.KindOp, Seq: seq, Invoke: at(t), Complete: at(t + 0.01), Result: history.OK, Pod: pod, Node: node})
		if keep {
			rb = append(rb, seq)
		}
	}
	for t := 0.0; t < 4.0; t += 0.1 {
		add(t, "iris-0", "node-1", t < 3.45)
	}
	recs = append(recs, history.Record{Kind: history.KindFault, T: at(1), EffectT: at(1.5), Name: "node-partition", Target: "node/node-1"},
		history.Record{Kind: history.KindEvent, T: at(2.5), Phase: history.PhasePodScheduled, Target: "pod/iris-1", Node: "node-2", Reason: "Scheduled"})
	for t := 3.05; t < 6.0; t += 0.1 {
		add(t, "iris-1", "node-2", true)
	}
	return append(recs, history.Record{Kind: history.KindReadback, T: at(10), Seqs: rb})
}

// TestSplitBrainInReports: every report shows the anomaly of the iteration
// that had two writers, naming both pods and nodes, and the timeline gives
// each writer a lane with the overlap shaded.
func TestSplitBrainInReports(t *testing.T) {
	recs := splitBrainHist()
	res := checker.Check(recs, checker.DefaultBudgets())
	if res.Verdict != checker.Fail || res.SplitBrain == nil || len(res.SplitBrain.Overlaps) != 1 || res.SplitBrain.OldLost == 0 {
		t.Fatalf("crafted history: verdict %s, split brain %+v", res.Verdict, res.SplitBrain)
	}
	run := Run{Name: "r", Iterations: []Iteration{{Scenario: "partition", Iteration: 1, FailureDomain: "Network partition", Fault: "node-partition", Result: res}}}
	run.Verdict = checker.Fail
	both := []string{"iris-0 on node-1", "iris-1 on node-2"}
	render := map[string]func(*bytes.Buffer) error{
		"report.md":   func(b *bytes.Buffer) error { return RenderMarkdown(b, run) },
		"report.html": func(b *bytes.Buffer) error { return RenderHTML(b, run) },
		"report.txt":  func(b *bytes.Buffer) error { return RenderTable(b, run) },
		"junit.xml":   func(b *bytes.Buffer) error { return RenderJUnit(b, run) },
		"analyze":     func(b *bytes.Buffer) error { return RenderResult(b, res, nil) },
	}
	want := map[string][]string{
		"report.md":   {"SPLIT BRAIN in partition #1:** two writers", "| Split brain: two pods acknowledging at once | YES: iris-0 on node-1 and iris-1 on node-2 from 10:00:03.050 to 10:00:03.910", "**split_brain**"},
		"report.html": {`<li class="fail">SPLIT BRAIN in partition #1: two writers`, "<th>Split brain: two pods acknowledging at once</th><td>YES: iris-0 on node-1 and iris-1 on node-2", "<b>split_brain</b>"},
		"report.txt":  {"SPLIT BRAIN in partition #1: two writers: pod iris-0 on node-1 and pod iris-1 on node-2"},
		"junit.xml":   {`message="FAIL: RTO`, "anomaly split_brain: two writers: pod iris-0 on node-1 and pod iris-1 on node-2", "SPLIT BRAIN"},
		"analyze":     {"Split brain: two pods", "YES: iris-0 on node-1 and iris-1", "Split brain: old pod's", "anomaly split_brain: the old pod iris-0 on node-1 acknowledged 5 write(s) after its replacement iris-1 on node-2 started"},
	}
	for name, fn := range render {
		var b bytes.Buffer
		if err := fn(&b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out := b.String()
		for _, w := range append(want[name], both...) {
			if !strings.Contains(out, w) {
				t.Errorf("%s lacks %q:\n%s", name, w, out)
			}
		}
	}

	var svg bytes.Buffer
	if err := RenderTimeline(&svg, recs, res); err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(svg.Bytes(), new(struct{ XMLName xml.Name })); err != nil {
		t.Fatalf("timeline is not well-formed XML: %v", err)
	}
	for _, w := range []string{"iris-0 on node-1 (old pod): 40 acknowledged", "iris-1 on node-2: 30 acknowledged", "<title>split brain: iris-0 on node-1 and iris-1 on node-2 both acknowledged writes</title>"} {
		if !strings.Contains(svg.String(), w) {
			t.Errorf("timeline lacks %q", w)
		}
	}
	// One writer: no lanes.
	var one bytes.Buffer
	single := hist(0, 20, 6)
	for i := range single {
		single[i].Pod, single[i].Node = "", ""
	}
	if err := RenderTimeline(&one, single, checker.Check(single, checker.DefaultBudgets())); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(one.String(), "acknowledged</text>") {
		t.Error("lanes drawn without two writers")
	}
}
