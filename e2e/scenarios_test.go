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

	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/cloud/providers"
	"github.com/irischaos/irischaos/pkg/scenario"
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
	g := newScenarioRig(t, scenariosNamespace)
	scenarios, err := scenario.Load(filepath.Join("..", "scenarios"))
	if err != nil {
		t.Fatal(err)
	}
	if len(scenarios) == 0 {
		t.Fatal("no seed scenarios in ../scenarios")
	}

	var feats []features.Feature
	for i, s := range scenarios {
		b := features.New("scenario "+s.Name).
			WithLabel("failure-domain", s.FailureDomain).
			WithLabel("fault", string(s.Fault.Type))
		if i == 0 {
			b = b.Setup(g.deploy)
		}
		b = b.Assess("passes its budgets with RPO <= 2s and heals", func(ctx context.Context, t *testing.T, c *envconf.Config) context.Context {
			g.run(ctx, t, s, "e2e-"+s.Name, func(rec cloud.Recorder) *cloud.Registry {
				return providers.New(providers.Options{Recorder: rec, Progress: tlog{t}})
			})
			return ctx
		})
		if i == len(scenarios)-1 {
			b = b.Teardown(g.teardown)
		}
		feats = append(feats, b.Feature())
	}
	testenv.Test(t, feats...)
	fmt.Fprintf(os.Stderr, "scenario reports in %s\n", g.reports)
}
