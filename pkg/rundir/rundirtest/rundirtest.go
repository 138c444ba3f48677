// Package rundirtest writes synthetic run directories for tests: what
// `irischaos run` would leave after a run, histories included, made without
// a cluster, so the reports' consumers (a browser, a PDF printer, Prometheus)
// can be proven on a real run directory.
package rundirtest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/report"
	"github.com/irischaos/irischaos/pkg/rundir"
)

// T0 is when the synthetic run starts.
var T0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return T0.Add(time.Duration(s * float64(time.Second))) }

// History is one iteration's records: its meta, 20 ok writes every 100 ms
// from start, the fault, a failing write every 500 ms for down seconds, 10 ok
// writes, phase events, and a read-back of every ok write but those in lose.
func History(meta map[string]string, start, down float64, lose ...int64) []history.Record {
	recs := []history.Record{{Kind: history.KindMeta, T: at(start), Meta: meta}}
	var ok []int64
	var seq int64
	pod, node := "iris-0", "node-1" // the old pod; its replacement after the fault
	add := func(t float64, res string) {
		seq++
		r := history.Record{Kind: history.KindOp, Seq: seq, Invoke: at(t), Complete: at(t + 0.01), Result: res}
		if res == history.OK {
			ok = append(ok, seq)
			r.Pod, r.Node = pod, node
		}
		recs = append(recs, r)
	}
	for i := range 20 {
		add(start+float64(i)*0.1, history.OK)
	}
	tf := start + 2
	recs = append(recs, history.Record{Kind: history.KindFault, T: at(tf), EffectT: at(tf + 0.5), Name: "fault", Target: "pod/iris-0"})
	for t := tf + 0.05; t < tf+down; t += 0.5 {
		add(t, history.Fail)
	}
	pod, node = "iris-1", "node-2"
	for i := range 10 {
		add(tf+down+float64(i)*0.1, history.OK)
	}
	recs = append(recs,
		history.Record{Kind: history.KindEvent, T: at(tf + 1), Phase: history.PhasePodScheduled, Target: "pod/iris-1", Reason: "Scheduled", Node: "node-2"},
		history.Record{Kind: history.KindEvent, T: at(tf + down - 0.5), Phase: history.PhaseDatabaseReady, Target: "pod/iris-1"})
	lost := map[int64]bool{}
	for _, s := range lose {
		lost[s] = true
	}
	var rb []int64
	for _, s := range ok {
		if !lost[s] {
			rb = append(rb, s)
		}
	}
	return append(recs, history.Record{Kind: history.KindReadback, T: at(tf + down + 5), Seqs: rb})
}

// Write makes a run directory under base as `irischaos run` leaves it:
// pod-delete three times (one losing a write within budget), an IRIS stop,
// and a node loss whose RTO is over its budget (so the run fails), each
// with its history on disk; then rundir.Write renders every report and the
// manifest. It returns the directory and the run.
func Write(t testing.TB, base string) (string, report.Run) {
	t.Helper()
	dir, err := rundir.Create(base, "synthetic", T0)
	if err != nil {
		t.Fatal(err)
	}
	type spec struct {
		scenario, domain, fault, mitigated string
		n                                  int
		start, down                        float64
		rto                                time.Duration
		lose                               []int64
	}
	specs := []spec{
		{"pod", "Pod / container", "pod-delete", "Deployment recreates the pod", 1, 0, 6, 45 * time.Second, nil},
		{"pod", "Pod / container", "pod-delete", "Deployment recreates the pod", 2, 100, 8, 45 * time.Second, nil},
		{"pod", "Pod / container", "pod-delete", "Deployment recreates the pod", 3, 200, 12, 45 * time.Second, []int64{20}},
		{"iris-instance", "IRIS instance", "iris-stop", "Deployment liveness probe restarts the container", 1, 300, 20, 75 * time.Second, nil},
		{"node-lost", "Node or disk permanently lost", "vm-poweroff", "Deployment recreates the pod on another node", 1, 400, 130, 120 * time.Second, nil},
	}
	run := report.Run{
		Name: "synthetic", Started: T0, Finished: at(700),
		Environment: report.Environment{
			Database: "irischaos IRIS stand-in v0.1", DatabaseStandIn: true,
			StorageClass: "replicated", Provisioner: "irischaos.io/replicated", StorageStandIn: true,
			Kubernetes: "v1.36.3", ClusterUID: "6f1c2d3e-0000-4000-8000-000000000001",
			Nodes: []string{"node-1", "node-2", "node-3"}, Namespace: "irischaos", Context: "local cluster", Irischaos: "test",
		},
		Unhealed:  []report.Unhealed{},
		Scenarios: map[string]string{},
	}
	for _, s := range specs {
		meta := run.Environment.Meta()
		for k, v := range map[string]string{
			history.MetaScenario: s.scenario, history.MetaIteration: fmt.Sprint(s.n), history.MetaFailureDomain: s.domain,
			history.MetaMitigatedBy: s.mitigated, history.MetaFault: s.fault,
			history.MetaRTOBudget: s.rto.String(), history.MetaRPOBudget: "2s",
		} {
			meta[k] = v
		}
		recs := History(meta, s.start, s.down, s.lose...)
		budgets, err := checker.BudgetsFromMeta(recs)
		if err != nil {
			t.Fatal(err)
		}
		hp := rundir.HistoryPath(dir, s.scenario, s.n)
		if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
			t.Fatal(err)
		}
		w, err := history.Create(hp)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if err := w.Add(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, hp)
		it := report.Iteration{
			Scenario: s.scenario, Iteration: s.n, FailureDomain: s.domain, MitigatedBy: s.mitigated, Fault: s.fault,
			Target: "pod/iris-0", Started: at(s.start), Finished: at(s.start + s.down + 10),
			History: filepath.ToSlash(rel), Result: checker.Check(recs, budgets),
			CloudCalls: []report.CloudCall{},
		}
		if err := rundir.WriteIterationResult(dir, it); err != nil {
			t.Fatal(err)
		}
		run.Iterations = append(run.Iterations, it)
		run.Scenarios[s.scenario] = fmt.Sprintf("%064x", len(s.scenario))
	}
	run.Verdict = checker.RunVerdict(run.IterationVerdicts(), true)
	if err := rundir.Write(dir, run); err != nil {
		t.Fatal(err)
	}
	return dir, run
}
