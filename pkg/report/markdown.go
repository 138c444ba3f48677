package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/preflight"
	"github.com/irischaos/irischaos/pkg/stackcheck"
)

// RenderMarkdown writes report.md: what was measured, the failure-domain
// table, then per scenario and iteration the evidence behind each verdict
// (phases of RTO, anomalies, cloud calls), and the faults left unhealed.
func RenderMarkdown(w io.Writer, run Run) error {
	p := &mdWriter{w: w}
	e := run.Environment
	p.f("# irischaos report: %s\n\n", run.Name)
	p.f("**Verdict: %s**: %s.\n\n", verdictWord(runVerdict(run)), iterationCounts(run))
	p.f("## What was measured\n\n")
	p.f("| | |\n|---|---|\n")
	p.row("Database", databaseText(e))
	p.row("Storage class", storageText(e))
	p.row("Kubernetes", kubernetesText(e))
	if e.Namespace != "" {
		p.row("Namespace", e.Namespace)
	}
	if e.Context != "" {
		p.row("Cluster", e.Context)
	}
	if e.Irischaos != "" {
		p.row("irischaos", e.Irischaos)
	}
	if !run.Started.IsZero() {
		span := run.Started.UTC().Format("2006-01-02 15:04:05Z")
		if !run.Finished.IsZero() {
			span += " to " + run.Finished.UTC().Format("2006-01-02 15:04:05Z")
		}
		p.row("Run", span)
	}

	p.f("\n## Failure domains\n\n")
	p.f("| Failure domain | Fault | Mitigated by | RTO (budget) | RPO (budget) | Lost acked writes | Verdict |\n")
	p.f("|---|---|---|---|---|---|---|\n")
	rows := Rows(run)
	for _, r := range rows {
		p.row(r.FailureDomain, faultCell(r), r.MitigatedBy, rtoCell(r), r.RPO+" ("+r.RPOBudget+")", fmt.Sprint(r.LostAcked), r.VerdictText)
	}
	p.f("\nRTO: completion of the first acknowledged write after the outage minus the instant the fault was issued. ")
	p.f("RPO: the fault instant minus the completion of the oldest acknowledged write missing from the read-back (0 when none is lost). ")
	p.f("With several iterations, p50/p95/max by nearest rank.")
	if run.Preflight != nil {
		p.f(" Predicted: the preflight's sum of the waits the cluster's settings impose (see Preflight).")
	}
	p.f("\n")
	if sb := splitBrainLines(run); len(sb) > 0 {
		p.f("\n")
		for _, l := range sb {
			p.f("- **%s\n", strings.Replace(mdEscape(l), ":", ":**", 1))
		}
	}
	p.advice(run)
	p.preflight(run.Preflight)
	p.stackCheck(run.StackCheck)

	for _, r := range rows {
		p.f("\n## %s: %s\n\n", r.Scenario, r.FailureDomain)
		p.f("Fault `%s`; mitigated by: %s. Budgets: RTO %s, RPO %s.\n", r.Fault, r.MitigatedBy, r.RTOBudget, r.RPOBudget)
		for _, it := range r.Iterations {
			p.iteration(it)
		}
	}

	p.f("\n## Faults left unhealed\n\n")
	if len(run.Unhealed) == 0 {
		p.f("None: every injected fault was healed.\n")
	} else {
		p.f("Run `irischaos recover` (or the next run) to heal these.\n\n")
		p.f("| Scenario | Fault | Target | Since | Why |\n|---|---|---|---|---|\n")
		for _, u := range run.Unhealed {
			since := "-"
			if !u.Since.IsZero() {
				since = u.Since.UTC().Format("15:04:05.000Z")
			}
			p.row(fmt.Sprintf("%s #%d", orDash(u.Scenario), u.Iteration), u.Fault, u.Target, since, orDash(u.Error))
		}
	}
	if len(run.Errors) > 0 {
		p.f("\n## Errors\n\n")
		for _, e := range run.Errors {
			p.f("- %s\n", mdEscape(e))
		}
	}
	return p.err
}

