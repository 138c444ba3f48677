package report

import (
	"bytes"
	"encoding/xml"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/history"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// hist: ok writes 1..n every 100 ms from start, the fault at start+n/10,
// failing writes for down seconds, then ok writes for 1 s; read back all
// ok writes but lose.
func hist(start float64, n int, down float64, lose ...int64) []history.Record {
	var recs []history.Record
	var seq int64
	var ok []int64
	tf := start + float64(n)*0.1
	add := func(t float64, res string) {
		seq++
		r := history.Record{Kind: history.KindOp, Seq: seq, Invoke: at(t), Complete: at(t + 0.01), Result: res}
		if res == history.OK { // the database's clock runs 250 ms ahead
			r.Value = fmt.Sprintf("seq=%d run=r t=%s host=iris-0", seq, at(t+0.255).Format("2006-01-02 15:04:05.999999"))
			r.Pod, r.Node = "iris-0", "node-1" // the old pod, then its replacement
			if t > tf {
				r.Pod, r.Node = "iris-1", "node-2"
			}
		}
		recs = append(recs, r)
		if res == history.OK {
			ok = append(ok, seq)
		}
	}
	for i := 0; i < n; i++ {
		add(start+float64(i)*0.1, history.OK)
	}
	recs = append(recs, history.Record{Kind: history.KindFault, T: at(tf), EffectT: at(tf + 0.5), Name: "fault", Target: "pod/iris-0"})
	for t := tf + 0.05; t < tf+down; t += 0.5 {
		add(t, history.Fail)
	}
	for i := 0; i < 10; i++ {
		add(tf+down+float64(i)*0.1, history.OK)
	}
	recs = append(recs,
		history.Record{Kind: history.KindEvent, T: at(tf + 1), Phase: history.PhasePodScheduled, Target: "pod/iris-1", Reason: "Scheduled", Node: "node-2"},
		history.Record{Kind: history.KindEvent, T: at(tf + down - 0.5), Phase: history.PhaseDatabaseReady, Target: "pod/iris-1"})
	var rb []int64
	for _, s := range ok {
		if !contains(lose, s) {
			rb = append(rb, s)
		}
	}
	return append(recs, history.Record{Kind: history.KindReadback, T: at(tf + down + 5), Seqs: rb})
}

func contains(s []int64, v int64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func fixture() Run {
	b := func(rto time.Duration) checker.Budgets { return checker.Budgets{RTO: rto, RPO: 2 * time.Second} }
	it := func(sc, domain, fault, mit string, n int, recs []history.Record, bud checker.Budgets) Iteration {
		start := recs[0].Invoke
		return Iteration{Scenario: sc, Iteration: n, FailureDomain: domain, Fault: fault, MitigatedBy: mit,
			Target: "pod/iris-0", Started: start, Finished: start.Add(40 * time.Second),
			History: sc + "/" + string(rune('0'+n)) + "/history.jsonl", Result: checker.Check(recs, bud), CloudCalls: []CloudCall{}}
	}
	noRB := hist(300, 20, 4)
	noRB = noRB[:len(noRB)-1]
	lost := it("node-lost", "Node or disk permanently lost", "vm-poweroff", "Deployment recreates the pod on another node", 1, hist(400, 30, 45, 25, 27), b(120*time.Second))
	lost.Target = "local:///node-1"
	lost.CloudCalls = []CloudCall{
		{Provider: "local", Action: "poweroff", Target: "local:///node-1", Request: "POST /nodes/node-1/poweroff", Start: at(403), DurationSeconds: 0.21},
		{Provider: "local", Action: "poweron", Target: "local:///node-1", Request: "POST /nodes/node-1/poweron", Start: at(460), DurationSeconds: 1.5, Error: "node-1: timed out waiting for running"},
	}
	forced := it("pod-force", "Pod / container", "pod-delete", "Deployment recreates the pod", 1, noRB, b(45*time.Second))
	forced.Error = "read-back: session to pod/iris-1 closed"
	run := Run{
		Name: "local", Started: at(-1), Finished: at(500),
		Environment: Environment{
			Database: "irischaos IRIS stand-in v0.1", DatabaseStandIn: true,
			StorageClass: "replicated", Provisioner: "irischaos.io/replicated", StorageStandIn: true,
			Kubernetes: "v1.36.3", Nodes: []string{"node-1", "node-2", "node-3"}, Namespace: "irischaos", Context: "local cluster", Irischaos: "dev",
		},
		Iterations: []Iteration{
			it("pod", "Pod / container", "pod-delete", "Deployment recreates the pod", 1, hist(0, 20, 6), b(45*time.Second)),
			it("pod", "Pod / container", "pod-delete", "Deployment recreates the pod", 2, hist(100, 20, 8), b(45*time.Second)),
			it("pod", "Pod / container", "pod-delete", "Deployment recreates the pod", 3, hist(200, 20, 12, 20), b(45*time.Second)),
			forced,
			it("iris-instance", "IRIS instance", "iris-stop", "Deployment liveness probe restarts the container when IRIS is down", 1, hist(250, 20, 35), b(75*time.Second)),
			lost,
		},
		Unhealed: []Unhealed{{Scenario: "node-lost", Iteration: 1, Fault: "vm-poweroff", Target: "local:///node-1", Since: at(403), Error: "power on timed out"}},
	}
	run.Verdict = checker.RunVerdict(run.IterationVerdicts(), true)
	return run
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/report -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./pkg/report -update to accept):\n%s", name, got)
	}
}

