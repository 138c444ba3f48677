//go:build chaos

package e2e

// `irischaos run --metrics-addr --pushgateway` on the cluster, read by the
// real servers: Debian's Prometheus scrapes the live endpoint while the pod
// scenario runs and the Pushgateway it pushes to at the end; Prometheus'
// HTTP API must then hold the RTO, RPO, lost-write and verdict series with
// the scenario's labels, equal to what the run's result.json says.

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/irischaos/irischaos/internal/promtest"
	"github.com/irischaos/irischaos/internal/suite"
	"github.com/irischaos/irischaos/pkg/rundir"
	"github.com/irischaos/irischaos/pkg/stackid"
)

const metricsNamespace = "irischaos-e2e-metrics"

func TestRunMetrics(t *testing.T) {
	g := newScenarioRig(t, metricsNamespace)
	exe, err := irischaosBinary()
	if err != nil {
		t.Fatal(err)
	}
	f := features.New("run --metrics-addr --pushgateway").
		WithLabel("fault", "pod-delete").
		WithLabel(suite.NeedsLabel, needs(suite.Stack)).
		WithLabel(suite.NeedsLabel, needs(suite.Prometheus)).
		Setup(g.deploy).
		Assess("Prometheus holds RTO, RPO, lost writes and verdict with the scenario's labels", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			pctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
			defer cancel()
			pushgateway := promtest.Pushgateway(t, pctx)
			live := promtest.FreeAddr(t)
			api := promtest.Prometheus(t, pctx,
				promtest.Target{Job: "irischaos-live", Addr: live},
				promtest.Target{Job: "pushgateway", Addr: strings.TrimPrefix(pushgateway, "http://"), HonorLabels: true})
			// The suite's reports directory: its ledger, and the run kept
			// as an artefact (a name of its own in it).
			reports, runName := params.Reports, fmt.Sprintf("e2e-metrics-%d", time.Now().Unix())
			cmd := exec.CommandContext(pctx, exe, "run", filepath.Join("..", "scenarios", "pod.yaml"),
				"--kubeconfig", scenariosKubeconfig(t), "-n", g.namespace,
				"--reports", reports, "--name", runName, "--instance", cmp.Or(params.Instance, stackid.Instance),
				"--metrics-addr", live, "--pushgateway", pushgateway)
			out, err := cmd.CombinedOutput()
			t.Logf("irischaos run:\n%s", out)
			if err != nil {
				t.Fatalf("irischaos run: %v", err)
			}
			dirs, _ := filepath.Glob(filepath.Join(reports, "*-"+runName))
			if len(dirs) != 1 {
				t.Fatalf("run directories %v, want one", dirs)
			}
			run, err := rundir.Read(dirs[0])
			if err != nil {
				t.Fatal(err)
			}
			suite.AddRun(ctx, dirs[0], run)
			if len(run.Iterations) == 0 {
				t.Fatal("the run has no iteration")
			}
			// run did the preflight first and recorded it: the local cluster
			// with its stand-ins is ready (WARNs only), with a prediction per
			// failure domain.
			if run.Preflight == nil || run.Preflight.ExitCode() != 0 || len(run.Preflight.Predictions) == 0 {
				t.Errorf("preflight recorded in the run: %+v", run.Preflight)
			}
			if _, err := os.Stat(filepath.Join(dirs[0], rundir.PreflightFile)); err != nil {
				t.Errorf("the run directory lacks %s: %v", rundir.PreflightFile, err)
			}
			// and the stack check: every probe answered on the stand-in.
			if run.StackCheck == nil || run.StackCheck.ExitCode() != 0 {
				t.Errorf("stack check recorded in the run: %+v", run.StackCheck)
			}
			if _, err := os.Stat(filepath.Join(dirs[0], rundir.StackCheckFile)); err != nil {
				t.Errorf("the run directory lacks %s: %v", rundir.StackCheckFile, err)
			}
			it := run.Iterations[len(run.Iterations)-1]
			r := it.Result
			labels := fmt.Sprintf(`scenario=%q,failure_domain=%q,fault=%q`, it.Scenario, it.FailureDomain, it.Fault)
			pushed := `job="irischaos",run_name="` + runName + `",` + labels
			for _, c := range []struct {
				q    string
				want float64
			}{
				{`irischaos_rto_seconds{` + pushed + `}`, *r.RTOSeconds},
				{`irischaos_rpo_seconds{` + pushed + `}`, *r.RPOSeconds},
				{`irischaos_lost_acked_writes_total{` + pushed + `}`, float64(r.LostAcked)},
				{`irischaos_last_verdict{` + pushed + fmt.Sprintf(`,verdict=%q}`, r.Verdict), 1},
				{`irischaos_verdicts_total{` + pushed + fmt.Sprintf(`,verdict=%q}`, r.Verdict), 1},
			} {
				got := promtest.Query(t, pctx, api, c.q, 1)
				if len(got) == 1 && math.Abs(got[0].Value-c.want) > 1e-6 {
					t.Errorf("%s = %v, want %v (result.json)", c.q, got[0].Value, c.want)
				}
			}
			// While the run went on, Prometheus scraped the live endpoint: writes
			// counted and the fault seen in effect (the endpoint ends with the
			// run, whose last values may fall between two scrapes: the pushed
			// series above are the final ones).
			promtest.Query(t, pctx, api, `max_over_time(irischaos_writes_total{job="irischaos-live",scenario="pod",result="ok"}[15m]) > 0`, 1)
			promtest.Query(t, pctx, api, `max_over_time(irischaos_fault_active{job="irischaos-live",`+labels+`}[15m]) == 1`, 1)
			return ctx
		}).
		Teardown(g.teardown)
	testenv.Test(t, f.Feature())
}
