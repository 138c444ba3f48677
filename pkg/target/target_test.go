package target

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

func pod(name, node string, mut ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "db", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "iris"}},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "iris"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, m := range mut {
		m(p)
	}
	return p
}

func node(name, providerID string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{ProviderID: providerID}}
}

func TestIRIS(t *testing.T) {
	now := metav1.Now()
	tests := []struct {
		name    string
		objs    []runtime.Object
		want    Target
		wantErr string
	}{
		{
			name: "one running pod with node and vm",
			objs: []runtime.Object{pod("iris-1", "w1"), node("w1", "aws:///us-east-1a/i-1"), node("w2", "aws:///us-east-1a/i-2")},
			want: Target{Namespace: "db", Pod: "iris-1", PodUID: "uid-iris-1", Container: "iris", Node: "w1", ProviderID: "aws:///us-east-1a/i-1"},
		},
		{
			name: "terminating and failed pods are skipped",
			objs: []runtime.Object{
				pod("old", "w2", func(p *corev1.Pod) { p.DeletionTimestamp = &now; p.Finalizers = []string{"x"} }),
				pod("done", "w2", func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }),
				pod("iris-2", "w1"), node("w1", ""),
			},
			want: Target{Namespace: "db", Pod: "iris-2", PodUID: "uid-iris-2", Container: "iris", Node: "w1"},
		},
		{
			name: "pending pod has no node",
			objs: []runtime.Object{pod("iris-3", "")},
			want: Target{Namespace: "db", Pod: "iris-3", PodUID: "uid-iris-3", Container: "iris"},
		},
		{name: "no pod", objs: nil, wantErr: "no live IRIS pod"},
		{name: "two pods", objs: []runtime.Object{pod("a", "w1"), pod("b", "w1"), node("w1", "")}, wantErr: "2 live IRIS pods"},
		{name: "other labels ignored", objs: []runtime.Object{pod("x", "w1", func(p *corev1.Pod) { p.Labels = map[string]string{"app": "web"} })}, wantErr: "no live IRIS pod"},
		{name: "node missing", objs: []runtime.Object{pod("iris-1", "gone")}, wantErr: `node "gone" not found`},
		{name: "no iris container", objs: []runtime.Object{pod("iris-1", "w1", func(p *corev1.Pod) { p.Spec.Containers[0].Name = "db" }), node("w1", "")}, wantErr: `no container "iris"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := Finder{Client: fake.NewClientset(tc.objs...), Namespace: "db"}
			got, err := f.IRIS(context.Background())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestNodeAndProviderID(t *testing.T) {
	f := Finder{Client: fake.NewClientset(node("w1", "azure:///subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1")), Namespace: "db"}
	ctx := context.Background()
	n, err := f.Node(ctx, "w1")
	if err != nil || n.ProviderID == "" {
		t.Fatalf("Node = %+v, %v", n, err)
	}
	if _, err := f.Node(ctx, "nope"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("missing node err = %v", err)
	}
	got, err := f.ByProviderID(ctx, "AZURE:///subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1")
	if err != nil || got.Node != "w1" {
		t.Fatalf("ByProviderID = %+v, %v", got, err)
	}
	got, err = f.ByProviderID(ctx, "aws:///z/i-9")
	if err != nil || got.Node != "" || got.ProviderID != "aws:///z/i-9" {
		t.Fatalf("unknown VM = %+v, %v", got, err)
	}
	if _, err := f.ByProviderID(ctx, ""); err == nil {
		t.Fatal("empty providerID accepted")
	}
	if _, err := f.Pod(ctx, "nope"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("missing pod err = %v", err)
	}
}

func TestString(t *testing.T) {
	if s := (Target{}).String(); s != "(nothing)" {
		t.Fatal(s)
	}
	s := Target{Namespace: "db", Pod: "p", Node: "n", ProviderID: "aws:///z/i"}.String()
	if s != "pod db/p, node n, vm aws:///z/i" {
		t.Fatal(s)
	}
}
