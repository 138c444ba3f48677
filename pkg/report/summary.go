package report

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/preflight"
	"github.com/irischaos/irischaos/pkg/scenario"
	"github.com/irischaos/irischaos/pkg/storagehealth"
)

// Row is one line of the failure-domain table: one scenario, all its
// iterations. It only summarises what the checker said.
type Row struct {
	Scenario      string
	FailureDomain string
	Fault         string
	MitigatedBy   string
	RTO           string // e.g. "3.06s" or "p50 3.1s / p95 4.2s / max 4.2s"
	RPO           string
	RTOBudget     string // "45s", or "none"
	RPOBudget     string
	// PredictedRTO is the preflight's prediction for the failure domain
	// (empty without a preflight).
	PredictedRTO string
	LostAcked    int
	Verdict      checker.Verdict
	VerdictText  string // e.g. "PASS" or "FAIL (2 pass, 1 fail)"
	Iterations   []Iteration
}

// Rows groups a run's iterations by scenario, in the seed's failure-domain
// order, then in the order the scenarios ran.
func Rows(run Run) []Row {
	var rows []*Row
	by := map[string]*Row{}
	for _, it := range run.Iterations {
		r, ok := by[it.Scenario]
		if !ok {
			r = &Row{Scenario: it.Scenario, FailureDomain: it.FailureDomain, Fault: it.Fault, MitigatedBy: it.MitigatedBy}
			by[it.Scenario] = r
			rows = append(rows, r)
		}
		r.Iterations = append(r.Iterations, it)
	}
	sort.SliceStable(rows, func(i, j int) bool { return domainIndex(rows[i].FailureDomain) < domainIndex(rows[j].FailureDomain) })
	out := make([]Row, len(rows))
	for i, r := range rows {
		var vs []checker.Verdict
		var rto, rpo []float64
		unknownRTO, unknownRPO := 0, 0
		noInterruption := true
		for _, it := range r.Iterations {
			vs = append(vs, it.Verdict())
			r.LostAcked += it.Result.LostAcked
			if it.Result.RTOSeconds != nil {
				rto = append(rto, *it.Result.RTOSeconds)
				noInterruption = noInterruption && it.Result.NoInterruption
			} else {
				unknownRTO++
			}
			if it.Result.RPOSeconds != nil {
				rpo = append(rpo, *it.Result.RPOSeconds)
			} else {
				unknownRPO++
			}
		}
		r.Verdict = checker.Combine(vs...)
		r.VerdictText = verdictText(vs)
		if e := r.Iterations[0].Expected; e != nil {
			// The checker's own verdicts, then what was expected of them.
			var raw []checker.Verdict
			for _, it := range r.Iterations {
				raw = append(raw, it.Result.Verdict)
			}
			r.VerdictText = verdictText(raw) + " (expected " + verdictWord(e.Verdict) + ": " + e.Why + ")"
		}
		r.RTO = spread(rto, unknownRTO)
		if len(rto) == 0 {
			// Never recovered: how long it was seen down says more than "unknown".
			var least []float64
			for _, it := range r.Iterations {
				if it.Result.RTOAtLeastSeconds != nil {
					least = append(least, *it.Result.RTOAtLeastSeconds)
				}
			}
			if len(least) > 0 {
				r.RTO = "not recovered (down at least " + sec(slices.Min(least)) + ")"
			}
		}
		if len(rto) > 0 && noInterruption {
			r.RTO = "0s (no interruption observed)"
			if unknownRTO > 0 {
				r.RTO += fmt.Sprintf(", %d unknown", unknownRTO)
			}
		}
		r.RPO = spread(rpo, unknownRPO)
		b := r.Iterations[0].Result.Budgets
		r.RTOBudget, r.RPOBudget = "none", sec(b.RPOSeconds)
		if b.RTOSeconds != nil {
			r.RTOBudget = sec(*b.RTOSeconds)
		}
		if run.Preflight != nil {
			if p, ok := run.Preflight.Predicted(r.FailureDomain); ok {
				r.PredictedRTO = preflight.FormatRTO(p.RTO)
			}
		}
		out[i] = *r
	}
	return out
}

func domainIndex(d string) int {
	if i := slices.Index(scenario.Domains, d); i >= 0 {
		return i
	}
	return len(scenario.Domains)
}

func verdictText(vs []checker.Verdict) string {
	v := strings.ToUpper(string(checker.Combine(vs...)))
	if len(vs) < 2 {
		return v
	}
	n := map[checker.Verdict]int{}
	for _, x := range vs {
		n[x]++
	}
	var parts []string
	for _, x := range []checker.Verdict{checker.Pass, checker.Fail, checker.Unknown} {
		if n[x] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[x], x))
		}
	}
	return v + " (" + strings.Join(parts, ", ") + ")"
}

