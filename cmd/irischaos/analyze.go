package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/report"
	"github.com/irischaos/irischaos/pkg/rundir"
)

// analyzeCmd is `irischaos analyze`.
func analyzeCmd(a *app) *cobra.Command {
	var (
		rtoBudget, rpoBudget time.Duration
		output               string
	)
	cmd := &cobra.Command{
		Use:   "analyze HISTORY_FILE|ITERATION_DIR|-",
		Short: "Run the checker on a saved history: RTO, RPO, lost writes, anomalies, verdict",
		Long: `analyze reads a history (JSONL, see docs/history.md) and computes RTO, RPO,
lost acknowledged writes and consistency anomalies, and gives a verdict.
"-" reads the history from standard input. The history is streamed: a
day-long soak's millions of writes are judged in seconds and little memory.

Budgets come from the history's meta record (written by irischaos run) unless
given as flags; without either, RTO is reported but not judged and the RPO
budget is 2s (the IRIS journal write cycle).

Exit codes: 0 pass, 1 fail, 2 unknown (e.g. no read-back, no recovery seen)
or error.`,
		Example: `  irischaos analyze reports/20261127T101500Z-local/pod/1/history.jsonl
  irischaos analyze reports/20261127T101500Z-local/pod/1
  irischaos analyze history.jsonl --rto-budget 45s --rpo-budget 2s -o json
  gunzip -c history.jsonl.gz | irischaos analyze -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			if st, err := os.Stat(path); err == nil && st.IsDir() && path != "-" {
				// An iteration directory of a run: its history.
				path = rundir.HistoryIn(path)
			}
			if os.Getenv("GOGC") == "" {
				// The evidence is pointer-free ops in a few large slices: a
				// tighter GC goal keeps a soak's memory down (1 M ops: ~185
				// instead of ~205 MB max RSS) for a few percent of CPU.
				defer debug.SetGCPercent(debug.SetGCPercent(50))
			}
			ev := checker.NewEvidence()
			add := func(line int, r *history.Record) error { ev.Add(line, r); return nil }
			var err error
			if path == "-" {
				path = "standard input"
				if err = history.ScanView(cmd.InOrStdin(), add); err != nil {
					err = fmt.Errorf("%s: %w", path, err)
				}
			} else {
				err = history.ScanFileView(path, add)
			}
			if err != nil {
				return withCode(exitUnknown, err)
			}
			b, err := ev.Budgets()
			if err != nil {
				return withCode(exitUnknown, fmt.Errorf("%s: %w (override it with --rto-budget/--rpo-budget)", path, err))
			}
			if cmd.Flags().Changed("rto-budget") {
				b.RTO = rtoBudget
			}
			if cmd.Flags().Changed("rpo-budget") {
				b.RPO = rpoBudget
			}
			if b.RTO < 0 || b.RPO < 0 {
				return withCode(exitUnknown, fmt.Errorf("budgets must not be negative (rto %s, rpo %s)", b.RTO, b.RPO))
			}
			res := ev.Check(b)
			if err := writeResult(cmd.OutOrStdout(), res, ev.Meta(), output); err != nil {
				return withCode(exitUnknown, err)
			}
			return verdictError(res)
		},
	}
	cmd.Flags().DurationVar(&rtoBudget, "rto-budget", 0, "RTO budget, e.g. 45s (0: not judged; default: from the history's meta)")
	cmd.Flags().DurationVar(&rpoBudget, "rpo-budget", checker.DefaultRPOBudget, "RPO budget (0: no acknowledged write may be lost; default: from the history's meta, else 2s)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func writeResult(w io.Writer, res checker.Result, meta map[string]string, output string) error {
	switch output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	case "table":
		return report.RenderResult(w, res, meta)
	}
	return fmt.Errorf("unknown output format %q (known: table, json)", output)
}

// verdictError maps a verdict to the process exit code, with the deciding
// reason on stderr.
func verdictError(res checker.Result) error {
	why := ""
	if len(res.Reasons) > 0 {
		why = ": " + res.Reasons[0]
	}
	switch res.Verdict {
	case checker.Pass:
		return nil
	case checker.Fail:
		return withCode(exitFail, fmt.Errorf("verdict fail%s", why))
	}
	return withCode(exitUnknown, fmt.Errorf("verdict unknown%s", why))
}
