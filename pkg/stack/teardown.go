package stack

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	corev1 "k8s.io/api/core/v1"

	"github.com/irischaos/irischaos/pkg/stackid"
)

// Teardown deletes the stack's objects (and with the PVC, per its class's
// reclaim policy, the data) and waits until the pods and the PVC are gone.
// Objects already absent are fine: tearing down twice succeeds.
func Teardown(ctx context.Context, c Clients, o Options) error {
	o.defaults()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if err := Reachable(ctx, c); err != nil {
		return err
	}
	ns := o.Namespace
	bg := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{PropagationPolicy: &bg}
	steps := []struct {
		what string
		do   func() error
	}{
		{"service/" + stackid.Service, func() error { return c.Kube.CoreV1().Services(ns).Delete(ctx, stackid.Service, del) }},
		{"deployment/" + stackid.Deployment, func() error { return c.Kube.AppsV1().Deployments(ns).Delete(ctx, stackid.Deployment, del) }},
		{"configmap/" + stackid.ConfigMap, func() error { return c.Kube.CoreV1().ConfigMaps(ns).Delete(ctx, stackid.ConfigMap, del) }},
		{"pvc/" + stackid.PVC, func() error { return c.Kube.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, stackid.PVC, del) }},
	}
	var errs []error
	for _, s := range steps {
		err := s.do()
		switch {
		case err == nil:
			o.logf("deleted %s in %s", s.what, ns)
		case apierrors.IsNotFound(err):
			o.logf("%s in %s: already gone", s.what, ns)
		default:
			errs = append(errs, fmt.Errorf("delete %s in %s: %w", s.what, ns, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// The ReplicaSet and its pods go with the Deployment in the background.
	o.logf("waiting for the IRIS pods and pvc/%s to be gone", stackid.PVC)
	start := time.Now()
	podsLW := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.LabelSelector = stackid.Selector
			return c.Kube.CoreV1().Pods(ns).List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.LabelSelector = stackid.Selector
			return c.Kube.CoreV1().Pods(ns).Watch(ctx, opts)
		},
	}
	if err := waitEmpty(ctx, cache.ToListWatcherWithWatchListSemantics(podsLW, c.Kube), &corev1.Pod{}, func(any) bool { return true }); err != nil {
		return fmt.Errorf("IRIS pods in %s still there after %s: %w (%s)", ns, o.Timeout, err, diagnose(context.WithoutCancel(ctx), c, &o))
	}
	pvcLW := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return c.Kube.CoreV1().PersistentVolumeClaims(ns).List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return c.Kube.CoreV1().PersistentVolumeClaims(ns).Watch(ctx, opts)
		},
	}
	isOurs := func(obj any) bool {
		p, ok := obj.(*corev1.PersistentVolumeClaim)
		return ok && p.Name == stackid.PVC
	}
	if err := waitEmpty(ctx, cache.ToListWatcherWithWatchListSemantics(pvcLW, c.Kube), &corev1.PersistentVolumeClaim{}, isOurs); err != nil {
		return fmt.Errorf("pvc/%s in %s still there after %s: %w (a pod still using it, or a finalizer such as kubernetes.io/pvc-protection)", stackid.PVC, ns, o.Timeout, err)
	}
	o.logf("stack removed from %s in %s", ns, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// waitEmpty watches lw until no object for which match is true is left.
func waitEmpty(ctx context.Context, lw cache.ListerWatcher, obj runtime.Object, match func(any) bool) error {
	none := func(store cache.Store) bool {
		for _, o := range store.List() {
			if match(o) {
				return false
			}
		}
		return true
	}
	var store cache.Store
	_, err := watchtools.UntilWithSync(ctx, lw, obj,
		func(s cache.Store) (bool, error) { store = s; return none(s), nil },
		func(watch.Event) (bool, error) { return none(store), nil })
	return err
}
