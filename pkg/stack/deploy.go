package stack

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/irischaos/irischaos/pkg/podexec"
	"github.com/irischaos/irischaos/pkg/stackid"
	"github.com/irischaos/irischaos/pkg/workload/iris"
)

// Deploy applies the stack (server-side, field manager "irischaos": running it
// again changes nothing or converges the objects to o), waits for the
// rollout, then for IRIS to answer a session, and returns the stack's state.
func Deploy(ctx context.Context, c Clients, o Options) (*State, error) {
	o.defaults()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	start := time.Now()
	if err := Reachable(ctx, c); err != nil {
		return nil, err
	}
	if err := checkNamespace(ctx, c, &o); err != nil {
		return nil, err
	}
	sc, err := checkStorageClass(ctx, c, &o)
	if err != nil {
		return nil, err
	}
	if v := sc.Annotations[StandInAnnotation]; v != "" {
		o.logf("storage class %s (%s) is an irischaos stand-in: %s", sc.Name, sc.Provisioner, v)
	}
	objs, err := Render(o)
	if err != nil {
		return nil, err
	}
	if err := apply(ctx, c, &o, objs); err != nil {
		return nil, err
	}
	st := o.step("stack deploy: rollout", "deployment/"+stackid.Deployment+" rolled out")
	err = waitRollout(ctx, c, &o)
	st.Done(err)
	if err != nil {
		return nil, err
	}
	st = o.step("stack deploy: database", "IRIS to answer a session")
	zv, pod, err := waitDatabase(ctx, c, &o)
	st.Done(err)
	if err != nil {
		return nil, err
	}
	o.logf("IRIS answers in pod %s: %s (deployed in %s)", pod, zv, time.Since(start).Round(100*time.Millisecond))
	return Status(ctx, c, o)
}

func apply(ctx context.Context, c Clients, o *Options, objs *Objects) error {
	opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: true}
	ns := o.Namespace
	o.logf("applying pvc/%s (class %s, %s), configmap/%s, deployment/%s (image %s), service/%s in namespace %s",
		stackid.PVC, o.StorageClass, o.Size, stackid.ConfigMap, stackid.Deployment, o.Image, stackid.Service, ns)
	if _, err := c.Kube.CoreV1().PersistentVolumeClaims(ns).Apply(ctx, objs.PVC, opts); err != nil {
		if apierrors.IsInvalid(err) {
			if cur, gerr := c.Kube.CoreV1().PersistentVolumeClaims(ns).Get(ctx, stackid.PVC, metav1.GetOptions{}); gerr == nil &&
				cur.Spec.StorageClassName != nil && *cur.Spec.StorageClassName != o.StorageClass {
				return fmt.Errorf("apply pvc/%s: it exists with storage class %s, not %s; run `irischaos stack teardown` first to change class: %w",
					stackid.PVC, *cur.Spec.StorageClassName, o.StorageClass, err)
			}
		}
		return fmt.Errorf("apply pvc/%s in %s: %w", stackid.PVC, ns, err)
	}
	if _, err := c.Kube.CoreV1().ConfigMaps(ns).Apply(ctx, objs.ConfigMap, opts); err != nil {
		return fmt.Errorf("apply configmap/%s in %s: %w", stackid.ConfigMap, ns, err)
	}
	if _, err := c.Kube.AppsV1().Deployments(ns).Apply(ctx, objs.Deployment, opts); err != nil {
		return fmt.Errorf("apply deployment/%s in %s: %w", stackid.Deployment, ns, err)
	}
	if _, err := c.Kube.CoreV1().Services(ns).Apply(ctx, objs.Service, opts); err != nil {
		return fmt.Errorf("apply service/%s in %s: %w", stackid.Service, ns, err)
	}
	return nil
}

// rolledOut is true when the Deployment's current template runs, available,
// with no pod of an older template left.
func rolledOut(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	return d.Status.ObservedGeneration >= d.Generation &&
		d.Status.UpdatedReplicas == want && d.Status.Replicas == want && d.Status.AvailableReplicas == want
}

// WaitRollout waits, bounded by o.Timeout, until the IRIS Deployment in
// o.Namespace runs its current template (after a change to it, such as the
// advisor's tolerations), printing each pod transition to o.Progress.
func WaitRollout(ctx context.Context, c Clients, o Options) error {
	o.defaults()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	return waitRollout(ctx, c, &o)
}

