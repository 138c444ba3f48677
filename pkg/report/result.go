package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/history"
)

// RenderResult writes one checker result as terminal tables (what
// `irischaos analyze` prints): the measures, the phases of RTO, and the
// reasons for the verdict. meta is the history's meta (may be empty).
func RenderResult(w io.Writer, r checker.Result, meta map[string]string) error {
	title := "history"
	if s := meta[history.MetaScenario]; s != "" {
		title = s
		if it := meta[history.MetaIteration]; it != "" {
			title += " #" + it
		}
	}
	fmt.Fprintf(w, "%s: %s\n", title, verdictWord(r.Verdict))
	if d := meta[history.MetaDatabase]; d != "" {
		fmt.Fprintf(w, "  Database: %s\n", databaseText(Environment{Database: d, DatabaseStandIn: meta[history.MetaDatabaseStandIn] == "true"}))
	}
	if f := r.Fault; f != nil {
		fmt.Fprintf(w, "  Fault:    %s on %s at %s\n", f.Name, orDash(f.Target), f.T.UTC().Format("2006-01-02 15:04:05.000Z"))
	}

	t := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off), tablewriter.WithRowMaxWidth(60))
	t.Header("Measure", "Value")
	rto := secp(r.RTOSeconds)
	switch {
	case r.NoInterruption:
		rto = "0s (no interruption observed)"
	case r.RTOSeconds == nil && r.RTOAtLeastSeconds != nil:
		rto = "unknown (at least " + sec(*r.RTOAtLeastSeconds) + ")"
	}
	rtoBudget := "none"
	if r.Budgets.RTOSeconds != nil {
		rtoBudget = sec(*r.Budgets.RTOSeconds)
	}
	rows := [][]string{
		{"RTO (budget)", rto + " (" + rtoBudget + ")"},
	}
	if o := r.Outage; o != nil && o.ObservedSeconds != nil {
		rows = append(rows, []string{"Observed outage", sec(*o.ObservedSeconds)})
	}
	rows = append(rows,
		[]string{"Probe resolution", secp(r.ProbeResolutionSeconds)},
		[]string{"RPO (budget)", secp(r.RPOSeconds) + " (" + sec(r.Budgets.RPOSeconds) + ")"},
		[]string{"Lost acknowledged writes", fmt.Sprintf("%d%s", r.LostAcked, seqList(r.LostSeqs))},
		[]string{"Writes ok / fail / info", fmt.Sprintf("%d / %d / %d", r.Writes.OK, r.Writes.Fail, r.Writes.Info)},
		[]string{"Info writes recovered / not", fmt.Sprintf("%d / %d", len(r.InfoRecovered), len(r.InfoNotRecovered))},
		[]string{"Unexpected markers", fmt.Sprint(len(r.Unexpected) + len(r.UnexpectedMarkers))},
		[]string{"Duplicates", fmt.Sprint(len(r.Duplicates))},
	)
	if n := len(r.UnknownMarkers); n > 0 {
		rows = append(rows, []string{"Unknown markers (unusable ops)", fmt.Sprintf("%d%s", n, seqList(r.UnknownMarkers))})
	}
	rows = append(rows, storageRows(r)...)
	rows = append(rows, writerRows(r)...)
	if r.IsolatedNonOK > 0 {
		rows = append(rows, []string{"Isolated non-ok writes (not the outage)", fmt.Sprint(r.IsolatedNonOK)})
	}
	if len(r.Flags) > 0 {
		var kinds []string
		for _, f := range r.Flags {
			kinds = append(kinds, f.Kind)
		}
		rows = append(rows, []string{"Flags", strings.Join(kinds, ", ")})
	}
	suffix := "not checked"
	if r.Suffix.Checked {
		suffix = fmt.Sprintf("ok (%d in scope)", r.Suffix.InScope)
		if !r.Suffix.OK {
			suffix = fmt.Sprintf("VIOLATED (%d lost before a survivor)", r.Suffix.ViolationCount)
		}
	}
	rows = append(rows, []string{"Lost writes form a suffix", suffix})
	if c := r.Clock; c != nil {
		rows = append(rows, []string{"Database clock offset", clockText(c)})
	}
	for _, row := range rows {
		if err := t.Append(row); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}

	if len(r.Phases) > 0 {
		pt := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off), tablewriter.WithRowMaxWidth(50))
		pt.Header("Phase of RTO", "Since fault", "Duration", "Detail")
		for _, ph := range r.Phases {
			row := []string{phaseName(ph.Name), "not seen", "-", "-"}
			if ph.Seen {
				row = []string{phaseName(ph.Name), "+" + sec(ph.SinceFaultSeconds), sec(ph.DurationSeconds), orDash(strings.Join(nonEmpty(ph.Target, ph.Detail), " "))}
			}
			if err := pt.Append(row); err != nil {
				return err
			}
		}
		if err := pt.Render(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "Reasons:")
	for _, s := range r.Reasons {
		fmt.Fprintf(w, "  - %s\n", s)
	}
	return nil
}
