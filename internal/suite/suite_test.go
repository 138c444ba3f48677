package suite

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/irischaos/irischaos/internal/promtest"
	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/report"
)

var defaults = Defaults{StandinImage: "localhost/standin", Image: "iris-community", StorageClass: "longhorn"}

func TestParamsFlagsEnvAndDefaults(t *testing.T) {
	parse := func(args []string, env map[string]string) (*Params, error) {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.String("namespace", "", "e2e-framework's own flag: not the suite's")
		p := Register(fs)
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		return p, p.FromEnv(fs, func(k string) string { return env[k] })
	}

	// The embedded cluster without flags: today's lab.
	p, err := parse(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Resolve(true, defaults, "/src")
	if p.Image != "localhost/standin" || p.StorageClass != "replicated" || !p.AllowVMActions || !p.AllowNodeActions || p.Namespace != "" ||
		p.Reports != "/src/build/e2e-reports" || p.JUnit != "/src/build/e2e-junit.xml" || p.Scenarios != "/src/scenarios" {
		t.Errorf("embedded defaults: %+v", p)
	}
	if !p.Lab(true, defaults.StandinImage) {
		t.Error("the embedded cluster's defaults are not the lab")
	}

	// A user's cluster: the stack's defaults, no VM action unless asked.
	p, _ = parse(nil, nil)
	p.Resolve(false, defaults, "/src")
	if p.Image != "iris-community" || p.StorageClass != "longhorn" || p.AllowVMActions || p.AllowNodeActions || p.Lab(false, defaults.StandinImage) {
		t.Errorf("foreign defaults: %+v", p)
	}

	// The environment stands for a flag not given; a flag wins over it.
	p, err = parse([]string{"-e2e-image=from-flag", "-e2e-allow-vm-actions=false", "-namespace=x"}, map[string]string{
		"IRISCHAOS_E2E_IMAGE":                  "from-env",
		"IRISCHAOS_E2E_STORAGE_CLASS":          "gp3",
		"IRISCHAOS_E2E_USE_EXISTING_NAMESPACE": "true",
		"IRISCHAOS_E2E_RPO_BUDGET":             "5s",
		"IRISCHAOS_E2E_REPORTS":                "/artefacts",
		"IRISCHAOS_E2E_ALLOW_VM_ACTIONS":       "true",
		"IRISCHAOS_E2E_INSTANCE":               "PROD",
	})
	if err != nil {
		t.Fatal(err)
	}
	p.Resolve(true, defaults, "/src")
	if p.Image != "from-flag" || p.StorageClass != "gp3" || !p.UseExistingNamespace || p.RPOBudget != 5*time.Second || p.Reports != "/artefacts" || p.AllowVMActions || p.Instance != "PROD" {
		t.Errorf("flags and environment: %+v", p)
	}
	if p.Lab(true, defaults.StandinImage) {
		t.Error("another image and class are not the lab")
	}
	if !p.Given(FlagAllowVMActions) || p.Given(FlagAWSRegion) {
		t.Error("Given")
	}

	// A bad value in the environment says which variable.
	if _, err := parse(nil, map[string]string{"IRISCHAOS_E2E_RTO_BUDGET": "soon"}); err == nil || !strings.Contains(err.Error(), "IRISCHAOS_E2E_RTO_BUDGET") {
		t.Errorf("bad environment value: %v", err)
	}
	if got := EnvName("e2e-use-existing-namespace"); got != "IRISCHAOS_E2E_USE_EXISTING_NAMESPACE" {
		t.Errorf("EnvName: %s", got)
	}
}

func TestSecretRef(t *testing.T) {
	for v, want := range map[string]bool{"ci/regcred": true, "regcred": false, "./a/b": false, "/home/x/.docker/config.json": false, "a/b/c": false, "a/": false} {
		if _, _, ok := SecretRef(v); ok != want {
			t.Errorf("SecretRef(%q) = %v, want %v", v, ok, want)
		}
	}
}

func TestTargetMissing(t *testing.T) {
	tg := Target{}
	tg.Give(Stack)
	tg.Lack(NodePower, "no --e2e-allow-vm-actions")
	if got := tg.Missing(Stack); got != "" {
		t.Errorf("Missing(stack) = %q", got)
	}
	if got := tg.Missing(Stack, NodePower); got != "needs node-power: no --e2e-allow-vm-actions" {
		t.Errorf("Missing(stack, node-power) = %q", got)
	}
	if got := tg.Missing(Longhorn); !strings.Contains(got, "cannot tell") {
		t.Errorf("an unknown need: %q", got)
	}
}

// TestInstrument runs instrumented features through e2e-framework: a
// feature whose need the target lacks is skipped with the reason, one
// whose needs are met runs each step, the step's skip reason and runs are
// recorded, a feature not selected is listed as not run.
func TestInstrument(t *testing.T) {
	tg := Target{}
	tg.Give(Stack)
	tg.Lack(NodePower, "the nodes' providerIDs are azure:// and --e2e-allow-vm-actions was not given")
	r := NewRecorder(tg)
	var ran []string
	step := func(name string) features.Func {
		return func(ctx context.Context, _ *testing.T, _ *envconf.Config) context.Context {
			ran = append(ran, name)
			return ctx
		}
	}
	ok := features.New("stack feature").WithLabel(NeedsLabel, string(Stack)).
		Setup(step("setup")).
		Assess("passes", func(ctx context.Context, t *testing.T, c *envconf.Config) context.Context {
			AddRun(ctx, "/reports/run-1", report.Run{Iterations: []report.Iteration{passing()}})
			return step("passes")(ctx, t, c)
		}).
		Assess("skips", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			Skip(ctx, t, "no second node")
			return ctx
		}).
		Teardown(step("teardown")).Feature()
	power := features.New("power feature").WithLabel(NeedsLabel, string(Stack)).WithLabel(NeedsLabel, string(NodePower)).
		Setup(step("power setup")).Assess("a", step("power a")).Feature()
	other := features.New("other").WithLabel("suite", "lab").Assess("x", step("x")).Feature()

	cfg := envconf.New().WithSkipLabels(map[string][]string{"suite": {"lab"}})
	env.NewWithConfig(cfg).Test(t, r.Instrument(t, ok, power, other)...)

	if got := strings.Join(ran, ","); got != "setup,passes,teardown" {
		t.Errorf("steps run: %s", got)
	}
	fs := r.Features()
	if len(fs) != 3 {
		t.Fatalf("%d features recorded", len(fs))
	}
	if fs[0].Outcome() != Passed || fs[1].Outcome() != Skipped || fs[2].Outcome() != NotRun {
		t.Errorf("outcomes %s %s %s", fs[0].Outcome(), fs[1].Outcome(), fs[2].Outcome())
	}
	if !strings.Contains(fs[1].Skip, "needs node-power: the nodes' providerIDs are azure://") {
		t.Errorf("skip reason %q", fs[1].Skip)
	}
	st := fs[0].Steps
	if st[1].Outcome != Passed || len(st[1].Runs) != 1 || st[2].Outcome != Skipped || st[2].Message != "no second node" {
		t.Errorf("steps %+v %+v", *st[1], *st[2])
	}
	if r.Failed() {
		t.Error("Failed with no failure")
	}
	var sum bytes.Buffer
	r.Summary(&sum)
	for _, want := range []string{
		`PASS    TestInstrument / stack feature ("skips" skipped: no second node)`,
		"SKIP    TestInstrument / power feature: needs node-power: the nodes' providerIDs",
		"NOT RUN TestInstrument / other",
		"3 feature(s): 1 passed, 0 failed, 1 skipped, 1 not run",
		"skipped, with the reason",
	} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
}

