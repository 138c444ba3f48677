package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/irischaos/irischaos/internal/promtest"
	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/report"
	"github.com/irischaos/irischaos/pkg/rundir/rundirtest"
	"github.com/irischaos/irischaos/pkg/runner"
	"github.com/irischaos/irischaos/pkg/scenario"
)

// TestMetricsWithPrometheus proves run's --metrics-addr and --pushgateway
// with the real servers, without a cluster: Debian's prometheus-pushgateway
// and prometheus start on loopback (free ports, temporary directories,
// stopped after); the code run uses (startRunMetrics, its runner hooks and
// push) is fed a synthetic run as the runner would feed it (every write of
// every history, faults on and off, each iteration's result); Prometheus
// scrapes the live endpoint and the Pushgateway; and its HTTP API
// (/api/v1/query) must give the RTO, RPO, budgets, lost-write and verdict
// series with each scenario's labels, from both, and no label but the few
// documented ones.
func TestMetricsWithPrometheus(t *testing.T) {
	promtest.NeedTool(t, "prometheus", "prometheus")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pushgateway := promtest.Pushgateway(t, ctx)

	// The run: its scenarios, what the runner would report, as run wires it.
	dir, run := rundirtest.Write(t, t.TempDir())
	var scenarios []scenario.Scenario
	for _, it := range run.Iterations {
		if !slices.ContainsFunc(scenarios, func(s scenario.Scenario) bool { return s.Name == it.Scenario }) {
			scenarios = append(scenarios, scenario.Scenario{Name: it.Scenario, FailureDomain: it.FailureDomain, Fault: scenario.Fault{Type: scenario.FaultType(it.Fault)}})
		}
	}
	rm, err := startRunMetrics(ctx, scenarios, "127.0.0.1:0", pushgateway, run.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer rm.close()
	var cfg runner.Config
	rm.hook(&cfg)
	okWrites := map[string]int{}
	for _, it := range run.Iterations {
		s := scenarios[slices.IndexFunc(scenarios, func(s scenario.Scenario) bool { return s.Name == it.Scenario })]
		recs, err := history.ReadFile(filepath.Join(dir, filepath.FromSlash(it.History)))
		if err != nil {
			t.Fatal(err)
		}
		cfg.OnFault(s, true)
		for _, r := range recs {
			if r.Kind == history.KindOp {
				cfg.OnOp(it.Scenario, r.Result)
				if r.Result == history.OK {
					okWrites[it.Scenario]++
				}
			}
		}
		cfg.OnFault(s, false)
		cfg.OnIteration(it)
	}
	var errOut bytes.Buffer
	rm.push(ctx, &errOut)
	if errOut.Len() > 0 {
		t.Fatalf("push: %s", errOut.String())
	}

	// Prometheus scrapes both.
	api := promtest.Prometheus(t, ctx,
		promtest.Target{Job: "irischaos-live", Addr: rm.addr.String()},
		promtest.Target{Job: "pushgateway", Addr: strings.TrimPrefix(pushgateway, "http://"), HonorLabels: true})

	byScenario := map[string]report.Row{}
	for _, r := range report.Rows(run) {
		byScenario[r.Scenario] = r
	}
	last := map[string]report.Iteration{}
	for _, it := range run.Iterations {
		last[it.Scenario] = it
	}
	for _, job := range []string{`job="irischaos-live"`, `job="irischaos",run_name="synthetic"`} {
		// Wait for the first scrape of this source.
		promtest.Query(t, ctx, api, `irischaos_rto_seconds{`+job+`}`, len(scenarios))
		for _, s := range scenarios {
			it := last[s.Name]
			r := it.Result
			sel := fmt.Sprintf(`%s,scenario=%q,failure_domain=%q,fault=%q`, job, s.Name, s.FailureDomain, string(s.Fault.Type))
			lost, fails := 0, 0
			for _, x := range byScenario[s.Name].Iterations {
				lost += x.Result.LostAcked
				if x.Result.Verdict == "fail" {
					fails++
				}
			}
			for _, c := range []struct {
				q    string
				want float64
			}{
				{`irischaos_rto_seconds{` + sel + `}`, *r.RTOSeconds},
				{`irischaos_rpo_seconds{` + sel + `}`, *r.RPOSeconds},
				{`irischaos_rto_budget_seconds{` + sel + `}`, *r.Budgets.RTOSeconds},
				{`irischaos_rpo_budget_seconds{` + sel + `}`, r.Budgets.RPOSeconds},
				{`irischaos_lost_acked_writes_total{` + sel + `}`, float64(lost)},
				{`irischaos_last_verdict{` + sel + fmt.Sprintf(`,verdict=%q}`, r.Verdict), 1},
				{`sum(irischaos_verdicts_total{` + sel + `})`, float64(len(byScenario[s.Name].Iterations))},
				{`sum(irischaos_verdicts_total{` + sel + `,verdict="fail"}) or vector(0)`, float64(fails)},
				{`irischaos_rto_distribution_seconds_count{` + sel + `}`, float64(len(byScenario[s.Name].Iterations))},
				{`irischaos_fault_active{` + sel + `}`, 0},
				{fmt.Sprintf(`irischaos_writes_total{%s,scenario=%q,result="ok"}`, job, s.Name), float64(okWrites[s.Name])},
			} {
				got := promtest.Query(t, ctx, api, c.q, 1)
				if len(got) == 1 && math.Abs(got[0].Value-c.want) > 1e-9 {
					t.Errorf("%s = %v, want %v", c.q, got[0].Value, c.want)
				}
			}
		}
	}
	// The node-lost scenario failed its RTO budget: the verdict series say so.
	if got := promtest.Query(t, ctx, api, `irischaos_last_verdict{job="irischaos",scenario="node-lost",verdict="fail"} == 1`, 1); len(got) == 1 {
		t.Logf("node-lost verdict fail as pushed: %v", got[0].Labels)
	}
	// Every query of the Grafana dashboard runs and has data.
	dash, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "irischaos.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dash, &d); err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer("$scenario", ".*", "$run_name", ".*")
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			if got := promtest.Query(t, ctx, api, vars.Replace(tg.Expr), -1); len(got) == 0 {
				t.Errorf("dashboard panel %q: no data for %s", p.Title, tg.Expr)
			}
		}
	}
	// Few-valued labels only: no run id, no time.
	allowed := []string{"__name__", "job", "instance", "run_name", "scenario", "failure_domain", "fault", "verdict", "result", "le"}
	for _, s := range promtest.Query(t, ctx, api, `{__name__=~"irischaos_.+"}`, -1) {
		for l := range s.Labels {
			if !slices.Contains(allowed, l) {
				t.Errorf("series %v has label %q, not one of %v", s.Labels, l, allowed)
			}
		}
	}
}
