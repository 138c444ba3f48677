package nemesis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/ledger"
	"github.com/irischaos/irischaos/pkg/podexec"
	"github.com/irischaos/irischaos/pkg/target"
)

var podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

func irisPod(name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "db", UID: "uid-1", Labels: map[string]string{"app": "iris"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "iris-rs", Controller: ptr(true)}}},
		Spec:   corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "iris"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

func ptr[T any](v T) *T { return &v }

var irisTarget = target.Target{Namespace: "db", Pod: "iris-0", PodUID: "uid-1", Container: "iris", Node: "w1", ProviderID: "fake:///w1"}

// fakeExec stands in for the exec API: records commands, returns err.
type fakeExec struct {
	mu   sync.Mutex
	cmds [][]string
	out  string
	err  error
	// reply, when set, answers instead of out/err.
	reply func(cmd []string) (string, error)
}

func (f *fakeExec) Exec(_ context.Context, t podexec.Target, cmd []string, _ io.Reader, stdout, _ io.Writer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmds = append(f.cmds, append([]string{t.Namespace + "/" + t.Pod + "/" + t.Container}, cmd...))
	if f.reply != nil {
		out, err := f.reply(cmd)
		io.WriteString(stdout, out)
		return err
	}
	io.WriteString(stdout, f.out)
	return f.err
}

