package runner

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/mitigation"
	"github.com/irischaos/irischaos/pkg/scenario"
)

// lostNodeVMs powers a node off and on, and plays the node controller: the
// node turns NotReady a little after its VM is off, Ready after it is on.
type lostNodeVMs struct {
	cs *fake.Clientset
	mu sync.Mutex
	st cloud.State
}

func (p *lostNodeVMs) Name() string { return "fake" }
func (p *lostNodeVMs) Parse(id string) (cloud.VM, error) {
	return cloud.VM{ProviderID: id, Provider: "fake", ID: strings.TrimPrefix(id, "fake:///")}, nil
}
func (p *lostNodeVMs) Describe(vm cloud.VM, a cloud.Action) string { return "FAKE " + string(a) }
func (p *lostNodeVMs) State(context.Context, cloud.VM) (cloud.State, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.st, nil
}
func (p *lostNodeVMs) Do(ctx context.Context, _ cloud.VM, a cloud.Action) error {
	p.mu.Lock()
	p.st = a.Target()
	p.mu.Unlock()
	ready := corev1.ConditionTrue
	delay := 10 * time.Millisecond
	if a == cloud.PowerOff {
		ready, delay = corev1.ConditionUnknown, 300*time.Millisecond
	}
	go func() {
		time.Sleep(delay)
		n, err := p.cs.CoreV1().Nodes().Get(context.Background(), "w1", metav1.GetOptions{})
		if err != nil {
			return
		}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}}
		_, _ = p.cs.CoreV1().Nodes().UpdateStatus(context.Background(), n, metav1.UpdateOptions{})
	}()
	return nil
}

func tainted(cs *fake.Clientset) bool {
	n, err := cs.CoreV1().Nodes().Get(context.Background(), "w1", metav1.GetOptions{})
	return err == nil && slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == mitigation.TaintKey })
}

func lostNodeRunner(t *testing.T) (*Runner, *fake.Clientset, *fakeDB, func() int) {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w1"}, Spec: corev1.NodeSpec{ProviderID: "fake:///w1"},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	cs := fake.NewClientset(irisPod(), n)
	// The database stays down while the volume is held by the lost node:
	// until the out-of-service taint lets Kubernetes move it.
	db := &fakeDB{cs: cs, downFor: 200 * time.Millisecond, blocked: func() bool { return !tainted(cs) }}
	r, l, _ := newRunner(t, db)
	vms := &lostNodeVMs{cs: cs, st: cloud.Running}
	r.cfg.Clouds = func(cloud.Recorder) *cloud.Registry {
		reg := &cloud.Registry{}
		reg.Register("fake", func() (cloud.Provider, error) { return vms, nil })
		return reg
	}
	r.cfg.Allow.VMActions = true
	// The fake database goes down with its node's VM.
	go func() {
		for vms.st != cloud.Stopped {
			time.Sleep(5 * time.Millisecond)
		}
		_ = cs.CoreV1().Pods("db").Delete(context.Background(), "iris-0", metav1.DeleteOptions{})
	}()
	pending := func() int { p, _ := l.Pending(); return len(p) }
	return r, cs, db, pending
}

func TestOutOfServiceTaintMitigation(t *testing.T) {
	r, cs, _, pending := lostNodeRunner(t)
	s := scen("node-lost-out-of-service-taint", fault.VMPowerOff)
	s.Mitigation = mitigation.OutOfServiceTaint
	var taintedAt time.Time
	go func() {
		for !tainted(cs) {
			time.Sleep(5 * time.Millisecond)
		}
		taintedAt = time.Now()
	}()
	run, _, err := r.Run(context.Background(), []scenario.Scenario{s})
	if err != nil {
		t.Fatal(err)
	}
	it := run.Iterations[0]
	if it.Result.Verdict != checker.Pass || run.Verdict != checker.Pass {
		t.Fatalf("verdict %s (run %s), reasons %v: the taint should have let it recover", it.Result.Verdict, run.Verdict, it.Result.Reasons)
	}
	if it.Mitigation != string(mitigation.OutOfServiceTaint) || it.MitigationAppliedSeconds == nil || it.MitigationError != "" {
		t.Fatalf("iteration mitigation %q applied %v error %q", it.Mitigation, it.MitigationAppliedSeconds, it.MitigationError)
	}
	// Never before the node was seen NotReady (it turns NotReady 300 ms after its VM is off).
	if *it.MitigationAppliedSeconds < 0.3 {
		t.Errorf("taint applied +%.3fs after the fault: before the node was NotReady", *it.MitigationAppliedSeconds)
	}
	if taintedAt.IsZero() {
		t.Fatal("the node was never tainted")
	}
	if tainted(cs) {
		t.Error("the out-of-service taint is still on the node after the run")
	}
	if n := pending(); n != 0 {
		t.Errorf("%d ledger entries pending after the run", n)
	}
}