// spread is one value, or p50/p95/max over several; unknown iterations are counted.
func spread(vals []float64, unknown int) string {
	var s string
	switch len(vals) {
	case 0:
		return "unknown"
	case 1:
		s = sec(vals[0])
	default:
		v := slices.Clone(vals)
		slices.Sort(v)
		s = fmt.Sprintf("p50 %s / p95 %s / max %s", sec(percentile(v, 0.50)), sec(percentile(v, 0.95)), sec(v[len(v)-1]))
	}
	if unknown > 0 {
		s += fmt.Sprintf(" (%d unknown)", unknown)
	}
	return s
}

// percentile by the nearest-rank method over sorted values: always a value
// that was measured, never an interpolation.
func percentile(sorted []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// sec formats seconds as the reports do: milliseconds below 10 s, tenths above.
func sec(s float64) string {
	switch {
	case s == 0:
		return "0s"
	case s == math.Trunc(s):
		return fmt.Sprintf("%.0fs", s)
	case math.Abs(s) < 10:
		return fmt.Sprintf("%.3fs", s)
	default:
		return fmt.Sprintf("%.1fs", s)
	}
}

func secp(s *float64) string {
	if s == nil {
		return "unknown"
	}
	return sec(*s)
}

// databaseText names the database, saying so when it is the stand-in.
func databaseText(e Environment) string {
	d := orDash(e.Database)
	if e.DatabaseStandIn {
		d += " (stand-in, not InterSystems IRIS)"
	}
	return d
}

func storageText(e Environment) string {
	s := orDash(e.StorageClass) + ", provisioner " + orDash(e.Provisioner)
	switch {
	case e.StorageDescription != "":
		s += " (" + e.StorageDescription + ")"
	case e.StorageStandIn:
		s += " (irischaos storage stand-in, not Longhorn)"
	}
	return s
}

func kubernetesText(e Environment) string {
	s := orDash(e.Kubernetes)
	if len(e.Nodes) > 0 {
		s += fmt.Sprintf(", %d nodes: %s", len(e.Nodes), strings.Join(e.Nodes, ", "))
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// runVerdict is the run's verdict as recorded (see checker.RunVerdict);
// a run without one was never judged.
func runVerdict(run Run) checker.Verdict {
	if run.Verdict == "" {
		return checker.Unknown
	}
	return run.Verdict
}

// iterationCounts is e.g. "6 iterations of 4 scenarios: 4 pass, 1 fail, 1 unknown".
func iterationCounts(run Run) string {
	n := map[checker.Verdict]int{}
	scen := map[string]bool{}
	for _, it := range run.Iterations {
		n[checker.Combine(it.Verdict())]++
		scen[it.Scenario] = true
	}
	s := fmt.Sprintf("%d iteration(s) of %d scenario(s)", len(run.Iterations), len(scen))
	var parts []string
	for _, v := range []checker.Verdict{checker.Pass, checker.Fail, checker.Unknown} {
		if n[v] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[v], v))
		}
	}
	if len(parts) > 0 {
		s += ": " + strings.Join(parts, ", ")
	}
	return s
}

func clockText(c *checker.Clock) string {
	return fmt.Sprintf("%s median (%s to %s, ±%s, %d writes)", signedSec(c.MedianOffsetSeconds), signedSec(c.MinOffsetSeconds), signedSec(c.MaxOffsetSeconds), sec(c.MedianHalfWindowSeconds), c.Samples)
}

func signedSec(s float64) string {
	if s > 0 {
		return "+" + sec(s)
	}
	return sec(s)
}

// rtoCell is the RTO column: measured (budget), and the preflight's
// prediction when there was one, so a reader sees which wait dominated.
func rtoCell(r Row) string {
	s := r.RTO + " (" + r.RTOBudget + ")"
	if r.PredictedRTO != "" {
		s += "; predicted " + r.PredictedRTO
	}
	return s
}

// preflightLine sums a preflight up in one line.
func preflightLine(p *preflight.Report) string {
	if p == nil {
		return "skipped"
	}
	n := map[preflight.Status]int{}
	for _, c := range p.Checks {
		n[c.Status]++
	}
	return fmt.Sprintf("%s: %d PASS, %d WARN, %d FAIL, %d UNKNOWN", p.Worst(), n[preflight.Pass], n[preflight.Warn], n[preflight.Fail], n[preflight.Unknown])
}