func TestNewValidates(t *testing.T) {
	env := Env{Client: fake.NewClientset(), Exec: &fakeExec{}, Clouds: registry(newFakeVMs())}
	tests := []struct {
		spec    Spec
		t       target.Target
		wantErr string
	}{
		{Spec{Name: ""}, irisTarget, "no fault named"},
		{Spec{Name: "iris-explode"}, irisTarget, `unknown fault "iris-explode"`},
		{Spec{Name: fault.IrisStop}, target.Target{Node: "w1"}, "needs a pod"},
		{Spec{Name: fault.PodDelete}, target.Target{}, "needs a pod"},
		{Spec{Name: fault.NodeDrain}, target.Target{Namespace: "db", Pod: "p"}, "needs a node"},
		{Spec{Name: fault.VMPowerOff}, irisTarget, "--allow-vm-actions"},
		{Spec{Name: fault.VMDelete, Allow: fault.Allow{VMActions: true}}, target.Target{Node: "w1"}, "no spec.providerID"},
		{Spec{Name: fault.VMRestart, Allow: fault.Allow{VMActions: true}}, target.Target{}, "pass --node or --provider-id"},
		{Spec{Name: fault.VMRestart, Allow: fault.Allow{VMActions: true}}, target.Target{ProviderID: "gcp:///x"}, `no cloud provider for scheme "gcp"`},
		{Spec{Name: fault.IrisForce}, irisTarget, ""},
		{Spec{Name: fault.VMPowerOn, Allow: fault.Allow{VMActions: true}}, target.Target{ProviderID: "fake:///w9"}, ""},
	}
	for _, tc := range tests {
		t.Run(string(tc.spec.Name)+"/"+tc.wantErr, func(t *testing.T) {
			f, err := New(env, tc.spec, tc.t)
			if tc.wantErr == "" {
				if err != nil || f.Name() != tc.spec.Name {
					t.Fatalf("New = %v, %v", f, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want containing %q", err, tc.wantErr)
			}
		})
	}
	if _, err := New(Env{Client: env.Client}, Spec{Name: fault.IrisStop}, irisTarget); err == nil {
		t.Fatal("iris-stop without exec accepted")
	}
}

func TestIrisProcess(t *testing.T) {
	tests := []struct {
		name    string
		fault   fault.Name
		execErr error
		wantCmd string
		wantErr string
		detail  string
	}{
		{name: "stop ok", fault: fault.IrisStop, wantCmd: "db/iris-0/iris iris stop iris quietly"},
		{name: "force ok", fault: fault.IrisForce, wantCmd: "db/iris-0/iris iris force iris quietly"},
		{name: "container killed under exec", fault: fault.IrisStop, execErr: podexec.ExitError(137, "killed"), wantCmd: "db/iris-0/iris iris stop iris quietly", detail: "exec ended with the container"},
		{name: "stream cut", fault: fault.IrisForce, execErr: io.ErrUnexpectedEOF, wantCmd: "db/iris-0/iris iris force iris quietly", detail: "exec ended with the container"},
		{name: "no iris command", fault: fault.IrisStop, execErr: podexec.ExitError(127, "not found"), wantErr: "exited 127"},
		{name: "exec refused", fault: fault.IrisStop, execErr: apierrors.NewForbidden(podsGVR.GroupResource(), "iris-0", errors.New("rbac")), wantErr: "refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ex := &fakeExec{err: tc.execErr, out: "out\n"}
			env := Env{Client: fake.NewClientset(irisPod("iris-0", "w1")), Exec: ex}
			f, err := New(env, Spec{Name: tc.fault}, irisTarget)
			if err != nil {
				t.Fatal(err)
			}
			if f.Effect() != (fault.Effect{Kind: fault.EffectContainerRestart, Pod: "iris-0"}) || f.HealAction() != ledger.HealNone {
				t.Fatalf("effect %+v heal %q", f.Effect(), f.HealAction())
			}
			if !strings.Contains(strings.Join(f.Plan(), "\n"), strings.Join(f.(*irisProcess).command(), " ")) {
				t.Fatalf("plan lacks the command: %q", f.Plan())
			}
			before := time.Now()
			res, err := f.Inject(context.Background())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(ex.cmds[0], " "); got != tc.wantCmd {
				t.Fatalf("cmd %q, want %q", got, tc.wantCmd)
			}
			if res.Issued.Before(before) || res.Done.Before(res.Issued) || !strings.Contains(res.Detail, tc.detail) {
				t.Fatalf("result %+v", res)
			}
			if err := f.Heal(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A process fault's effect is confirmed where it happens: right after the
// stop, `iris qlist` (what the liveness probe reads) says the instance is
// down, or the container is gone; the readiness probe is not waited for.
func TestIrisProcessConfirmsDownAtOnce(t *testing.T) {
	tests := []struct {
		name      string
		stopErr   error
		qlist     string
		qlistErr  error
		confirmed bool
		detail    string
	}{
		{name: "qlist says down", qlist: "IRIS^/usr/irissys^2025.1.0^down, last used Tue Dec 2 10:00:00 2026^iris.cpf^1972^52773^^ok^IRIS^^^/usr/irissys^", confirmed: true, detail: "instance down"},
		{name: "container gone under qlist", qlistErr: io.ErrUnexpectedEOF, confirmed: true, detail: "container gone"},
		{name: "stop killed the container", stopErr: podexec.ExitError(137, "killed"), qlistErr: errors.New("container not found"), confirmed: true, detail: "container gone"},
		{name: "still running", qlist: "IRIS^/usr/irissys^2025.1.0^running, since Tue Dec 2 10:00:00 2026^iris.cpf^1972^52773^^ok^IRIS^^^/usr/irissys^"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ex := &fakeExec{reply: func(cmd []string) (string, error) {
				if cmd[1] == "qlist" {
					return tc.qlist, tc.qlistErr
				}
				return "", tc.stopErr
			}}
			f, err := New(Env{Client: fake.NewClientset(irisPod("iris-0", "w1")), Exec: ex}, Spec{Name: fault.IrisForce}, irisTarget)
			if err != nil {
				t.Fatal(err)
			}
			res, err := f.Inject(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(ex.cmds[len(ex.cmds)-1][1:], " "); got != "iris qlist iris" {
				t.Fatalf("last command %q, want the qlist check", got)
			}
			if !tc.confirmed {
				if !res.Effect.IsZero() {
					t.Fatalf("confirmed while qlist says running: %+v", res)
				}
				return
			}
			if res.Effect.IsZero() || res.Effect.Before(res.Done) || !strings.Contains(res.Detail, tc.detail) {
				t.Fatalf("result %+v: want the effect confirmed at once (%q)", res, tc.detail)
			}
		})
	}
}

func TestIrisProcessRefusesReplacedPod(t *testing.T) {
	p := irisPod("iris-0", "w1")
	p.UID = "uid-new"
	ex := &fakeExec{}
	f, _ := New(Env{Client: fake.NewClientset(p), Exec: ex}, Spec{Name: fault.IrisStop}, irisTarget)
	if _, err := f.Inject(context.Background()); err == nil || !strings.Contains(err.Error(), "replaced") {
		t.Fatalf("err = %v", err)
	}
	if len(ex.cmds) != 0 {
		t.Fatal("exec ran on a replacement pod")
	}
}

func TestPodDelete(t *testing.T) {
	tests := []struct {
		name      string
		grace     *time.Duration
		uid       string
		wantGrace *int64
		wantErr   string
	}{
		{name: "graceful", uid: "uid-1"},
		{name: "grace 0", grace: ptr(time.Duration(0)), uid: "uid-1", wantGrace: ptr(int64(0))},
		{name: "grace 5s", grace: ptr(5 * time.Second), uid: "uid-1", wantGrace: ptr(int64(5))},
		{name: "replaced", uid: "uid-other", wantErr: "replaced"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := irisPod("iris-0", "w1")
			p.UID = "uid-1"
			cs := fake.NewClientset(p)
			var got metav1.DeleteOptions
			cs.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
				got = a.(k8stesting.DeleteAction).GetDeleteOptions()
				if got.Preconditions != nil && string(*got.Preconditions.UID) != "uid-1" {
					return true, nil, apierrors.NewConflict(podsGVR.GroupResource(), "iris-0", errors.New("uid mismatch"))
				}
				return false, nil, nil
			})
			tg := irisTarget
			tg.PodUID = "uid-1"
			if tc.uid != "uid-1" {
				tg.PodUID = "uid-other"
			}
			f, _ := New(Env{Client: cs}, Spec{Name: fault.PodDelete, GracePeriod: tc.grace}, tg)
			if f.Effect().Kind != fault.EffectPodTerminating {
				t.Fatalf("effect %+v", f.Effect())
			}
			res, err := f.Inject(context.Background())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil || res.Issued.IsZero() {
				t.Fatal(res, err)
			}
			if fmt.Sprint(got.GracePeriodSeconds) != fmt.Sprint(tc.wantGrace) && (got.GracePeriodSeconds == nil || tc.wantGrace == nil || *got.GracePeriodSeconds != *tc.wantGrace) {
				t.Fatalf("grace %v, want %v", got.GracePeriodSeconds, tc.wantGrace)
			}
			if _, err := cs.CoreV1().Pods("db").Get(context.Background(), "iris-0", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Fatalf("pod still there: %v", err)
			}
			// Deleting again: the pod is gone, which is an error, not a silent success.
			if _, err := f.Inject(context.Background()); err == nil || !strings.Contains(err.Error(), "already gone") {
				t.Fatalf("second delete: %v", err)
			}
		})
	}
}

// drainCluster is a fake cluster whose evictions delete the pod, as the API
// server does for a pod without a PodDisruptionBudget.
func drainCluster(t *testing.T) (*fake.Clientset, *[]string) {
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "cni", Namespace: "kube-system"}}
	dsPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "cni-w1", Namespace: "kube-system",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "cni", Controller: ptr(true)}}},
		Spec: corev1.PodSpec{NodeName: "w1"}}
	bare := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bare", Namespace: "db"}, Spec: corev1.PodSpec{NodeName: "w1",
		Volumes: []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}}}
	other := irisPod("elsewhere", "w2")
	other.UID = "uid-2"
	cs := fake.NewClientset(irisPod("iris-0", "w1"), dsPod, ds, bare, other,
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w1"}}, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w2"}})
	cs.Discovery().(*fakediscovery.FakeDiscovery).Resources = []*metav1.APIResourceList{{
		GroupVersion: "v1",
		APIResources: []metav1.APIResource{{Name: "pods/eviction", Kind: "Eviction", Group: "policy", Version: "v1"}},
	}}
	// The fake ignores field selectors; the API server filters by spec.nodeName.
	cs.PrependReactor("list", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		fs := a.(k8stesting.ListAction).GetListRestrictions().Fields
		node, ok := fs.RequiresExactMatch("spec.nodeName")
		if !ok {
			return false, nil, nil
		}
		obj, err := cs.Tracker().List(podsGVR, schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, a.GetNamespace())
		if err != nil {
			return true, nil, err
		}
		list := obj.(*corev1.PodList)
		var keep []corev1.Pod
		for _, p := range list.Items {
			if p.Spec.NodeName == node {
				keep = append(keep, p)
			}
		}
		list.Items = keep
		return true, list, nil
	})
	var evicted []string
	var mu sync.Mutex
	cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "eviction" {
			return false, nil, nil
		}
		ev := a.(k8stesting.CreateAction).GetObject().(*policyv1.Eviction)
		mu.Lock()
		evicted = append(evicted, ev.Namespace+"/"+ev.Name)
		mu.Unlock()
		return true, nil, cs.Tracker().Delete(podsGVR, ev.Namespace, ev.Name)
	})
	return cs, &evicted
}