func TestNodeLossExpectedToStick(t *testing.T) {
	r, cs, _, pending := lostNodeRunner(t)
	s := scen("node-lost", fault.VMPowerOff)
	s.Budgets.RTO = dur(time.Second)
	s.Observation.MaxRecovery = dur(2 * time.Second)
	s.Mitigation = mitigation.None
	s.Expect = &scenario.Expect{Verdict: scenario.ExpectFail, Why: "the volume stays attached to the lost node"}
	run, _, err := r.Run(context.Background(), []scenario.Scenario{s})
	if err != nil {
		t.Fatal(err)
	}
	it := run.Iterations[0]
	if it.Result.Verdict != checker.Fail {
		t.Fatalf("checker verdict %s, want fail (never recovered): %v", it.Result.Verdict, it.Result.Reasons)
	}
	if run.Verdict != checker.Pass || it.Verdict() != checker.Pass {
		t.Fatalf("run verdict %s: an expected failure must not make the run red", run.Verdict)
	}
	if !strings.Contains(it.VerdictText(), "expected: the volume stays attached") {
		t.Errorf("verdict text %q does not say it was expected", it.VerdictText())
	}
	if tainted(cs) || it.MitigationAppliedSeconds != nil {
		t.Error("no mitigation was asked for, yet the node was tainted")
	}
	if n := pending(); n != 0 {
		t.Errorf("%d ledger entries pending after the run", n)
	}
}

func TestUnexpectedPassFailsTheRun(t *testing.T) {
	r, _, db, _ := lostNodeRunner(t)
	db.blocked = nil // this cluster recovers by itself
	s := scen("node-lost", fault.VMPowerOff)
	s.Expect = &scenario.Expect{Verdict: scenario.ExpectFail, Why: "stuck"}
	run, _, err := r.Run(context.Background(), []scenario.Scenario{s})
	if err != nil {
		t.Fatal(err)
	}
	if got := run.Iterations[0].Result.Verdict; got != checker.Pass {
		t.Fatalf("checker verdict %s, want pass", got)
	}
	if run.Verdict != checker.Fail {
		t.Fatalf("run verdict %s: a pass where a failure was expected means the expectation is stale, it must fail", run.Verdict)
	}
}

func TestShortTolerationsMitigation(t *testing.T) {
	cs := fake.NewClientset(irisPod(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w1"}})
	orig := []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "iris", Effect: corev1.TaintEffectNoSchedule}}
	one := int32(1)
	d := deployment(orig, one)
	if _, err := cs.AppsV1().Deployments("db").Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	db := &fakeDB{cs: cs, downFor: 100 * time.Millisecond}
	r, l, _ := newRunner(t, db)
	s := scen("pod-short-tolerations", fault.PodDelete)
	s.Mitigation = mitigation.ShortTolerations
	var during []corev1.Toleration
	r.cfg.OnFault = func(_ scenario.Scenario, active bool) {
		if active {
			d, _ := cs.AppsV1().Deployments("db").Get(context.Background(), "iris", metav1.GetOptions{})
			during = d.Spec.Template.Spec.Tolerations
		}
	}
	run, _, err := r.Run(context.Background(), []scenario.Scenario{s})
	if err != nil {
		t.Fatal(err)
	}
	if run.Iterations[0].Error != "" {
		t.Fatalf("iteration error: %s", run.Iterations[0].Error)
	}
	var short int
	for _, tl := range during {
		if tl.TolerationSeconds != nil && *tl.TolerationSeconds == mitigation.ShortTolerationSeconds {
			short++
		}
	}
	if short != 2 || len(during) != 3 {
		t.Errorf("tolerations during the fault %+v: want the user's own and not-ready/unreachable at %ds", during, mitigation.ShortTolerationSeconds)
	}
	after, _ := cs.AppsV1().Deployments("db").Get(context.Background(), "iris", metav1.GetOptions{})
	if !equalJSONTest(after.Spec.Template.Spec.Tolerations, orig) {
		t.Errorf("tolerations after the run %+v, want them restored to %+v", after.Spec.Template.Spec.Tolerations, orig)
	}
	if p, _ := l.Pending(); len(p) != 0 {
		t.Errorf("ledger pending %+v", p)
	}
}

