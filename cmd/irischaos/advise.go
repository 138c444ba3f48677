package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/client-go/discovery"

	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/mitigation"
	"github.com/irischaos/irischaos/pkg/scenario"
	"github.com/irischaos/irischaos/pkg/storagehealth"
)

// adviseDefault is the node-loss scenario the advisor runs when given none.
const adviseDefault = "scenarios/node-lost.yaml"

// adviseCmd is `irischaos advise`: run's flow and flags, with the scenario
// run once per mitigation.
func adviseCmd(a *app) *cobra.Command {
	return scenarioCmd(a, &adviseMode{})
}

func (m *adviseMode) customize(cmd *cobra.Command) {
	cmd.Use = "advise [NODE_LOSS_SCENARIO ...]"
	cmd.Short = "Failover advisor: run the node-loss scenario once per mitigation and report what each buys"
	cmd.Long = `advise runs a node-loss scenario (a vm-* fault; default ` + adviseDefault + `)
once per mitigation and reports, for each, the measured RTO and RPO, what it
removed against the cluster as deployed, and how to make it permanent:

` + mitigationHelp() + `
By default it measures none, ` + string(mitigation.ShortTolerations) + ` and ` + string(mitigation.OutOfServiceTaint) + `,
and ` + string(mitigation.LonghornNodeDownPolicy) + ` where the cluster serves Longhorn.
Every change is written to the fault ledger before it is made and undone
afterwards (also on Ctrl-C; irischaos recover undoes what a killed run left).
It runs exactly as run does, preflight included, with the same flags; the
report gets a "Failover advice" section.

Exit codes as run: 0 every verdict passed (an as-deployed failure that the
scenario expects counts as passed), 1 a verdict failed, 2 unknown or error.`
	cmd.Example = `  # as deployed, shorter tolerations, the out-of-service taint
  irischaos advise --allow-vm-actions

  # only the taint against as deployed, on your own scenario
  irischaos advise my-node-lost.yaml --mitigations none,out-of-service-taint --allow-vm-actions`
	cmd.Flags().StringSliceVar(&m.mitigations, "mitigations", []string{string(mitigation.None), string(mitigation.ShortTolerations), string(mitigation.OutOfServiceTaint)},
		"mitigations to measure, in order (valid: "+strings.Join(mitigation.Names(), ", ")+"); by default "+string(mitigation.LonghornNodeDownPolicy)+" is added where the cluster serves Longhorn")
}

// longhornDefault adds the Longhorn mitigation to the default list where
// the cluster serves Longhorn (a list given with --mitigations is run as
// given), and says whether it did.
func (m *adviseMode) longhornDefault(given bool, d discovery.DiscoveryInterface) bool {
	if given || slices.Contains(m.mitigations, string(mitigation.LonghornNodeDownPolicy)) {
		return false
	}
	if ok, _ := storagehealth.LonghornServed(d); !ok {
		return false
	}
	m.mitigations = append(m.mitigations, string(mitigation.LonghornNodeDownPolicy))
	return true
}

func mitigationHelp() string {
	var b strings.Builder
	for _, i := range mitigation.All() {
		fmt.Fprintf(&b, "  %-26s %s\n", i.Name, i.Summary)
	}
	return b.String()
}

// expand checks that every scenario is a node loss and runs it once per
// mitigation asked for, keeping what the file expects of each.
func (m *adviseMode) expand(in []scenario.Scenario) ([]scenario.Scenario, error) {
	var runs []scenario.MitigationRun
	for _, n := range m.mitigations {
		if _, err := mitigation.Lookup(mitigation.Name(n)); err != nil {
			return nil, fmt.Errorf("--mitigations: %w", err)
		}
		runs = append(runs, scenario.MitigationRun{Name: mitigation.Name(n)})
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("--mitigations: name at least one (valid: %s)", strings.Join(mitigation.Names(), ", "))
	}
	var out []scenario.Scenario
	seen := map[string]bool{}
	for _, s := range in {
		if s.Mitigation != "" && s.Mitigation != mitigation.None {
			continue // the file's own mitigated variants: advise runs its list instead
		}
		if s.Fault.Type.Info().Kind != fault.KindVM {
			return nil, fmt.Errorf("scenario %s: advise measures node loss, a vm-* fault (vm-poweroff), not %s", s.Name, s.Fault.Type)
		}
		if seen[s.Name] {
			continue
		}
		seen[s.Name] = true
		base := s
		base.Mitigations = nil
		for _, r := range runs {
			r.Expect = expectationOf(s, r.Name)
			base.Mitigations = append(base.Mitigations, r)
		}
		out = append(out, base.Expand()...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no node-loss scenario to advise on")
	}
	return out, nil
}

// expectationOf keeps what the scenario file expects of mitigation n (its
// as-deployed entry carries the file's expect: after Load's expansion).
func expectationOf(s scenario.Scenario, n mitigation.Name) *scenario.Expect {
	if s.MitigationName() == n {
		return s.Expect
	}
	if i := slices.IndexFunc(s.Mitigations, func(r scenario.MitigationRun) bool { return r.Name == n }); i >= 0 {
		return s.Mitigations[i].Expect
	}
	return nil
}