func TestNodeDrainAndHeal(t *testing.T) {
	cs, evicted := drainCluster(t)
	ctx := context.Background()
	var out strings.Builder
	f, err := New(Env{Client: cs, Out: &out}, Spec{Name: fault.NodeDrain, DrainTimeout: 20 * time.Second}, irisTarget)
	if err != nil {
		t.Fatal(err)
	}
	if f.HealAction() != ledger.HealUncordon || f.Effect() != (fault.Effect{Kind: fault.EffectPodTerminating, Pod: "iris-0"}) {
		t.Fatalf("heal %q effect %+v", f.HealAction(), f.Effect())
	}
	res, err := f.Inject(ctx)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	n, _ := cs.CoreV1().Nodes().Get(ctx, "w1", metav1.GetOptions{})
	if !n.Spec.Unschedulable {
		t.Fatal("node not cordoned")
	}
	got := strings.Join(*evicted, ",")
	if !strings.Contains(got, "db/iris-0") || !strings.Contains(got, "db/bare") || strings.Contains(got, "cni") || strings.Contains(got, "elsewhere") {
		t.Fatalf("evicted %s: want the IRIS and bare pods only", got)
	}
	if !strings.Contains(res.Detail, "IRIS pod gone") || res.Done.Before(res.Issued) {
		t.Fatalf("result %+v", res)
	}
	if err := f.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	n, _ = cs.CoreV1().Nodes().Get(ctx, "w1", metav1.GetOptions{})
	if n.Spec.Unschedulable {
		t.Fatal("node still cordoned after heal")
	}
	// Heal again, and recover from the ledger, are no-ops.
	if err := recoverEntry(ctx, Env{Client: cs}, LedgerEntry(f)); err != nil {
		t.Fatal(err)
	}
}

