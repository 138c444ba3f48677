package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	dto "github.com/prometheus/client_model/go"

	"github.com/irischaos/irischaos/pkg/checker"
)

func result(v checker.Verdict, rto, rpo float64, lost int) checker.Result {
	budget := 45.0
	return checker.Result{Verdict: v, RTOSeconds: &rto, RPOSeconds: &rpo, LostAcked: lost,
		Budgets: checker.BudgetsJSON{RTOSeconds: &budget, RPOSeconds: 2}}
}

var pod = Labels{Scenario: "pod", FailureDomain: "Pod / container", Fault: "pod-delete"}

func filled() *Metrics {
	m := New()
	m.ObserveOp("pod", "ok")
	m.ObserveOp("pod", "ok")
	m.ObserveOp("pod", "info")
	m.FaultActive(pod, true)
	m.FaultActive(pod, false)
	m.ObserveResult(pod, result(checker.Pass, 6.5, 0.25, 2))
	m.ObserveResult(pod, result(checker.Fail, 61, 0, 0))
	unknown := result(checker.Unknown, 0, 0, 0)
	unknown.RTOSeconds, unknown.RPOSeconds = nil, nil
	m.ObserveResult(pod, unknown)
	return m
}

func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := filled()
	addr, err := m.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	for _, want := range []string{
		`irischaos_rto_seconds{failure_domain="Pod / container",fault="pod-delete",scenario="pod"} 61`,
		`irischaos_rpo_seconds{failure_domain="Pod / container",fault="pod-delete",scenario="pod"} 0`,
		`irischaos_writes_total{result="ok",scenario="pod"} 2`,
		`irischaos_writes_total{result="info",scenario="pod"} 1`,
		`irischaos_lost_acked_writes_total{failure_domain="Pod / container",fault="pod-delete",scenario="pod"} 2`,
		`irischaos_verdicts_total{failure_domain="Pod / container",fault="pod-delete",scenario="pod",verdict="fail"} 1`,
		`irischaos_verdicts_total{failure_domain="Pod / container",fault="pod-delete",scenario="pod",verdict="unknown"} 1`,
		`irischaos_last_verdict{failure_domain="Pod / container",fault="pod-delete",scenario="pod",verdict="unknown"} 1`,
		`irischaos_last_verdict{failure_domain="Pod / container",fault="pod-delete",scenario="pod",verdict="fail"} 0`,
		`irischaos_rto_distribution_seconds_count{failure_domain="Pod / container",fault="pod-delete",scenario="pod"} 2`,
		`irischaos_fault_active{failure_domain="Pod / container",fault="pod-delete",scenario="pod"} 0`,
		`irischaos_rto_budget_seconds{failure_domain="Pod / container",fault="pod-delete",scenario="pod"} 45`,
		`irischaos_rpo_budget_seconds{failure_domain="Pod / container",fault="pod-delete",scenario="pod"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, "go_goroutines") {
		t.Error("the global registry's collectors leaked in")
	}
	cancel()
	deadline := time.Now().Add(3 * time.Second)
	for {
		if _, err := http.Get("http://" + addr.String() + "/metrics"); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server still up after the context ended")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := New().Serve(context.Background(), "256.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "--metrics-addr") {
		t.Errorf("bad address: %v", err)
	}
}

// pushgateway captures what a client pushes, as a Pushgateway would accept it.
type pushgateway struct {
	mu       sync.Mutex
	method   string
	path     string
	families map[string]*dto.MetricFamily
}

func (p *pushgateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.method, p.path = r.Method, r.URL.Path
	p.families = map[string]*dto.MetricFamily{}
	dec := expfmt.NewDecoder(r.Body, expfmt.ResponseFormat(r.Header))
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err != nil {
			if err != io.EOF {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			break
		}
		p.families[mf.GetName()] = &mf
	}
	w.WriteHeader(http.StatusOK)
}

func TestPush(t *testing.T) {
	gw := &pushgateway{}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	if err := filled().Push(context.Background(), srv.URL, "local"); err != nil {
		t.Fatal(err)
	}
	if gw.method != http.MethodPut || gw.path != "/metrics/job/irischaos/run_name/local" {
		t.Errorf("pushed %s %s, want PUT to the irischaos job grouped by the run's name", gw.method, gw.path)
	}
	for _, name := range []string{"irischaos_rto_seconds", "irischaos_rpo_seconds", "irischaos_writes_total", "irischaos_lost_acked_writes_total", "irischaos_verdicts_total"} {
		if gw.families[name] == nil {
			t.Errorf("push lacks %s", name)
		}
	}
	if mf := gw.families["irischaos_rto_seconds"]; mf != nil && mf.GetMetric()[0].GetGauge().GetValue() != 61 {
		t.Errorf("pushed RTO %v, want 61", mf.GetMetric()[0].GetGauge().GetValue())
	}

	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "nope", http.StatusInternalServerError) }))
	defer failing.Close()
	if err := New().Push(context.Background(), failing.URL, "r"); err == nil || !strings.Contains(err.Error(), "Pushgateway "+failing.URL) {
		t.Errorf("failing gateway: %v", err)
	}
}

// TestDocumented: the README documents every series, and the Grafana
// dashboard queries only series that exist.
func TestDocumented(t *testing.T) {
	fams, err := filled().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
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
		t.Fatalf("dashboard: %v", err)
	}
	known := map[string]bool{}
	for _, f := range fams {
		n := f.GetName()
		known[n] = true
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				known[n+s] = true
			}
		}
		if !bytes.Contains(readme, []byte("`"+n+"`")) {
			t.Errorf("README does not document %s", n)
		}
	}
	used := map[string]bool{}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, n := range regexp.MustCompile(`irischaos_[a-z_]+`).FindAllString(tg.Expr, -1) {
				used[n] = true
				if !known[n] {
					t.Errorf("dashboard panel %q queries %s, which irischaos does not export", p.Title, n)
				}
			}
		}
	}
	for _, f := range fams {
		n := f.GetName()
		if f.GetType() == dto.MetricType_HISTOGRAM {
			n += "_bucket"
		}
		if !used[n] {
			t.Errorf("the dashboard does not show %s", n)
		}
	}
}
