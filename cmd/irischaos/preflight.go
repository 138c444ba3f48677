package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/irischaos/irischaos/pkg/preflight"
	"github.com/irischaos/irischaos/pkg/runner"
)

// preflightFlags are the checks' inputs that the cluster does not show a
// client, shared by `preflight` and `run`.
type preflightFlags struct {
	deployment string
	a          preflight.Assumptions
}

func (p *preflightFlags) register(cmd *cobra.Command) {
	d := preflight.DefaultAssumptions()
	f := cmd.Flags()
	f.StringVar(&p.deployment, "deployment", "", "the IRIS Deployment to check (default: the stack's)")
	f.DurationVar(&p.a.NodeMonitorGrace, "node-monitor-grace", d.NodeMonitorGrace, "kube-controller-manager --node-monitor-grace-period of the cluster (not readable on managed clusters)")
	f.DurationVar(&p.a.ForceDetach, "force-detach", d.ForceDetach, "wait before an RWO volume on a lost node is force-detached (attach-detach controller)")
	f.DurationVar(&p.a.IRISStart, "iris-start", d.IRISStart, "IRIS start to first acknowledged write, crash recovery included")
	f.DurationVar(&p.a.IRISStop, "iris-stop", d.IRISStop, "a clean iris stop on graceful pod deletion")
	f.DurationVar(&p.a.Attach, "attach", d.Attach, "attach and mount of the volume on a healthy node")
	f.BoolVar(&p.a.OutOfService, "out-of-service", false, "the out-of-service taint is applied as soon as a lost node is NotReady (by an operator's automation)")
}

// runPreflight reads the cluster and the stack; its error means the cluster
// could not be read at all.
func runPreflight(ctx context.Context, cl *runner.Cluster, p preflightFlags) (preflight.Report, error) {
	r, err := preflight.Run(ctx, preflight.Options{
		Kube: cl.Kube, Dynamic: cl.Dynamic,
		Namespace: cl.Namespace, Deployment: p.deployment, Assumptions: p.a,
	})
	if err != nil {
		return preflight.Report{}, withCode(exitUnknown, err)
	}
	return r, nil
}

// preflightCmd is `irischaos preflight`.
func preflightCmd(a *app) *cobra.Command {
	var (
		p      preflightFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "preflight",
		Short: "Check that the cluster and the IRIS stack are set up for HA, and predict RTO per failure domain",
		Long: `preflight reads the cluster and the deployed stack, breaks nothing, and says
whether the seed's HA can work: nodes (3 schedulable workers over 2 zones, room
for the IRIS pod elsewhere), storage (a replicated class; on Longhorn its
replica count, anti-affinity, node-down policy and the volume's health), and the
IRIS Deployment (1 replica, Recreate, liveness on iris qlist, grace period, data
and journal on the PVC, tolerations). Each check is PASS, WARN, FAIL or UNKNOWN
with its reason and fix. It then predicts the RTO of every failure domain from
what it found, with the terms that add up to it.

Exit codes: 0 ready (PASS and WARN only), 1 not ready (a FAIL), 2 could not tell.`,
		Example: `  irischaos preflight -n iris
  irischaos preflight -n iris -o md > preflight.md
  irischaos preflight -n iris --node-monitor-grace 20s --out-of-service -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			cl, err := connect(a)
			if err != nil {
				return err
			}
			r, err := runPreflight(a.ctx, cl, p)
			if err != nil {
				return err
			}
			if err := preflight.Write(cmd.OutOrStdout(), r, output); err != nil {
				return withCode(exitUnknown, err)
			}
			if code := r.ExitCode(); code != exitPass {
				return withCode(code, fmt.Errorf("preflight of %s/%s: %s", r.Namespace, r.Deployment, r.Worst()))
			}
			return nil
		},
	}
	p.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json or md")
	return cmd
}

// checkFormat refuses an output format before any cluster is contacted.
func checkFormat(format string) error {
	for _, f := range preflight.Formats {
		if f == format {
			return nil
		}
	}
	return withCode(exitUnknown, fmt.Errorf("--output %q: use one of %v", format, preflight.Formats))
}
