package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/irischaos/irischaos/pkg/checker"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// RenderTable writes what was measured and the failure-domain table: the
// seed article's table, with measurements.
func RenderTable(w io.Writer, run Run) error {
	e := run.Environment
	fmt.Fprintf(w, "irischaos run %s: %s (%s)\n", run.Name, verdictWord(runVerdict(run)), iterationCounts(run))
	fmt.Fprintf(w, "  Database:   %s\n", databaseText(e))
	fmt.Fprintf(w, "  Storage:    %s\n", storageText(e))
	fmt.Fprintf(w, "  Kubernetes: %s\n", kubernetesText(e))
	if !run.Started.IsZero() {
		fmt.Fprintf(w, "  Run:        %s", run.Started.UTC().Format("2006-01-02 15:04:05Z"))
		if !run.Finished.IsZero() {
			fmt.Fprintf(w, " to %s (%s)", run.Finished.UTC().Format("15:04:05Z"), run.Finished.Sub(run.Started).Round(1e9))
		}
		fmt.Fprintln(w)
	}
	if run.StackCheck != nil {
		fmt.Fprintf(w, "  Stack check: %s\n", run.StackCheck.Line())
	}
	if run.Preflight != nil {
		fmt.Fprintf(w, "  Preflight:  %s\n", preflightLine(run.Preflight))
	}
	t := tablewriter.NewTable(w,
		tablewriter.WithRowAutoWrap(tw.WrapNormal),
		tablewriter.WithRowMaxWidth(22),
		tablewriter.WithHeaderMaxWidth(22),
		tablewriter.WithHeaderAutoFormat(tw.Off),
	)
	t.Header("Failure domain", "Fault", "Mitigated by", "RTO (budget)", "RPO (budget)", "Lost acked writes", "Verdict")
	for _, r := range Rows(run) {
		if err := t.Append(r.FailureDomain, faultCell(r), r.MitigatedBy,
			rtoCell(r), r.RPO+" ("+r.RPOBudget+")", fmt.Sprint(r.LostAcked), r.VerdictText); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	for _, l := range splitBrainLines(run) {
		fmt.Fprintln(w, l)
	}
	if n := len(run.Unhealed); n > 0 {
		fmt.Fprintf(w, "WARNING: %d fault(s) left unhealed; run `irischaos recover`:\n", n)
		for _, u := range run.Unhealed {
			fmt.Fprintf(w, "  %s on %s: %s\n", u.Fault, u.Target, orDash(u.Error))
		}
	}
	for _, e := range run.Errors {
		fmt.Fprintf(w, "error: %s\n", e)
	}
	return nil
}

func faultCell(r Row) string {
	if r.Scenario == r.Fault {
		return r.Fault
	}
	return r.Fault + " (" + r.Scenario + ")"
}

func verdictWord(v checker.Verdict) string { return strings.ToUpper(string(v)) }
