package observe

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/history"
)

const ns = "iris"

func pod(name, node string, mut ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "iris"}},
		Spec:       corev1.PodSpec{NodeName: node},
		Status:     corev1.PodStatus{Phase: corev1.PodPending},
	}
	for _, m := range mut {
		m(p)
	}
	return p
}

func running(restarts int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "iris", RestartCount: restarts, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	}
}

func waiting(reason string, restarts int32) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "iris", RestartCount: restarts, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}}
	}
}

func readyStatus(st corev1.ConditionStatus) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
	}
}

func node(name string, ready corev1.ConditionStatus) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, Reason: "KubeletReady"}}},
	}
}

func va(name, pv, nodeName string, attached bool) *storagev1.VolumeAttachment {
	return &storagev1.VolumeAttachment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       storagev1.VolumeAttachmentSpec{Attacher: "driver.longhorn.io", NodeName: nodeName, Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: &pv}},
		Status:     storagev1.VolumeAttachmentStatus{Attached: attached},
	}
}

// env is a fake cluster with an observer on it, started and watching.
type env struct {
	t   *testing.T
	cs  *fake.Clientset
	ob  *Observer
	ctx context.Context
}

func start(t *testing.T, objs ...runtime.Object) *env {
	t.Helper()
	cs := fake.NewClientset(objs...)
	// The fake has no resource versions: an event between an informer's
	// list and its watch would be lost. Wait until every watch is open.
	var mu sync.Mutex
	watching := map[string]bool{}
	cs.PrependWatchReactor("*", func(a clienttesting.Action) (bool, watch.Interface, error) {
		mu.Lock()
		watching[a.GetResource().Resource] = true
		mu.Unlock()
		return false, nil, nil
	})
	ob, err := New(cs, Options{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := ob.Start(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(watching)
		mu.Unlock()
		if n >= 4 { // pods, events, nodes, volumeattachments
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("watches not open: %v", watching)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // the last events watch (node events) may open just after
	return &env{t: t, cs: cs, ob: ob, ctx: ctx}
}

// key is what a test expects of an event record.
type key struct{ source, target, reason, phase string }

func (k key) String() string {
	return fmt.Sprintf("%s %s %s [%s]", k.source, k.target, k.reason, k.phase)
}

func keys(rs []history.Record) []key {
	var out []key
	for _, r := range rs {
		out = append(out, key{r.Source, r.Target, r.Reason, r.Phase})
	}
	return out
}

// waitFor waits until want appears, in order, as a subsequence of the events.
func (e *env) waitFor(want ...key) []history.Record {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := e.ob.Events()
		ks := keys(got)
		i := 0
		for _, k := range ks {
			if i < len(want) && k == want[i] {
				i++
			}
		}
		if i == len(want) {
			return got
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, k := range ks {
				b.WriteString("\n  " + k.String())
			}
			e.t.Fatalf("missing %v (in order) among:%s", want[i], b.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) updatePod(p *corev1.Pod) {
	e.t.Helper()
	if _, err := e.cs.CoreV1().Pods(ns).Update(e.ctx, p, metav1.UpdateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func TestTransitions(t *testing.T) {
	type step func(e *env)
	tests := []struct {
		name string
		objs []runtime.Object
		do   []step
		want []key
		not  []key // must not appear
	}{
		{
			name: "existing state is observed, not a phase",
			objs: []runtime.Object{pod("iris-a", "n1", running(0)), node("n1", corev1.ConditionTrue), va("va1", "pv1", "n1", true)},
			want: []key{{"pod", "pod/iris-a", "Observed", ""}},
			not:  []key{{"pod", "pod/iris-a", "Scheduled", history.PhasePodScheduled}},
		},
		{
			name: "replacement pod: scheduled, container started",
			do: []step{
				func(e *env) {
					if _, err := e.cs.CoreV1().Pods(ns).Create(e.ctx, pod("iris-b", ""), metav1.CreateOptions{}); err != nil {
						e.t.Fatal(err)
					}
				},
				func(e *env) { e.updatePod(pod("iris-b", "n2")) },
				func(e *env) { e.updatePod(pod("iris-b", "n2", waiting("ContainerCreating", 0))) },
				func(e *env) { e.updatePod(pod("iris-b", "n2", running(0))) },
			},
			want: []key{
				{"pod", "pod/iris-b", "Created", ""},
				{"pod", "pod/iris-b", "Scheduled", history.PhasePodScheduled},
				{"pod", "pod/iris-b", "Container", ""},
				{"pod", "pod/iris-b", "Phase", ""},
				{"pod", "pod/iris-b", "Container", history.PhaseContainerStarted},
			},
		},
		{
			// The liveness probe restarts the container quickly: the update
			// shows it running before and after, restart count +1.
			name: "container restarted between two updates: started again",
			objs: []runtime.Object{pod("iris-a", "n1", running(0))},
			do:   []step{func(e *env) { e.updatePod(pod("iris-a", "n1", running(1))) }},
			want: []key{{"pod", "pod/iris-a", "Container", history.PhaseContainerStarted}},
		},
		{
			name: "the kubelet's Started event of the IRIS container is the phase",
			do: []step{func(e *env) {
				for _, ev := range []*corev1.Event{
					{ObjectMeta: metav1.ObjectMeta{Name: "k1", Namespace: ns}, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "iris-a", FieldPath: "spec.containers{iris}"}, Reason: "Killing", Message: "Container iris failed liveness probe, will be restarted"},
					{ObjectMeta: metav1.ObjectMeta{Name: "k2", Namespace: ns}, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "iris-a", FieldPath: "spec.containers{iris}"}, Reason: "Started", Message: "Started container iris"},
					{ObjectMeta: metav1.ObjectMeta{Name: "k3", Namespace: ns}, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "iris-a", FieldPath: "spec.initContainers{init}"}, Reason: "Started", Message: "Started container init"},
				} {
					if _, err := e.cs.CoreV1().Events(ev.Namespace).Create(e.ctx, ev, metav1.CreateOptions{}); err != nil {
						e.t.Fatal(err)
					}
				}
			}},
			want: []key{
				{"event", "pod/iris-a", "Killing", ""},
				{"event", "pod/iris-a", "Started", history.PhaseContainerStarted},
				{"event", "pod/iris-a", "Started", ""},
			},
		},
		{
			name: "pods of other apps are ignored",
			do: []step{func(e *env) {
				p := pod("other", "n1")
				p.Labels = map[string]string{"app": "web"}
				if _, err := e.cs.CoreV1().Pods(ns).Create(e.ctx, p, metav1.CreateOptions{}); err != nil {
					e.t.Fatal(err)
				}
				if _, err := e.cs.CoreV1().Pods(ns).Create(e.ctx, pod("iris-c", ""), metav1.CreateOptions{}); err != nil {
					e.t.Fatal(err)
				}
			}},
			want: []key{{"pod", "pod/iris-c", "Created", ""}},
			not:  []key{{"pod", "pod/other", "Created", ""}},
		},
		{
			name: "node goes NotReady, cordoned, back",
			objs: []runtime.Object{node("n1", corev1.ConditionTrue)},
			do: []step{
				func(e *env) { mustUpdateNode(e, node("n1", corev1.ConditionUnknown)) },
				func(e *env) {
					n := node("n1", corev1.ConditionUnknown)
					n.Spec.Unschedulable = true
					n.Spec.Taints = []corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}}
					mustUpdateNode(e, n)
				},
				func(e *env) { mustUpdateNode(e, node("n1", corev1.ConditionTrue)) },
			},
			want: []key{
				{"node", "node/n1", "NodeNotReady", ""},
				{"node", "node/n1", "Cordoned", ""},
				{"node", "node/n1", "Taints", ""},
				{"node", "node/n1", "NodeReady", ""},
			},
		},
		{
			name: "volume attachment to the new node",
			do: []step{
				func(e *env) {
					if _, err := e.cs.StorageV1().VolumeAttachments().Create(e.ctx, va("va2", "pv1", "n2", false), metav1.CreateOptions{}); err != nil {
						e.t.Fatal(err)
					}
				},
				func(e *env) {
					if _, err := e.cs.StorageV1().VolumeAttachments().Update(e.ctx, va("va2", "pv1", "n2", true), metav1.UpdateOptions{}); err != nil {
						e.t.Fatal(err)
					}
				},
				func(e *env) {
					if err := e.cs.StorageV1().VolumeAttachments().Delete(e.ctx, "va2", metav1.DeleteOptions{}); err != nil {
						e.t.Fatal(err)
					}
				},
			},
			want: []key{
				{"volumeattachment", "volumeattachment/va2 pv/pv1", "Attaching", ""},
				{"volumeattachment", "volumeattachment/va2 pv/pv1", "Attached", history.PhaseVolumeAttached},
				{"volumeattachment", "volumeattachment/va2 pv/pv1", "Deleted", ""},
			},
		},
		{
			name: "kubernetes events in the namespace and about nodes",
			do: []step{func(e *env) {
				for _, ev := range []*corev1.Event{
					{ObjectMeta: metav1.ObjectMeta{Name: "e1", Namespace: ns}, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "iris-b"}, Reason: "FailedAttachVolume", Message: "Multi-Attach error", Type: corev1.EventTypeWarning},
					{ObjectMeta: metav1.ObjectMeta{Name: "e2", Namespace: "default"}, InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: "n1"}, Reason: "NodeNotReady", Message: "Node n1 status is now: NodeNotReady"},
				} {
					if _, err := e.cs.CoreV1().Events(ev.Namespace).Create(e.ctx, ev, metav1.CreateOptions{}); err != nil {
						e.t.Fatal(err)
					}
				}
			}},
			want: []key{
				{"event", "pod/iris-b", "FailedAttachVolume", ""},
				{"event", "node/n1", "NodeNotReady", ""},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := start(t, tt.objs...)
			for _, s := range tt.do {
				s(e)
			}
			got := e.waitFor(tt.want...)
			for _, k := range keys(got) {
				for _, n := range tt.not {
					if k == n {
						t.Errorf("unexpected %v", k)
					}
				}
			}
			for _, r := range got {
				if r.Kind != history.KindEvent || r.T.IsZero() {
					t.Errorf("bad record %+v", r)
				}
			}
		})
	}
}

func mustUpdateNode(e *env, n *corev1.Node) {
	e.t.Helper()
	if _, err := e.cs.CoreV1().Nodes().Update(e.ctx, n, metav1.UpdateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func TestEffects(t *testing.T) {
	tests := []struct {
		name   string
		objs   []runtime.Object
		effect fault.Effect
		decoy  func(e *env) // something that must not confirm it
		cause  func(e *env)
	}{
		{
			name:   "container restart (iris stop)",
			objs:   []runtime.Object{pod("iris-a", "n1", running(2))},
			effect: fault.Effect{Kind: fault.EffectContainerRestart, Pod: "iris-a"},
			decoy: func(e *env) {
				p := pod("iris-a", "n1", running(2))
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
				e.updatePod(p)
			},
			cause: func(e *env) { e.updatePod(pod("iris-a", "n1", running(3))) },
		},
		{
			name:   "container down (iris force)",
			objs:   []runtime.Object{pod("iris-a", "n1", running(0))},
			effect: fault.Effect{Kind: fault.EffectContainerRestart, Pod: "iris-a"},
			cause:  func(e *env) { e.updatePod(pod("iris-a", "n1", waiting("CrashLoopBackOff", 1))) },
		},
		{
			name:   "process down seen by the readiness probe (iris stop)",
			objs:   []runtime.Object{pod("iris-a", "n1", running(0), readyStatus(corev1.ConditionTrue))},
			effect: fault.Effect{Kind: fault.EffectContainerRestart, Pod: "iris-a"},
			cause:  func(e *env) { e.updatePod(pod("iris-a", "n1", running(0), readyStatus(corev1.ConditionFalse))) },
		},
		{
			name:   "pod not ready (iris stop, container still running)",
			objs:   []runtime.Object{pod("iris-a", "n1", running(0), readyStatus(corev1.ConditionTrue))},
			effect: fault.Effect{Kind: fault.EffectPodNotReady, Pod: "iris-a"},
			decoy: func(e *env) {
				e.updatePod(pod("iris-a", "n1", running(0), readyStatus(corev1.ConditionTrue), func(p *corev1.Pod) { p.Spec.Hostname = "x" }))
			},
			cause: func(e *env) { e.updatePod(pod("iris-a", "n1", running(0), readyStatus(corev1.ConditionFalse))) },
		},
		{
			name:   "pod gone",
			objs:   []runtime.Object{pod("iris-a", "n1", running(0)), pod("iris-z", "n1", running(0))},
			effect: fault.Effect{Kind: fault.EffectPodGone, Pod: "iris-a"},
			decoy: func(e *env) {
				_ = e.cs.CoreV1().Pods(ns).Delete(e.ctx, "iris-z", metav1.DeleteOptions{})
			},
			cause: func(e *env) { _ = e.cs.CoreV1().Pods(ns).Delete(e.ctx, "iris-a", metav1.DeleteOptions{}) },
		},
		{
			name:   "pod terminating (drain)",
			objs:   []runtime.Object{pod("iris-a", "n1", running(0))},
			effect: fault.Effect{Kind: fault.EffectPodTerminating, Pod: "iris-a"},
			cause: func(e *env) {
				p := pod("iris-a", "n1", running(0))
				now := metav1.Now()
				p.DeletionTimestamp = &now
				e.updatePod(p)
			},
		},
		{
			name:   "node not ready (power off)",
			objs:   []runtime.Object{node("n1", corev1.ConditionTrue), node("n2", corev1.ConditionTrue)},
			effect: fault.Effect{Kind: fault.EffectNodeNotReady, Node: "n1"},
			decoy:  func(e *env) { mustUpdateNode(e, node("n2", corev1.ConditionFalse)) },
			cause:  func(e *env) { mustUpdateNode(e, node("n1", corev1.ConditionUnknown)) },
		},
		{
			name:   "node deleted (VM delete)",
			objs:   []runtime.Object{node("n1", corev1.ConditionTrue)},
			effect: fault.Effect{Kind: fault.EffectNodeNotReady, Node: "n1"},
			cause:  func(e *env) { _ = e.cs.CoreV1().Nodes().Delete(e.ctx, "n1", metav1.DeleteOptions{}) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := start(t, tt.objs...)
			ch := e.ob.ExpectEffect(tt.effect)
			if tt.decoy != nil {
				tt.decoy(e)
				select {
				case <-ch:
					t.Fatal("confirmed by the decoy")
				case <-time.After(150 * time.Millisecond):
				}
			}
			before := time.Now()
			tt.cause(e)
			select {
			case at, ok := <-ch:
				if !ok || at.Before(before) {
					t.Fatalf("confirmation %v, %t", at, ok)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("effect not confirmed; events: %v", keys(e.ob.Events()))
			}
			var n int
			for _, r := range e.ob.Events() {
				if r.Phase == history.PhaseEffectConfirmed {
					n++
					if r.Reason != string(tt.effect.Kind) || r.Target != tt.effect.Target() {
						t.Errorf("effect record %+v", r)
					}
				}
			}
			if n != 1 {
				t.Errorf("%d effect_confirmed records, want 1", n)
			}
		})
	}
}

func TestVolumeAttachmentsOfOtherVolumesIgnored(t *testing.T) {
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "iris-pvc", Namespace: ns}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-iris"}}
	e := start(t, pvc)
	for _, v := range []*storagev1.VolumeAttachment{va("other", "pv-other", "n1", true), va("ours", "pv-iris", "n1", true)} {
		if _, err := e.cs.StorageV1().VolumeAttachments().Create(e.ctx, v, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	got := e.waitFor(key{"volumeattachment", "volumeattachment/ours pv/pv-iris", "Attached", history.PhaseVolumeAttached})
	for _, r := range got {
		if strings.Contains(r.Target, "pv-other") {
			t.Errorf("other volume recorded: %+v", r)
		}
	}
}

func TestNewErrors(t *testing.T) {
	cs := fake.NewClientset()
	if _, err := New(nil, Options{Namespace: ns}); err == nil {
		t.Error("nil client accepted")
	}
	if _, err := New(cs, Options{}); err == nil {
		t.Error("empty namespace accepted")
	}
}

func TestHistoryWritten(t *testing.T) {
	h := history.NewMemory()
	cs := fake.NewClientset(node("n1", corev1.ConditionTrue))
	ob, err := New(cs, Options{Namespace: ns, History: h})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := ob.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ob.Start(ctx); err == nil {
		t.Error("second Start accepted")
	}
	recs := h.Records()
	if len(recs) < 2 || recs[0].Reason != "Observed" || recs[len(recs)-1].Reason != "Watching" {
		t.Errorf("history: %v", keys(recs))
	}
}