func passing() report.Iteration {
	rto, rpo, budget := 12.5, 0.0, 45.0
	return report.Iteration{Scenario: "pod", Iteration: 1, Result: checker.Result{Verdict: checker.Pass, RTOSeconds: &rto, RPOSeconds: &rpo,
		Budgets: checker.BudgetsJSON{RTOSeconds: &budget, RPOSeconds: 2}}}
}

func failing() report.Iteration {
	rto, rpo, budget := 80.0, 3.0, 45.0
	return report.Iteration{Scenario: "node-lost", Iteration: 1, Result: checker.Result{Verdict: checker.Fail, RTOSeconds: &rto, RPOSeconds: &rpo,
		Budgets: checker.BudgetsJSON{RTOSeconds: &budget, RPOSeconds: 2}, Reasons: []string{"RTO 80s exceeds the budget 45s"}}}
}

// TestJUnit: the document validates against the schema pkg/report holds
// junit.xml to; a failed verdict's message gives RTO and RPO against their
// budgets; skips carry their reasons; a failed setup is an error and the
// assessments after it say they did not run.
func TestJUnit(t *testing.T) {
	now := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	r := NewRecorder(Target{})
	r.features = []*Feature{
		{Test: "TestSeedScenarios", Name: "scenario node-lost", Start: now, Labels: map[string][]string{"failure-domain": {"Node or disk permanently lost"}, NeedsLabel: {"iris-stack", "node-power"}},
			Steps: []*Step{
				{Name: "deploy", Level: LevelSetup, Outcome: Passed, Duration: time.Minute},
				{Name: "passes its budgets", Level: LevelAssess, Outcome: Failed, TestName: "TestSeedScenarios/scenario_node-lost/passes", Duration: 3 * time.Minute,
					Runs: []Run{{Dir: "/reports/20261202-e2e-node-lost", Run: report.Run{Iterations: []report.Iteration{failing()}}}}},
				{Name: "teardown", Level: LevelTeardown, Outcome: Passed},
			}},
		{Test: "TestSeedScenarios", Name: "scenario pod", Start: now, Steps: []*Step{
			{Name: "passes its budgets", Level: LevelAssess, Outcome: Passed, Runs: []Run{{Dir: "/reports/p", Run: report.Run{Iterations: []report.Iteration{passing()}}}}},
		}},
		{Test: "TestWorkload", Name: "workload rate", Start: now, Steps: []*Step{
			{Name: "deploy", Level: LevelSetup, Outcome: Failed, TestName: "TestWorkload/workload_rate"},
			{Name: "rate", Level: LevelAssess, Outcome: NotRun},
		}},
		{Test: "TestCloudLocalProvider", Name: "TestCloudLocalProvider", Skip: "needs local-node-power: not the embedded cluster"},
	}
	r.SuiteError("interrupt: go test -timeout is near")
	var b bytes.Buffer
	if err := r.JUnit(&b); err != nil {
		t.Fatal(err)
	}
	doc := b.String()
	for _, want := range []string{
		`<testsuites name="irischaos e2e" tests="6" failures="1" errors="2"`,
		`<failure message="node-lost #1: FAIL: RTO 80s (budget 45s), RPO 3s (budget 2s), 0 lost acknowledged write(s): RTO 80s exceeds the budget 45s" type="verdict">`,
		`run directory: /reports/20261202-e2e-node-lost`,
		`(budgets: RTO 45s, RPO 2s)`,
		`<error message="setup failed: see the go test -v output of TestWorkload/workload_rate" type="setup">`,
		`<skipped message="not run: setup deploy failed">`,
		`<skipped message="needs local-node-power: not the embedded cluster">`,
		`<property name="failure-domain" value="Node or disk permanently lost">`,
		`<error message="interrupt: go test -timeout is near" type="suite">`,
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("junit lacks %s\n%s", want, doc)
		}
	}
	if !r.Failed() {
		t.Error("a failed verdict does not fail the suite")
	}

	xmllint := promtest.NeedTool(t, "xmllint", "libxml2-utils")
	p := filepath.Join(t.TempDir(), "e2e-junit.xml")
	if err := r.WriteJUnit(p); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(xmllint, "--noout", "--nonet", "--schema", filepath.Join("..", "..", "pkg", "report", "testdata", "junit.xsd"), p).CombinedOutput(); err != nil {
		t.Errorf("the suite's JUnit file does not validate: %s %v", out, err)
	}

	var sum bytes.Buffer
	r.Summary(&sum)
	for _, want := range []string{
		`FAIL    TestSeedScenarios / scenario node-lost: assess "passes its budgets": node-lost #1: FAIL: RTO 80s (budget 45s)`,
		`FAIL    TestWorkload / workload rate: setup "deploy": setup failed`,
		"SKIP    TestCloudLocalProvider: needs local-node-power",
		"ERROR   the suite: interrupt: go test -timeout is near",
	} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
	_ = os.Remove(p)
}

