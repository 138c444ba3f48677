package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/irischaos/irischaos/pkg/rundir"
)

// verifyCmd is `irischaos verify`.
func verifyCmd(a *app) *cobra.Command {
	var pubKey string
	cmd := &cobra.Command{
		Use:   "verify RUN_DIR",
		Short: "Check that a run directory is what the run wrote: manifest, checker, signature",
		Long: `verify recomputes the SHA-256 of every file in RUN_DIR against its
manifest.json, re-runs the checker on every history and compares the result
with the one saved next to it, and with --public-key checks the manifest's
ed25519 signature (written by irischaos report RUN_DIR --sign KEY).

Exit codes: 0 the run directory matches its evidence, 1 something changed
(each difference is named), 2 it could not be checked.`,
		Example: `  irischaos verify reports/20261127T101500Z-local
  openssl genpkey -algorithm ed25519 -out key.pem && openssl pkey -in key.pem -pubout -out key.pub
  irischaos report reports/20261127T101500Z-local --sign key.pem
  irischaos verify reports/20261127T101500Z-local --public-key key.pub`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var pub []byte
			if pubKey != "" {
				b, err := os.ReadFile(pubKey)
				if err != nil {
					return withCode(exitUnknown, fmt.Errorf("--public-key: %w", err))
				}
				pub = b
			}
			diffs, err := rundir.Verify(args[0], pub)
			if err != nil {
				return withCode(exitUnknown, err)
			}
			out := cmd.OutOrStdout()
			for _, d := range diffs {
				fmt.Fprintln(out, d)
			}
			if len(diffs) > 0 {
				return withCode(exitFail, errors.New(fmt.Sprint(args[0], ": ", len(diffs), " difference(s) from what the run wrote")))
			}
			fmt.Fprintf(out, "%s: every file matches %s and every history gives its saved result\n", args[0], rundir.ManifestFile)
			return nil
		},
	}
	cmd.Flags().StringVar(&pubKey, "public-key", "", "ed25519 public key (PEM) the manifest's signature must verify with")
	return cmd
}
