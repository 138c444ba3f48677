package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/irischaos/irischaos/pkg/checker"
)

func f64(v float64) *float64 { return &v }

func TestAdvice(t *testing.T) {
	run := Run{Name: "advise", Iterations: []Iteration{
		{Scenario: "node-lost", Iteration: 1, Fault: "vm-poweroff", Mitigation: "none",
			Expected: &Expected{Verdict: checker.Fail, Why: "stuck on Multi-Attach"},
			Result:   checker.Result{Verdict: checker.Fail, RTOAtLeastSeconds: f64(180)}},
		{Scenario: "node-lost-out-of-service-taint", Iteration: 1, Fault: "vm-poweroff", Mitigation: "out-of-service-taint",
			MitigationAppliedSeconds: f64(41.25),
			Result:                   checker.Result{Verdict: checker.Pass, RTOSeconds: f64(55), RPOSeconds: f64(0.5)}},
		{Scenario: "pod", Iteration: 1, Fault: "pod-delete", Result: checker.Result{Verdict: checker.Pass, RTOSeconds: f64(3)}},
	}}
	rows := Advice(run)
	if len(rows) != 2 {
		t.Fatalf("%d advice rows, want the two mitigated iterations: %+v", len(rows), rows)
	}
	if rows[0].RTO != "not recovered (down at least 180 s)" || rows[0].Gain != "" || !strings.Contains(rows[0].Verdict, "expected: stuck on Multi-Attach") {
		t.Errorf("as deployed: %+v", rows[0])
	}
	if rows[1].Applied != "+41.2 s" || rows[1].RTO != "55.0 s" || !strings.Contains(rows[1].Gain, "removes at least 2m5s") || !strings.Contains(rows[1].Permanent, "node.kubernetes.io/out-of-service=nodeshutdown:NoExecute") {
		t.Errorf("mitigated: %+v", rows[1])
	}
	var md, tbl bytes.Buffer
	if err := RenderMarkdown(&md, run); err != nil {
		t.Fatal(err)
	}
	if err := RenderAdvice(&tbl, run); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"report.md": md.String(), "table": tbl.String()} {
		if !strings.Contains(out, "Failover advice") || !strings.Contains(out, "out-of-service-taint") {
			t.Errorf("%s has no advice:\n%s", name, out)
		}
	}
	if run.Verdict = checker.RunVerdict(run.IterationVerdicts(), true); run.Verdict != checker.Pass {
		t.Errorf("run verdict %s: the as-deployed failure was expected", run.Verdict)
	}
}
