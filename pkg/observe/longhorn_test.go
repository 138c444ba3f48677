package observe

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/irischaos/irischaos/pkg/storagehealth"
)

func lhVol(name, state, robustness, node string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("longhorn.io/v1beta2")
	u.SetKind("Volume")
	u.SetName(name)
	u.SetNamespace(storagehealth.LonghornNamespace)
	_ = unstructured.SetNestedField(u.Object, state, "status", "state")
	_ = unstructured.SetNestedField(u.Object, robustness, "status", "robustness")
	_ = unstructured.SetNestedField(u.Object, node, "status", "currentNodeID")
	return u
}

func TestLonghornVolumes(t *testing.T) {
	cs := fake.NewClientset()
	cs.Resources = []*metav1.APIResourceList{{GroupVersion: "longhorn.io/v1beta2", APIResources: []metav1.APIResource{{Name: "volumes", Namespaced: true, Kind: "Volume"}}}}
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{storagehealth.LonghornVolumes: "VolumeList"}, lhVol("pv-iris", "attached", "healthy", "n1"))
	watched := make(chan struct{})
	var once sync.Once
	dyn.PrependWatchReactor("volumes", func(clienttesting.Action) (bool, watch.Interface, error) {
		once.Do(func() { close(watched) })
		return false, nil, nil
	})
	ob, err := New(cs, Options{Namespace: ns, Dynamic: dyn})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := ob.Start(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-watched:
	case <-time.After(5 * time.Second):
		t.Fatal("longhorn volumes not watched")
	}
	time.Sleep(20 * time.Millisecond)
	vols := dyn.Resource(storagehealth.LonghornVolumes).Namespace(storagehealth.LonghornNamespace)
	for _, v := range []*unstructured.Unstructured{
		lhVol("pv-iris", "detaching", "unknown", "n1"),
		lhVol("pv-iris", "attached", "degraded", "n2"),
	} {
		if _, err := vols.Update(ctx, v, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{t: t, cs: cs, ob: ob, ctx: ctx}
	got := e.waitFor(
		key{"longhorn", "longhorn-volume/pv-iris", "Observed", ""},
		key{"longhorn", "longhorn-volume/pv-iris", "State", ""},
		key{"longhorn", "longhorn-volume/pv-iris", "Robustness", ""},
		key{"longhorn", "longhorn-volume/pv-iris", "State", ""},
		key{"longhorn", "longhorn-volume/pv-iris", "Robustness", ""},
	)
	last := got[len(got)-1]
	if last.Message != "unknown -> degraded" || last.Node != "n2" {
		t.Errorf("last: %+v", last)
	}
}

func TestLonghornAbsentIsFine(t *testing.T) {
	cs := fake.NewClientset()
	dyn := dynfake.NewSimpleDynamicClient(runtime.NewScheme())
	ob, err := New(cs, Options{Namespace: ns, Dynamic: dyn})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := ob.Start(ctx); err != nil {
		t.Fatal(err)
	}
	evs := ob.Events()
	if last := evs[len(evs)-1]; last.Reason != "Watching" || last.Message == "" || strings.Contains(last.Message, "Longhorn") {
		t.Errorf("%+v", last)
	}
}
