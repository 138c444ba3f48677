package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/ledger"
	"github.com/irischaos/irischaos/pkg/podexec"
	"github.com/irischaos/irischaos/pkg/preflight"
	"github.com/irischaos/irischaos/pkg/report"
	"github.com/irischaos/irischaos/pkg/rundir"
	"github.com/irischaos/irischaos/pkg/scenario"
	"github.com/irischaos/irischaos/pkg/stackcheck"
)

func dur(d time.Duration) *scenario.Duration { v := scenario.Duration(d); return &v }

func irisPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "iris-0", Namespace: "db", UID: "u1", Labels: map[string]string{"app": "iris"}},
		Spec:       corev1.PodSpec{NodeName: "w1", Containers: []corev1.Container{{Name: "iris"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

// fakeDB is a database that goes down when the IRIS pod is deleted (or its
// node cordoned) and comes back after downFor; the workload writes to it.
type fakeDB struct {
	cs      *fake.Clientset
	downFor time.Duration
	lose    int // acknowledged writes just before the fault that the read-back misses
	// twoWriters: after the fault the old pod (iris-0 on w1) keeps
	// acknowledging writes while a new one (iris-1 on w2) does too.
	twoWriters bool
	// blocked, when set, keeps the database down while it returns true
	// (the volume still attached to a lost node).
	blocked func() bool

	mu      sync.Mutex
	downAt  time.Time
	acked   []int64
	stopped chan struct{}
	once    sync.Once
	h       *history.Writer
}

func (db *fakeDB) up(now time.Time) bool {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.downAt.IsZero() {
		ctx := context.Background()
		_, err := db.cs.CoreV1().Pods("db").Get(ctx, "iris-0", metav1.GetOptions{})
		n, _ := db.cs.CoreV1().Nodes().Get(ctx, "w1", metav1.GetOptions{})
		if err != nil || (n != nil && n.Spec.Unschedulable) {
			db.downAt = now
		}
	}
	if db.blocked != nil && !db.downAt.IsZero() && db.blocked() {
		return false
	}
	return db.downAt.IsZero() || now.Sub(db.downAt) > db.downFor
}

func (db *fakeDB) Run(ctx context.Context) error {
	var seq int64
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-db.stopped:
			return nil
		case <-t.C:
		}
		seq++
		inv := time.Now()
		res := history.OK
		up := db.up(inv)
		var pod, node string
		if db.twoWriters {
			pod, node, up = "iris-0", "w1", true
			db.mu.Lock()
			if !db.downAt.IsZero() && seq%2 == 0 {
				pod, node = "iris-1", "w2"
			}
			db.mu.Unlock()
		}
		if !up {
			res = history.Fail
		} else {
			db.mu.Lock()
			db.acked = append(db.acked, seq)
			db.mu.Unlock()
		}
		db.h.Add(history.Record{Kind: history.KindOp, Seq: seq, Invoke: inv, Complete: time.Now(), Result: res, Pod: pod, Node: node})
	}
}

func (db *fakeDB) Stop() { db.once.Do(func() { close(db.stopped) }) }

func (db *fakeDB) ReadBack(context.Context) (history.Record, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	seqs := append([]int64{}, db.acked...)
	rec := history.Record{Kind: history.KindReadback, T: time.Now(), Seqs: seqs}
	if db.lose > 0 {
		// Lose the last acknowledged writes before the outage (the first gap in seqs).
		cut := len(seqs)
		for i := 0; i+1 < len(seqs); i++ {
			if seqs[i+1]-seqs[i] > 1 {
				cut = i + 1
				break
			}
		}
		rec.Seqs = append(append([]int64{}, seqs[:max(0, cut-db.lose)]...), seqs[cut:]...)
	}
	db.h.Add(rec)
	return rec, nil
}

type fakeObserver struct{}

func (fakeObserver) Start(context.Context) error { return nil }

// ExpectEffect confirms the effect shortly after it is asked for (it is
// asked for just before the fault is injected; an effect confirmed before the
// fault is flagged by the checker).
func (fakeObserver) ExpectEffect(fault.Effect) <-chan time.Time {
	ch := make(chan time.Time, 1)
	go func() {
		time.Sleep(50 * time.Millisecond)
		ch <- time.Now()
		close(ch)
	}()
	return ch
}

func scen(name string, f scenario.FaultType) scenario.Scenario {
	return scenario.Scenario{
		Name: name, FailureDomain: f.Info().Domain, MitigatedBy: "test",
		Fault:       scenario.Fault{Type: f, DrainTimeout: dur(5 * time.Second)},
		Budgets:     scenario.Budgets{RTO: dur(5 * time.Second), RPO: dur(2 * time.Second)},
		Warmup:      dur(100 * time.Millisecond),
		Observation: scenario.Observation{MaxRecovery: dur(5 * time.Second), AfterRecovery: dur(100 * time.Millisecond)},
	}
}

func newRunner(t *testing.T, db *fakeDB, objs ...any) (*Runner, *ledger.Ledger, string) {
	t.Helper()
	dir := t.TempDir()
	l, err := ledger.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{
		Kube: db.cs, Namespace: "db", ReportsDir: dir, RunName: "test", Ledger: l, Cluster: "https://test",
		Out: testWriter{t}, QuietAfterEffect: 500 * time.Millisecond, HealTimeout: 5 * time.Second,
		Environment: func(context.Context) (report.Environment, error) {
			return report.Environment{Database: "irischaos IRIS stand-in", DatabaseStandIn: true, StorageClass: "replicated", Kubernetes: "v1.36.3", Nodes: []string{"w1", "w2"}}, nil
		},
		NewWorkload: func(_ scenario.Scenario, h *history.Writer) (Workload, error) {
			db.h = h
			db.stopped = make(chan struct{})
			db.once = sync.Once{}
			db.downAt = time.Time{}
			db.acked = nil
			return db, nil
		},
		NewObserver: func(*history.Writer) (Observer, error) { return fakeObserver{}, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return r, l, dir
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func TestRunPodDeletePasses(t *testing.T) {
	cs := fake.NewClientset(irisPod(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w1"}})
	db := &fakeDB{cs: cs, downFor: 300 * time.Millisecond}
	r, l, dir := newRunner(t, db)
	run, runDir, err := r.Run(context.Background(), []scenario.Scenario{scen("pod", fault.PodDelete)})
	if err != nil {
		t.Fatal(err)
	}
	if run.Verdict != checker.Pass || len(run.Iterations) != 1 {
		t.Fatalf("verdict %s, iterations %d: %+v", run.Verdict, len(run.Iterations), run.Iterations)
	}
	res := run.Iterations[0].Result
	rto, ok := res.RTO()
	if !ok || rto < 250*time.Millisecond || rto > 3*time.Second || res.LostAcked != 0 {
		t.Fatalf("RTO %v (%v), lost %d: %+v", rto, ok, res.LostAcked, res.Reasons)
	}
	for _, f := range []string{rundir.ResultFile, rundir.MDFile, rundir.JUnitFile, "pod/1/" + rundir.HistoryFile, "pod/1/" + rundir.ResultFile} {
		if _, err := os.Stat(filepath.Join(runDir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	if !strings.HasPrefix(runDir, dir) {
		t.Fatalf("run dir %s outside %s", runDir, dir)
	}
	recs, err := history.ReadFile(rundir.HistoryPath(runDir, "pod", 1))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, rec := range recs {
		kinds[rec.Kind]++
	}
	if kinds[history.KindMeta] != 1 || kinds[history.KindFault] != 1 || kinds[history.KindReadback] != 1 || kinds[history.KindHeal] != 1 {
		t.Fatalf("record kinds %v", kinds)
	}
	if m := history.MetaOf(recs); m[history.MetaRTOBudget] != "5s" || m[history.MetaStorageClass] != "replicated" {
		t.Fatalf("meta %v", m)
	}
	all, _ := l.Entries()
	if len(all) != 1 || all[0].Pending() || all[0].Fault != "pod-delete" || all[0].Cluster != "https://test" {
		t.Fatalf("ledger %+v", all)
	}
}

// forceExec is the exec API for an IRIS process fault: `iris force` takes
// the database down at once, and `iris qlist` then says so.
type forceExec struct{ db *fakeDB }

func (f forceExec) Exec(_ context.Context, _ podexec.Target, cmd []string, _ io.Reader, stdout, _ io.Writer) error {
	if len(cmd) > 1 && cmd[1] == "qlist" {
		io.WriteString(stdout, "IRIS^/usr/irissys^2025.1^down, last used now^iris.cpf^1972^52773^^ok^IRIS^^^/data\n")
		return nil
	}
	f.db.mu.Lock()
	f.db.downAt = time.Now()
	f.db.mu.Unlock()
	return nil
}

// The process fault's effect is the nemesis's own confirmation (the instance
// down right after the stop), not the observer's later one (50 ms here).
func TestRunProcessFaultEffectAtOnce(t *testing.T) {
	cs := fake.NewClientset(irisPod(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w1"}})
	db := &fakeDB{cs: cs, downFor: 300 * time.Millisecond}
	r, _, _ := newRunner(t, db)
	r.cfg.Exec = forceExec{db}
	run, runDir, err := r.Run(context.Background(), []scenario.Scenario{scen("force", fault.IrisForce)})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := history.ReadFile(rundir.HistoryPath(runDir, "force", 1))
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if rec.Kind != history.KindFault {
			continue
		}
		if d := rec.EffectT.Sub(rec.T); rec.EffectT.IsZero() || d < 0 || d >= 40*time.Millisecond {
			t.Errorf("effect %s after the fault, want at once (the nemesis saw the instance down)", d)
		}
	}
	if run.Verdict != checker.Pass {
		t.Errorf("verdict %s: %v", run.Verdict, run.Iterations[0].Result.Reasons)
	}
}

func TestRunLostWritesFail(t *testing.T) {
	cs := fake.NewClientset(irisPod(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w1"}})
	db := &fakeDB{cs: cs, downFor: 200 * time.Millisecond, lose: 3}
	r, _, _ := newRunner(t, db)
	s := scen("pod", fault.PodDelete)
	s.Budgets.RPO = dur(0)
	run, _, err := r.Run(context.Background(), []scenario.Scenario{s})
	if err != nil {
		t.Fatal(err)
	}
	if run.Verdict != checker.Fail || run.Iterations[0].Result.LostAcked != 3 {
		t.Fatalf("verdict %s lost %d: %v", run.Verdict, run.Iterations[0].Result.LostAcked, run.Iterations[0].Result.Reasons)
	}
}

// TestRunSplitBrainFails: two pods acknowledging writes after the fault
// fail the iteration, and the run's progress says so naming both pods.
func TestRunSplitBrainFails(t *testing.T) {
	cs := fake.NewClientset(irisPod(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w1"}})
	db := &fakeDB{cs: cs, twoWriters: true}
	r, _, _ := newRunner(t, db)
	out := &lockedBuffer{}
	r.cfg.Out = out
	run, _, err := r.Run(context.Background(), []scenario.Scenario{scen("pod", fault.PodDelete)})
	if err != nil {
		t.Fatal(err)
	}
	if run.Verdict != checker.Fail || !strings.Contains(run.Iterations[0].Result.Reasons[0], "split_brain") {
		t.Fatalf("verdict %s: %v", run.Verdict, run.Iterations[0].Result.Reasons)
	}
	if !strings.Contains(out.String(), "pod #1: SPLIT BRAIN: two writers: pod iris-0 on w1 and pod iris-1 on w2") {
		t.Errorf("progress lacks the split brain:\n%s", out.String())
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func drainObjects() *fake.Clientset {
	cs := fake.NewClientset(irisPod(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w1"}}, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w2"}})
	// No eviction subresource advertised: the drain deletes pods instead.
	cs.Discovery().(*fakediscovery.FakeDiscovery).Resources = []*metav1.APIResourceList{{GroupVersion: "v1"}}
	return cs
}

func TestInterruptedRunHeals(t *testing.T) {
	cs := drainObjects()
	// The database never comes back: the run waits for recovery until interrupted.
	db := &fakeDB{cs: cs, downFor: time.Hour}
	r, l, _ := newRunner(t, db)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			time.Sleep(20 * time.Millisecond)
			n, _ := cs.CoreV1().Nodes().Get(context.Background(), "w1", metav1.GetOptions{})
			if n.Spec.Unschedulable {
				time.Sleep(200 * time.Millisecond)
				cancel() // Ctrl-C while the node is cordoned
				return
			}
		}
	}()
	s := scen("drain", fault.NodeDrain)
	// The fake lists pods on every node; the drain evicts iris-0 only.
	run, _, err := r.Run(ctx, []scenario.Scenario{s})
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("err = %v", err)
	}
	n, _ := cs.CoreV1().Nodes().Get(context.Background(), "w1", metav1.GetOptions{})
	if n.Spec.Unschedulable {
		t.Fatal("node left cordoned after an interrupted run")
	}
	if p, _ := l.Pending(); len(p) != 0 {
		t.Fatalf("ledger still lists %+v", p)
	}
	if run.Verdict == checker.Pass {
		t.Fatal("an interrupted run passed")
	}
}

func TestLeftoversHealedFirst(t *testing.T) {
	cs := fake.NewClientset(irisPod(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w1"}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w3"}, Spec: corev1.NodeSpec{Unschedulable: true}})
	db := &fakeDB{cs: cs, downFor: 100 * time.Millisecond}
	r, l, _ := newRunner(t, db)
	e, _ := l.Record(ledger.Entry{Fault: "node-drain", Heal: ledger.HealUncordon, Node: "w3", Cluster: "https://test"})
	other, _ := l.Record(ledger.Entry{Fault: "node-drain", Heal: ledger.HealUncordon, Node: "x", Cluster: "https://elsewhere"})
	if _, _, err := r.Run(context.Background(), []scenario.Scenario{scen("pod", fault.PodDelete)}); err != nil {
		t.Fatal(err)
	}
	n, _ := cs.CoreV1().Nodes().Get(context.Background(), "w3", metav1.GetOptions{})
	if n.Spec.Unschedulable {
		t.Fatal("leftover cordon not healed")
	}
	p, _ := l.Pending()
	if len(p) != 1 || p[0].ID != other.ID || p[0].ID == e.ID {
		t.Fatalf("pending %+v: only the other cluster's entry should stay", p)
	}
}

func TestPlanChangesNothing(t *testing.T) {
	cs := fake.NewClientset(irisPod(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w1"}, Spec: corev1.NodeSpec{ProviderID: "aws:///z/i-1"}})
	db := &fakeDB{cs: cs}
	r, _, _ := newRunner(t, db)
	plans := r.Plan(context.Background(), []scenario.Scenario{scen("pod", fault.PodDelete), scen("drain", fault.NodeDrain), scen("vm", fault.VMPowerOff)})
	var b strings.Builder
	PrintPlans(&b, plans)
	out := b.String()
	for _, want := range []string{"DELETE pod db/iris-0", "cordon node w1", "--allow-vm-actions", "target: pod db/iris-0, node w1, vm aws:///z/i-1"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	for _, a := range cs.Actions() {
		if v := a.GetVerb(); v != "get" && v != "list" {
			t.Fatalf("dry run made a %s %s", v, a.GetResource().Resource)
		}
	}
}

// Planning needs no workload, observer or environment: a Config without
// them plans, and only Run asks for them.
func TestPlanNeedsNoSeams(t *testing.T) {
	cs := fake.NewClientset(irisPod(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w1"}})
	dir := t.TempDir()
	l, err := ledger.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{Kube: cs, Namespace: "db", ReportsDir: dir, Ledger: l, Out: testWriter{t}})
	if err != nil {
		t.Fatalf("New without seams: %v", err)
	}
	plans := r.Plan(context.Background(), []scenario.Scenario{scen("pod", fault.PodDelete)})
	if len(plans) != 1 || plans[0].Err != nil || len(plans[0].Steps) == 0 {
		t.Fatalf("plans %+v", plans)
	}
	if _, _, err := r.Run(context.Background(), []scenario.Scenario{scen("pod", fault.PodDelete)}); err == nil || !strings.Contains(err.Error(), "NewWorkload") {
		t.Fatalf("Run without seams: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) > 1 {
		t.Errorf("Run without seams wrote %d entries in %s", len(ents), dir)
	}
}

// stuckVMs is a provider whose power on never finishes on its own.
type stuckVMs struct{ state cloud.State }

func (p *stuckVMs) Name() string { return "fake" }
func (p *stuckVMs) Parse(id string) (cloud.VM, error) {
	return cloud.VM{ProviderID: id, Provider: "fake", ID: strings.TrimPrefix(id, "fake:///")}, nil
}
func (p *stuckVMs) Describe(vm cloud.VM, a cloud.Action) string {
	return "FAKE " + string(a) + " " + vm.ID
}
func (p *stuckVMs) State(context.Context, cloud.VM) (cloud.State, error) { return p.state, nil }
func (p *stuckVMs) Do(ctx context.Context, _ cloud.VM, a cloud.Action) error {
	if a == cloud.PowerOff {
		p.state = cloud.Stopped
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

func TestAbortedHealStaysInLedger(t *testing.T) {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w1"}, Spec: corev1.NodeSpec{ProviderID: "fake:///w1"}}
	cs := fake.NewClientset(irisPod(), n)
	db := &fakeDB{cs: cs, downFor: time.Hour}
	r, l, _ := newRunner(t, db)
	vms := &stuckVMs{state: cloud.Running}
	r.cfg.Clouds = func(cloud.Recorder) *cloud.Registry {
		reg := &cloud.Registry{}
		reg.Register("fake", func() (cloud.Provider, error) { return vms, nil })
		return reg
	}
	r.cfg.Allow.VMActions = true
	abort := make(chan struct{})
	r.cfg.Abort = abort
	var fired []bool
	r.cfg.OnFault = func(_ scenario.Scenario, active bool) { fired = append(fired, active) }
	go func() {
		for vms.state != cloud.Stopped {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(900 * time.Millisecond) // past the quiet period: healing is under way
		close(abort)                       // the second Ctrl-C
	}()
	run, _, err := r.Run(context.Background(), []scenario.Scenario{scen("vm", fault.VMPowerOff)})
	if err == nil || !strings.Contains(err.Error(), "unhealed") {
		t.Fatalf("err = %v, want the unhealed fault reported", err)
	}
	if len(run.Unhealed) != 1 || run.Unhealed[0].Fault != "vm-poweroff" || !strings.Contains(run.Unhealed[0].Target, "fake:///w1") {
		t.Fatalf("unhealed %+v", run.Unhealed)
	}
	p, _ := l.Pending()
	if len(p) != 1 || p[0].Heal != ledger.HealPowerOn || p[0].HealError == "" {
		t.Fatalf("ledger pending %+v: want the power on, with the aborted attempt", p)
	}
	if fmt.Sprint(fired) != "[true]" {
		t.Fatalf("OnFault calls %v: want active, never healed", fired)
	}
}

func TestCloudCallRecord(t *testing.T) {
	start := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	ok := cloud.Call{Provider: "aws", Action: "ec2:StopInstances", Target: "aws:///us-east-1a/i-1", Request: "req", Response: "i-1 running -> stopping", Start: start, Duration: 1500 * time.Millisecond}
	r := cloudCallRecord(ok)
	if r.Kind != history.KindCloudCall || r.Name != "ec2:StopInstances" || r.Target != ok.Target || r.Provider != "aws" || r.Request != "req" ||
		r.Message != ok.Response || r.Duration != 1.5 || !r.T.Equal(start) || r.Result != history.OK || r.Error != "" {
		t.Errorf("record %+v", r)
	}
	bad := ok
	bad.Err = errors.New("denied")
	if r := cloudCallRecord(bad); r.Result != history.Fail || r.Error != "denied" {
		t.Errorf("failed call record %+v", r)
	}
}

func TestRunPreflight(t *testing.T) {
	failing := preflight.Report{Namespace: "db", Deployment: "iris", Checks: []preflight.Check{
		{ID: "nodes.workers", Status: preflight.Pass},
		{ID: "storage.class", Status: preflight.Fail, Reason: "node-local", Fix: "use a replicated class"}},
		Predictions: []preflight.Prediction{{Domain: fault.PodDelete.Info().Domain, RTO: 40 * time.Second}}}
	tests := []struct {
		name       string
		pf         func(context.Context) (preflight.Report, error)
		force      bool
		wantErr    error
		iterations int
		recorded   bool
	}{
		{"skipped", nil, false, nil, 1, false},
		{"fail stops before any fault", func(context.Context) (preflight.Report, error) { return failing, nil }, false, ErrNotReady, 0, true},
		{"fail forced runs", func(context.Context) (preflight.Report, error) { return failing, nil }, true, nil, 1, true},
		{"could not run: measured anyway", func(context.Context) (preflight.Report, error) { return preflight.Report{}, errors.New("forbidden") }, false, nil, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewClientset(irisPod(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w1"}})
			db := &fakeDB{cs: cs, downFor: 300 * time.Millisecond}
			r, l, _ := newRunner(t, db)
			r.cfg.Preflight, r.cfg.Force = tt.pf, tt.force
			run, runDir, err := r.Run(context.Background(), []scenario.Scenario{scen("pod", fault.PodDelete)})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if len(run.Iterations) != tt.iterations {
				t.Fatalf("%d iterations, want %d", len(run.Iterations), tt.iterations)
			}
			if (run.Preflight != nil) != tt.recorded {
				t.Fatalf("preflight recorded %v, want %v", run.Preflight != nil, tt.recorded)
			}
			_, statErr := os.Stat(filepath.Join(runDir, rundir.PreflightFile))
			if (statErr == nil) != tt.recorded {
				t.Errorf("%s written: %v, want %v", rundir.PreflightFile, statErr == nil, tt.recorded)
			}
			if entries, _ := l.Entries(); tt.iterations == 0 && len(entries) != 0 {
				t.Errorf("a fault was injected after a failing preflight: %+v", entries)
			}
			if tt.wantErr != nil && !strings.Contains(err.Error(), "storage.class (use a replicated class)") {
				t.Errorf("the error does not name the failing check and its fix: %v", err)
			}
		})
	}
}

// The stack check mirrors the preflight: recorded in the report and its
// own file with the transcripts, shown in report.md and report.html, asked
// for the most streams of the scenarios; a FAIL stops the run before any
// fault unless forced.
func TestRunStackCheck(t *testing.T) {
	failing := stackcheck.Report{Namespace: "db", Pod: "iris-0", Instance: "iris", Probes: []stackcheck.Probe{
		{ID: stackcheck.ProbeQlist, Status: preflight.Pass, Reason: "running", Output: "IRIS^...^running"},
		{ID: stackcheck.ProbeError, Status: preflight.Fail, Reason: "a write that must fail was read as acknowledged", Output: "##ACK:1:1:x"}}}
	warning := stackcheck.Report{Namespace: "db", Pod: "iris-0", Instance: "iris", Probes: []stackcheck.Probe{
		{ID: stackcheck.ProbeLicense, Status: preflight.Warn, Reason: "Community Edition leaves 2 license unit(s) free", Fix: "run with workload.streams <= 1", Output: "##VAL:available:1"}}}
	ret := func(r stackcheck.Report, err error) func(context.Context, int) (stackcheck.Report, error) {
		return func(_ context.Context, streams int) (stackcheck.Report, error) {
			r.Streams = streams
			return r, err
		}
	}
	tests := []struct {
		name       string
		sc         func(context.Context, int) (stackcheck.Report, error)
		force      bool
		wantErr    error
		iterations int
		recorded   bool
	}{
		{"skipped", nil, false, nil, 1, false},
		{"warn runs and is shown", ret(warning, nil), false, nil, 1, true},
		{"fail stops before any fault", ret(failing, nil), false, ErrStackCheck, 0, true},
		{"fail forced runs", ret(failing, nil), true, nil, 1, true},
		{"could not run: measured anyway", ret(stackcheck.Report{}, errors.New("no IRIS pod")), false, nil, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewClientset(irisPod(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w1"}})
			db := &fakeDB{cs: cs, downFor: 300 * time.Millisecond}
			r, l, _ := newRunner(t, db)
			r.cfg.StackCheck, r.cfg.Force = tt.sc, tt.force
			s := scen("pod", fault.PodDelete)
			s.Workload.Streams = 3
			run, runDir, err := r.Run(context.Background(), []scenario.Scenario{s})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if len(run.Iterations) != tt.iterations {
				t.Fatalf("%d iterations, want %d", len(run.Iterations), tt.iterations)
			}
			if (run.StackCheck != nil) != tt.recorded {
				t.Fatalf("stack check recorded %v, want %v", run.StackCheck != nil, tt.recorded)
			}
			b, statErr := os.ReadFile(filepath.Join(runDir, rundir.StackCheckFile))
			if (statErr == nil) != tt.recorded {
				t.Errorf("%s written: %v, want %v", rundir.StackCheckFile, statErr == nil, tt.recorded)
			}
			if entries, _ := l.Entries(); tt.iterations == 0 && len(entries) != 0 {
				t.Errorf("a fault was injected after a failing stack check: %+v", entries)
			}
			if tt.wantErr != nil && !strings.Contains(err.Error(), "error (a write that must fail was read as acknowledged)") {
				t.Errorf("the error does not name the failing probe: %v", err)
			}
			if !tt.recorded {
				return
			}
			if run.StackCheck.Streams != 3 {
				t.Errorf("checked for %d streams, want the scenario's 3", run.StackCheck.Streams)
			}
			if !strings.Contains(string(b), `"output": "`) {
				t.Errorf("%s lacks the transcripts:\n%s", rundir.StackCheckFile, b)
			}
			md, _ := os.ReadFile(filepath.Join(runDir, rundir.MDFile))
			html, _ := os.ReadFile(filepath.Join(runDir, rundir.HTMLFile))
			want := run.StackCheck.Probes[len(run.StackCheck.Probes)-1].Reason
			if !strings.Contains(string(md), "## Stack check") || !strings.Contains(string(md), want) {
				t.Errorf("report.md lacks the stack check:\n%s", md)
			}
			if !strings.Contains(string(html), `<table id="stack-check">`) || !strings.Contains(string(html), want) {
				t.Errorf("report.html lacks the stack check")
			}
		})
	}
}

// A partition's plan is its exact rules, through the configured agent
// image; without --allow-node-actions it is refused, and planning creates
// no agent.
func TestPlanPartition(t *testing.T) {
	addr := func(ip string) corev1.NodeStatus {
		return corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}}
	}
	cs := fake.NewClientset(irisPod(),
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w1"}, Status: addr("10.0.0.1")},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w2"}, Spec: corev1.NodeSpec{PodCIDRs: []string{"10.244.2.0/24"}}, Status: addr("10.0.0.2")},
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes"}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.10"}}}})
	r, _, _ := newRunner(t, &fakeDB{cs: cs})
	r.cfg.AgentImage = "example.com/iptables:1"
	s := scen("cut", fault.NodePartition)
	s.Fault.Direction = fault.Incoming
	s.Fault.Duration = dur(2 * time.Minute)
	plans := r.Plan(context.Background(), []scenario.Scenario{s})
	var b strings.Builder
	PrintPlans(&b, plans)
	out := b.String()
	for _, want := range []string{"incoming only (the node still sends), from control-plane, nodes, for at most 2m0s", "image example.com/iptables:1",
		"iptables -w -A IRISCHAOS-PARTITION -s 10.0.0.10/32 -j DROP", "iptables -w -A IRISCHAOS-PARTITION -s 10.244.2.0/24 -j DROP", "--allow-node-actions"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "-d 10.0.0.2") {
		t.Errorf("incoming only, yet an outgoing rule:\n%s", out)
	}
	for _, a := range cs.Actions() {
		if v := a.GetVerb(); v != "get" && v != "list" {
			t.Fatalf("planning made a %s %s", v, a.GetResource().Resource)
		}
	}
}

// A zone outage is refused like a preflight where the storage says the zone
// holds every usable copy of the volume; with a copy elsewhere it plans.
func TestPlanZoneOutageRefusesLastCopy(t *testing.T) {
	node := func(name, zone string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelTopologyZone: zone}}, Spec: corev1.NodeSpec{ProviderID: "fake:///" + name}}
	}
	cs := fake.NewClientset(irisPod(), node("w1", "a"), node("w2", "b"))
	r, _, _ := newRunner(t, &fakeDB{cs: cs})
	r.cfg.Clouds = func(cloud.Recorder) *cloud.Registry {
		reg := &cloud.Registry{}
		reg.Register("fake", func() (cloud.Provider, error) { return &stuckVMs{state: cloud.Running}, nil })
		return reg
	}
	for _, c := range []struct {
		copies map[string]int
		want   string
	}{
		{map[string]int{"a": 2}, `zone "a" holds every usable copy of the volume (2)`},
		{map[string]int{"a": 1, "b": 1}, ""},
		{nil, ""}, // not readable: not refused
	} {
		r.cfg.VolumeCopies = func(context.Context) map[string]int { return c.copies }
		p := r.Plan(context.Background(), []scenario.Scenario{scen("zone", fault.ZoneOutage)})[0]
		switch {
		case c.want != "" && (p.Err == nil || !strings.Contains(p.Err.Error(), c.want)):
			t.Errorf("copies %v: %v, want %q", c.copies, p.Err, c.want)
		case c.want == "" && p.Err != nil && !strings.Contains(p.Err.Error(), "--allow-vm-actions"):
			t.Errorf("copies %v: %v", c.copies, p.Err)
		case c.want == "" && !strings.Contains(strings.Join(p.Steps, "\n"), "zone a off-line (poweroff) at the same moment: nodes w1"):
			t.Errorf("copies %v: steps %v, %v", c.copies, p.Steps, p.Err)
		}
	}
}