// waitRollout watches the Deployment until rolled out, printing each pod
// transition meanwhile; on timeout it says what the pod is stuck on.
func waitRollout(ctx context.Context, c Clients, o *Options) error {
	o.logf("waiting for deployment/%s to roll out", stackid.Deployment)
	// A pod stuck for good (bad image name, missing config) cancels the
	// wait at once instead of at the timeout.
	ctx, stuck := context.WithCancelCause(ctx)
	defer stuck(nil)
	go watchPods(ctx, c, o, stuck)

	ns := o.Namespace
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector = "metadata.name=" + stackid.Deployment
			return c.Kube.AppsV1().Deployments(ns).List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.FieldSelector = "metadata.name=" + stackid.Deployment
			return c.Kube.AppsV1().Deployments(ns).Watch(ctx, opts)
		},
	}
	isDone := func(obj any) bool {
		d, ok := obj.(*appsv1.Deployment)
		return ok && d.Name == stackid.Deployment && rolledOut(d)
	}
	// The wrapper tells the reflector whether the client (a fake in tests)
	// can serve watch-list; real API servers can.
	_, err := watchtools.UntilWithSync(ctx, cache.ToListWatcherWithWatchListSemantics(lw, c.Kube), &appsv1.Deployment{},
		func(store cache.Store) (bool, error) {
			for _, obj := range store.List() {
				if isDone(obj) {
					return true, nil
				}
			}
			return false, nil
		},
		func(ev watch.Event) (bool, error) {
			if ev.Type == watch.Deleted {
				return false, fmt.Errorf("deployment/%s was deleted while waiting for its rollout", stackid.Deployment)
			}
			return isDone(ev.Object), nil
		})
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, context.DeadlineExceeded) {
			return fmt.Errorf("deployment/%s in %s cannot roll out: %w", stackid.Deployment, ns, cause)
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, watchtools.ErrWatchClosed) || ctx.Err() != nil {
			return fmt.Errorf("deployment/%s in %s did not roll out within %s: %s", stackid.Deployment, ns, o.Timeout, diagnose(context.WithoutCancel(ctx), c, o))
		}
		return fmt.Errorf("wait for deployment/%s: %w", stackid.Deployment, err)
	}
	o.logf("deployment/%s rolled out", stackid.Deployment)
	return nil
}

// describePod is one line on where a pod stands.
func describePod(p *corev1.Pod) string {
	s := string(p.Status.Phase)
	if p.Spec.NodeName != "" {
		s += " on " + p.Spec.NodeName
	}
	for _, cs := range p.Status.ContainerStatuses {
		switch {
		case cs.State.Waiting != nil:
			s += ", " + cs.Name + " waiting: " + cs.State.Waiting.Reason
		case cs.State.Running != nil:
			s += fmt.Sprintf(", %s running (ready %t)", cs.Name, cs.Ready)
		case cs.State.Terminated != nil:
			s += fmt.Sprintf(", %s terminated: %s (exit %d)", cs.Name, cs.State.Terminated.Reason, cs.State.Terminated.ExitCode)
		}
	}
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodScheduled && cond.Status != corev1.ConditionTrue && cond.Message != "" {
			s += ", unschedulable: " + cond.Message
		}
	}
	if p.DeletionTimestamp != nil {
		s += ", terminating"
	}
	return s
}

// permanentWaits are container waiting reasons that no amount of waiting
// fixes: the manifest or the cluster must change.
var permanentWaits = map[string]string{
	"InvalidImageName":           "fix --image",
	"ErrImageNeverPull":          "load the image on the nodes or change --image-pull-policy",
	"CreateContainerConfigError": "check the ConfigMap and the pod spec",
}

// maxPullFailures is how many failed pulls of one container end a deploy.
const maxPullFailures = 3

