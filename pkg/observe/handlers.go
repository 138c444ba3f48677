package observe

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/stackid"
)

// unwrap returns the object of a delete notification, which may come as a
// tombstone when the watch missed the deletion.
func unwrap(obj any) any {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}

// ---- pods ----

func (ob *Observer) ours(p *corev1.Pod) bool {
	return p.Namespace == ob.o.Namespace && ob.sel.Matches(labels.Set(p.Labels))
}

func (ob *Observer) container(p *corev1.Pod) *corev1.ContainerStatus {
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == stackid.Container {
			return &p.Status.ContainerStatuses[i]
		}
	}
	return nil
}

func (ob *Observer) podAdd(obj any, initial bool) {
	p, ok := obj.(*corev1.Pod)
	if !ok || !ob.ours(p) {
		return
	}
	if initial {
		ob.note(history.Record{Source: "pod", Target: "pod/" + p.Name, Node: p.Spec.NodeName, Reason: "Observed", Message: podSummary(p, ob.container(p))})
		return
	}
	ob.record(history.Record{Source: "pod", Target: "pod/" + p.Name, Reason: "Created", Message: podSummary(p, ob.container(p))})
	// A pod may arrive already bound or running when the watch lags.
	ob.podUpdate(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, Labels: p.Labels}}, p)
}

func (ob *Observer) podUpdate(oldObj, newObj any) {
	o, ok1 := oldObj.(*corev1.Pod)
	n, ok2 := newObj.(*corev1.Pod)
	if !ok1 || !ok2 || !ob.ours(n) {
		return
	}
	now := ob.o.Now()
	ev := func(reason, phase, msg string) {
		ob.record(history.Record{T: now, Source: "pod", Target: "pod/" + n.Name, Node: n.Spec.NodeName, Reason: reason, Phase: phase, Message: msg})
	}
	if o.Spec.NodeName == "" && n.Spec.NodeName != "" {
		ev("Scheduled", history.PhasePodScheduled, "bound to "+n.Spec.NodeName)
	}
	if o.Status.Phase != n.Status.Phase {
		ev("Phase", "", fmt.Sprintf("%s -> %s", orNone(string(o.Status.Phase)), n.Status.Phase))
	}
	if o.DeletionTimestamp == nil && n.DeletionTimestamp != nil {
		grace := ""
		if n.DeletionGracePeriodSeconds != nil {
			grace = fmt.Sprintf(" (grace %ds)", *n.DeletionGracePeriodSeconds)
		}
		ev("Terminating", "", "marked for deletion"+grace)
		ob.confirm(fault.EffectPodTerminating, n.Name, "pod marked for deletion"+grace, now, nil)
	}
	if oc, nc := readyCond(o), readyCond(n); oc != nc && nc != "" {
		ev("Ready", "", fmt.Sprintf("pod Ready %s -> %s", orNone(oc), nc))
		if nc != string(corev1.ConditionTrue) {
			ob.confirm(fault.EffectPodNotReady, n.Name, "pod Ready "+nc, now, nil)
			// The readiness probe saw the database down while the container
			// still runs: the first sign of a stopped IRIS process the API
			// shows, before the liveness probe restarts the container.
			if n.DeletionTimestamp == nil {
				ob.confirm(fault.EffectContainerRestart, n.Name, "pod Ready "+nc+" (readiness probe: database down)", now, nil)
			}
		}
	}
	ocs, ncs := ob.container(o), ob.container(n)
	if ncs == nil {
		return
	}
	var before corev1.ContainerStatus
	if ocs != nil {
		before = *ocs
	}
	// A quick restart (the liveness probe's) may show the container running
	// in both updates: the restart count or container ID tells them apart.
	restarted := ocs != nil && (ncs.RestartCount != before.RestartCount || ncs.ContainerID != before.ContainerID)
	if s := containerState(before); s != containerState(*ncs) || restarted {
		phase := ""
		if ncs.State.Running != nil && (before.State.Running == nil || restarted) {
			phase = history.PhaseContainerStarted
		}
		ev("Container", phase, fmt.Sprintf("%s: %s -> %s (restarts %d)", stackid.Container, orNone(s), containerState(*ncs), ncs.RestartCount))
	}
	// The process is down: the container left Running, or restarted between
	// two updates we saw.
	if ncs.State.Running == nil || (ocs != nil && ncs.RestartCount > ocs.RestartCount) {
		why := fmt.Sprintf("container %s %s (restarts %d)", stackid.Container, containerState(*ncs), ncs.RestartCount)
		ob.confirm(fault.EffectContainerRestart, n.Name, why, now, func(ex *expectation) bool {
			return ncs.State.Running == nil || ex.restarts < 0 || ncs.RestartCount > ex.restarts
		})
	} else if ncs.RestartCount > 0 {
		// Restarted since the expectation was armed, however briefly.
		ob.confirm(fault.EffectContainerRestart, n.Name, fmt.Sprintf("container %s restarted (restarts %d)", stackid.Container, ncs.RestartCount), now, func(ex *expectation) bool {
			return ex.restarts >= 0 && ncs.RestartCount > ex.restarts
		})
	}
}

