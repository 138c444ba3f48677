//go:build chaos

package e2e

// Every seed scenario (scenarios/*.yaml) end to end against the local
// cluster: the IRIS stand-in on the `replicated` storage class, the real
// runner (observer, session workload, nemesis, ledger, checker, reports).
// Each scenario must pass its own budgets, with RPO within 2 s (the IRIS
// journal write cycle), and leave nothing unhealed.
//
// The cluster is TestMain's (main_test.go): KUBECONFIG's, or a local cluster
// it brings up and down.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/cloud/providers"
	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/image"
	"github.com/irischaos/irischaos/pkg/ledger"
	"github.com/irischaos/irischaos/pkg/report"
	"github.com/irischaos/irischaos/pkg/runner"
	"github.com/irischaos/irischaos/pkg/scenario"
	"github.com/irischaos/irischaos/pkg/stack"
	"github.com/irischaos/irischaos/pkg/workload/podexec"
)

const (
	scenariosNamespace = "irischaos-e2e-scenarios"
	scenariosRPOLimit  = 2 * time.Second
)

// scenariosKubeconfig is the kubeconfig of TestMain's cluster, or skips.
func scenariosKubeconfig(t *testing.T) string {
	t.Helper()
	if kubeconfigPath == "" {
		t.Skip("skipping: TestMain found no cluster (set KUBECONFIG, or let it bring the local cluster up)")
	}
	return kubeconfigPath
}

// tlog sends progress lines to the test log.
type tlog struct{ t *testing.T }

func (w tlog) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func TestSeedScenarios(t *testing.T) {
	kcfg := scenariosKubeconfig(t)
	rest, err := clientcmd.BuildConfigFromFlags("", kcfg)
	if err != nil {
		t.Fatalf("kubeconfig %s: %v", kcfg, err)
	}
	kube, err := kubernetes.NewForConfig(rest)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := podexec.New(rest)
	if err != nil {
		t.Fatal(err)
	}
	scenarios, err := scenario.Load(filepath.Join("..", "scenarios"))
	if err != nil {
		t.Fatal(err)
	}
	if len(scenarios) == 0 {
		t.Fatal("no seed scenarios in ../scenarios")
	}
	reports, _ := filepath.Abs(filepath.Join("..", "build", "e2e-reports"))
	clients := stack.Clients{Kube: kube, Exec: ex, Host: rest.Host}
	tol := int64(20)

	deploy := func(ctx context.Context, t *testing.T, c *envconf.Config) context.Context {
		_, err := stack.Deploy(ctx, clients, stack.Options{
			Namespace: scenariosNamespace, Image: image.StandinRef, ImagePullPolicy: corev1.PullIfNotPresent,
			StorageClass: "replicated", CreateNamespace: true, NodeLossTolerationSeconds: &tol,
			GracePeriod: 10 * time.Second, Progress: tlog{t},
		})
		if err != nil {
			t.Fatalf("deploy the stand-in stack on replicated storage: %v", err)
		}
		return ctx
	}
	teardown := func(ctx context.Context, t *testing.T, c *envconf.Config) context.Context {
		if err := stack.Teardown(ctx, clients, stack.Options{Namespace: scenariosNamespace, Progress: tlog{t}}); err != nil {
			t.Errorf("teardown: %v", err)
		}
		return ctx
	}

	var feats []features.Feature
	for i, s := range scenarios {
		b := features.New("scenario "+s.Name).
			WithLabel("failure-domain", s.FailureDomain).
			WithLabel("fault", string(s.Fault.Type))
		if i == 0 {
			b = b.Setup(deploy)
		}
		b = b.Assess("passes its budgets with RPO <= 2s and heals", func(ctx context.Context, t *testing.T, c *envconf.Config) context.Context {
			l, err := ledger.Open(reports)
			if err != nil {
				t.Fatal(err)
			}
			r, err := runner.New(runner.Config{
				Kube: kube, Exec: ex, Namespace: scenariosNamespace,
				Clouds: func(rec cloud.Recorder) *cloud.Registry {
					return providers.New(providers.Options{Recorder: rec, Progress: tlog{t}})
				},
				ReportsDir: reports, RunName: "e2e-" + s.Name, Ledger: l, Cluster: rest.Host,
				AllowVMActions: true, Out: tlog{t},
				Environment: runner.ClusterEnvironment(kube, ex, rest.Host, scenariosNamespace, "e2e", kcfg),
				NewWorkload: runner.IRISWorkload(kube, ex, scenariosNamespace, tlog{t}),
				NewObserver: runner.ClusterObserver(kube, scenariosNamespace, tlog{t}),
			})
			if err != nil {
				t.Fatal(err)
			}
			run, dir, err := r.Run(ctx, []scenario.Scenario{s})
			if err != nil {
				t.Fatalf("run %s: %v (reports in %s)", s.Name, err, dir)
			}
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
			for _, f := range []string{report.ResultFile, report.MDFile, report.JUnitFile} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("report file: %v", err)
				}
			}
			if pend, _ := l.Pending(); len(pend) > 0 {
				t.Errorf("ledger still lists %d fault(s): %+v", len(pend), pend)
			}
			return ctx
		})
		if i == len(scenarios)-1 {
			b = b.Teardown(teardown)
		}
		feats = append(feats, b.Feature())
	}
	testenv.Test(t, feats...)
	fmt.Fprintf(os.Stderr, "scenario reports in %s\n", reports)
}