func TestNamespace(t *testing.T) {
	mine := map[string]string{Label: LabelValue}
	for _, c := range []struct {
		name                             string
		exists                           bool
		labels                           map[string]string
		managedBy, embedded, useExisting bool
		want                             Ownership
		refused                          bool
	}{
		{name: "irischaos-e2e-scenarios", want: Create},
		{name: "team-a", want: Create},
		{name: "team-a", exists: true, labels: mine, want: Own},
		{name: "team-a", exists: true, refused: true},
		{name: "team-a", exists: true, useExisting: true, want: Borrow},
		{name: "team-a", exists: true, managedBy: true, refused: true}, // `irischaos stack deploy` made it, not the suite
		{name: "irischaos-e2e-scenarios", exists: true, managedBy: true, want: Own},
		{name: "irischaos-e2e-cluster", exists: true, embedded: true, want: Own},
		{name: "irischaos-e2e-cluster", exists: true, refused: true},
	} {
		got, err := Namespace(c.name, c.exists, c.labels, c.managedBy, c.embedded, c.useExisting)
		if (err != nil) != c.refused || (err == nil && got != c.want) {
			t.Errorf("%+v: %v, %v", c, got, err)
		}
		if err != nil && !strings.Contains(err.Error(), "-e2e-use-existing-namespace") {
			t.Errorf("the refusal does not say how to allow it: %v", err)
		}
	}
}