func (ob *Observer) podDelete(obj any) {
	p, ok := unwrap(obj).(*corev1.Pod)
	if !ok || !ob.ours(p) {
		return
	}
	now := ob.o.Now()
	ob.record(history.Record{T: now, Source: "pod", Target: "pod/" + p.Name, Node: p.Spec.NodeName, Reason: "Deleted", Message: "removed from the API"})
	ob.confirm(fault.EffectPodGone, p.Name, "pod removed from the API", now, nil)
	ob.confirm(fault.EffectPodTerminating, p.Name, "pod removed from the API", now, nil)
	ob.confirm(fault.EffectPodNotReady, p.Name, "pod removed from the API", now, nil)
}

func readyCond(p *corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return string(c.Status)
		}
	}
	return ""
}

// containerState is a short word for a container's state.
func containerState(cs corev1.ContainerStatus) string {
	switch {
	case cs.State.Running != nil:
		return "running"
	case cs.State.Terminated != nil:
		return fmt.Sprintf("terminated %s exit %d", cs.State.Terminated.Reason, cs.State.Terminated.ExitCode)
	case cs.State.Waiting != nil:
		return "waiting " + cs.State.Waiting.Reason
	}
	return ""
}

func podSummary(p *corev1.Pod, cs *corev1.ContainerStatus) string {
	s := string(p.Status.Phase)
	if p.Spec.NodeName != "" {
		s += " on " + p.Spec.NodeName
	}
	if cs != nil {
		s += fmt.Sprintf(", container %s (restarts %d)", containerState(*cs), cs.RestartCount)
	}
	if p.DeletionTimestamp != nil {
		s += ", terminating"
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// ---- nodes ----

func nodeReady(n *corev1.Node) (corev1.ConditionStatus, string) {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status, c.Reason + ": " + c.Message
		}
	}
	return corev1.ConditionUnknown, "no Ready condition"
}

func taints(n *corev1.Node) string {
	var ts []string
	for _, t := range n.Spec.Taints {
		ts = append(ts, t.Key+":"+string(t.Effect))
	}
	slices.Sort(ts)
	return strings.Join(ts, ",")
}

func (ob *Observer) nodeAdd(obj any, initial bool) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	st, _ := nodeReady(n)
	reason := "Added"
	if initial {
		reason = "Observed"
	}
	ob.record(history.Record{Source: "node", Target: "node/" + n.Name, Node: n.Name, Reason: reason,
		Message: fmt.Sprintf("Ready=%s unschedulable=%t taints=[%s]", st, n.Spec.Unschedulable, taints(n))})
}

