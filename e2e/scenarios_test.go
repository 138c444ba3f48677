//go:build chaos

package e2e

// Every scenario (scenarios/*.yaml, or --e2e-scenarios) end to end against
// the cluster: the suite's IRIS stack (in the lab the stand-in on the
// `replicated` storage class), the real runner (observer, session workload,
// nemesis, ledger, checker, reports). Each scenario must pass its budgets
// (its own, or --e2e-rto-budget/--e2e-rpo-budget), in the lab with RPO
// within 2 s (the IRIS journal write cycle), and leave nothing unhealed. A
// scenario is a feature labelled with its failure domain and fault
// (-labels failure-domain=...); VM faults need node power
// (--e2e-allow-vm-actions and a cloud provider for the nodes).
//
// The cluster is TestMain's (main_test.go): KUBECONFIG's, or a local cluster
// it brings up and down.

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/irischaos/irischaos/internal/suite"
	"github.com/irischaos/irischaos/pkg/fault"
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
	scenarios, err := scenario.Load(params.Scenarios)
	if err != nil {
		t.Fatal(err)
	}
	if len(scenarios) == 0 {
		t.Fatalf("no scenarios in %s", params.Scenarios)
	}
	g.teardownAtEnd(t)

	var feats []features.Feature
	for i, s := range scenarios {
		b := features.New("scenario "+s.Name).
			WithLabel("failure-domain", s.FailureDomain).
			WithLabel("fault", string(s.Fault.Type)).
			WithLabel(suite.NeedsLabel, needs(suite.Stack))
		switch s.Fault.Info().Safety { // a zone-outage by partition needs the node opt-in
		case fault.SafetyVM:
			b = b.WithLabel(suite.NeedsLabel, needs(suite.NodePower))
		case fault.SafetyNode:
			b = b.WithLabel(suite.NeedsLabel, needs(suite.NodeNetwork))
		}
		b = b.Setup(g.deploy)
		if i == 0 {
			b = b.Assess("Ceph RBD: the IRIS volume's data is on OSDs of two nodes or more", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
				g.checkDataSpread(ctx, t)
				return ctx
			})
		}
		b = b.Assess("passes its budgets and heals", func(ctx context.Context, t *testing.T, c *envconf.Config) context.Context {
			run, dir := g.run(ctx, t, s, "e2e-"+s.Name, clouds(tlog{t}))
			checkCephEvidence(t, s, run, dir)
			return ctx
		})
		feats = append(feats, b.Feature())
	}
	testenv.Test(t, feats...)
	fmt.Fprintf(os.Stderr, "scenario reports in %s\n", g.reports)
}
