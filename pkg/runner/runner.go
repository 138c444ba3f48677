// Package runner executes scenarios: for each scenario and iteration it opens
// a new history, records what is measured, starts the observer and the
// workload, warms up, injects the fault (written to the ledger first), waits
// for its effect and for recovery, keeps writing a little, reads every marker
// back, heals, runs the checker and writes the reports. Progress lines keep
// the terminal informed throughout.
//
// Every injected fault is healed: at the end of its iteration, on error, and
// when the run is interrupted (healing then runs on a fresh context that only
// Config.Abort cuts short). What could not be healed stays in the ledger for
// the next run or `irischaos recover`.
package runner

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/ledger"
	"github.com/irischaos/irischaos/pkg/mitigation"
	"github.com/irischaos/irischaos/pkg/nemesis"
	"github.com/irischaos/irischaos/pkg/podexec"
	"github.com/irischaos/irischaos/pkg/preflight"
	"github.com/irischaos/irischaos/pkg/progress"
	"github.com/irischaos/irischaos/pkg/report"
	"github.com/irischaos/irischaos/pkg/rundir"
	"github.com/irischaos/irischaos/pkg/scenario"
	"github.com/irischaos/irischaos/pkg/stackcheck"
	"github.com/irischaos/irischaos/pkg/target"
)

// Workload writes markers until stopped and reads them back
// (*iris.Client; fakes in tests).
type Workload interface {
	Run(ctx context.Context) error
	Stop()
	ReadBack(ctx context.Context) (history.Record, error)
}

// Observer watches the cluster into the history and confirms effects
// (*observe.Observer; fakes in tests).
type Observer interface {
	Start(ctx context.Context) error
	ExpectEffect(fault.Effect) <-chan time.Time
}

// Config is what a run needs. Kube, Namespace, ReportsDir and Ledger are
// required; Run needs the seams too (Environment, NewWorkload, NewObserver:
// Cluster.Config wires the real ones), Plan does not.
type Config struct {
	Kube kubernetes.Interface
	// Dynamic reaches CRDs: Longhorn's settings, for its mitigation. nil
	// where none was built (the mitigation then says so).
	Dynamic   dynamic.Interface
	Exec      podexec.Execer
	Namespace string
	// Instance is the IRIS instance in the stack's pod, for the process
	// faults; stackid.Instance when empty.
	Instance string
	// Clouds builds the VM provider registry whose calls go to rec.
	Clouds func(rec cloud.Recorder) *cloud.Registry

	ReportsDir string
	RunName    string // the run directory's suffix; "run" when empty
	Ledger     *ledger.Ledger
	Cluster    string // the API server, recorded with each ledger entry

	Allow fault.Allow // the opt-ins given (--allow-vm-actions, --allow-node-actions)
	// AgentImage and AgentNamespace of partition agents (--agent-image,
	// --agent-namespace); nemesis defaults when empty.
	AgentImage, AgentNamespace string
	// VolumeCopies reads the stack volume's usable copies per zone, nil
	// where the storage cannot tell; a zone outage holding them all is
	// refused. nil: not read.
	VolumeCopies func(ctx context.Context) map[string]int
	RTOBudget    *time.Duration // overrides every scenario's budget
	RPOBudget    *time.Duration

	Out io.Writer // progress; os.Stderr when nil
	// Abort, when closed, cuts healing short (a second Ctrl-C).
	Abort <-chan struct{}
	// HealTimeout bounds the healing of one fault; nemesis.DefaultHealTimeout when 0.
	HealTimeout time.Duration
	// EffectTimeout bounds the wait for a fault's effect; the scenario's
	// maxRecovery when 0.
	EffectTimeout time.Duration
	// RedundancyWait bounds the wait, after the read-back, for the volume's
	// storage to report full redundancy again; DefaultRedundancyWait when
	// 0, no wait when negative.
	RedundancyWait time.Duration
	// QuietAfterEffect: writes that kept succeeding this long after the
	// effect, with none failing, mean "no interruption"; DefaultQuiet when 0.
	QuietAfterEffect time.Duration

	// Hooks for live metrics; each may be nil. OnOp sees every completed
	// write (within a second), OnFault a fault injected (true) and healed.
	OnIteration func(report.Iteration)
	OnOp        func(scenario, result string)
	OnFault     func(s scenario.Scenario, active bool)

	// Preflight, when set, checks the cluster and the stack before any
	// fault (after leftovers are healed); what it finds goes into the
	// report. A FAIL stops the run unless Force.
	Preflight func(ctx context.Context) (preflight.Report, error)
	// StackCheck, when set, runs every probe the run relies on once
	// against the IRIS pod (after the preflight), for a run holding
	// streams writer sessions at once; what it finds goes into the report
	// with its transcripts. A FAIL stops the run unless Force.
	StackCheck func(ctx context.Context, streams int) (stackcheck.Report, error)
	Force      bool

	// Seams.
	Environment func(ctx context.Context) (report.Environment, error)
	NewWorkload func(s scenario.Scenario, h *history.Writer) (Workload, error)
	NewObserver func(h *history.Writer) (Observer, error)
	Now         func() time.Time
}