func (ob *Observer) nodeUpdate(oldObj, newObj any) {
	o, ok1 := oldObj.(*corev1.Node)
	n, ok2 := newObj.(*corev1.Node)
	if !ok1 || !ok2 {
		return
	}
	now := ob.o.Now()
	ev := func(reason, msg string) {
		ob.record(history.Record{T: now, Source: "node", Target: "node/" + n.Name, Node: n.Name, Reason: reason, Message: msg})
	}
	os, _ := nodeReady(o)
	ns, why := nodeReady(n)
	if os != ns {
		reason := "NodeReady"
		if ns != corev1.ConditionTrue {
			reason = "NodeNotReady"
		}
		ev(reason, fmt.Sprintf("Ready %s -> %s (%s)", os, ns, why))
	}
	if ns != corev1.ConditionTrue {
		ob.confirm(fault.EffectNodeNotReady, n.Name, fmt.Sprintf("node Ready=%s (%s)", ns, why), now, nil)
	}
	if o.Spec.Unschedulable != n.Spec.Unschedulable {
		if n.Spec.Unschedulable {
			ev("Cordoned", "node marked unschedulable")
		} else {
			ev("Uncordoned", "node schedulable again")
		}
	}
	if ot, nt := taints(o), taints(n); ot != nt {
		ev("Taints", fmt.Sprintf("[%s] -> [%s]", ot, nt))
	}
}

func (ob *Observer) nodeDelete(obj any) {
	n, ok := unwrap(obj).(*corev1.Node)
	if !ok {
		return
	}
	now := ob.o.Now()
	ob.record(history.Record{T: now, Source: "node", Target: "node/" + n.Name, Node: n.Name, Reason: "Deleted", Message: "node removed from the API"})
	ob.confirm(fault.EffectNodeNotReady, n.Name, "node removed from the API", now, nil)
}

// ---- volume attachments ----

