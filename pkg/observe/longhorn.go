package observe

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/irischaos/irischaos/pkg/history"
)

// LonghornVolumes is Longhorn's volume resource (only v1beta2 is served
// since Longhorn 1.10), in LonghornNamespace.
var LonghornVolumes = schema.GroupVersionResource{Group: "longhorn.io", Version: "v1beta2", Resource: "volumes"}

// LonghornNamespace is where Longhorn keeps its objects.
const LonghornNamespace = "longhorn-system"

// startLonghorn watches Longhorn volumes when the cluster serves them and a
// dynamic client was given: their state (attaching, attached, detached),
// robustness (healthy, degraded, faulted) and the node they are attached to.
// It reports whether it started.
func (ob *Observer) startLonghorn(ctx context.Context) (bool, error) {
	if ob.o.Dynamic == nil {
		return false, nil
	}
	res, err := ob.kube.Discovery().ServerResourcesForGroupVersion(LonghornVolumes.GroupVersion().String())
	if err != nil || res == nil {
		return false, nil // not installed (or not visible to us): nothing to watch
	}
	found := false
	for _, r := range res.APIResources {
		found = found || r.Name == LonghornVolumes.Resource
	}
	if !found {
		return false, nil
	}
	f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(ob.o.Dynamic, 0, LonghornNamespace, nil)
	inf := f.ForResource(LonghornVolumes).Informer()
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc:    ob.lhAdd,
		UpdateFunc: ob.lhUpdate,
		DeleteFunc: func(obj any) {
			if u, ok := unwrap(obj).(*unstructured.Unstructured); ok && ob.lhOurs(u) {
				ob.record(history.Record{Source: "longhorn", Target: "longhorn-volume/" + u.GetName(), Reason: "Deleted", Message: "volume removed"})
			}
		},
	})
	if err != nil {
		return false, fmt.Errorf("observe: longhorn handler: %w", err)
	}
	f.Start(ctx.Done())
	for gvr, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return false, fmt.Errorf("observe: cache of %v did not sync (RBAC needs list/watch on volumes.longhorn.io in %s): %w", gvr, LonghornNamespace, context.Cause(ctx))
		}
	}
	if !cache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
		return false, fmt.Errorf("observe: initial Longhorn volumes not delivered: %w", context.Cause(ctx))
	}
	return true, nil
}

// lhVolume is what the observer follows of a Longhorn volume.
type lhVolume struct{ state, robustness, node string }

func lhStatus(u *unstructured.Unstructured) lhVolume {
	s := func(f string) string { v, _, _ := unstructured.NestedString(u.Object, "status", f); return v }
	return lhVolume{state: s("state"), robustness: s("robustness"), node: s("currentNodeID")}
}

// lhOurs: Longhorn names a CSI volume after its PV.
func (ob *Observer) lhOurs(u *unstructured.Unstructured) bool {
	ob.mu.Lock()
	pv := ob.pv
	ob.mu.Unlock()
	return pv == "" || u.GetName() == pv
}

func (ob *Observer) lhAdd(obj any, initial bool) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok || !ob.lhOurs(u) {
		return
	}
	v := lhStatus(u)
	reason := "Created"
	if initial {
		reason = "Observed"
	}
	ob.record(history.Record{Source: "longhorn", Target: "longhorn-volume/" + u.GetName(), Node: v.node, Reason: reason,
		Message: fmt.Sprintf("state=%s robustness=%s", orNone(v.state), orNone(v.robustness))})
}

func (ob *Observer) lhUpdate(oldObj, newObj any) {
	o, ok1 := oldObj.(*unstructured.Unstructured)
	n, ok2 := newObj.(*unstructured.Unstructured)
	if !ok1 || !ok2 || !ob.lhOurs(n) {
		return
	}
	ov, nv := lhStatus(o), lhStatus(n)
	now := ob.o.Now()
	ev := func(reason, msg string) {
		ob.record(history.Record{T: now, Source: "longhorn", Target: "longhorn-volume/" + n.GetName(), Node: nv.node, Reason: reason, Message: msg})
	}
	if ov.state != nv.state || ov.node != nv.node {
		ev("State", fmt.Sprintf("%s on %s -> %s on %s", orNone(ov.state), orNone(ov.node), orNone(nv.state), orNone(nv.node)))
	}
	if ov.robustness != nv.robustness {
		ev("Robustness", fmt.Sprintf("%s -> %s", orNone(ov.robustness), orNone(nv.robustness)))
	}
}
