package observe

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/storagehealth"
)

// Longhorn's volumes, as storagehealth names and reads them.
var (
	lhVolumes   = storagehealth.LonghornVolumes
	lhNamespace = storagehealth.LonghornNamespace
)

// startLonghorn watches Longhorn volumes when the cluster serves them and a
// dynamic client was given: their state (attaching, attached, detached),
// robustness (healthy, degraded, faulted) and the node they are attached to.
// It reports whether it started.
func (ob *Observer) startLonghorn(ctx context.Context) (bool, error) {
	if ob.o.Dynamic == nil {
		return false, nil
	}
	if ok, _ := storagehealth.LonghornServed(ob.kube.Discovery()); !ok {
		return false, nil // not installed (or not visible to us): nothing to watch
	}
	f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(ob.o.Dynamic, 0, lhNamespace, nil)
	inf := f.ForResource(lhVolumes).Informer()
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
			return false, fmt.Errorf("observe: cache of %v did not sync (RBAC needs list/watch on volumes.longhorn.io in %s): %w", gvr, lhNamespace, context.Cause(ctx))
		}
	}
	if !cache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
		return false, fmt.Errorf("observe: initial Longhorn volumes not delivered: %w", context.Cause(ctx))
	}
	return true, nil
}

// lhStatus is what the observer follows of a Longhorn volume: its state,
// robustness and node (an object of another shape reads as empty).
func lhStatus(u *unstructured.Unstructured) storagehealth.LonghornVolume {
	v, _ := storagehealth.DecodeLonghornVolume(u)
	return v
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
	ob.record(history.Record{Source: "longhorn", Target: "longhorn-volume/" + u.GetName(), Node: v.Node, Reason: reason,
		Message: fmt.Sprintf("state=%s robustness=%s", orNone(v.State), orNone(v.Robustness))})
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
		ob.record(history.Record{T: now, Source: "longhorn", Target: "longhorn-volume/" + n.GetName(), Node: nv.Node, Reason: reason, Message: msg})
	}
	if ov.State != nv.State || ov.Node != nv.Node {
		ev("State", fmt.Sprintf("%s on %s -> %s on %s", orNone(ov.State), orNone(ov.Node), orNone(nv.State), orNone(nv.Node)))
	}
	if ov.Robustness != nv.Robustness {
		ev("Robustness", fmt.Sprintf("%s -> %s", orNone(ov.Robustness), orNone(nv.Robustness)))
	}
}
