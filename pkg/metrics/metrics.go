// Package metrics exposes a run's measurements to Prometheus: RTO, RPO and
// their budgets, writes by result, lost acknowledged writes and verdicts,
// served on an HTTP address while the run goes on and pushed to a
// Pushgateway at the end. It uses its own registry, never the global one, so
// nothing else leaks in. Names follow Prometheus' conventions (base units in
// the name, _total for counters); labels are few-valued: scenario, failure
// domain, fault, verdict, write result; never a run id or a time. The README
// lists every series; deploy/grafana/irischaos.json shows them.
package metrics

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/push"

	"github.com/irischaos/irischaos/pkg/checker"
)

// Labels of one scenario.
type Labels struct {
	Scenario      string
	FailureDomain string
	Fault         string
}

func (l Labels) values() []string { return []string{l.Scenario, l.FailureDomain, l.Fault} }

var scenarioLabels = []string{"scenario", "failure_domain", "fault"}

// Metrics of one run.
type Metrics struct {
	reg         *prometheus.Registry
	rto         *prometheus.GaugeVec
	rpo         *prometheus.GaugeVec
	rtoBudget   *prometheus.GaugeVec
	rpoBudget   *prometheus.GaugeVec
	rtoHist     *prometheus.HistogramVec
	rpoHist     *prometheus.HistogramVec
	writes      *prometheus.CounterVec
	lost        *prometheus.CounterVec
	verdicts    *prometheus.CounterVec
	lastVerdict *prometheus.GaugeVec
	faultActive *prometheus.GaugeVec
}

// New creates the metrics on a fresh private registry.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		rto: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "irischaos_rto_seconds",
			Help: "RTO of the last completed iteration: first acknowledged write after the outage minus the fault instant.",
		}, scenarioLabels),
		rpo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "irischaos_rpo_seconds",
			Help: "RPO of the last completed iteration: fault instant minus the oldest lost acknowledged write (0 when none lost).",
		}, scenarioLabels),
		rtoBudget: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "irischaos_rto_budget_seconds",
			Help: "The scenario's RTO budget (absent when it has none).",
		}, scenarioLabels),
		rpoBudget: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "irischaos_rpo_budget_seconds",
			Help: "The scenario's RPO budget.",
		}, scenarioLabels),
		rtoHist: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "irischaos_rto_distribution_seconds",
			Help:    "RTO of every iteration with a known RTO.",
			Buckets: []float64{1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600},
		}, scenarioLabels),
		rpoHist: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "irischaos_rpo_distribution_seconds",
			Help:    "RPO of every iteration with a known RPO.",
			Buckets: []float64{0, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30},
		}, scenarioLabels),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "irischaos_writes_total",
			Help: "Marker writes by result: ok (acknowledged), fail (not applied), info (unknown).",
		}, []string{"scenario", "result"}),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "irischaos_lost_acked_writes_total",
			Help: "Acknowledged writes missing from the read-back.",
		}, scenarioLabels),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "irischaos_verdicts_total",
			Help: "Iterations by verdict: pass, fail or unknown.",
		}, append(scenarioLabels, "verdict")),
		lastVerdict: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "irischaos_last_verdict",
			Help: "1 for the verdict of the last completed iteration of a scenario, 0 for the others.",
		}, append(scenarioLabels, "verdict")),
		faultActive: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "irischaos_fault_active",
			Help: "1 while a fault is injected and not yet healed.",
		}, scenarioLabels),
	}
	m.reg.MustRegister(m.rto, m.rpo, m.rtoBudget, m.rpoBudget, m.rtoHist, m.rpoHist, m.writes, m.lost, m.verdicts, m.lastVerdict, m.faultActive)
	return m
}

// Registry is the private registry (for tests and extra collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveOp counts one completed write as it happens (result ok, fail or info).
func (m *Metrics) ObserveOp(scenario, result string) {
	m.writes.WithLabelValues(scenario, result).Inc()
}

// FaultActive marks a fault injected (true) or healed (false).
func (m *Metrics) FaultActive(l Labels, active bool) {
	v := 0.0
	if active {
		v = 1
	}
	m.faultActive.WithLabelValues(l.values()...).Set(v)
}

// ObserveResult records an iteration's checker result. Writes are not
// counted here (ObserveOp counts them live).
func (m *Metrics) ObserveResult(l Labels, r checker.Result) {
	lv := l.values()
	if rto, ok := r.RTO(); ok {
		m.rto.WithLabelValues(lv...).Set(rto.Seconds())
		m.rtoHist.WithLabelValues(lv...).Observe(rto.Seconds())
	}
	if rpo, ok := r.RPO(); ok {
		m.rpo.WithLabelValues(lv...).Set(rpo.Seconds())
		m.rpoHist.WithLabelValues(lv...).Observe(rpo.Seconds())
	}
	if b := r.Budgets.RTOSeconds; b != nil {
		m.rtoBudget.WithLabelValues(lv...).Set(*b)
	}
	m.rpoBudget.WithLabelValues(lv...).Set(r.Budgets.RPOSeconds)
	m.lost.WithLabelValues(lv...).Add(float64(r.LostAcked))
	m.verdicts.WithLabelValues(append(lv, string(r.Verdict))...).Inc()
	for _, v := range []checker.Verdict{checker.Pass, checker.Fail, checker.Unknown} {
		x := 0.0
		if v == r.Verdict {
			x = 1
		}
		m.lastVerdict.WithLabelValues(append(lv, string(v))...).Set(x)
	}
}

// Serve serves /metrics on addr (e.g. ":9090", or "127.0.0.1:0" for any
// port) until ctx ends; it returns the address it listens on.
func (m *Metrics) Serve(ctx context.Context, addr string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w (choose another --metrics-addr)", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	// Serve returns on Shutdown or a broken listener; either way the run
	// goes on without its metrics endpoint, which nothing else depends on.
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr(), nil
}

// Push sends every metric to a Pushgateway (url like
// "http://pushgateway:9091") under job "irischaos", grouped by name (label
// run_name: the run's --name, e.g. the scenario's name; never its time, so a
// scheduled run replaces its last push instead of adding series), replacing
// what that group held before.
func (m *Metrics) Push(ctx context.Context, url, name string) error {
	p := push.New(url, "irischaos").Gatherer(m.reg)
	if name != "" {
		p = p.Grouping("run_name", name)
	}
	if err := p.PushContext(ctx); err != nil {
		return fmt.Errorf("push metrics to Pushgateway %s: %w", url, err)
	}
	return nil
}
