package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"github.com/irischaos/irischaos/pkg/stack"
	"github.com/irischaos/irischaos/pkg/stackid"
)

// stackCmd is `irischaos stack`.
func stackCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stack",
		Short: "Deploy, inspect or remove the IRIS stack (PVC, CPF merge ConfigMap, Deployment, Service)",
		Long: `The stack is the seed's four objects, modernized and embedded in the binary:
PVC ` + stackid.PVC + ` (RWO, 10Gi, --storage-class), ConfigMap ` + stackid.ConfigMap + ` (merge.cpf),
Deployment ` + stackid.Deployment + ` (1 replica, Recreate, durable %SYS on the volume, the seed's
liveness probe) and Service ` + stackid.Service + ` (LoadBalancer, 52773). Objects carry the
labels ` + stackid.Selector + ` and ` + stackid.ManagedByLabel + `=` + stackid.ManagedBy + `.`,
		Example: `  irischaos stack deploy --storage-class longhorn
  irischaos stack status -n iris
  irischaos stack teardown -n iris`,
	}
	cmd.AddCommand(stackDeployCmd(a), stackStatusCmd(a), stackTeardownCmd(a), stackCheckCmd(a))
	return cmd
}

func stackDeployCmd(a *app) *cobra.Command {
	var (
		o          stack.Options
		tolSeconds int64
		cpfFile    string
		pullPolicy string
		asJSON     bool
	)
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Apply the stack server-side and wait until IRIS answers a session",
		Long: `Applies the stack with server-side apply (field manager "irischaos"): running it
again changes nothing, or converges the objects to the flags given. Then waits
for the Deployment to roll out and for IRIS to answer ` + "`iris session iris -U USER`" + `,
printing each pod transition. On timeout it says what the pod is stuck on.

The namespace must exist, or pass --create-namespace. The storage class must
exist; if not, the error lists those that do. Changing the storage class of a
deployed stack needs a teardown first (a PVC's class cannot change).`,
		Example: `  # real IRIS on Longhorn (the defaults)
  irischaos stack deploy -n iris --create-namespace

  # the IRIS stand-in on the local cluster's replicated storage
  irischaos stack deploy --image $(irischaos image ref iris-standin) --storage-class replicated

  # leave a lost node after 5 s instead of 300 s, synchronous journal commits
  printf '[Miscellaneous]\nSynchCommit=1\n' > sync.cpf
  irischaos stack deploy --node-loss-toleration 5 --merge-cpf-file sync.cpf`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Local input first: a typo must not wait for a cluster.
			if cpfFile != "" {
				b, err := os.ReadFile(cpfFile)
				if err != nil {
					return withCode(exitUnknown, fmt.Errorf("--merge-cpf-file: %w", err))
				}
				o.MergeCPF = string(b)
			}
			cl, err := connect(a)
			if err != nil {
				return err
			}
			c, ns := cl.Stack(), cl.Namespace
			o.Namespace, o.Instance = ns, a.instance
			o.Progress = cmd.ErrOrStderr()
			o.ImagePullPolicy = corev1.PullPolicy(pullPolicy)
			if tolSeconds >= 0 {
				o.NodeLossTolerationSeconds = &tolSeconds
			}
			st, err := stack.Deploy(a.ctx, c, o)
			if err != nil {
				return withCode(exitUnknown, err)
			}
			return printState(cmd, st, asJSON)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Image, "image", stack.DefaultImage, "IRIS container image")
	f.StringVar(&pullPolicy, "image-pull-policy", "", "image pull policy (default IfNotPresent)")
	f.StringSliceVar(&o.ImagePullSecrets, "image-pull-secret", nil, "Secret in the namespace to pull the image with (repeatable)")
	f.StringVar(&o.LicenseKeySecret, "license-key-secret", "", "Secret in the namespace holding the IRIS license key as "+stack.LicenseKeyFile+" (iris-main --key)")
	f.StringVar(&o.StorageClass, "storage-class", stack.DefaultStorageClass, "storage class of the PVC")
	f.StringVar(&o.Size, "size", stack.DefaultSize, "size of the PVC")
	f.DurationVar(&o.GracePeriod, "grace-period", stack.DefaultGracePeriod, "terminationGracePeriodSeconds of the IRIS pod")
	f.Int64Var(&tolSeconds, "node-loss-toleration", -1, "seconds the pod stays on a not-ready/unreachable node before eviction (-1: Kubernetes' default, 300)")
	f.StringVar(&cpfFile, "merge-cpf-file", "", "file whose lines are appended to merge.cpf (e.g. [Miscellaneous] SynchCommit=1)")
	f.BoolVar(&o.CreateNamespace, "create-namespace", false, "create the namespace when it does not exist")
	f.DurationVar(&o.Timeout, "timeout", stack.DefaultTimeout, "how long to wait for the rollout and for IRIS")
	f.BoolVar(&asJSON, "json", false, "print the final state as JSON")
	return cmd
}

func stackStatusCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the stack: pod, node, phase, restarts, volume and storage class, database identity",
		Long: `Shows the IRIS pod (node, phase, readiness, restarts), the PVC with its storage
class and provisioner (flagged when the class is a stand-in, annotation
irischaos.io/stand-in), the Service, and the database identity ($zv) from a
session in the running pod. Exits 2 when the stack is not deployed or IRIS does
not answer.`,
		Example: `  irischaos stack status
  irischaos stack status -n iris --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := connect(a)
			if err != nil {
				return err
			}
			c, ns := cl.Stack(), cl.Namespace
			st, err := stack.Status(a.ctx, c, stack.Options{Namespace: ns, Instance: a.instance})
			if err != nil {
				return withCode(exitUnknown, err)
			}
			if err := printState(cmd, st, asJSON); err != nil {
				return err
			}
			if st.Deployment == "" || st.Database == "" {
				return withCode(exitUnknown, nil)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func stackTeardownCmd(a *app) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "teardown",
		Short: "Delete the stack, its volume included, and wait until it is gone",
		Long: `Deletes the Service, Deployment, ConfigMap and PVC (the data goes with the PVC
when its class's reclaim policy is Delete, as Longhorn's is) and waits until
the pods and the PVC are gone. Objects already absent are fine.`,
		Example: `  irischaos stack teardown
  irischaos stack teardown -n iris --timeout 5m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := connect(a)
			if err != nil {
				return err
			}
			c, ns := cl.Stack(), cl.Namespace
			if err := stack.Teardown(a.ctx, c, stack.Options{Namespace: ns, Timeout: timeout, Progress: cmd.ErrOrStderr()}); err != nil {
				return withCode(exitUnknown, err)
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", stack.DefaultTimeout, "how long to wait for the objects to be gone")
	return cmd
}

func printState(cmd *cobra.Command, st *stack.State, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	st.Print(cmd.OutOrStdout())
	return nil
}