// deployment is the stack's Deployment, rolled out.
func deployment(tol []corev1.Toleration, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "iris", Namespace: "db"},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Template: corev1.PodTemplateSpec{
			Spec: corev1.PodSpec{Tolerations: tol, Containers: []corev1.Container{{Name: "iris"}}},
		}},
		Status: appsv1.DeploymentStatus{Replicas: replicas, UpdatedReplicas: replicas, AvailableReplicas: replicas},
	}
}

func equalJSONTest(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// storageObserver reports the volume's redundancy: degraded just after the
// fault, clean restoreAfter after the read-back began.
type storageObserver struct {
	fakeObserver
	h            *history.Writer
	readBack     chan struct{}
	restoreAfter time.Duration
}

func (o *storageObserver) ExpectEffect(e fault.Effect) <-chan time.Time {
	go func() {
		time.Sleep(100 * time.Millisecond)
		o.h.Add(history.Record{Kind: history.KindEvent, T: time.Now(), Source: history.SourceStorage, Reason: "degraded", Target: "pool/rbd"})
	}()
	return o.fakeObserver.ExpectEffect(e)
}

func (o *storageObserver) Start(context.Context) error {
	// As the observer records the state it finds at start.
	o.h.Add(history.Record{Kind: history.KindEvent, T: time.Now(), Source: history.SourceStorage, Reason: history.ReasonObserved, Message: "clean: 32 PGs active+clean", Target: "pool/rbd"})
	go func() {
		<-o.readBack
		time.Sleep(o.restoreAfter)
		o.h.Add(history.Record{Kind: history.KindEvent, T: time.Now(), Source: history.SourceStorage, Reason: history.RedundancyClean, Target: "pool/rbd"})
	}()
	return nil
}

type readBackSignal struct {
	*fakeDB
	ch chan struct{}
}

func (d readBackSignal) ReadBack(ctx context.Context) (history.Record, error) {
	close(d.ch)
	return d.fakeDB.ReadBack(ctx)
}

func TestRunWaitsForRedundancy(t *testing.T) {
	cs := fake.NewClientset(irisPod(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w1"}})
	db := &fakeDB{cs: cs, downFor: 100 * time.Millisecond}
	r, _, _ := newRunner(t, db)
	ch := make(chan struct{})
	newWL := r.cfg.NewWorkload
	r.cfg.NewWorkload = func(s scenario.Scenario, h *history.Writer) (Workload, error) {
		if _, err := newWL(s, h); err != nil {
			return nil, err
		}
		return readBackSignal{db, ch}, nil
	}
	r.cfg.NewObserver = func(h *history.Writer) (Observer, error) {
		return &storageObserver{h: h, readBack: ch, restoreAfter: 500 * time.Millisecond}, nil
	}
	run, _, err := r.Run(context.Background(), []scenario.Scenario{scen("pod", fault.PodDelete)})
	if err != nil {
		t.Fatal(err)
	}
	st := run.Iterations[0].Result.Storage
	if st == nil || st.RedundancyRestoredAt == nil {
		t.Fatalf("storage %+v: the run ended before the storage was clean again", st)
	}
}

// A clean pool found at start and never degraded is not waited for.
func TestRunDoesNotWaitOnCleanStorage(t *testing.T) {
	cs := fake.NewClientset(irisPod(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w1"}})
	db := &fakeDB{cs: cs, downFor: 100 * time.Millisecond}
	r, _, _ := newRunner(t, db)
	r.cfg.RedundancyWait = time.Minute
	r.cfg.NewObserver = func(h *history.Writer) (Observer, error) {
		return &cleanObserver{h: h}, nil
	}
	start := time.Now()
	if _, _, err := r.Run(context.Background(), []scenario.Scenario{scen("pod", fault.PodDelete)}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("the run took %s: it waited for a storage that was clean all along", d)
	}
}

type cleanObserver struct {
	fakeObserver
	h *history.Writer
}

func (o *cleanObserver) Start(context.Context) error {
	return o.h.Add(history.Record{Kind: history.KindEvent, T: time.Now(), Source: history.SourceStorage, Reason: history.ReasonObserved, Message: "clean: 32 PGs active+clean", Target: "pool/rbd"})
}