func TestGolden(t *testing.T) {
	for _, f := range []struct{ format, file string }{
		{"table", "report.txt.golden"},
		{"md", "report.md.golden"},
		{"json", "result.json.golden"},
		{"junit", "junit.xml.golden"},
		{"html", "report.html.golden"},
	} {
		t.Run(f.format, func(t *testing.T) {
			var b bytes.Buffer
			if err := Render(&b, fixture(), f.format); err != nil {
				t.Fatal(err)
			}
			golden(t, f.file, b.Bytes())
		})
	}
}

func TestRows(t *testing.T) {
	rows := Rows(fixture())
	var order []string
	for _, r := range rows {
		order = append(order, r.Scenario)
	}
	if want := []string{"iris-instance", "pod", "pod-force", "node-lost"}; !reflect.DeepEqual(order, want) {
		t.Fatalf("row order %v, want %v (the seed's failure-domain order)", order, want)
	}
	pod := rows[1]
	if pod.RTO != "p50 8.010s / p95 12.0s / max 12.0s" || pod.LostAcked != 1 || pod.VerdictText != "PASS (3 pass)" {
		t.Errorf("pod row: RTO %q lost %d verdict %q", pod.RTO, pod.LostAcked, pod.VerdictText)
	}
	if rows[2].Verdict != checker.Unknown || rows[2].RPO != "unknown" {
		t.Errorf("pod-force row: %+v", rows[2])
	}
	if rows[3].Verdict != checker.Fail {
		t.Errorf("node-lost row verdict %s, want fail (a gap)", rows[3].Verdict)
	}
}

func TestTimelineGolden(t *testing.T) {
	recs := hist(0, 20, 6, 19, 20)
	recs = append(recs, history.Record{Kind: history.KindOp, Seq: 999, Invoke: at(2.2), Complete: at(3.5), Result: history.Info})
	var b bytes.Buffer
	if err := RenderTimeline(&b, recs, checker.Check(recs, checker.DefaultBudgets())); err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(b.Bytes(), new(struct{ XMLName xml.Name })); err != nil {
		t.Fatalf("timeline is not well-formed XML: %v", err)
	}
	golden(t, "timeline.svg.golden", b.Bytes())
	// No ops, no fault: still a drawing, not an error.
	if err := RenderTimeline(&bytes.Buffer{}, nil, checker.Result{}); err != nil {
		t.Error(err)
	}
}