// storageRows are what the volume's storage did after the fault, as
// measure/value rows: attachment hand-over, redundancy lost/restored, and
// where the storage gave them (Longhorn) the replicas per zone (usable
// ones: RW) before and after.
func storageRows(r checker.Result) [][]string {
	s := r.Storage
	if s == nil {
		return nil
	}
	since := func(t *time.Time) string {
		if t == nil {
			return "not seen"
		}
		out := t.UTC().Format("15:04:05.000")
		if r.Fault != nil {
			out += " (+" + sec(t.Sub(r.Fault.T).Seconds()) + ")"
		}
		return out
	}
	var rows [][]string
	if s.DetachedAt != nil || s.AttachedAt != nil {
		rows = append(rows,
			[]string{"Volume detached from " + orDash(s.DetachedFrom), since(s.DetachedAt)},
			[]string{"Volume attached to " + orDash(s.AttachedTo), since(s.AttachedAt)})
	}
	if s.RedundancyLostAt != nil {
		rows = append(rows,
			[]string{"Redundancy lost (" + s.RedundancyLost + ")", since(s.RedundancyLostAt)},
			[]string{"Redundancy restored", since(s.RedundancyRestoredAt)})
		if s.DegradedSeconds != nil {
			rows = append(rows, []string{"Time without full redundancy", sec(*s.DegradedSeconds)})
		}
		if s.FullRedundancySeconds != nil {
			rows = append(rows, []string{"Time to full redundancy (from the fault)", sec(*s.FullRedundancySeconds)})
		}
	}
	if s.ZonesBefore != nil || s.ZonesAfter != nil {
		after := "Replicas per zone after"
		if s.RedundancyRestoredAt == nil {
			after += " (last reading, not restored)"
		}
		rows = append(rows,
			[]string{"Replicas per zone before", storagehealth.ZonesText(s.ZonesBefore)},
			[]string{after, storagehealth.ZonesText(s.ZonesAfter)})
	}
	return rows
}

// writerRows are the pods that acknowledged the writes and what the
// checker found about two writers (docs/history.md, "Split brain"), as
// measure/value rows; none when no write was acknowledged.
func writerRows(r checker.Result) [][]string {
	sb := r.SplitBrain
	if sb == nil {
		return nil
	}
	if !sb.Checked {
		return [][]string{{"Split brain (two writers)", "cannot tell: " + sb.CannotTell}}
	}
	ws := make([]string, 0, len(sb.Writers)+1)
	for _, w := range sb.Writers {
		s := fmt.Sprintf("%s: %d", w.WriterName, w.OK)
		if w.Old {
			s += " (old pod)"
		}
		ws = append(ws, s)
	}
	if sb.Unattributed > 0 {
		ws = append(ws, fmt.Sprintf("%d naming no pod", sb.Unattributed))
	}
	split := "none: no two pods acknowledged writes at once"
	if len(sb.Overlaps) > 0 {
		parts := make([]string, 0, len(sb.Overlaps))
		for _, o := range sb.Overlaps {
			parts = append(parts, fmt.Sprintf("%s and %s from %s to %s (%s; %d and %d writes acknowledged)",
				o.A, o.B, o.Start.UTC().Format("15:04:05.000"), o.End.UTC().Format("15:04:05.000"), sec(o.Seconds), o.AWrites, o.BWrites))
		}
		split = "YES: " + strings.Join(parts, "; ")
	}
	lost := "not judged: " + sb.OldLostCannotTell
	if sb.OldLostChecked {
		lost = fmt.Sprintf("%d%s", sb.OldLost, seqList(sb.OldLostSeqs))
		if sb.OldLost > 0 {
			lost = "YES: " + lost
		}
		if sb.Replacement != nil && sb.ReplacementStart != nil {
			lost += fmt.Sprintf(" (replacement %s from %s)", sb.Replacement, sb.ReplacementStart.UTC().Format("15:04:05.000"))
		}
	}
	return [][]string{
		{"Writers (pod on node: acknowledged writes)", strings.Join(ws, "; ")},
		{"Split brain: two pods acknowledging at once", split},
		{"Split brain: old pod's acknowledged writes lost after its replacement started", lost},
	}
}

// splitBrainLines are an iteration's split-brain anomalies, one line each,
// for the reports that otherwise show only the failure-domain table.
func splitBrainLines(run Run) []string {
	var out []string
	for _, it := range run.Iterations {
		for _, a := range it.Result.Anomalies {
			if a.Kind == checker.AnomalySplitBrain {
				out = append(out, fmt.Sprintf("SPLIT BRAIN in %s #%d: %s", it.Scenario, it.Iteration, a.Message))
			}
		}
	}
	return out
}
