package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/report"
	"github.com/irischaos/irischaos/pkg/rundir"
)

// runCLI runs the root command with args and returns stdout and the exit code.
func runCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, code, _ := runCLIErr(t, args...)
	return out, code
}

// writeHistory writes a history: ok writes 1-10, the fault, failing writes
// for down seconds, ok writes after; lose drops seqs from the read-back;
// meta budgets are included when rto is not empty.
func writeHistory(t *testing.T, down float64, rto string, readback bool, lose ...int64) string {
	t.Helper()
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	p := filepath.Join(t.TempDir(), rundir.HistoryFile)
	w, err := history.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if rto != "" {
		w.Add(history.Record{Kind: history.KindMeta, Meta: map[string]string{history.MetaScenario: "pod", history.MetaIteration: "1", history.MetaRTOBudget: rto, history.MetaRPOBudget: "2s"}})
	}
	var rb []int64
	seq := int64(0)
	op := func(s float64, res string) {
		seq++
		w.Add(history.Record{Kind: history.KindOp, Seq: seq, Invoke: at(s), Complete: at(s + 0.01), Result: res})
		if res == history.OK && !contains(lose, seq) {
			rb = append(rb, seq)
		}
	}
	for i := 0; i < 10; i++ {
		op(float64(i)*0.1, history.OK)
	}
	w.Add(history.Record{Kind: history.KindFault, T: at(1), Name: "pod-delete", Target: "pod/iris-0"})
	for s := 1.05; s < 1+down; s += 0.5 {
		op(s, history.Fail)
	}
	for i := 0; i < 5; i++ {
		op(1+down+float64(i)*0.1, history.OK)
	}
	if readback {
		w.Add(history.Record{Kind: history.KindReadback, T: at(30), Seqs: rb})
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func contains(s []int64, v int64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestAnalyzeExitCodes(t *testing.T) {
	tests := []struct {
		name string
		file string
		args []string
		code int
		out  string
	}{
		{"pass with budgets from meta", writeHistory(t, 5, "45s", true), nil, exitPass, "RTO (budget)"},
		{"fail: RTO over the meta budget", writeHistory(t, 5, "3s", true), nil, exitFail, "FAIL"},
		{"flag overrides meta", writeHistory(t, 5, "3s", true), []string{"--rto-budget", "10s"}, exitPass, "PASS"},
		{"fail: gap", writeHistory(t, 5, "45s", true, 3), nil, exitFail, "VIOLATED"},
		{"unknown: no read-back", writeHistory(t, 5, "45s", false), nil, exitUnknown, "UNKNOWN"},
		{"an iteration directory", filepath.Dir(writeHistory(t, 5, "45s", true)), nil, exitPass, "PASS"},
		{"rpo budget flag", writeHistory(t, 5, "45s", true, 9, 10), []string{"--rpo-budget", "100ms"}, exitFail, "RPO"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, code := runCLI(t, append([]string{"analyze", tc.file}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; output:\n%s", code, tc.code, out)
			}
			if !strings.Contains(out, tc.out) {
				t.Errorf("output lacks %q:\n%s", tc.out, out)
			}
		})
	}
}

func TestAnalyzeJSON(t *testing.T) {
	out, code := runCLI(t, "analyze", writeHistory(t, 5, "45s", true, 10), "-o", "json")
	if code != exitPass {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if m["verdict"] != "pass" || m["lost_acked"] != 1.0 || m["rto_seconds"] == nil || m["rpo_seconds"] == nil {
		t.Errorf("json = %v", m)
	}
}

func TestAnalyzeBadInput(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(bad, []byte("{\"kind\":\"op\"}\nnot json\n"), 0o644)
	for _, args := range [][]string{
		{"analyze", bad},
		{"analyze", filepath.Join(t.TempDir(), "missing.jsonl")},
		{"analyze", writeHistory(t, 5, "45s", true), "-o", "yaml"},
		{"analyze"},
	} {
		if _, code := runCLI(t, args...); code != exitUnknown {
			t.Errorf("%v: exit %d, want %d", args, code, exitUnknown)
		}
	}
}

func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	recs, _ := history.ReadFile(writeHistory(t, 5, "45s", true))
	run := report.Run{Name: "t", Iterations: []report.Iteration{{Scenario: "pod", Iteration: 1, FailureDomain: "Pod / container", Fault: "pod-delete",
		Result: checker.Check(recs, checker.Budgets{RTO: 45 * time.Second, RPO: 2 * time.Second})}}}
	run.Verdict = checker.RunVerdict(run.IterationVerdicts(), true)
	if err := rundir.Write(dir, run); err != nil {
		t.Fatal(err)
	}
	for _, f := range report.Formats {
		out, code := runCLI(t, "report", dir, "-o", f)
		if code != exitPass || len(out) == 0 {
			t.Errorf("-o %s: exit %d, %d bytes", f, code, len(out))
		}
	}
	out, _ := runCLI(t, "report", dir)
	if !strings.Contains(out, "Pod / container") || !strings.Contains(out, "PASS") {
		t.Errorf("table:\n%s", out)
	}
	if _, code := runCLI(t, "report", t.TempDir()); code != exitUnknown {
		t.Errorf("empty dir: exit %d", code)
	}
	if _, code := runCLI(t, "report", dir, "-o", "pdf"); code != exitUnknown {
		t.Errorf("unknown format: exit %d", code)
	}
	if out, code := runCLI(t, "verify", dir); code != exitPass {
		t.Errorf("verify of an untouched run: exit %d\n%s", code, out)
	}
	if err := os.WriteFile(filepath.Join(dir, rundir.MDFile), []byte("edited"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := runCLI(t, "verify", dir); code != exitFail || !strings.Contains(out, rundir.MDFile+": changed") {
		t.Errorf("verify of an edited report: exit %d\n%s", code, out)
	}
	if _, code := runCLI(t, "verify", t.TempDir()); code != exitUnknown {
		t.Errorf("verify of an empty dir: exit %d", code)
	}
}

// TestAnalyzeStdin: "-" reads the history from standard input; errors name
// it and the line.
func TestAnalyzeStdin(t *testing.T) {
	good, err := os.ReadFile(writeHistory(t, 5, "45s", true))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, in string
		code     int
		out, err string
	}{
		{"a history on stdin", string(good), exitPass, "PASS", ""},
		{"a bad line on stdin", string(good) + `{"kind":"op","Seq":1}` + "\n", exitUnknown, "", "standard input: line "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &app{kube: genericclioptions.NewConfigFlags(true), ctx: context.Background()}
			root := newRoot(a)
			var out bytes.Buffer
			root.SetIn(strings.NewReader(tc.in))
			root.SetOut(&out)
			root.SetErr(&bytes.Buffer{})
			root.SetArgs([]string{"analyze", "-"})
			err := root.ExecuteContext(context.Background())
			code := exitPass
			var ee *exitError
			if errors.As(err, &ee) {
				code = ee.code
			}
			if code != tc.code || !strings.Contains(out.String(), tc.out) {
				t.Errorf("exit %d (want %d), output:\n%s", code, tc.code, out.String())
			}
			if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("error %v, want one containing %q", err, tc.err)
			}
		})
	}
}

// TestAnalyzeShowsFlags: flags, unknown markers and records of an unknown
// kind are shown, and the verdict is unknown (exit 2), never pass.
func TestAnalyzeShowsFlags(t *testing.T) {
	good, err := os.ReadFile(writeHistory(t, 5, "45s", true))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, extra string
		want        []string
	}{
		{"read-back before the fault", `{"kind":"readback","t":"2026-11-27T09:00:00Z","seqs":[1]}`, []string{"Flags", "readback_before_fault", "before the fault"}},
		{"an op completing before its invocation", `{"kind":"op","seq":77,"invoke":"2026-11-27T10:00:09Z","complete":"2026-11-27T10:00:08Z","result":"ok"}`, []string{"Unknown markers (unusable ops)", "completes before it was invoked"}},
		{"a record of an unknown kind", `{"kind":"partition","t":"2026-11-27T10:00:09Z"}`, []string{`"partition"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "h.jsonl")
			if err := os.WriteFile(p, append(append([]byte{}, good...), tc.extra+"\n"...), 0o644); err != nil {
				t.Fatal(err)
			}
			out, code := runCLI(t, "analyze", p)
			if code != exitUnknown {
				t.Errorf("exit %d, want %d", code, exitUnknown)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestAnalyzeSplitBrain: a history file in which two pods acknowledged
// writes at once fails analyze (RTO and RPO within budget), and the
// table and the JSON name both pods and their nodes.
func TestAnalyzeSplitBrain(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	p := filepath.Join(t.TempDir(), rundir.HistoryFile)
	w, err := history.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	var rb []int64
	op := func(seq int64, s float64, pod, node string) {
		w.Add(history.Record{Kind: history.KindOp, Seq: seq, Invoke: at(s), Complete: at(s + 0.01), Result: history.OK, Pod: pod, Node: node})
		rb = append(rb, seq)
	}
	for i := range int64(20) { // iris-0 on node-1 from 0 to 1.9
		op(i+1, float64(i)*0.1, "iris-0", "node-1")
	}
	w.Add(history.Record{Kind: history.KindFault, T: at(1), EffectT: at(1.2), Name: "node-partition", Target: "node/node-1"})
	for i := range int64(10) { // iris-1 on node-2 from 1.55
		op(i+21, 1.55+float64(i)*0.1, "iris-1", "node-2")
	}
	w.Add(history.Record{Kind: history.KindReadback, T: at(30), Seqs: rb})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out, code := runCLI(t, "analyze", p, "--rto-budget", "45s")
	if code != exitFail || !strings.Contains(out, "YES: iris-0 on node-1 and iris-1 on node-2") || !strings.Contains(out, "anomaly split_brain: two writers: pod iris-0 on node-1 and pod iris-1 on node-2") {
		t.Errorf("exit %d, want %d (fail); output:\n%s", code, exitFail, out)
	}
	out, _ = runCLI(t, "analyze", p, "-o", "json")
	var res checker.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if sb := res.SplitBrain; sb == nil || !sb.Checked || len(sb.Writers) != 2 || sb.Writers[1].Node != "node-2" || len(sb.Overlaps) != 1 {
		t.Errorf("split_brain = %+v", res.SplitBrain)
	}
}
