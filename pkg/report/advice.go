package report

import (
	"fmt"
	"io"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/irischaos/irischaos/pkg/mitigation"
)

// AdviceRow is one mitigation measured by the failover advisor: what it
// changed, what was measured with it, what it bought against the cluster as
// deployed, and how to make it permanent.
type AdviceRow struct {
	Fault      string
	Mitigation string
	Summary    string
	Applied    string // when it took effect: "+41.2 s" after the fault, "before the fault", "not applied: why"
	RTO        string
	RPO        string
	Verdict    string
	Gain       string // against "none" of the same fault
	Permanent  string
}

// Advice lists the iterations that ran with a mitigation (scenarios with
// mitigations:, or `irischaos advise`), grouped by fault in run order.
func Advice(run Run) []AdviceRow {
	type base struct{ rto, atLeast *float64 }
	asDeployed := map[string]base{}
	for _, it := range run.Iterations {
		if it.Mitigation == string(mitigation.None) {
			if _, ok := asDeployed[it.Fault]; !ok {
				asDeployed[it.Fault] = base{it.Result.RTOSeconds, it.Result.RTOAtLeastSeconds}
			}
		}
	}
	var rows []AdviceRow
	for _, it := range run.Iterations {
		if it.Mitigation == "" {
			continue
		}
		info := mitigation.Name(it.Mitigation).Info()
		r := AdviceRow{
			Fault: it.Fault, Mitigation: it.Mitigation, Summary: info.Summary, Permanent: info.Permanent,
			RTO: adviceRTO(it), RPO: secondsOr(it.Result.RPOSeconds, "unknown"), Verdict: it.VerdictText(),
		}
		switch {
		case it.MitigationAppliedSeconds != nil:
			r.Applied = fmt.Sprintf("+%.1f s", *it.MitigationAppliedSeconds)
		case it.MitigationApplied:
			r.Applied = "before the fault"
		}
		if it.MitigationError != "" {
			r.Applied = "not applied: " + it.MitigationError
		}
		if b, ok := asDeployed[it.Fault]; ok && it.Mitigation != string(mitigation.None) {
			r.Gain = gain(b.rto, b.atLeast, it.Result.RTOSeconds)
		}
		rows = append(rows, r)
	}
	return rows
}

// gain is what the mitigated RTO saved against the as-deployed one; when the
// cluster as deployed never recovered, its lower bound gives "at least".
func gain(deployed, deployedAtLeast, mitigated *float64) string {
	if mitigated == nil {
		return "did not recover"
	}
	if deployed != nil {
		return mitigation.Gain(deployed, mitigated)
	}
	if deployedAtLeast != nil {
		d := time.Duration((*deployedAtLeast - *mitigated) * float64(time.Second)).Round(time.Second)
		return "recovers (as deployed: not within " + time.Duration(*deployedAtLeast*float64(time.Second)).Round(time.Second).String() + "); removes at least " + d.String()
	}
	return ""
}

func adviceRTO(it Iteration) string {
	if it.Result.RTOSeconds != nil {
		return fmt.Sprintf("%.1f s", *it.Result.RTOSeconds)
	}
	if it.Result.RTOAtLeastSeconds != nil {
		return fmt.Sprintf("not recovered (down at least %.0f s)", *it.Result.RTOAtLeastSeconds)
	}
	return "unknown"
}

func secondsOr(p *float64, alt string) string {
	if p == nil {
		return alt
	}
	return fmt.Sprintf("%.3f s", *p)
}

// RenderAdvice writes the advisor's table for a terminal; nothing when the
// run measured no mitigation.
func RenderAdvice(w io.Writer, run Run) error {
	rows := Advice(run)
	if len(rows) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\nFailover advice: the same fault once per mitigation\n")
	t := tablewriter.NewTable(w,
		tablewriter.WithRowAutoWrap(tw.WrapNormal),
		tablewriter.WithRowMaxWidth(30),
		tablewriter.WithHeaderAutoFormat(tw.Off),
	)
	t.Header("Fault", "Mitigation", "Applied", "RTO", "RPO", "Verdict", "Against as deployed")
	for _, r := range rows {
		if err := t.Append(r.Fault, r.Mitigation, orDash(r.Applied), r.RTO, r.RPO, r.Verdict, orDash(r.Gain)); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	for _, r := range rows {
		if r.Mitigation != string(mitigation.None) {
			fmt.Fprintf(w, "  to make %s permanent: %s\n", r.Mitigation, r.Permanent)
		}
	}
	return nil
}

func (p *mdWriter) advice(run Run) {
	rows := Advice(run)
	if len(rows) == 0 {
		return
	}
	p.f("\n## Failover advice\n\n")
	p.f("The same fault, once per mitigation; each change was recorded in the fault ledger before it was made and undone afterwards.\n\n")
	p.f("| Fault | Mitigation | What it changes | Applied | RTO | RPO | Verdict | Against as deployed | How to make it permanent |\n")
	p.f("|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		p.row(r.Fault, r.Mitigation, r.Summary, orDash(r.Applied), r.RTO, r.RPO, r.Verdict, orDash(r.Gain), r.Permanent)
	}
}