func TestPercentile(t *testing.T) {
	v := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct{ q, want float64 }{{0.5, 5}, {0.95, 10}, {0.1, 1}, {0, 1}, {1, 10}} {
		if got := percentile(v, tc.q); got != tc.want {
			t.Errorf("p%.0f = %v, want %v", tc.q*100, got, tc.want)
		}
	}
	if got := percentile([]float64{7}, 0.95); got != 7 {
		t.Errorf("single value: %v", got)
	}
}

func TestJUnitCounts(t *testing.T) {
	var b bytes.Buffer
	if err := RenderJUnit(&b, fixture()); err != nil {
		t.Fatal(err)
	}
	var s junitSuites
	if err := xml.Unmarshal(b.Bytes(), &s); err != nil {
		t.Fatalf("junit.xml does not parse: %v", err)
	}
	// Six iterations in four scenarios, and the run's own suite for the
	// fault left unhealed.
	if s.Tests != 7 || s.Failures != 1 || s.Errors != 2 || len(s.Suites) != 5 {
		t.Errorf("tests %d failures %d errors %d suites %d; want 7 1 2 5", s.Tests, s.Failures, s.Errors, len(s.Suites))
	}
	if last := s.Suites[len(s.Suites)-1]; last.Name != "irischaos run" || last.Cases[0].Error == nil || !strings.Contains(last.Cases[0].Error.Text, "node-lost #1: vm-poweroff on local:///node-1: power on timed out") {
		t.Errorf("run suite: %+v", last)
	}
}

func TestRenderUnknownFormat(t *testing.T) {
	err := Render(&bytes.Buffer{}, Run{}, "pdf")
	if err == nil || !strings.Contains(err.Error(), "known: table, md, json, junit, html") {
		t.Errorf("err = %v", err)
	}
}

func TestFromHistory(t *testing.T) {
	env := fixture().Environment
	env.Context = "" // not a history meta key
	if got := EnvironmentFromMeta(env.Meta()); !reflect.DeepEqual(got, env) {
		t.Errorf("round trip through meta:\n got %+v\nwant %+v", got, env)
	}
	recs := []history.Record{
		{Kind: history.KindOp, Seq: 1},
		{Kind: history.KindCloudCall, T: at(1), Name: "poweroff", Provider: "aws", Target: "aws:///z/i-1", Request: "ec2:StopInstances i-1 Force=true", Duration: 0.5, Result: history.OK},
		{Kind: history.KindCloudCall, T: at(2), Name: "poweron", Provider: "aws", Target: "aws:///z/i-1", Result: history.Fail},
	}
	calls := CloudCallsFrom(recs)
	if len(calls) != 2 || calls[0].Request != "ec2:StopInstances i-1 Force=true" || calls[0].Error != "" || calls[1].Error != "failed" {
		t.Errorf("calls = %+v", calls)
	}
	if CloudCallsFrom(nil) == nil {
		t.Error("nil, want an empty list (JSON [])")
	}
}

// TestRenderSparse: an empty run, and an iteration the runner could not
// finish, render in every format without error and say what is unknown.
func TestRenderSparse(t *testing.T) {
	noInterruption := checker.Check(nil, checker.DefaultBudgets())
	runs := []Run{
		{},
		{Name: "x", Errors: []string{"stack not reachable"}, Iterations: []Iteration{
			{Scenario: "s", Iteration: 1, Error: "inject: forbidden", Result: noInterruption},
		}},
	}
	for i, run := range runs {
		for _, f := range Formats {
			var b bytes.Buffer
			if err := Render(&b, run, f); err != nil {
				t.Errorf("run %d, %s: %v", i, f, err)
			}
			if f == "table" && !strings.Contains(b.String(), "UNKNOWN") {
				t.Errorf("run %d table does not say UNKNOWN:\n%s", i, b.String())
			}
		}
	}
}
