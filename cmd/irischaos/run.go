package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/cloud/providers"
	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/ledger"
	"github.com/irischaos/irischaos/pkg/mitigation"
	"github.com/irischaos/irischaos/pkg/nemesis"
	"github.com/irischaos/irischaos/pkg/preflight"
	"github.com/irischaos/irischaos/pkg/progress"
	"github.com/irischaos/irischaos/pkg/report"
	"github.com/irischaos/irischaos/pkg/runner"
	"github.com/irischaos/irischaos/pkg/scenario"
	"github.com/irischaos/irischaos/pkg/stackcheck"
)

// cloudFlags are the VM provider settings shared by run, inject and recover.
type cloudFlags struct {
	awsEndpoint string
	awsRegion   string
	azureForce  bool
	timeout     time.Duration
}

func (c *cloudFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.awsEndpoint, "aws-endpoint", "", "EC2 endpoint URL (an emulator such as moto_server); default: the AWS SDK's own resolution, including AWS_ENDPOINT_URL_EC2")
	cmd.Flags().StringVar(&c.awsRegion, "aws-region", "", "AWS region for providerIDs without a zone")
	cmd.Flags().BoolVar(&c.azureForce, "azure-force-delete", false, "delete Azure VMs with forceDeletion=true")
	cmd.Flags().DurationVar(&c.timeout, "cloud-timeout", 0, "bound on one VM action including its wait (0: each provider's default)")
}

func (c *cloudFlags) registry(progress io.Writer) func(cloud.Recorder) *cloud.Registry {
	return func(rec cloud.Recorder) *cloud.Registry {
		return providers.New(providers.Options{
			AWSEndpoint: c.awsEndpoint, AWSRegion: c.awsRegion, AzureForceDelete: c.azureForce,
			Recorder: rec, Progress: progress, Timeout: c.timeout,
		})
	}
}

// printCalls prints every cloud call as it completes, for inject and recover.
func printCalls(w io.Writer) cloud.Recorder {
	return func(c cloud.Call) {
		res := "ok"
		if c.Err != nil {
			res = "error: " + c.Err.Error()
		}
		fmt.Fprintf(w, "cloud call: %s %s %s (%s): %s\n", c.Provider, c.Action, c.Target, c.Duration.Round(time.Millisecond), res)
	}
}

// healGuard turns the second SIGINT/SIGTERM into an abort of healing. The
// first one cancels a.ctx (main's signal context): the run stops and heals
// on a fresh context; a second one closes abort and healing stops where it is.
func healGuard(ctx context.Context, out io.Writer) (abort <-chan struct{}, stop func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ch := make(chan struct{})
	done := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case <-done:
				return
			case <-sigs:
				n++
				if n == 1 {
					fmt.Fprintln(out, "interrupted: stopping and healing every injected fault (press Ctrl-C again to abort healing)")
					continue
				}
				fmt.Fprintln(out, "second interrupt: aborting healing")
				close(ch)
				return
			}
		}
	}()
	return ch, func() { signal.Stop(sigs); close(done) }
}

// printLeft says exactly what is still unhealed, from the ledger.
func printLeft(w io.Writer, l *ledger.Ledger) int {
	pend, err := l.Pending()
	if err != nil {
		fmt.Fprintf(w, "cannot read the ledger %s: %v\n", l.Path(), err)
		return -1
	}
	var n int
	for _, e := range pend {
		if e.Heal == ledger.HealNone {
			continue
		}
		if n == 0 {
			fmt.Fprintf(w, "STILL UNHEALED (recorded in %s; `irischaos recover --reports %s` heals them):\n", l.Path(), dirOf(l.Path()))
		}
		n++
		fmt.Fprintf(w, "  %s: %s on %s, needs %s%s\n", e.ID, e.Fault, entryText(e), e.Heal, errSuffix(e.HealError))
	}
	return n
}

func dirOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i > 0 {
		return p[:i]
	}
	return "."
}

func entryText(e ledger.Entry) string {
	var parts []string
	for _, kv := range [][2]string{{"pod", e.Namespace + "/" + e.Pod}, {"node", e.Node}, {"vm", e.ProviderID}} {
		if kv[1] != "" && kv[1] != "/" {
			parts = append(parts, kv[0]+" "+kv[1])
		}
	}
	return strings.Join(parts, ", ")
}

func errSuffix(s string) string {
	if s == "" {
		return ""
	}
	return " (last attempt: " + s + ")"
}

func verdictExit(v checker.Verdict) error {
	switch v {
	case checker.Pass:
		return nil
	case checker.Fail:
		return withCode(exitFail, errors.New("a verdict failed"))
	default:
		return withCode(exitUnknown, errors.New("the run could not decide every verdict (unknown)"))
	}
}

// runCmd is `irischaos run`.
func runCmd(a *app) *cobra.Command { return scenarioCmd(a, nil) }

// adviseMode turns run into the failover advisor: its scenarios run once
// per mitigation, and the advice table follows the failure-domain table.
type adviseMode struct {
	mitigations []string
}