// resolvePV learns which PV the stack's PVC is bound to, so that other
// volumes' attachments are left out. Unknown (not bound yet): all are kept.
func (ob *Observer) resolvePV(ctx context.Context) string {
	ob.mu.Lock()
	pv := ob.pv
	ob.mu.Unlock()
	if pv != "" {
		return pv
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	pvc, err := ob.kube.CoreV1().PersistentVolumeClaims(ob.o.Namespace).Get(ctx, stackid.PVC, metav1.GetOptions{})
	if err != nil || pvc.Spec.VolumeName == "" {
		return ""
	}
	ob.mu.Lock()
	ob.pv = pvc.Spec.VolumeName
	ob.mu.Unlock()
	return pvc.Spec.VolumeName
}

func (ob *Observer) vaOurs(va *storagev1.VolumeAttachment) bool {
	ob.mu.Lock()
	pv := ob.pv
	ob.mu.Unlock()
	src := va.Spec.Source.PersistentVolumeName
	return pv == "" || src == nil || *src == pv
}

func vaTarget(va *storagev1.VolumeAttachment) string {
	t := "volumeattachment/" + va.Name
	if src := va.Spec.Source.PersistentVolumeName; src != nil {
		t += " pv/" + *src
	}
	return t
}

func (ob *Observer) vaAdd(obj any, initial bool) {
	va, ok := obj.(*storagev1.VolumeAttachment)
	if !ok || !ob.vaOurs(va) {
		return
	}
	if initial {
		ob.note(history.Record{Source: history.SourceVolumeAttachment, Target: vaTarget(va), Node: va.Spec.NodeName, Reason: "Observed", Message: fmt.Sprintf("attached=%t", va.Status.Attached)})
		return
	}
	ob.record(history.Record{Source: history.SourceVolumeAttachment, Target: vaTarget(va), Node: va.Spec.NodeName, Reason: "Attaching", Message: "attach requested by " + va.Spec.Attacher})
	ob.vaUpdate(&storagev1.VolumeAttachment{ObjectMeta: va.ObjectMeta, Spec: va.Spec}, va)
}

func (ob *Observer) vaUpdate(oldObj, newObj any) {
	o, ok1 := oldObj.(*storagev1.VolumeAttachment)
	n, ok2 := newObj.(*storagev1.VolumeAttachment)
	if !ok1 || !ok2 || !ob.vaOurs(n) {
		return
	}
	now := ob.o.Now()
	ev := func(reason, phase, msg string) {
		ob.record(history.Record{T: now, Source: history.SourceVolumeAttachment, Target: vaTarget(n), Node: n.Spec.NodeName, Reason: reason, Phase: phase, Message: msg})
	}
	if !o.Status.Attached && n.Status.Attached {
		ev("Attached", history.PhaseVolumeAttached, "attached to "+n.Spec.NodeName)
	}
	if o.Status.Attached && !n.Status.Attached {
		ev("Detached", "", "detached from "+n.Spec.NodeName)
	}
	if e := n.Status.AttachError; e != nil && (o.Status.AttachError == nil || o.Status.AttachError.Message != e.Message) {
		ev("AttachError", "", e.Message)
	}
	if e := n.Status.DetachError; e != nil && (o.Status.DetachError == nil || o.Status.DetachError.Message != e.Message) {
		ev("DetachError", "", e.Message)
	}
	if o.DeletionTimestamp == nil && n.DeletionTimestamp != nil {
		ev("Detaching", "", "detach requested")
	}
}

func (ob *Observer) vaDelete(obj any) {
	va, ok := unwrap(obj).(*storagev1.VolumeAttachment)
	if !ok || !ob.vaOurs(va) {
		return
	}
	ob.record(history.Record{Source: history.SourceVolumeAttachment, Target: vaTarget(va), Node: va.Spec.NodeName, Reason: "Deleted", Message: "attachment removed"})
}

// ---- Kubernetes events ----

func (ob *Observer) eventAdd(obj any, initial bool) {
	if initial {
		return // history before we started watching is not this run's evidence
	}
	ob.kubeEvent(obj)
}

func (ob *Observer) eventUpdate(oldObj, newObj any) {
	o, ok1 := oldObj.(*corev1.Event)
	n, ok2 := newObj.(*corev1.Event)
	if !ok1 || !ok2 || (o.Count == n.Count && o.Message == n.Message) {
		return
	}
	ob.kubeEvent(n)
}

func (ob *Observer) kubeEvent(obj any) {
	e, ok := obj.(*corev1.Event)
	if !ok {
		return
	}
	inv := e.InvolvedObject
	if e.Namespace != ob.o.Namespace && inv.Kind != "Node" {
		return
	}
	node := e.Source.Host
	if inv.Kind == "Node" {
		node = inv.Name
	}
	msg := e.Message
	if e.Count > 1 {
		msg = fmt.Sprintf("%s (x%d)", msg, e.Count)
	}
	if e.Type == corev1.EventTypeWarning {
		msg = "Warning: " + msg
	}
	ob.record(history.Record{Source: "event", Target: strings.ToLower(inv.Kind) + "/" + inv.Name, Node: node, Reason: e.Reason, Phase: ob.eventPhase(e), Message: msg})
}

// eventPhase is the RTO phase a Kubernetes event shows: the kubelet's
// Started of the IRIS container is "container started" (a liveness restart
// shows it even when no pod update caught the container down).
func (ob *Observer) eventPhase(e *corev1.Event) string {
	inv := e.InvolvedObject
	if inv.Kind != "Pod" || e.Reason != "Started" || inv.FieldPath != "spec.containers{"+stackid.Container+"}" {
		return ""
	}
	if ob.pods != nil {
		if obj, ok, _ := ob.pods.GetStore().GetByKey(e.Namespace + "/" + inv.Name); ok {
			if p, isPod := obj.(*corev1.Pod); isPod && !ob.ours(p) {
				return ""
			}
		}
	}
	return history.PhaseContainerStarted
}
