package rundir

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/preflight"
	"github.com/irischaos/irischaos/pkg/report"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// hist: 20 ok writes every 100 ms from start, the fault, failing writes for
// down seconds, 10 ok writes, and a read-back of every ok write but lose.
func hist(start, down float64, lose ...int64) []history.Record {
	var recs []history.Record
	var ok []int64
	add := func(t float64, res string) {
		seq := int64(len(recs) + 1)
		recs = append(recs, history.Record{Kind: history.KindOp, Seq: seq, Invoke: at(t), Complete: at(t + 0.01), Result: res})
		if res == history.OK {
			ok = append(ok, seq)
		}
	}
	for i := range 20 {
		add(start+float64(i)*0.1, history.OK)
	}
	tf := start + 2
	for t := tf + 0.05; t < tf+down; t += 0.5 {
		add(t, history.Fail)
	}
	for i := range 10 {
		add(tf+down+float64(i)*0.1, history.OK)
	}
	recs = append(recs, history.Record{Kind: history.KindFault, T: at(tf), EffectT: at(tf + 0.5), Name: "pod-delete", Target: "pod/iris-0"})
	var rb []int64
	for _, s := range ok {
		if !contains(lose, s) {
			rb = append(rb, s)
		}
	}
	return append(recs, history.Record{Kind: history.KindReadback, T: at(tf + down + 5), Seqs: rb})
}