func TestRecoverUncordon(t *testing.T) {
	cs := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w1"}, Spec: corev1.NodeSpec{Unschedulable: true}})
	ctx := context.Background()
	e := ledger.Entry{ID: "x", Fault: string(fault.NodeDrain), Heal: ledger.HealUncordon, Node: "w1"}
	if err := recoverEntry(ctx, Env{Client: cs}, e); err != nil {
		t.Fatal(err)
	}
	n, _ := cs.CoreV1().Nodes().Get(ctx, "w1", metav1.GetOptions{})
	if n.Spec.Unschedulable {
		t.Fatal("not uncordoned")
	}
	e.Node = "deleted-node"
	if err := recoverEntry(ctx, Env{Client: cs}, e); err != nil {
		t.Fatalf("gone node: %v", err)
	}
	if err := recoverEntry(ctx, Env{Client: cs}, ledger.Entry{ID: "y", Heal: "teleport"}); err == nil {
		t.Fatal("unknown heal accepted")
	}
}

// fakeVMs is a cloud.Provider over an in-memory set of VM states.
type fakeVMs struct {
	mu     sync.Mutex
	state  map[string]cloud.State
	calls  []string
	failOn cloud.Action
}

func newFakeVMs() *fakeVMs {
	return &fakeVMs{state: map[string]cloud.State{"w1": cloud.Running, "w9": cloud.Stopped}}
}

