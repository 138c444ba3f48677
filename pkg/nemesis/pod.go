package nemesis

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/ledger"
	"github.com/irischaos/irischaos/pkg/target"
)

// podDelete deletes the IRIS pod, gracefully or at once (grace 0); the
// Deployment recreates it, so there is nothing to heal.
type podDelete struct {
	env   Env
	t     target.Target
	grace *time.Duration
}

func (f *podDelete) Name() fault.Name           { return fault.PodDelete }
func (f *podDelete) Target() target.Target      { return f.t }
func (f *podDelete) HealAction() string         { return ledger.HealNone }
func (f *podDelete) Heal(context.Context) error { return nil }

// Effect: the pod marked for deletion (or removed at once with grace 0).
// Not "removed from the API": after a graceful delete the ReplicaSet's
// replacement can be serving writes before the kubelet has confirmed the old
// pod's end, and an effect seen after recovery would void the measurement.
func (f *podDelete) Effect() fault.Effect {
	return fault.Effect{Kind: fault.EffectPodTerminating, Pod: f.t.Pod}
}
func (f *podDelete) deleteOptions() metav1.DeleteOptions {
	o := metav1.DeleteOptions{}
	if f.t.PodUID != "" {
		// Never delete a replacement that took the name (StatefulSet-style).
		uid := f.t.PodUID
		o.Preconditions = &metav1.Preconditions{UID: &uid}
	}
	if f.grace != nil {
		s := int64(f.grace.Round(time.Second) / time.Second)
		o.GracePeriodSeconds = &s
	}
	return o
}

func (f *podDelete) Plan() []string {
	grace := "the pod's own terminationGracePeriodSeconds"
	if o := f.deleteOptions(); o.GracePeriodSeconds != nil {
		grace = fmt.Sprintf("gracePeriodSeconds=%d", *o.GracePeriodSeconds)
	}
	return []string{
		fmt.Sprintf("DELETE pod %s/%s (uid %s) with %s (node %s)", f.t.Namespace, f.t.Pod, orNone(string(f.t.PodUID)), grace, orNone(f.t.Node)),
		"effect: the pod is marked for deletion (deletionTimestamp set) or removed",
		"heal: none needed (the Deployment recreates the pod)",
	}
}

func (f *podDelete) Inject(ctx context.Context) (Result, error) {
	f.env.printf("nemesis: pod-delete: deleting %s/%s", f.t.Namespace, f.t.Pod)
	res := Result{Issued: time.Now()}
	err := f.env.Client.CoreV1().Pods(f.t.Namespace).Delete(ctx, f.t.Pod, f.deleteOptions())
	res.Done = time.Now()
	switch {
	case apierrors.IsNotFound(err):
		return Result{}, fmt.Errorf("pod-delete: pod %s/%s is already gone", f.t.Namespace, f.t.Pod)
	case apierrors.IsConflict(err):
		return Result{}, fmt.Errorf("pod-delete: pod %s/%s was replaced since it was targeted (uid %s); run again", f.t.Namespace, f.t.Pod, f.t.PodUID)
	case err != nil:
		return Result{}, fmt.Errorf("pod-delete: delete pod %s/%s: %w", f.t.Namespace, f.t.Pod, err)
	}
	res.Detail = "delete accepted"
	return res, nil
}