// watchPods prints every change of the stack's pods until ctx ends, and
// calls stuck when a pod can never start.
func watchPods(ctx context.Context, c Clients, o *Options, stuck context.CancelCauseFunc) {
	w, err := c.Kube.CoreV1().Pods(o.Namespace).Watch(ctx, metav1.ListOptions{LabelSelector: stackid.Selector})
	if err != nil {
		return
	}
	defer w.Stop()
	last := map[string]string{}
	pullFailures := map[string]int{} // pod -> failed pulls seen
	lastWait := map[string]string{}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.ResultChan():
			if !ok {
				return
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			d := describePod(p)
			if ev.Type == watch.Deleted {
				d = "deleted"
			}
			if last[p.Name] != d {
				last[p.Name] = d
				o.logf("  pod %s: %s", p.Name, d)
			}
			if ev.Type == watch.Deleted || p.DeletionTimestamp != nil {
				continue
			}
			for _, cs := range p.Status.ContainerStatuses {
				if wt := cs.State.Waiting; wt != nil {
					if fix, ok := permanentWaits[wt.Reason]; ok {
						stuck(fmt.Errorf("pod %s: container %s %s: %s (%s)", p.Name, cs.Name, wt.Reason, wt.Message, fix))
						return
					}
					// The kubelet retries a failed pull forever; a pull that
					// failed this often (registry unreachable, no such
					// image, no credentials) will not start working by
					// itself within a deploy. A slow pull is not a failure.
					key := p.Name + "/" + cs.Name
					if wt.Reason == "ErrImagePull" && lastWait[key] != wt.Reason {
						pullFailures[key]++
						if pullFailures[key] >= maxPullFailures {
							stuck(fmt.Errorf("pod %s: container %s: pulling image %s failed %d times: %s (check --image, registry access and imagePullSecrets; on the embedded local cluster use --image $(irischaos image ref iris-standin))",
								p.Name, cs.Name, cs.Image, pullFailures[key], wt.Message))
							return
						}
					}
					lastWait[key] = wt.Reason
				} else {
					lastWait[p.Name+"/"+cs.Name] = ""
				}
			}
		}
	}
}

// diagnose says why the stack is not up: each pod's state and the last
// warning events about the stack's objects.
func diagnose(ctx context.Context, c Clients, o *Options) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var parts []string
	pods, err := c.Kube.CoreV1().Pods(o.Namespace).List(ctx, metav1.ListOptions{LabelSelector: stackid.Selector})
	if err == nil {
		if len(pods.Items) == 0 {
			parts = append(parts, "no pod was created (check the deployment's events and quotas)")
		}
		for i := range pods.Items {
			parts = append(parts, "pod "+pods.Items[i].Name+": "+describePod(&pods.Items[i]))
		}
	}
	evs, err := c.Kube.CoreV1().Events(o.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "type=Warning"})
	if err == nil {
		n := 0
		for i := len(evs.Items) - 1; i >= 0 && n < 5; i-- {
			e := evs.Items[i]
			if !strings.HasPrefix(e.InvolvedObject.Name, stackid.Deployment) {
				continue
			}
			parts = append(parts, fmt.Sprintf("event %s/%s %s: %s", strings.ToLower(e.InvolvedObject.Kind), e.InvolvedObject.Name, e.Reason, e.Message))
			n++
		}
	}
	if len(parts) == 0 {
		return "no pod or warning event found"
	}
	return strings.Join(parts, "; ")
}

// waitDatabase retries `iris session` in the live pod until IRIS answers.
func waitDatabase(ctx context.Context, c Clients, o *Options) (zv, pod string, err error) {
	if c.Exec == nil {
		return "", "", errors.New("no exec client to reach IRIS")
	}
	o.logf("waiting for IRIS to answer a session")
	var last error
	for attempt := 1; ; attempt++ {
		pods, lerr := c.Kube.CoreV1().Pods(o.Namespace).List(ctx, metav1.ListOptions{LabelSelector: stackid.Selector})
		if lerr != nil {
			last = lerr
		} else if p, perr := stackid.Running(pods.Items); perr != nil {
			last = perr
		} else {
			t := podexec.Target{Namespace: o.Namespace, Pod: p.Name, Container: stackid.Container}
			zv, last = iris.DatabaseIdentity(ctx, c.Exec, t, iris.SessionCommand(o.Instance))
			if last == nil {
				return zv, p.Name, nil
			}
		}
		if attempt%5 == 1 {
			o.logf("  IRIS not answering yet (attempt %d): %v", attempt, last)
		}
		select {
		case <-ctx.Done():
			return "", "", fmt.Errorf("IRIS in namespace %s did not answer a session within %s: %w", o.Namespace, o.Timeout, last)
		case <-time.After(time.Second):
		}
	}
}
