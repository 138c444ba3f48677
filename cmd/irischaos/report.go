package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/irischaos/irischaos/pkg/report"
	"github.com/irischaos/irischaos/pkg/rundir"
)

// reportCmd is `irischaos report`.
func reportCmd(a *app) *cobra.Command {
	var (
		output string
		write  bool
		sign   string
		pdf    bool
	)
	cmd := &cobra.Command{
		Use:   "report RUN_DIR",
		Short: "Render a run's report again from the files in its directory",
		Long: `report reads RUN_DIR/result.json (written by irischaos run) and prints the
report in the chosen format. It never re-judges: verdicts are the checker's,
as recorded. To re-check one iteration's history use irischaos analyze.
A run that never wrote result.json (the harness was killed) is rebuilt from
its iteration directories, with the run's verdict at best unknown.

Formats: table (the failure-domain table, as report.txt), md (report.md),
json (result.json), junit (junit.xml), html (report.html). --write rewrites
report.txt, report.md, junit.xml, report.html and the timelines in RUN_DIR
and manifest.json as well. --sign KEY signs manifest.json with an ed25519
private key (PEM), for irischaos verify --public-key.

--pdf prints report.html to RUN_DIR/report.pdf through headless Chromium
(Debian: apt-get install chromium; or set IRISCHAOS_CHROMIUM to a Chrome
binary): A4, every page headed with the run directory, verdict and time, and
footed with the cluster's identity, the irischaos version, the SHA-256 of
manifest.json (so a printed page names the evidence it came from; the PDF
itself is outside the manifest) and the page number.`,
		Example: `  irischaos report reports/20261127T101500Z-local
  irischaos report reports/20261127T101500Z-local -o md > report.md
  irischaos report reports/20261127T101500Z-local -o junit
  irischaos report reports/20261127T101500Z-local --pdf`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			run, err := rundir.Read(args[0])
			if err != nil {
				return withCode(exitUnknown, err)
			}
			if write {
				if err := rundir.Write(args[0], run); err != nil {
					return withCode(exitUnknown, err)
				}
			}
			if sign != "" {
				key, err := os.ReadFile(sign)
				if err != nil {
					return withCode(exitUnknown, fmt.Errorf("--sign: %w", err))
				}
				if err := rundir.Sign(args[0], key); err != nil {
					return withCode(exitUnknown, err)
				}
			}
			if pdf {
				out, err := writePDF(cmd.Context(), args[0], run)
				if err != nil {
					return withCode(exitUnknown, err)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s\n", out)
			}
			if output == "html" {
				// report.html shows the timelines inline: draw them from the histories.
				if err := rundir.DrawTimelines(args[0], &run); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: %v\n", err)
				}
			}
			if err := report.Render(cmd.OutOrStdout(), run, output); err != nil {
				return withCode(exitUnknown, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", fmt.Sprintf("output format: %s", strings.Join(report.Formats, ", ")))
	cmd.Flags().BoolVar(&write, "write", false, "also rewrite the rendered files in RUN_DIR")
	cmd.Flags().BoolVar(&pdf, "pdf", false, "also print report.html to RUN_DIR/report.pdf with headless Chromium")
	cmd.Flags().StringVar(&sign, "sign", "", "sign RUN_DIR's manifest.json with this ed25519 private key (PEM)")
	return cmd
}
