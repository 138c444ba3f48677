package nemesis

import (
	"context"
	"io"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/irischaos/irischaos/pkg/ledger"
	"github.com/irischaos/irischaos/pkg/mitigation"
	"github.com/irischaos/irischaos/pkg/target"
)

// A mitigation left applied by a process that died is undone by Recover
// from the ledger entry alone.
func TestRecoverUndoesMitigations(t *testing.T) {
	ctx := context.Background()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w1"}}
	orig := []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "iris", Namespace: "db"},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Tolerations: orig}}}}
	cs := fake.NewClientset(node, dep)
	l, err := ledger.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	env := Env{Client: cs}
	g := Guard{Ledger: l, Env: env}
	for _, m := range []struct {
		name mitigation.Name
		t    target.Target
	}{{mitigation.OutOfServiceTaint, target.Target{Node: "w1"}}, {mitigation.ShortTolerations, target.Target{Namespace: "db"}}} {
		f, err := NewMitigation(ctx, env, m.name, m.t)
		if err != nil {
			t.Fatal(err)
		}
		// Injected, never healed: the process "died" here.
		if _, err := g.Inject(ctx, f); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
	}
	n, _ := cs.CoreV1().Nodes().Get(ctx, "w1", metav1.GetOptions{})
	d, _ := cs.AppsV1().Deployments("db").Get(ctx, "iris", metav1.GetOptions{})
	if len(n.Spec.Taints) != 1 || len(d.Spec.Template.Spec.Tolerations) != 3 {
		t.Fatalf("applied: taints %+v, tolerations %+v", n.Spec.Taints, d.Spec.Template.Spec.Tolerations)
	}
	left, err := g.Recover(ctx, io.Discard)
	if err != nil || len(left) != 0 {
		t.Fatalf("Recover left %+v, err %v", left, err)
	}
	n, _ = cs.CoreV1().Nodes().Get(ctx, "w1", metav1.GetOptions{})
	d, _ = cs.AppsV1().Deployments("db").Get(ctx, "iris", metav1.GetOptions{})
	if len(n.Spec.Taints) != 0 {
		t.Errorf("taints after recover: %+v", n.Spec.Taints)
	}
	if len(d.Spec.Template.Spec.Tolerations) != 1 || d.Spec.Template.Spec.Tolerations[0].Key != "dedicated" {
		t.Errorf("tolerations after recover: %+v, want %+v", d.Spec.Template.Spec.Tolerations, orig)
	}
}

// A taint the node already had is not irischaos's to remove.
func TestTaintAlreadyPresentIsLeft(t *testing.T) {
	ctx := context.Background()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w1"}, Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: mitigation.TaintKey, Value: mitigation.TaintValue, Effect: corev1.TaintEffectNoExecute}}}}
	cs := fake.NewClientset(node)
	f, err := NewMitigation(ctx, Env{Client: cs}, mitigation.OutOfServiceTaint, target.Target{Node: "w1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Inject(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	n, _ := cs.CoreV1().Nodes().Get(ctx, "w1", metav1.GetOptions{})
	if len(n.Spec.Taints) != 1 {
		t.Errorf("taints %+v: the user's own taint was removed", n.Spec.Taints)
	}
}