func registry(p *fakeVMs) *cloud.Registry {
	r := &cloud.Registry{}
	r.Register("fake", func() (cloud.Provider, error) { return p, nil })
	return r
}

func (p *fakeVMs) Name() string { return "fake" }
func (p *fakeVMs) Parse(id string) (cloud.VM, error) {
	name := strings.TrimPrefix(id, "fake:///")
	if name == id || name == "" {
		return cloud.VM{}, fmt.Errorf("bad fake id %q", id)
	}
	return cloud.VM{ProviderID: id, Provider: "fake", ID: name}, nil
}
func (p *fakeVMs) Describe(vm cloud.VM, a cloud.Action) string {
	return "FAKE " + string(a) + " " + vm.ID
}
func (p *fakeVMs) Do(_ context.Context, vm cloud.VM, a cloud.Action) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, string(a)+" "+vm.ID)
	if a == p.failOn {
		return errors.New("throttled")
	}
	switch a {
	case cloud.PowerOff:
		p.state[vm.ID] = cloud.Stopped
	case cloud.PowerOn, cloud.Restart:
		p.state[vm.ID] = cloud.Running
	case cloud.Delete:
		p.state[vm.ID] = cloud.Terminated
	}
	return nil
}
func (p *fakeVMs) State(_ context.Context, vm cloud.VM) (cloud.State, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state[vm.ID], nil
}

func TestVMFaults(t *testing.T) {
	tests := []struct {
		fault     fault.Name
		noPowerOn bool
		wantHeal  string
		wantCalls string // after inject and heal
		wantState cloud.State
	}{
		{fault: fault.VMPowerOff, wantHeal: ledger.HealPowerOn, wantCalls: "poweroff w1,poweron w1", wantState: cloud.Running},
		{fault: fault.VMPowerOff, noPowerOn: true, wantHeal: ledger.HealNone, wantCalls: "poweroff w1", wantState: cloud.Stopped},
		{fault: fault.VMRestart, wantHeal: ledger.HealPowerOn, wantCalls: "restart w1", wantState: cloud.Running},
		{fault: fault.VMDelete, wantHeal: ledger.HealNone, wantCalls: "delete w1", wantState: cloud.Terminated},
		{fault: fault.VMPowerOn, wantHeal: ledger.HealNone, wantCalls: "poweron w1", wantState: cloud.Running},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s-nopoweron=%v", tc.fault, tc.noPowerOn), func(t *testing.T) {
			vms := newFakeVMs()
			env := Env{Client: fake.NewClientset(), Clouds: registry(vms)}
			f, err := New(env, Spec{Name: tc.fault, Allow: fault.Allow{VMActions: true}, NoPowerOn: tc.noPowerOn}, irisTarget)
			if err != nil {
				t.Fatal(err)
			}
			if f.HealAction() != tc.wantHeal {
				t.Fatalf("heal %q, want %q", f.HealAction(), tc.wantHeal)
			}
			plan := strings.Join(f.Plan(), "\n")
			if !strings.Contains(plan, "FAKE "+string(f.(*vmFault).action())+" w1") {
				t.Fatalf("plan does not show the exact call:\n%s", plan)
			}
			if len(vms.calls) != 0 {
				t.Fatal("Plan made a call")
			}
			if _, err := f.Inject(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := f.Heal(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(vms.calls, ","); got != tc.wantCalls {
				t.Fatalf("calls %s, want %s", got, tc.wantCalls)
			}
			if vms.state["w1"] != tc.wantState {
				t.Fatalf("state %s, want %s", vms.state["w1"], tc.wantState)
			}
		})
	}
}