// Defaults.
const (
	DefaultQuiet = 15 * time.Second
	// DefaultRedundancyWait: a returned node's Ceph OSD rejoins and its
	// placement groups recover within about a minute on the local cluster.
	DefaultRedundancyWait = 3 * time.Minute
	readBackTimeout       = 3 * time.Minute
	firstWriteGrace       = 60 * time.Second // beyond warm-up, for the first acknowledged write
)

// Runner runs scenarios.
type Runner struct {
	cfg      Config
	progress *progress.Printer
}

// New checks cfg.
func New(cfg Config) (*Runner, error) {
	switch {
	case cfg.Kube == nil:
		return nil, errors.New("runner: no Kubernetes client")
	case cfg.Namespace == "":
		return nil, errors.New("runner: no namespace")
	case cfg.ReportsDir == "":
		return nil, errors.New("runner: no reports directory")
	case cfg.Ledger == nil:
		return nil, errors.New("runner: no ledger: faults must be recorded before they are injected")
	}
	if cfg.Out == nil {
		cfg.Out = os.Stderr
	}
	// Long waits show a status line on a terminal (one line when they end
	// in a log); everything printed goes through the same printer.
	pr, ok := cfg.Out.(*progress.Printer)
	if !ok {
		pr = progress.New(cfg.Out)
		cfg.Out = pr
	}
	if cfg.QuietAfterEffect <= 0 {
		cfg.QuietAfterEffect = DefaultQuiet
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RunName == "" {
		cfg.RunName = "run"
	}
	if cfg.Clouds == nil {
		cfg.Clouds = func(cloud.Recorder) *cloud.Registry { return &cloud.Registry{} }
	}
	return &Runner{cfg: cfg, progress: pr}, nil
}

func (r *Runner) printf(format string, args ...any) {
	fmt.Fprintf(r.cfg.Out, "%s %s\n", r.cfg.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (r *Runner) finder() target.Finder {
	return target.Finder{Client: r.cfg.Kube, Namespace: r.cfg.Namespace}
}

// findTarget resolves what scenario s acts on: the IRIS pod, its node and VM,
// or the node the scenario names.
func (r *Runner) findTarget(ctx context.Context, s scenario.Scenario) (target.Target, error) {
	t, err := r.finder().IRIS(ctx)
	if s.Targets.Node == "" {
		return t, err
	}
	n, nerr := r.finder().Node(ctx, s.Targets.Node)
	if nerr != nil {
		return target.Target{}, fmt.Errorf("scenario %s: targets.node: %w", s.Name, nerr)
	}
	if err == nil && t.Node == n.Node {
		return t, nil // the named node carries the IRIS pod
	}
	return n, nil
}

// copies is the volume's copies per zone for a zone outage, else nil.
func (r *Runner) copies(ctx context.Context, s scenario.Scenario) map[string]int {
	if s.Fault.Type != fault.ZoneOutage || r.cfg.VolumeCopies == nil {
		return nil
	}
	return r.cfg.VolumeCopies(ctx)
}

func (r *Runner) spec(s scenario.Scenario, allow fault.Allow) nemesis.Spec {
	sp := nemesis.Spec{
		Name:         s.Fault.Type,
		DrainTimeout: s.Fault.DrainTimeoutD(),
		Allow:        allow,
		NoPowerOn:    !s.Fault.PowerOnAfter(),

		Partition:      s.Fault.Partition(),
		PartitionVia:   s.Fault.Via,
		AgentImage:     r.cfg.AgentImage,
		AgentNamespace: cmp.Or(r.cfg.AgentNamespace, r.cfg.Namespace),
		Zone:           s.Targets.Zone,
		ZoneMethod:     s.Fault.Method,
	}
	if s.Fault.GracePeriod != nil {
		g := time.Duration(*s.Fault.GracePeriod)
		sp.GracePeriod = &g
	}
	return sp
}

func (r *Runner) budgets(s scenario.Scenario) checker.Budgets {
	b := checker.Budgets{RTO: s.RTO(), RPO: s.RPO()}
	if r.cfg.RTOBudget != nil {
		b.RTO = *r.cfg.RTOBudget
	}
	if r.cfg.RPOBudget != nil {
		b.RPO = *r.cfg.RPOBudget
	}
	return b
}

// Plan is what a run would do for one scenario, found read-only.
type Plan struct {
	Scenario string
	Domain   string
	Fault    string
	Target   target.Target
	Steps    []string
	Budgets  checker.Budgets
	Iter     int
	Err      error // the scenario cannot run as it stands
}

// Plan resolves every scenario's target and fault without changing anything:
// no workload, no injection, no cloud call beyond parsing providerIDs.
func (r *Runner) Plan(ctx context.Context, scenarios []scenario.Scenario) []Plan {
	var out []Plan
	for _, s := range scenarios {
		p := Plan{Scenario: s.Name, Domain: s.FailureDomain, Fault: string(s.Fault.Type), Budgets: r.budgets(s), Iter: s.IterationCount()}
		t, err := r.findTarget(ctx, s)
		p.Target = t
		if err == nil {
			var f nemesis.Fault
			// Planned as if allowed, so the plan shows what the opt-in would do.
			sp := r.spec(s, fault.Allow{VMActions: true, NodeActions: true})
			sp.Copies = r.copies(ctx, s)
			f, err = nemesis.New(nemesis.Env{Client: r.cfg.Kube, Exec: r.cfg.Exec, Clouds: r.cfg.Clouds(nil), Instance: r.cfg.Instance}, sp, t)
			if err == nil {
				p.Steps = f.Plan()
			}
			if m := s.MitigationName(); err == nil && m != mitigation.None {
				var mf nemesis.Fault
				mf, err = nemesis.NewMitigation(ctx, nemesis.Env{Client: r.cfg.Kube, Dynamic: r.cfg.Dynamic}, m, t)
				switch {
				case err == nil:
					for _, step := range mf.Plan() {
						p.Steps = append(p.Steps, "mitigation "+string(m)+": "+step)
					}
				case errors.Is(err, nemesis.ErrNoLonghorn):
					p.Steps = append(p.Steps, "mitigation "+string(m)+": skipped ("+err.Error()+"); the iteration runs as deployed")
					err = nil
				}
			}
		}
		err = errors.Join(s.Fault.Info().Permit(r.cfg.Allow), err)
		p.Err = err
		out = append(out, p)
	}
	return out
}

// PrintPlans writes plans for a terminal.
func PrintPlans(w io.Writer, plans []Plan) {
	for _, p := range plans {
		fmt.Fprintf(w, "scenario %s (%s): %s x%d, budgets RTO %s RPO %s\n", p.Scenario, p.Domain, p.Fault, p.Iter, budgetText(p.Budgets.RTO), p.Budgets.RPO)
		fmt.Fprintf(w, "  target: %s\n", p.Target)
		for _, s := range p.Steps {
			fmt.Fprintf(w, "  - %s\n", s)
		}
		if p.Err != nil {
			fmt.Fprintf(w, "  ! cannot run: %v\n", p.Err)
		}
	}
}

func budgetText(d time.Duration) string {
	if d == 0 {
		return "not judged"
	}
	return d.String()
}

func orText(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// ErrNotReady is Run's error when the preflight found a FAIL and the run
// was not forced: nothing was injected.
var ErrNotReady = errors.New("preflight: the cluster is NOT READY for the HA scenarios")

// preflight runs the configured preflight into run; its error (wrapping
// ErrNotReady) stops the run before any fault.
func (r *Runner) preflight(ctx context.Context, run *report.Run) error {
	if r.cfg.Preflight == nil {
		r.printf("preflight: skipped")
		return nil
	}
	r.printf("preflight: checking nodes, storage and the IRIS Deployment")
	pf, err := r.cfg.Preflight(ctx)
	if err != nil {
		// Could not tell: measuring still says what the cluster does.
		run.Errors = append(run.Errors, "preflight: "+err.Error())
		r.printf("preflight: could not run: %v", err)
		return nil
	}
	run.Preflight = &pf
	var found []gateItem
	for _, c := range pf.Checks {
		found = append(found, gateItem{c.Status, c.ID, c.Reason, c.ID + " (" + c.Fix + ")"})
	}
	return r.gate("preflight", found, pf.Worst(), pf.ExitCode() == 1, ": the measurements show what the failing checks cost", ErrNotReady, "measure anyway")
}

// gateItem is one check of a gate: its status, what to print when it is
// not a pass, and how a FAIL is named in the error.
type gateItem struct {
	status      preflight.Status
	id, reason  string
	failNamedAs string
}

// gate is what the preflight and the stack check share once they ran: print
// every finding that is not a PASS and the worst, and on a FAIL stop the run
// (an error wrapping stop) unless --force.
func (r *Runner) gate(label string, found []gateItem, worst preflight.Status, failed bool, forcedWhy string, stop error, anyway string) error {
	for _, f := range found {
		if f.status != preflight.Pass {
			r.printf("%s: %s %s: %s", label, f.status, f.id, f.reason)
		}
	}
	r.printf("%s: %s", label, worst)
	if !failed {
		return nil
	}
	if r.cfg.Force {
		r.printf("%s: FAIL, running anyway (--force)%s", label, forcedWhy)
		return nil
	}
	var fails []string
	for _, f := range found {
		if f.status == preflight.Fail {
			fails = append(fails, f.failNamedAs)
		}
	}
	return fmt.Errorf("%w: %s; fix them, or pass --force to %s", stop, strings.Join(fails, ", "), anyway)
}

// ErrStackCheck is Run's error when the stack check found a FAIL and the
// run was not forced: nothing was injected.
var ErrStackCheck = errors.New("stack check: IRIS does not answer every probe the run relies on")

// stackCheck runs the configured stack check into run, for the most
// streams any of scenarios holds; its error (wrapping ErrStackCheck) stops
// the run before any fault.
func (r *Runner) stackCheck(ctx context.Context, run *report.Run, scenarios []scenario.Scenario) error {
	if r.cfg.StackCheck == nil {
		r.printf("stack check: skipped")
		return nil
	}
	streams := 1
	for _, s := range scenarios {
		streams = max(streams, s.StreamCount())
	}
	r.printf("stack check: probing IRIS (qlist, $zv, a session, an error, a scratch global, licenses for %d stream(s))", streams)
	sc, err := r.cfg.StackCheck(ctx, streams)
	if err != nil {
		// Could not probe: the workload's own errors will say more.
		run.Errors = append(run.Errors, "stack check: "+err.Error())
		r.printf("stack check: could not run: %v", err)
		return nil
	}
	run.StackCheck = &sc
	var found []gateItem
	for _, p := range sc.Probes {
		found = append(found, gateItem{p.Status, p.ID, p.Reason, p.ID + " (" + p.Reason + ")"})
	}
	return r.gate("stack check", found, sc.Worst(), sc.ExitCode() == 1, "", ErrStackCheck, "run anyway")
}

// Run executes every scenario, every iteration, writes the run's reports and
// returns the run (its Verdict combined from every iteration). The error is
// set when the run could not complete (including an interruption); the
// returned run still holds everything gathered.
func (r *Runner) Run(ctx context.Context, scenarios []scenario.Scenario) (report.Run, string, error) {
	run := report.Run{Name: r.cfg.RunName, Started: r.cfg.Now().UTC(), Unhealed: []report.Unhealed{}}
	if r.cfg.NewWorkload == nil || r.cfg.NewObserver == nil || r.cfg.Environment == nil {
		return run, "", errors.New("runner: Run needs NewWorkload, NewObserver and Environment (Cluster.Config wires the real ones)")
	}
	run.Scenarios = map[string]string{}
	for _, s := range scenarios {
		// The scenario as it was run (defaults applied), whatever file it came from.
		b, err := json.Marshal(s)
		if err != nil {
			return run, "", fmt.Errorf("checksum of scenario %s: %w", s.Name, err)
		}
		sum := sha256.Sum256(b)
		run.Scenarios[s.Name] = hex.EncodeToString(sum[:])
	}
	runDir, err := rundir.Create(r.cfg.ReportsDir, r.cfg.RunName, run.Started)
	if err != nil {
		return run, "", err
	}
	r.printf("run %s: %d scenario(s), reports in %s", r.cfg.RunName, len(scenarios), runDir)

	// Faults an earlier run left behind are healed first: measuring on a
	// cluster with a cordoned node or a VM off would be measuring the wrong thing.
	if _, err := r.guard(nil).Recover(ctx, r.cfg.Out); err != nil {
		run.Errors = append(run.Errors, err.Error())
	}

	env, err := r.cfg.Environment(ctx)
	if err != nil {
		run.Errors = append(run.Errors, "environment: "+err.Error())
		r.printf("environment: %v", err)
	}
	env.Namespace = r.cfg.Namespace
	run.Environment = env
	r.printf("measuring: database %s; storage %s (%s)%s; Kubernetes %s; nodes %s", orText(env.Database, "(unknown)"), orText(env.StorageClass, "?"), orText(env.Provisioner, "?"), standInText(env.StorageStandIn), orText(env.Kubernetes, "?"), strings.Join(env.Nodes, ", "))

	runErr := r.preflight(ctx, &run)
	if runErr == nil {
		runErr = r.stackCheck(ctx, &run, scenarios)
	}
loop:
	for _, s := range scenarios {
		if runErr != nil {
			break
		}
		for i := 1; i <= s.IterationCount(); i++ {
			if ctx.Err() != nil {
				runErr = fmt.Errorf("interrupted: %w", context.Cause(ctx))
				break loop
			}
			it, unhealed := r.iteration(ctx, runDir, env, s, i)
			run.Iterations = append(run.Iterations, it)
			run.Unhealed = append(run.Unhealed, unhealed...)
			if err := rundir.WriteIterationResult(runDir, it); err != nil {
				run.Errors = append(run.Errors, err.Error())
			}
			if r.cfg.OnIteration != nil {
				r.cfg.OnIteration(it)
			}
			r.printf("%s #%d: verdict %s (RTO %s, RPO %s, lost %d)%s", s.Name, i, strings.ToUpper(string(it.Result.Verdict)), secs(it.Result.RTOSeconds), secs(it.Result.RPOSeconds), it.Result.LostAcked, errText(it.Error))
			for _, a := range it.Result.Anomalies {
				if a.Kind == checker.AnomalySplitBrain {
					r.printf("%s #%d: SPLIT BRAIN: %s", s.Name, i, a.Message)
				}
			}
			if len(unhealed) > 0 {
				runErr = fmt.Errorf("%d fault(s) left unhealed (listed in %s): stopping the run", len(unhealed), r.cfg.Ledger.Path())
				break loop
			}
		}
	}
	if runErr == nil && ctx.Err() != nil {
		runErr = fmt.Errorf("interrupted: %w", context.Cause(ctx))
	}
	if runErr != nil {
		run.Errors = append(run.Errors, runErr.Error())
	}
	run.Finished = r.cfg.Now().UTC()
	run.Verdict = checker.RunVerdict(run.IterationVerdicts(), runErr == nil)
	if err := rundir.Write(runDir, run); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("write reports in %s: %w", runDir, err))
	}
	return run, runDir, runErr
}

func standInText(b bool) string {
	if b {
		return " [stand-in]"
	}
	return ""
}

func errText(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

func secs(p *float64) string {
	if p == nil {
		return "?"
	}
	return fmt.Sprintf("%.3fs", *p)
}

func (r *Runner) env(rec cloud.Recorder) nemesis.Env {
	return nemesis.Env{Client: r.cfg.Kube, Dynamic: r.cfg.Dynamic, Exec: r.cfg.Exec, Clouds: r.cfg.Clouds(rec), Out: r.cfg.Out, Instance: r.cfg.Instance}
}

// guard is the fault lifecycle of this run, its cloud calls going to rec.
func (r *Runner) guard(rec cloud.Recorder) nemesis.Guard {
	return nemesis.Guard{Ledger: r.cfg.Ledger, Env: r.env(rec), Cluster: r.cfg.Cluster, Run: r.cfg.RunName, HealTimeout: r.cfg.HealTimeout, Abort: r.cfg.Abort}
}

// Path of an iteration's history relative to the run directory.
func relHistory(runDir, s string, i int) string {
	rel, err := filepath.Rel(runDir, rundir.HistoryPath(runDir, s, i))
	if err != nil {
		return rundir.HistoryPath(runDir, s, i)
	}
	return rel
}
