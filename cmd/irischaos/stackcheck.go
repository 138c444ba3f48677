package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/irischaos/irischaos/pkg/runner"
	"github.com/irischaos/irischaos/pkg/scenario"
	"github.com/irischaos/irischaos/pkg/stackcheck"
)

// runStackCheck probes the stack of cl; its error means there was nothing
// to probe (exit 2).
func runStackCheck(ctx context.Context, cl *runner.Cluster, streams int, timeout time.Duration) (stackcheck.Report, error) {
	r, err := stackcheck.Run(ctx, stackcheck.Options{Kube: cl.Kube, Exec: cl.Exec, Namespace: cl.Namespace, Instance: cl.Instance, Streams: streams, Timeout: timeout})
	if err != nil {
		return r, withCode(exitUnknown, err)
	}
	return r, nil
}

// writeStackCheck prints r in format, keeps its raw transcript in outFile
// when given, and returns the command's exit status as an error.
func writeStackCheck(w io.Writer, r stackcheck.Report, format, outFile string) error {
	if outFile != "" {
		var b bytes.Buffer
		if err := stackcheck.WriteTranscript(&b, r); err != nil {
			return withCode(exitUnknown, err)
		}
		if err := os.WriteFile(outFile, b.Bytes(), 0o644); err != nil {
			return withCode(exitUnknown, fmt.Errorf("--out: %w", err))
		}
	}
	if err := stackcheck.Write(w, r, format); err != nil {
		return withCode(exitUnknown, err)
	}
	if code := r.ExitCode(); code != exitPass {
		return withCode(code, fmt.Errorf("stack check of %s/%s: %s", r.Namespace, r.Pod, r.Worst()))
	}
	return nil
}

// stackCheckCmd is `irischaos stack check`.
func stackCheckCmd(a *app) *cobra.Command {
	var (
		output, outFile string
		streams         int
		timeout         time.Duration
	)
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Run every probe irischaos relies on once against the stack's IRIS pod, with what IRIS printed",
		Long: `check runs, once each, in the running IRIS pod of the stack: the license
units free ($system.License.LUAvailable(), against --streams plus irischaos'
own session and the pod's probes that open a session: fewer is a WARN with the
fix), ` + "`iris qlist`" + ` (its fields as IRIS prints them; the instance running), $zv, a
session round trip (the workload's own client), a deliberate error through the
workload's write path (it must be classified as an error, never as an
acknowledgement), and a scratch global of its own set, read back and killed.
Each probe is PASS, WARN, FAIL or UNKNOWN with its reason and fix. -o json
carries every probe's command, input and raw output; --out writes them to a
file as text. run does the same check first (--skip-stack-check).

Exit codes: 0 usable (PASS and WARN only), 1 a FAIL, 2 could not tell.`,
		Example: `  irischaos stack check -n iris
  irischaos stack check --streams 4 -o json > stack-check.json
  irischaos stack check --instance PROD --out stack-check.txt -o md`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			cl, err := connect(a)
			if err != nil {
				return err
			}
			r, err := runStackCheck(a.ctx, cl, streams, timeout)
			if err != nil {
				return err
			}
			return writeStackCheck(cmd.OutOrStdout(), r, output, outFile)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json or md")
	cmd.Flags().StringVar(&outFile, "out", "", "also write every probe's command, input and raw output to this file")
	cmd.Flags().IntVar(&streams, "streams", scenario.DefaultStreams, "writer streams a run will hold (the scenarios' workload.streams), for the license check")
	cmd.Flags().DurationVar(&timeout, "timeout", stackcheck.DefaultTimeout, "bound on each probe")
	return cmd
}
