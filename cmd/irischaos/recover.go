package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/irischaos/irischaos/pkg/ledger"
	"github.com/irischaos/irischaos/pkg/nemesis"
)

// recoverCmd is `irischaos recover`.
func recoverCmd(a *app) *cobra.Command {
	var (
		reportsDir  string
		dryRun      bool
		healTimeout time.Duration
		cf          cloudFlags
	)
	cmd := &cobra.Command{
		Use:   "recover",
		Short: "Heal every fault the ledger still lists (left by a crashed or aborted run)",
		Long: `Every fault is written to <reports>/ledger.jsonl before it is injected and
marked healed after. recover heals what is still pending: uncordons drained
nodes and powers on VMs that were powered off (never those deleted by design).
Faults that Kubernetes heals by itself (a stopped process, a deleted pod) are
just marked. Entries injected through another API server are skipped: point
--kubeconfig/--context at that cluster to heal them.

Exit codes: 0 nothing left unhealed, 2 something could not be healed.`,
		Example: `  # what is pending, changing nothing
  irischaos recover --dry-run

  # heal it
  irischaos recover --reports reports/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			l, err := ledger.Open(reportsDir)
			if err != nil {
				return withCode(exitUnknown, err)
			}
			pend, err := l.Pending()
			if err != nil {
				return withCode(exitUnknown, err)
			}
			if len(pend) == 0 {
				fmt.Fprintf(out, "nothing to heal: %s lists no pending fault\n", l.Path())
				return nil
			}
			if dryRun {
				fmt.Fprintf(out, "%d pending fault(s) in %s (dry run: nothing changed):\n", len(pend), l.Path())
				for _, e := range pend {
					heal := e.Heal
					if heal == ledger.HealNone {
						heal = "nothing to undo (Kubernetes recreated it)"
					}
					fmt.Fprintf(out, "  %s: %s on %s via %s, heal: %s%s\n", e.ID, e.Fault, entryText(e), e.Cluster, heal, errSuffix(e.HealError))
					for _, c := range e.Cuts {
						if c.Via == ledger.CutProvider {
							fmt.Fprintf(out, "    node %s: link up again through its provider (%s)\n", c.Node, c.ProviderID)
							continue
						}
						fmt.Fprintf(out, "    node %s: delete pod %s/%s, then run in %s-heal (the agent removes them by itself at %s):\n", c.Node, c.Namespace, c.Pod, c.Pod, c.Until.UTC().Format(time.RFC3339))
						for _, u := range c.Undo {
							fmt.Fprintf(out, "      %s\n", u)
						}
					}
				}
				return nil
			}
			clouds := cf.registry(errOut)(printCalls(errOut))
			// Without a cluster configured, VMs are powered on through their
			// cloud API alone (what `inject vm-* --provider-id` left);
			// uncordoning a node says it needs the cluster.
			env, host := nemesis.Env{Clouds: clouds, Out: errOut}, ""
			if !noClusterConfigured(a) {
				cl, err := connect(a)
				if err != nil {
					return err
				}
				env, host = cl.Nemesis(clouds, errOut), cl.Host
			}
			abort, stop := healGuard(a.ctx, errOut)
			defer stop()
			// Healing is what recover is for: each heal runs on a context
			// only a second Ctrl-C (abort) or --heal-timeout ends.
			g := nemesis.Guard{Ledger: l, Cluster: host, HealTimeout: healTimeout, Abort: abort, Env: env}
			left, err := g.Recover(a.ctx, errOut)
			if err != nil {
				return withCode(exitUnknown, err)
			}
			if len(left) > 0 {
				printLeft(errOut, l)
				return withCode(exitUnknown, fmt.Errorf("%d fault(s) left unhealed", len(left)))
			}
			fmt.Fprintf(out, "healed: %d fault(s) from %s\n", len(pend), l.Path())
			return nil
		},
	}
	cmd.Flags().StringVar(&reportsDir, "reports", "reports", "directory holding the fault ledger")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list the pending faults and change nothing")
	cmd.Flags().DurationVar(&healTimeout, "heal-timeout", nemesis.DefaultHealTimeout, "how long healing one fault may take")
	cf.add(cmd)
	return cmd
}