func TestVMFailureAndRecover(t *testing.T) {
	vms := newFakeVMs()
	vms.failOn = cloud.PowerOff
	env := Env{Client: fake.NewClientset(), Clouds: registry(vms)}
	f, _ := New(env, Spec{Name: fault.VMPowerOff, Allow: fault.Allow{VMActions: true}}, irisTarget)
	res, err := f.Inject(context.Background())
	if err == nil || !strings.Contains(err.Error(), "throttled") || res.Issued.IsZero() {
		t.Fatalf("res %+v err %v: want the provider's error and the issue time", res, err)
	}
	// A VM left off by a crashed run is powered on by Recover.
	vms.failOn = ""
	vms.state["w1"] = cloud.Stopped
	e := LedgerEntry(f)
	e.ID = "crashed"
	if e.Heal != ledger.HealPowerOn || e.ProviderID != "fake:///w1" || e.Node != "w1" {
		t.Fatalf("entry %+v", e)
	}
	if err := recoverEntry(context.Background(), env, e); err != nil {
		t.Fatal(err)
	}
	if vms.state["w1"] != cloud.Running {
		t.Fatal("not powered on")
	}
	vms.state["w1"] = cloud.Terminated
	if err := recoverEntry(context.Background(), env, e); err == nil || !strings.Contains(err.Error(), "deleted") {
		t.Fatalf("terminated VM: %v", err)
	}
}

// A VM named only by its providerID, with no cluster: the fault needs no
// Kubernetes client, and its effect is confirmed by the cloud API's state.
func TestConfirmVMStateWithoutCluster(t *testing.T) {
	vms := newFakeVMs()
	env := Env{Clouds: registry(vms)}
	f, err := New(env, Spec{Name: fault.VMPowerOff, Allow: fault.Allow{VMActions: true}}, target.Target{ProviderID: "fake:///w1"})
	if err != nil {
		t.Fatal(err)
	}
	if e := f.Effect(); e.Kind != "" {
		t.Fatalf("no node to watch, yet effect %+v", e)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, st, err := ConfirmVMState(ctx, f, 10*time.Millisecond); err == nil || st != cloud.Running {
		t.Fatalf("confirmed before the fault: %s, %v", st, err)
	}
	if _, err := f.Inject(context.Background()); err != nil {
		t.Fatal(err)
	}
	at, st, err := ConfirmVMState(context.Background(), f, 10*time.Millisecond)
	if err != nil || st != cloud.Stopped || at.IsZero() {
		t.Fatalf("ConfirmVMState = %s, %s, %v", at, st, err)
	}
	pd, _ := New(env, Spec{Name: fault.PodDelete}, irisTarget)
	if _, _, err := ConfirmVMState(context.Background(), pd, time.Millisecond); err == nil {
		t.Error("a pod fault confirmed as a VM state")
	}
	if err := recoverEntry(context.Background(), env, ledger.Entry{ID: "x", Heal: ledger.HealUncordon, Node: "w1"}); err == nil || !strings.Contains(err.Error(), "--kubeconfig") {
		t.Errorf("uncordon without a cluster: %v", err)
	}
}

// TestIrisProcessOtherInstance: an image whose instance is not the seed's
// is stopped and checked by its own name.
func TestIrisProcessOtherInstance(t *testing.T) {
	ex := &fakeExec{reply: func(cmd []string) (string, error) {
		if cmd[1] == "qlist" {
			return "", io.ErrUnexpectedEOF
		}
		return "", nil
	}}
	f, err := New(Env{Client: fake.NewClientset(irisPod("iris-0", "w1")), Exec: ex, Instance: "PROD"}, Spec{Name: fault.IrisForce}, irisTarget)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Inject(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range ex.cmds {
		got = append(got, strings.Join(c, " "))
	}
	if s := strings.Join(got, "; "); !strings.Contains(s, "iris force PROD quietly") || !strings.Contains(s, "iris qlist PROD") {
		t.Errorf("commands %s: want force and qlist of instance PROD", s)
	}
}
