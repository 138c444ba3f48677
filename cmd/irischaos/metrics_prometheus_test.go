package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

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
	promBin := needTool(t, "prometheus", "prometheus")
	pgBin := needTool(t, "prometheus-pushgateway", "prometheus-pushgateway")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	pgAddr := freeAddr(t)
	startServer(t, ctx, "pushgateway", pgBin, "--web.listen-address="+pgAddr, "--log.level=warn")
	waitReady(t, ctx, "http://"+pgAddr+"/-/ready")

	// The run: its scenarios, what the runner would report, as run wires it.
	dir, run := rundirtest.Write(t, t.TempDir())
	var scenarios []scenario.Scenario
	for _, it := range run.Iterations {
		if !slices.ContainsFunc(scenarios, func(s scenario.Scenario) bool { return s.Name == it.Scenario }) {
			scenarios = append(scenarios, scenario.Scenario{Name: it.Scenario, FailureDomain: it.FailureDomain, Fault: scenario.Fault{Type: scenario.FaultType(it.Fault)}})
		}
	}
	rm, err := startRunMetrics(ctx, scenarios, "127.0.0.1:0", "http://"+pgAddr, run.Name)
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
	promAddr := freeAddr(t)
	pdir := t.TempDir()
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: irischaos-live
    static_configs: [{targets: ['%s']}]
  - job_name: pushgateway
    honor_labels: true
    static_configs: [{targets: ['%s']}]
`, rm.addr, pgAddr)
	if err := os.WriteFile(filepath.Join(pdir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	startServer(t, ctx, "prometheus", promBin, "--config.file="+filepath.Join(pdir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(pdir, "data"), "--web.listen-address="+promAddr, "--log.level=warn")
	api := "http://" + promAddr
	waitReady(t, ctx, api+"/-/ready")

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
		query(t, ctx, api, `irischaos_rto_seconds{`+job+`}`, len(scenarios))
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
				got := query(t, ctx, api, c.q, 1)
				if len(got) == 1 && math.Abs(got[0].value-c.want) > 1e-9 {
					t.Errorf("%s = %v, want %v", c.q, got[0].value, c.want)
				}
			}
		}
	}
	// The node-lost scenario failed its RTO budget: the verdict series say so.
	if got := query(t, ctx, api, `irischaos_last_verdict{job="irischaos",scenario="node-lost",verdict="fail"} == 1`, 1); len(got) == 1 {
		t.Logf("node-lost verdict fail as pushed: %v", got[0].labels)
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
			if got := query(t, ctx, api, vars.Replace(tg.Expr), -1); len(got) == 0 {
				t.Errorf("dashboard panel %q: no data for %s", p.Title, tg.Expr)
			}
		}
	}
	// Few-valued labels only: no run id, no time.
	allowed := []string{"__name__", "job", "instance", "run_name", "scenario", "failure_domain", "fault", "verdict", "result", "le"}
	for _, s := range query(t, ctx, api, `{__name__=~"irischaos_.+"}`, -1) {
		for l := range s.labels {
			if !slices.Contains(allowed, l) {
				t.Errorf("series %v has label %q, not one of %v", s.labels, l, allowed)
			}
		}
	}
}

type sample struct {
	labels map[string]string
	value  float64
}

// query asks Prometheus' HTTP API for an instant vector, retrying until it
// has want samples (any number when want < 0, at least one) or ctx ends.
func query(t *testing.T, ctx context.Context, api, q string, want int) []sample {
	t.Helper()
	var last string
	for {
		got, raw, err := queryOnce(ctx, api, q)
		if err == nil && (want < 0 && len(got) > 0 || len(got) == want) {
			return got
		}
		last = fmt.Sprintf("%v %s", err, raw)
		select {
		case <-ctx.Done():
			t.Errorf("query %s: want %d sample(s), last answer: %s", q, want, last)
			return nil
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func queryOnce(ctx context.Context, api, q string) ([]sample, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api+"/api/v1/query?"+url.Values{"query": {q}}.Encode(), nil)
	if err != nil {
		return nil, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, "", err
	}
	if body.Status != "success" {
		return nil, body.Error, fmt.Errorf("status %s", body.Status)
	}
	var out []sample
	for _, r := range body.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, s, err
		}
		out = append(out, sample{r.Metric, v})
	}
	return out, fmt.Sprint(len(out), " samples"), nil
}

// freeAddr is a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServer starts a server for the test; it is killed at the end, and
// its output shown when the test failed.
func startServer(t *testing.T, ctx context.Context, name, bin string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Dir = t.TempDir()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
}

func waitReady(t *testing.T, ctx context.Context, u string) {
	t.Helper()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s not ready", u)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
