//go:build chaos

package e2e

// What running a scenario through pkg/runner on TestMain's cluster needs,
// shared by TestSeedScenarios (every seed scenario, the suite's providers)
// and the VM scenario features (node-lost through the AWS and Azure
// providers): the clients, the suite's IRIS stack (the stand-in on
// `replicated` in the lab), the runner's Config, and the checks every
// scenario run must pass.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/e2e-framework/pkg/envconf"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/internal/suite"
	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/ledger"
	"github.com/irischaos/irischaos/pkg/report"
	"github.com/irischaos/irischaos/pkg/rundir"
	"github.com/irischaos/irischaos/pkg/runner"
	"github.com/irischaos/irischaos/pkg/scenario"
	"github.com/irischaos/irischaos/pkg/stack"
	"github.com/irischaos/irischaos/pkg/stackcheck"
)

// scenarioRig runs scenarios against the suite's stack in one namespace,
// through the seams the CLI uses (runner.Connect).
type scenarioRig struct {
	cluster   *runner.Cluster
	kube      kubernetes.Interface
	namespace string
	reports   string // the suite's reports directory (--e2e-reports)

	mu       sync.Mutex
	deployed bool
}

// newScenarioRig connects to TestMain's cluster (or skips without one), in
// namespace or the suite's --e2e-namespace.
func newScenarioRig(t *testing.T, namespace string) *scenarioRig {
	t.Helper()
	namespace = namespaceFor(namespace)
	kcfg := scenariosKubeconfig(t)
	rc, err := clientcmd.BuildConfigFromFlags("", kcfg)
	if err != nil {
		t.Fatalf("kubeconfig %s: %v", kcfg, err)
	}
	cl, err := runner.Connect(context.Background(), rc, namespace, kcfg)
	if err != nil {
		t.Fatal(err)
	}
	cl.Instance = params.Instance
	return &scenarioRig{cluster: cl, kube: cl.Kube, namespace: namespace, reports: params.Reports}
}

func (g *scenarioRig) clients() stack.Clients { return g.cluster.Stack() }

// deploy is a feature step: the suite's stack (the stand-in on replicated
// storage in the lab), its pod evicted 20 s after its node is lost
// (node-lost's budget assumes it). Once per rig: the features of one test
// share the stack, whichever of them run (-labels, -feature, needs).
func (g *scenarioRig) deploy(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.deployed {
		return ctx
	}
	tol := int64(20)
	deployStack(ctx, t, g.kube, g.clients(), g.namespace, &tol)
	g.deployed = true
	return ctx
}

// teardown is a feature step removing what deploy created.
func (g *scenarioRig) teardown(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.deployed = false
	if err := stack.Teardown(ctx, g.clients(), stack.Options{Namespace: g.namespace, Progress: tlog{t}}); err != nil {
		t.Errorf("teardown: %v", err)
	}
	return ctx
}

// teardownAtEnd removes the stack when t ends, if a feature deployed it.
func (g *scenarioRig) teardownAtEnd(t *testing.T) {
	t.Cleanup(func() {
		g.mu.Lock()
		deployed := g.deployed
		g.mu.Unlock()
		if deployed {
			g.teardown(context.Background(), t, nil)
		}
	})
}

// run runs s through the runner, its VM faults through the registry clouds
// builds, and checks what every scenario run must satisfy (checkRun). It
// returns the run and its directory; a run that could not be made is fatal.
func (g *scenarioRig) run(ctx context.Context, t *testing.T, s scenario.Scenario, runName string, clouds func(cloud.Recorder) *cloud.Registry) (report.Run, string) {
	t.Helper()
	l, err := ledger.Open(g.reports)
	if err != nil {
		t.Fatal(err)
	}
	cfg := g.cluster.Config("e2e", clouds, tlog{t})
	cfg.ReportsDir, cfg.RunName, cfg.Ledger = g.reports, runName, l
	cfg.Allow, cfg.Out = fault.Allow{VMActions: params.AllowVMActions, NodeActions: params.AllowNodeActions}, tlog{t}
	// The stack check first, as irischaos run does: on a user's IRIS a
	// probe the client cannot read stops the run with its transcript.
	cfg.StackCheck = func(ctx context.Context, streams int) (stackcheck.Report, error) {
		return stackcheck.Run(ctx, stackcheck.Options{Kube: g.cluster.Kube, Exec: g.cluster.Exec, Namespace: g.namespace, Instance: params.Instance, Streams: streams})
	}
	if params.RTOBudget > 0 {
		cfg.RTOBudget = &params.RTOBudget
	}
	if params.RPOBudget > 0 {
		cfg.RPOBudget = &params.RPOBudget
	}
	r, err := runner.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	run, dir, err := r.Run(ctx, []scenario.Scenario{s})
	if err != nil {
		t.Fatalf("run %s: %v (reports in %s)", s.Name, err, dir)
	}
	suite.AddRun(ctx, dir, run)
	checkRun(t, run, dir, l)
	return run, dir
}

// checkRun: every iteration passes its budgets, the report files exist, and
// nothing is left unhealed (in the run or in the ledger). In the lab also:
// measured on the stand-in over replicated storage, RPO <= 2 s.
func checkRun(t *testing.T, run report.Run, dir string, l *ledger.Ledger) {
	t.Helper()
	if len(run.Unhealed) > 0 {
		t.Errorf("left unhealed: %+v", run.Unhealed)
	}
	if lab() && (!run.Environment.DatabaseStandIn || run.Environment.StorageClass != suite.EmbeddedStorageName) {
		t.Errorf("measured %q on %q: want the stand-in on replicated", run.Environment.Database, run.Environment.StorageClass)
	}
	for _, it := range run.Iterations {
		res := it.Result
		rpo, ok := res.RPO()
		rto, _ := res.RTO()
		t.Logf("%s #%d: verdict %s, RTO %s, RPO %s, lost %d, writes %+v", it.Scenario, it.Iteration, it.VerdictText(), rto, rpo, res.LostAcked, res.Writes)
		// A fail the scenario expects (node loss as deployed on attach-
		// required storage) passes; a pass where it expects a fail does not.
		if it.Verdict() != checker.Pass {
			t.Errorf("%s #%d: verdict %s: %s (history %s)", it.Scenario, it.Iteration, it.VerdictText(), strings.Join(res.Reasons, "; "), filepath.Join(dir, it.History))
		}
		if lab() && (!ok || rpo > scenariosRPOLimit) {
			t.Errorf("%s #%d: RPO %s (known %v), want <= %s", it.Scenario, it.Iteration, rpo, ok, scenariosRPOLimit)
		}
	}
	for _, f := range []string{rundir.ResultFile, rundir.MDFile, rundir.JUnitFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("report file: %v", err)
		}
	}
	if pend, _ := l.Pending(); len(pend) > 0 {
		t.Errorf("ledger still lists %d fault(s): %+v", len(pend), pend)
	}
}