// scenarioCmd is run, or advise when adv is set: one flow, one set of flags.
func scenarioCmd(a *app, adv *adviseMode) *cobra.Command {
	var (
		dryRun               bool
		skipPreflight, force bool
		skipStackCheck       bool
		pf                   preflightFlags
		reportsDir           string
		allowVM              bool
		nf                   nodeActionFlags
		metricsAddr          string
		pushgateway          string
		rtoBudget            time.Duration
		rpoBudget            time.Duration
		name                 string
		healTimeout          time.Duration
		cf                   cloudFlags
	)
	cmd := &cobra.Command{
		Use:   "run [SCENARIO_FILE|DIR ...]",
		Short: "Run scenarios: write markers, inject each fault, measure RTO and RPO, heal, report",
		Long: `run executes every scenario given (files, or directories of *.yaml; default
scenarios/) against the deployed stack (irischaos stack deploy). It first
runs the preflight (irischaos preflight; --skip-preflight to skip) and
records it in the report, the predicted RTO next to the measured one; then
the stack check (irischaos stack check; --skip-stack-check to skip): every
probe the run relies on, once, against the IRIS pod, its transcripts kept in
the report. A FAIL of either stops the run before any fault unless --force. For each scenario and iteration it records what is measured (database $zv, storage class
and provisioner, Kubernetes version, nodes), starts the observer and the
marker writer, warms up, writes the fault to the ledger and injects it, waits
for its effect and for the first acknowledged write after the outage, keeps
writing a little, heals, reads every marker back and runs the checker.

Reports go to --reports/<UTC time>-<name>/: history.jsonl per iteration,
result.json, report.md, junit.xml and the failure-domain table printed at the
end. --dry-run prints the plan (which pod, node and VM, the exact call) and
changes nothing.

Safety: VM faults refuse to run without --allow-vm-actions, partitions
(node-partition, zone-outage with method partition) without
--allow-node-actions: one opt-in per blast radius. Every injected
fault is healed at the end of its iteration, on error and on Ctrl-C (a second
Ctrl-C aborts healing and prints what is left). Faults are written to
<reports>/ledger.jsonl before they are injected; whatever a crashed run left
is healed by the next run or by irischaos recover.

Exit codes: 0 every verdict passed, 1 a verdict failed or the preflight or
the stack check failed, 2 unknown or error.`,
		Example: `  # what would happen, changing nothing
  irischaos run scenarios/ --dry-run

  # every seed scenario; VM scenarios need the flag
  irischaos run scenarios/ --allow-vm-actions --reports reports/

  # one scenario, metrics for Prometheus while it runs
  irischaos run scenarios/pod.yaml --metrics-addr :9090 --pushgateway http://pushgateway:9091

  # VM faults against an EC2 emulator
  irischaos run scenarios/node-lost.yaml --allow-vm-actions --aws-endpoint http://127.0.0.1:5000`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"scenarios"}
				if adv != nil {
					args = []string{adviseDefault}
				}
			}
			var scenarios []scenario.Scenario
			for _, p := range args {
				ss, err := scenario.Load(p)
				if err != nil {
					return withCode(exitUnknown, err)
				}
				scenarios = append(scenarios, ss...)
			}
			loaded := scenarios
			if adv != nil {
				var err error
				if scenarios, err = adv.expand(scenarios); err != nil {
					return withCode(exitUnknown, err)
				}
				if name == "" {
					name = "advise"
				}
			}
			if len(scenarios) == 0 {
				return withCode(exitUnknown, fmt.Errorf("no scenarios in %s", strings.Join(args, ", ")))
			}
			allow := fault.Allow{VMActions: allowVM, NodeActions: nf.allow}
			if !dryRun {
				var refused []error
				for _, s := range scenarios {
					if err := s.Fault.Info().Permit(allow); err != nil {
						refused = append(refused, fmt.Errorf("scenario %s: %w", s.Name, err))
					}
				}
				if len(refused) > 0 {
					return withCode(exitUnknown, fmt.Errorf("%w (or leave them out; --dry-run shows the plan)", errors.Join(refused...)))
				}
			}
			if name == "" {
				name = "scenarios"
				if len(scenarios) == 1 {
					name = scenarios[0].Name
				}
			}
			cl, err := connect(a)
			if err != nil {
				return err
			}
			if adv != nil && adv.longhornDefault(cmd.Flags().Changed("mitigations"), cl.Kube.Discovery()) {
				if scenarios, err = adv.expand(loaded); err != nil {
					return withCode(exitUnknown, err)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "advise: the cluster serves Longhorn: %s is measured too\n", mitigation.LonghornNodeDownPolicy)
			}
			l, err := ledger.Open(reportsDir)
			if err != nil {
				return withCode(exitUnknown, err)
			}
			// One printer for every progress line, so the status line of a
			// long wait (on a terminal) stays below them.
			out, errOut := cmd.OutOrStdout(), progress.New(cmd.ErrOrStderr())
			cfg := cl.Config(version, cf.registry(errOut), errOut)
			cfg.ReportsDir, cfg.RunName, cfg.Ledger = reportsDir, name, l
			cfg.Allow, cfg.Out, cfg.HealTimeout = allow, errOut, healTimeout
			cfg.AgentImage, cfg.AgentNamespace = nf.agentImage, nf.agentNamespace
			if cmd.Flags().Changed("rto-budget") {
				cfg.RTOBudget = &rtoBudget
			}
			if cmd.Flags().Changed("rpo-budget") {
				cfg.RPOBudget = &rpoBudget
			}
			if dryRun {
				// Planning finds targets and prints the calls: no workload,
				// no observer, nothing measured.
				cfg.Environment, cfg.NewWorkload, cfg.NewObserver = nil, nil, nil
				r, err := runner.New(cfg)
				if err != nil {
					return withCode(exitUnknown, err)
				}
				plans := r.Plan(a.ctx, scenarios)
				fmt.Fprintf(out, "dry run against %s, namespace %s: nothing will be changed\n", cl.Host, cl.Namespace)
				runner.PrintPlans(out, plans)
				if pend, _ := l.Pending(); len(pend) > 0 {
					fmt.Fprintf(out, "the ledger %s lists %d unhealed fault(s); a real run heals them first\n", l.Path(), len(pend))
				}
				for _, p := range plans {
					if p.Err != nil {
						return withCode(exitUnknown, fmt.Errorf("scenario %s cannot run: %w", p.Scenario, p.Err))
					}
				}
				return nil
			}

			var rm *runMetrics
			if metricsAddr != "" || pushgateway != "" {
				if rm, err = startRunMetrics(a.ctx, scenarios, metricsAddr, pushgateway, name); err != nil {
					return withCode(exitUnknown, err)
				}
				defer rm.close()
				rm.hook(&cfg)
				if rm.addr != nil {
					fmt.Fprintf(errOut, "metrics on http://%s/metrics\n", rm.addr)
				}
			}

			if !skipPreflight {
				cfg.Preflight = func(ctx context.Context) (preflight.Report, error) { return runPreflight(ctx, cl, pf) }
				cfg.Force = force
			}
			if !skipStackCheck {
				cfg.StackCheck = func(ctx context.Context, streams int) (stackcheck.Report, error) {
					return runStackCheck(ctx, cl, streams, stackcheck.DefaultTimeout)
				}
				cfg.Force = force
			}
			abort, stop := healGuard(a.ctx, errOut)
			defer stop()
			cfg.Abort = abort
			r, err := runner.New(cfg)
			if err != nil {
				return withCode(exitUnknown, err)
			}
			run, runDir, runErr := r.Run(a.ctx, scenarios)
			if runDir != "" {
				fmt.Fprintln(out)
				if err := report.RenderTable(out, run); err != nil {
					fmt.Fprintf(errOut, "render table: %v\n", err)
				}
				if err := report.RenderAdvice(out, run); err != nil {
					fmt.Fprintf(errOut, "render advice: %v\n", err)
				}
				fmt.Fprintf(out, "\nreports: %s (verdict %s)\n", runDir, strings.ToUpper(string(run.Verdict)))
			}
			if rm != nil {
				rm.push(a.ctx, errOut)
			}
			if n := printLeft(errOut, l); n != 0 {
				return withCode(exitUnknown, errors.Join(runErr, fmt.Errorf("%d fault(s) left unhealed", max(n, 0))))
			}
			if errors.Is(runErr, runner.ErrNotReady) || errors.Is(runErr, runner.ErrStackCheck) {
				return withCode(exitFail, runErr)
			}
			if runErr != nil {
				return withCode(exitUnknown, runErr)
			}
			return verdictExit(run.Verdict)
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan (pod, node, VM, the exact calls) and change nothing")
	cmd.Flags().BoolVar(&skipPreflight, "skip-preflight", false, "do not check the cluster and the stack first (irischaos preflight) nor record it in the report")
	cmd.Flags().BoolVar(&skipStackCheck, "skip-stack-check", false, "do not probe IRIS first (irischaos stack check) nor record it in the report")
	cmd.Flags().BoolVar(&force, "force", false, "run even when the preflight or the stack check finds a FAIL (the report shows both)")
	pf.register(cmd)
	cmd.Flags().StringVar(&reportsDir, "reports", "reports", "directory for run reports and the fault ledger")
	cmd.Flags().StringVar(&name, "name", "", "name of the run, the report directory's suffix (default: the scenario's name, or \"scenarios\")")
	cmd.Flags().BoolVar(&allowVM, "allow-vm-actions", false, "allow VM faults (power off, restart, delete real machines through the cloud API)")
	nf.add(cmd)
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", "", "serve Prometheus metrics on this address while running, e.g. :9090")
	cmd.Flags().StringVar(&pushgateway, "pushgateway", "", "push the metrics to this Prometheus Pushgateway URL at the end")
	cmd.Flags().DurationVar(&rtoBudget, "rto-budget", 0, "override every scenario's RTO budget (0: not judged)")
	cmd.Flags().DurationVar(&rpoBudget, "rpo-budget", 0, "override every scenario's RPO budget")
	cmd.Flags().DurationVar(&healTimeout, "heal-timeout", nemesis.DefaultHealTimeout, "how long healing one fault may take")
	cf.add(cmd)
	if adv != nil {
		adv.customize(cmd)
	}
	return cmd
}
