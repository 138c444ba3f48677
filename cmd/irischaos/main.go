// Command irischaos certifies high availability of InterSystems IRIS on
// Kubernetes: it deploys the stack, writes markers, injects faults at every
// failure domain, measures RTO and RPO and writes an evidence-backed report.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/klog/v2"

	"github.com/irischaos/irischaos/pkg/stackid"
)

// Exit codes, as Jepsen's: 0 every verdict passed, 1 a verdict failed,
// 2 the run could not decide (bad input, error, unknown).
const (
	exitPass    = 0
	exitFail    = 1
	exitUnknown = 2
)

// exitError carries an exit code out of a command without printing usage.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// withCode makes err exit with code.
func withCode(code int, err error) error { return &exitError{code: code, err: err} }

// app holds what every subcommand shares: the kubectl-style flags (connect
// turns them into the real seams) and the context.
type app struct {
	kube *genericclioptions.ConfigFlags
	// ctx is cancelled on the first SIGINT/SIGTERM (main's
	// signal.NotifyContext); healGuard turns the second into an abort.
	ctx context.Context
	// instance is the IRIS instance inside the stack's pod (--instance).
	instance string
}

func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "irischaos",
		Short: "Certify high availability of InterSystems IRIS on Kubernetes",
		Long: `irischaos deploys IRIS on Kubernetes, writes markers into it, injects faults
(IRIS process, pod, node drain, VM power off / restart / delete), measures RTO
and RPO against budgets, and writes a failure-domain report for auditors.

Exit codes: 0 every verdict passed, 1 a verdict failed, 2 the run could not
decide (bad input, unreachable cluster, error).`,
		Example: `  # run every scenario against the embedded local cluster
  make run

  # against your own cluster
  irischaos stack deploy --storage-class longhorn
  irischaos run scenarios/ --reports reports/

  # check a saved history
  irischaos analyze reports/<run>/history.jsonl`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	a.kube.AddFlags(root.PersistentFlags())
	root.PersistentFlags().StringVar(&a.instance, "instance", stackid.Instance, "IRIS instance inside the stack's pod (iris session/qlist/stop INSTANCE)")
	// Every subcommand, in the order of a session: the lab, the stack, the
	// checks, faults, the evidence.
	root.AddCommand(
		clusterCmd(a), imageCmd(a), stackCmd(a), preflightCmd(a),
		runCmd(a), adviseCmd(a), injectCmd(a), recoverCmd(a),
		analyzeCmd(a), reportCmd(a), verifyCmd(a), versionCmd(a),
	)
	return root
}

func main() {
	// client-go logs through klog to stderr: exec stream resets during a
	// fault ("Copying stdin failed", websocket 1006) are expected there and
	// would drown the progress lines. IRISCHAOS_KLOG=1 keeps them for debugging.
	if os.Getenv("IRISCHAOS_KLOG") == "" {
		klog.SetLogger(logr.Discard())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	a := &app{kube: genericclioptions.NewConfigFlags(true), ctx: ctx}
	err := newRoot(a).ExecuteContext(ctx)
	stop()
	os.Exit(exitCode(os.Stderr, err))
}

// exitCode is err's exit code, the error printed to w.
func exitCode(w io.Writer, err error) int {
	if err == nil {
		return exitPass
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(w, "irischaos:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(w, "irischaos:", err)
	return exitUnknown
}