func contains(s []int64, v int64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

var budgets = checker.Budgets{RTO: 45 * time.Second, RPO: 2 * time.Second}

// writeHistory writes recs (after a meta record naming the iteration) where
// the runner would.
func writeHistory(t *testing.T, dir, scenario string, n int, recs []history.Record) {
	t.Helper()
	hp := HistoryPath(dir, scenario, n)
	if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := history.Create(hp)
	if err != nil {
		t.Fatal(err)
	}
	w.Add(history.Record{Kind: history.KindMeta, T: recs[0].Invoke, Meta: map[string]string{
		history.MetaScenario: scenario, history.MetaIteration: fmt.Sprint(n), history.MetaFailureDomain: "Pod / container",
		history.MetaFault: "pod-delete", history.MetaRTOBudget: "45s", history.MetaKubernetesVersion: "v1.36.3"}})
	for _, r := range recs {
		w.Add(r)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestWriteAndRead(t *testing.T) {
	dir, err := Create(t.TempDir(), "local", time.Date(2026, 11, 27, 10, 1, 2, 0, time.FixedZone("X", 3600)))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(dir) != "20261127T090102Z-local" {
		t.Errorf("run dir %s, want UTC time then name", dir)
	}
	pass, fail := hist(0, 6), hist(100, 60, 20) // fail: RTO over its 45s budget
	writeHistory(t, dir, "pod", 1, pass)        // on disk: Write draws its timeline
	run := report.Run{Name: "local", Started: t0, Finished: at(200), Iterations: []report.Iteration{
		{Scenario: "pod", Iteration: 1, FailureDomain: "Pod / container", Fault: "pod-delete", History: "pod/1/" + HistoryFile, Result: checker.Check(pass, budgets)},
		{Scenario: "pod", Iteration: 2, FailureDomain: "Pod / container", Fault: "pod-delete", History: "pod/2/" + HistoryFile, Result: checker.Check(fail, budgets)},
	}}
	run.Verdict = checker.RunVerdict(run.IterationVerdicts(), true)
	if err := Write(dir, run); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "pod", "1", TimelineFile)); err != nil {
		t.Error(err)
	}
	if md, _ := os.ReadFile(filepath.Join(dir, MDFile)); !bytes.Contains(md, []byte("](pod/1/timeline.svg)")) {
		t.Error("report.md does not show the timeline")
	}
	if run.Iterations[0].Timeline != "" {
		t.Error("Write changed the caller's run")
	}
	// report.html is self-contained: the timeline drawn inline, nothing loaded.
	if page, _ := os.ReadFile(filepath.Join(dir, HTMLFile)); !bytes.Contains(page, []byte(`<figure class="timeline"><svg`)) || bytes.Contains(page, []byte("<img")) || bytes.Contains(page, []byte("<script")) {
		t.Error("report.html does not show the timeline inline, or loads something")
	}
	for _, f := range []string{ResultFile, TableFile, MDFile, JUnitFile, HTMLFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	back, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if back.Verdict != checker.Fail || len(back.Iterations) != 2 {
		t.Errorf("read back verdict %s with %d iterations", back.Verdict, len(back.Iterations))
	}
	// Re-rendering from the files gives the same report as the run wrote.
	var again bytes.Buffer
	if err := report.RenderMarkdown(&again, back); err != nil {
		t.Fatal(err)
	}
	if written, _ := os.ReadFile(filepath.Join(dir, MDFile)); !bytes.Equal(again.Bytes(), written) {
		t.Error("report.md rendered from result.json differs from the one the run wrote")
	}
	if err := WriteIterationResult(dir, run.Iterations[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "pod", "1", ResultFile)); err != nil {
		t.Error(err)
	}
	if HistoryPath(dir, "pod", 2) != filepath.Join(dir, "pod", "2", "history.jsonl") {
		t.Error("history path layout changed")
	}
	if _, err := Read(t.TempDir()); err == nil || !strings.Contains(err.Error(), "is it a run directory") {
		t.Errorf("reading an empty dir: %v", err)
	}
}

func TestRebuildUnfinishedRun(t *testing.T) {
	dir, _ := Create(t.TempDir(), "local", t0)
	// Iteration 1 finished: its result.json is there (a pass).
	done := hist(0, 6)
	writeHistory(t, dir, "pod", 1, done)
	if err := WriteIterationResult(dir, report.Iteration{Scenario: "pod", Iteration: 1, Result: checker.Check(done, budgets)}); err != nil {
		t.Fatal(err)
	}
	// Iteration 2 was cut before its read-back.
	cut := hist(100, 6)
	writeHistory(t, dir, "pod", 2, cut[:len(cut)-1])

	run, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if run.Name != "local" || len(run.Iterations) != 2 || run.Verdict != checker.Unknown || run.Environment.Kubernetes != "v1.36.3" {
		t.Fatalf("rebuilt run: name %q, %d iterations, verdict %s, env %+v", run.Name, len(run.Iterations), run.Verdict, run.Environment)
	}
	if v := run.Iterations[0].Result.Verdict; v != checker.Pass {
		t.Errorf("iteration 1 verdict %s, want its saved pass", v)
	}
	if it := run.Iterations[1]; it.Result.Verdict != checker.Unknown || !strings.Contains(it.Error, "did not finish") || it.Result.Budgets.RTOSeconds == nil {
		t.Errorf("iteration 2: verdict %s, error %q, budgets %+v", it.Result.Verdict, it.Error, it.Result.Budgets)
	}
	if len(run.Errors) == 0 || !strings.Contains(run.Errors[0], "did not finish") {
		t.Errorf("errors %q", run.Errors)
	}
	if runName("not-a-time") != "not-a-time" || runName("20261127T101500Z-my-run") != "my-run" {
		t.Error("runName")
	}
}

func TestWritePreflight(t *testing.T) {
	dir := t.TempDir()
	pass := hist(0, 6)
	pf := &preflight.Report{Namespace: "iris", Deployment: "iris",
		Checks:      []preflight.Check{{ID: "nodes.workers", Area: "nodes", Status: preflight.Warn, Reason: "2 workers", Fix: "add a node"}},
		Predictions: []preflight.Prediction{{Domain: "Pod / container", RTO: 50 * time.Second, Terms: []preflight.Term{{What: "clean IRIS shutdown", D: 10 * time.Second}, {What: "start", D: 40 * time.Second}}}}}
	run := report.Run{Name: "local", Started: t0, Preflight: pf, Iterations: []report.Iteration{
		{Scenario: "pod", Iteration: 1, FailureDomain: "Pod / container", Fault: "pod-delete", Result: checker.Check(pass, budgets)}}}
	if err := Write(dir, run); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, PreflightFile))
	if err != nil || !bytes.Contains(b, []byte(`"nodes.workers"`)) {
		t.Fatalf("%s: %v\n%s", PreflightFile, err, b)
	}
	for f, want := range map[string]string{
		MDFile:    "| nodes.workers | WARN | 2 workers | add a node |",
		TableFile: "Preflight:  WARN: 0 PASS, 1 WARN, 0 FAIL, 0 UNKNOWN",
		HTMLFile:  "predicted 50s",
	} {
		if got, _ := os.ReadFile(filepath.Join(dir, f)); !bytes.Contains(got, []byte(want)) {
			t.Errorf("%s lacks %q:\n%s", f, want, got)
		}
	}
	if md, _ := os.ReadFile(filepath.Join(dir, MDFile)); !bytes.Contains(md, []byte("(45s); predicted 50s")) {
		t.Errorf("the failure-domain table does not show the predicted RTO next to the measured one:\n%s", md)
	}
	if diffs, err := Verify(dir, nil); err != nil || len(diffs) > 0 {
		t.Errorf("verify: %v %v (the manifest must cover %s)", diffs, err, PreflightFile)
	}
	back, err := Read(dir)
	if err != nil || back.Preflight == nil || back.Preflight.Predictions[0].RTO != 50*time.Second {
		t.Errorf("preflight not read back from %s: %v", ResultFile, err)
	}
}