func (p *mdWriter) iteration(it Iteration) {
	r := it.Result
	p.f("\n### %s #%d: %s\n\n", it.Scenario, it.Iteration, mdEscape(it.VerdictText()))
	if it.Mitigation != "" {
		p.f("Mitigation: %s", mdEscape(it.Mitigation))
		switch {
		case it.MitigationAppliedSeconds != nil:
			p.f(", applied at +%.1f s", *it.MitigationAppliedSeconds)
		case it.MitigationApplied:
			p.f(", applied before the fault")
		}
		if it.MitigationError != "" {
			p.f(" (failed: %s)", mdEscape(it.MitigationError))
		}
		p.f(".\n\n")
	}
	if it.Target != "" {
		p.f("Target: `%s`", it.Target)
		if it.History != "" {
			p.f("; history: [%s](%s)", it.History, it.History)
		}
		p.f(".\n\n")
	}
	if it.Error != "" {
		p.f("Error: %s\n\n", mdEscape(it.Error))
	}
	if it.Timeline != "" {
		p.f("![writes by latency, outage shaded](%s)\n\n", it.Timeline)
	}
	for _, s := range r.Reasons {
		p.f("- %s\n", mdEscape(s))
	}
	p.f("\n| Measure | Value |\n|---|---|\n")
	rto := secp(r.RTOSeconds)
	switch {
	case r.NoInterruption:
		rto = "0s (no interruption observed)"
	case r.RTOSeconds == nil && r.RTOAtLeastSeconds != nil:
		rto = "unknown (at least " + sec(*r.RTOAtLeastSeconds) + ": no recovery seen)"
	}
	p.row("RTO", rto)
	if o := r.Outage; o != nil && o.ObservedSeconds != nil {
		p.row("Observed outage (last ok before to first ok after)", sec(*o.ObservedSeconds))
	}
	p.row("Probe resolution (median gap between writes)", secp(r.ProbeResolutionSeconds))
	p.row("RPO", secp(r.RPOSeconds))
	p.row("Lost acknowledged writes", fmt.Sprintf("%d%s", r.LostAcked, seqList(r.LostSeqs)))
	p.row("Writes (ok / fail / info)", fmt.Sprintf("%d / %d / %d", r.Writes.OK, r.Writes.Fail, r.Writes.Info))
	p.row("Unknown (info) writes recovered / not", fmt.Sprintf("%d / %d", len(r.InfoRecovered), len(r.InfoNotRecovered)))
	suffix := "not checked (no read-back)"
	if r.Suffix.Checked {
		suffix = fmt.Sprintf("ok (%d acknowledged writes in scope)", r.Suffix.InScope)
		if !r.Suffix.OK {
			suffix = fmt.Sprintf("VIOLATED: %d lost write(s) followed by a surviving later one", r.Suffix.ViolationCount)
		}
	}
	p.row("Lost writes form a suffix", suffix)
	if c := r.Clock; c != nil {
		p.row("Database clock minus harness clock", clockText(c))
	}
	for _, row := range storageRows(r) {
		p.row(row...)
	}
	for _, row := range writerRows(r) {
		p.row(row...)
	}

	if len(r.Phases) > 0 {
		p.f("\nPhases of RTO:\n\n| Phase | At (since fault) | Duration | Detail |\n|---|---|---|---|\n")
		for _, ph := range r.Phases {
			if !ph.Seen {
				p.row(phaseName(ph.Name), "not seen", "-", "-")
				continue
			}
			detail := strings.TrimSpace(strings.Join(nonEmpty(ph.Target, ph.Detail), " "))
			p.row(phaseName(ph.Name), ph.T.UTC().Format("15:04:05.000")+" (+"+sec(ph.SinceFaultSeconds)+")", sec(ph.DurationSeconds), orDash(detail))
		}
	}
	if len(r.Anomalies) > 0 {
		p.f("\nAnomalies:\n\n")
		for _, a := range r.Anomalies {
			p.f("- **%s**: %s\n", a.Kind, mdEscape(a.Message))
		}
	}
	if len(it.CloudCalls) > 0 {
		p.f("\nCloud calls:\n\n| Provider | Action | Target | Request | Started | Duration | Result |\n|---|---|---|---|---|---|---|\n")
		for _, c := range it.CloudCalls {
			res := "ok"
			if c.Error != "" {
				res = "error: " + c.Error
			}
			p.row(c.Provider, c.Action, c.Target, "`"+c.Request+"`", c.Start.UTC().Format("15:04:05.000"), sec(c.DurationSeconds), res)
		}
	}
}

