//go:build chaos

package e2e

// What running a scenario through pkg/runner on TestMain's cluster needs,
// shared by TestSeedScenarios (every seed scenario, the default providers)
// and the VM scenario features (node-lost through the AWS and Azure
// providers): the clients, the stand-in stack on `replicated`, the runner's
// Config, and the checks every scenario run must pass.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/e2e-framework/pkg/envconf"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/internal/lab/image"
	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/ledger"
	"github.com/irischaos/irischaos/pkg/report"
	"github.com/irischaos/irischaos/pkg/rundir"
	"github.com/irischaos/irischaos/pkg/runner"
	"github.com/irischaos/irischaos/pkg/scenario"
	"github.com/irischaos/irischaos/pkg/stack"
)

// scenarioRig runs scenarios against the stand-in stack in one namespace,
// through the seams the CLI uses (runner.Connect).
type scenarioRig struct {
	cluster   *runner.Cluster
	kube      kubernetes.Interface
	namespace string
	reports   string // build/e2e-reports of the source tree
}

// newScenarioRig connects to TestMain's cluster (or skips without one).
func newScenarioRig(t *testing.T, namespace string) *scenarioRig {
	t.Helper()
	kcfg := scenariosKubeconfig(t)
	rc, err := clientcmd.BuildConfigFromFlags("", kcfg)
	if err != nil {
		t.Fatalf("kubeconfig %s: %v", kcfg, err)
	}
	cl, err := runner.Connect(context.Background(), rc, namespace, kcfg)
	if err != nil {
		t.Fatal(err)
	}
	reports, _ := filepath.Abs(filepath.Join("..", "build", "e2e-reports"))
	return &scenarioRig{cluster: cl, kube: cl.Kube, namespace: namespace, reports: reports}
}

func (g *scenarioRig) clients() stack.Clients { return g.cluster.Stack() }

// deploy is a feature step: the stand-in stack on replicated storage, its
// pod evicted 20 s after its node is lost (node-lost's budget assumes it).
func (g *scenarioRig) deploy(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
	tol := int64(20)
	_, err := stack.Deploy(ctx, g.clients(), stack.Options{
		Namespace: g.namespace, Image: image.StandinRef, ImagePullPolicy: corev1.PullIfNotPresent,
		StorageClass: "replicated", CreateNamespace: true, NodeLossTolerationSeconds: &tol,
		GracePeriod: 10 * time.Second, Progress: tlog{t},
	})
	if err != nil {
		t.Fatalf("deploy the stand-in stack on replicated storage: %v", err)
	}
	return ctx
}

// teardown is a feature step removing what deploy created.
func (g *scenarioRig) teardown(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
	if err := stack.Teardown(ctx, g.clients(), stack.Options{Namespace: g.namespace, Progress: tlog{t}}); err != nil {
		t.Errorf("teardown: %v", err)
	}
	return ctx
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
	cfg.Allow, cfg.Out = fault.Allow{VMActions: true}, tlog{t}
	r, err := runner.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	run, dir, err := r.Run(ctx, []scenario.Scenario{s})
	if err != nil {
		t.Fatalf("run %s: %v (reports in %s)", s.Name, err, dir)
	}
	checkRun(t, run, dir, l)
	return run, dir
}

// checkRun: every iteration passes its budgets with RPO <= 2 s, on the
// stand-in over replicated storage, the report files exist, and nothing is
// left unhealed (in the run or in the ledger).
func checkRun(t *testing.T, run report.Run, dir string, l *ledger.Ledger) {
	t.Helper()
	if len(run.Unhealed) > 0 {
		t.Errorf("left unhealed: %+v", run.Unhealed)
	}
	if !run.Environment.DatabaseStandIn || run.Environment.StorageClass != "replicated" {
		t.Errorf("measured %q on %q: want the stand-in on replicated", run.Environment.Database, run.Environment.StorageClass)
	}
	for _, it := range run.Iterations {
		res := it.Result
		rpo, ok := res.RPO()
		rto, _ := res.RTO()
		t.Logf("%s #%d: verdict %s, RTO %s, RPO %s, lost %d, writes %+v", it.Scenario, it.Iteration, res.Verdict, rto, rpo, res.LostAcked, res.Writes)
		if res.Verdict != checker.Pass {
			t.Errorf("%s #%d: verdict %s: %s (history %s)", it.Scenario, it.Iteration, res.Verdict, strings.Join(res.Reasons, "; "), filepath.Join(dir, it.History))
		}
		if !ok || rpo > scenariosRPOLimit {
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
