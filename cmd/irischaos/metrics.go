package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/irischaos/irischaos/pkg/metrics"
	"github.com/irischaos/irischaos/pkg/report"
	"github.com/irischaos/irischaos/pkg/runner"
	"github.com/irischaos/irischaos/pkg/scenario"
)

// runMetrics is what run's --metrics-addr and --pushgateway do: the run's
// metrics fed by the runner's hooks, served while it runs and pushed at the
// end. The metrics integration test drives this same code with a synthetic
// run, so what Prometheus sees there is what a real run exposes.
type runMetrics struct {
	m        *metrics.Metrics
	labels   map[string]metrics.Labels
	pushURL  string
	name     string
	addr     net.Addr // where /metrics is served; nil when not
	stopHTTP context.CancelFunc
}

// startRunMetrics creates the metrics of a run of scenarios and, when addr
// is set, serves them there until close. pushURL (may be empty) is where
// push sends them, grouped by name (the run's --name).
func startRunMetrics(ctx context.Context, scenarios []scenario.Scenario, addr, pushURL, name string) (*runMetrics, error) {
	rm := &runMetrics{m: metrics.New(), labels: map[string]metrics.Labels{}, pushURL: pushURL, name: name, stopHTTP: func() {}}
	for _, s := range scenarios {
		rm.labels[s.Name] = metrics.Labels{Scenario: s.Name, FailureDomain: s.FailureDomain, Fault: string(s.Fault.Type)}
	}
	if addr != "" {
		mctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		a, err := rm.m.Serve(mctx, addr)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("--metrics-addr: %w", err)
		}
		rm.addr, rm.stopHTTP = a, cancel
	}
	return rm, nil
}

// hook sets the runner's hooks that feed the metrics.
func (rm *runMetrics) hook(cfg *runner.Config) {
	cfg.OnOp = rm.m.ObserveOp
	cfg.OnFault = func(s scenario.Scenario, active bool) { rm.m.FaultActive(rm.labels[s.Name], active) }
	cfg.OnIteration = func(it report.Iteration) { rm.m.ObserveResult(rm.labels[it.Scenario], it.Result) }
}

// push sends the metrics to the Pushgateway, if one was given; a failure is
// reported on errOut and does not change the run's verdict.
func (rm *runMetrics) push(ctx context.Context, errOut io.Writer) {
	if rm.pushURL == "" {
		return
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := rm.m.Push(pctx, rm.pushURL, rm.name); err != nil {
		fmt.Fprintf(errOut, "pushgateway: %v\n", err)
	}
}

// close stops serving /metrics.
func (rm *runMetrics) close() { rm.stopHTTP() }