var phaseNames = map[string]string{
	checker.PhaseFaultIssued:      "Fault issued",
	checker.PhaseEffectConfirmed:  "Effect confirmed",
	checker.PhasePodScheduled:     "Replacement pod scheduled",
	checker.PhaseVolumeAttached:   "Volume attached",
	checker.PhaseContainerStarted: "Container started",
	checker.PhaseDatabaseReady:    "Database ready",
	checker.PhaseFirstAckWrite:    "First acknowledged write",
}

func phaseName(n string) string {
	if s, ok := phaseNames[n]; ok {
		return s
	}
	return n
}

func seqList(s []int64) string {
	if len(s) == 0 {
		return ""
	}
	const show = 10
	parts := make([]string, 0, show)
	for _, x := range s[:min(show, len(s))] {
		parts = append(parts, fmt.Sprint(x))
	}
	out := " (seq " + strings.Join(parts, ", ")
	if len(s) > show {
		out += ", ..."
	}
	return out + ")"
}

func nonEmpty(s ...string) []string {
	var out []string
	for _, x := range s {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

type mdWriter struct {
	w   io.Writer
	err error
}

func (p *mdWriter) f(format string, args ...any) {
	if p.err != nil {
		return
	}
	_, p.err = fmt.Fprintf(p.w, format, args...)
}

// row writes one table row, escaping what would break the table.
func (p *mdWriter) row(cells ...string) {
	for i, c := range cells {
		cells[i] = mdEscape(c)
	}
	p.f("| %s |\n", strings.Join(cells, " | "))
}

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// stackCheck writes what the stack check found before the run; the
// transcripts are in stack-check.json beside the report.
func (p *mdWriter) stackCheck(r *stackcheck.Report) {
	if r == nil {
		return
	}
	p.f("\n## Stack check\n\n%s, pod %s, instance %s, %d stream(s); transcripts in %s.\n\n", r.Line(), r.Pod, r.Instance, r.Streams, stackcheck.FileName)
	p.f("| Probe | Status | Reason | Fix |\n|---|---|---|---|\n")
	for _, c := range r.Probes {
		p.row(c.ID, string(c.Status), c.Reason, orDash(c.Fix))
	}
}

// preflight writes what the preflight found before the run.
func (p *mdWriter) preflight(r *preflight.Report) {
	if r == nil {
		return
	}
	p.f("\n## Preflight\n\n%s.\n\n", preflightLine(r))
	p.f("| Check | Status | Reason | Fix |\n|---|---|---|---|\n")
	for _, c := range r.Checks {
		p.row(c.ID, string(c.Status), c.Reason, orDash(c.Fix))
	}
	if len(r.Predictions) > 0 {
		p.f("\n| Failure domain | Predicted RTO | Made of |\n|---|---|---|\n")
		for _, pr := range r.Predictions {
			var terms []string
			for _, t := range pr.Terms {
				terms = append(terms, t.What+" "+t.D.String())
			}
			p.row(pr.Domain, preflight.FormatRTO(pr.RTO), strings.Join(terms, " + "))
		}
	}
}