// TestDecide: the embedded cluster gives the lab everything it had; a
// user's cluster gives the stack and node power only as given, and says why
// not in one line.
func TestDecide(t *testing.T) {
	lab := &Params{StorageClass: "replicated", AllowVMActions: true, AllowNodeActions: true}
	tg := Decide(Observed{Embedded: true, ProviderIDs: []string{"local://c/n1", "local://c/n2"}, StorageClasses: []string{"local-disk", "replicated"},
		LonghornWhy: "longhorn.io/v1beta2 is not served (Longhorn not installed)"}, lab)
	for _, n := range []Need{Embedded, LocalPower, NodePower, NodeNetwork, Stack, SecondStorageClass, Moto, Prometheus} {
		if why := tg.Missing(n); why != "" {
			t.Errorf("embedded cluster: %s", why)
		}
	}
	if why := tg.Missing(Longhorn); why != "needs longhorn: longhorn.io/v1beta2 is not served (Longhorn not installed)" {
		t.Errorf("longhorn: %q", why)
	}

	aks := []string{"azure:///subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachineScaleSets/v/virtualMachines/0", "azure:///subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachineScaleSets/v/virtualMachines/1"}
	user := &Params{StorageClass: "longhorn"}
	tg = Decide(Observed{Cluster: "aks.kubeconfig", ProviderIDs: aks, StorageClasses: []string{"managed-csi"}, MotoErr: errors.New("moto_server not found")}, user)
	for n, want := range map[Need]string{
		Embedded:    "needs embedded-cluster: a lab-only check: the cluster of aks.kubeconfig is not the irischaos embedded cluster",
		LocalPower:  "needs local-node-power: the local node power API exists only on the irischaos embedded cluster",
		NodePower:   "needs node-power: VM actions not allowed: pass -e2e-allow-vm-actions (nodes' providerIDs: 2 azure)",
		Stack:       `needs iris-stack: storage class "longhorn" does not exist (the cluster has managed-csi): pass -e2e-storage-class`,
		Prometheus:  "needs prometheus: prometheus and prometheus-pushgateway are not installed on this machine",
		NodeNetwork: "needs node-network: node actions not allowed: pass -e2e-allow-node-actions (a privileged agent pod cuts the node's network)",
	} {
		if got := tg.Missing(n); got != want {
			t.Errorf("%s: %q, want %q", n, got, want)
		}
	}
	user.AllowVMActions = true
	if why := Decide(Observed{ProviderIDs: aks}, user).Missing(NodePower); why != "" {
		t.Errorf("AKS nodes with VM actions allowed: %s", why)
	}
	// local:// nodes of another cluster (kind without a provider) cannot be powered.
	if why := Decide(Observed{ProviderIDs: []string{"kind://docker/kind/kind-worker", ""}}, user).Missing(NodePower); !strings.Contains(why, "no node's VM can be powered") {
		t.Errorf("kind nodes: %q", why)
	}
}
