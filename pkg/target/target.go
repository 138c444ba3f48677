// Package target finds what a fault acts on, starting from the stack: the IRIS
// pod (by the stack's labels), the node it runs on, and that node's VM (its
// spec.providerID). Nothing else is ever selected unless a scenario names it.
package target

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Defaults matching the stack's Deployment (label app=iris, container iris).
const (
	DefaultSelector  = "app=iris"
	DefaultContainer = "iris"
)

// Target is what one fault acts on. Fields not known are empty: a fault on a
// node named by hand has no pod.
type Target struct {
	Namespace  string    `json:"namespace,omitempty"`
	Pod        string    `json:"pod,omitempty"`
	PodUID     types.UID `json:"pod_uid,omitempty"`
	Container  string    `json:"container,omitempty"`
	Node       string    `json:"node,omitempty"`
	ProviderID string    `json:"provider_id,omitempty"`
}

// String names the target for progress lines and the ledger.
func (t Target) String() string {
	var parts []string
	if t.Pod != "" {
		parts = append(parts, "pod "+t.Namespace+"/"+t.Pod)
	}
	if t.Node != "" {
		parts = append(parts, "node "+t.Node)
	}
	if t.ProviderID != "" {
		parts = append(parts, "vm "+t.ProviderID)
	}
	if len(parts) == 0 {
		return "(nothing)"
	}
	return strings.Join(parts, ", ")
}

// Finder looks targets up in one namespace.
type Finder struct {
	Client    kubernetes.Interface
	Namespace string
	Selector  string // label selector of the IRIS pod; DefaultSelector when empty
	Container string // the IRIS container; DefaultContainer when empty
}

func (f Finder) selector() string {
	if f.Selector == "" {
		return DefaultSelector
	}
	return f.Selector
}

func (f Finder) container() string {
	if f.Container == "" {
		return DefaultContainer
	}
	return f.Container
}

// IRIS finds the one live IRIS pod of the stack, its node and VM. Pods being
// deleted or finished are skipped; more than one live pod is an error (the
// stack runs one replica, so two means a rollout is in progress).
func (f Finder) IRIS(ctx context.Context) (Target, error) {
	if _, err := labels.Parse(f.selector()); err != nil {
		return Target{}, fmt.Errorf("IRIS pod selector %q: %w", f.selector(), err)
	}
	list, err := f.Client.CoreV1().Pods(f.Namespace).List(ctx, metav1.ListOptions{LabelSelector: f.selector()})
	if err != nil {
		return Target{}, fmt.Errorf("list IRIS pods (%s) in namespace %q: %w", f.selector(), f.Namespace, err)
	}
	var live []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		live = append(live, p)
	}
	switch len(live) {
	case 0:
		return Target{}, fmt.Errorf("no live IRIS pod matches %s in namespace %q: deploy the stack first (irischaos stack deploy) or check -n/--namespace", f.selector(), f.Namespace)
	case 1:
	default:
		names := make([]string, len(live))
		for i, p := range live {
			names[i] = p.Name
		}
		sort.Strings(names)
		return Target{}, fmt.Errorf("%d live IRIS pods match %s in namespace %q (%s): the stack runs one replica; wait for the rollout to finish", len(live), f.selector(), f.Namespace, strings.Join(names, ", "))
	}
	return f.fromPod(ctx, &live[0])
}

// Pod resolves a pod named by hand, with its node and VM.
func (f Finder) Pod(ctx context.Context, name string) (Target, error) {
	p, err := f.Client.CoreV1().Pods(f.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Target{}, fmt.Errorf("pod %q not found in namespace %q", name, f.Namespace)
	}
	if err != nil {
		return Target{}, fmt.Errorf("get pod %s/%s: %w", f.Namespace, name, err)
	}
	return f.fromPod(ctx, p)
}

func (f Finder) fromPod(ctx context.Context, p *corev1.Pod) (Target, error) {
	t := Target{Namespace: p.Namespace, Pod: p.Name, PodUID: p.UID, Container: f.container()}
	found := false
	for _, c := range p.Spec.Containers {
		if c.Name == t.Container {
			found = true
		}
	}
	if !found && len(p.Spec.Containers) > 0 {
		return Target{}, fmt.Errorf("pod %s/%s has no container %q", p.Namespace, p.Name, t.Container)
	}
	if p.Spec.NodeName == "" {
		// Pending pod: it has no node (and no VM) yet; pod and process faults still apply.
		return t, nil
	}
	n, err := f.Node(ctx, p.Spec.NodeName)
	if err != nil {
		return Target{}, err
	}
	t.Node, t.ProviderID = n.Node, n.ProviderID
	return t, nil
}

// Node resolves a node named by hand to its VM.
func (f Finder) Node(ctx context.Context, name string) (Target, error) {
	n, err := f.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Target{}, fmt.Errorf("node %q not found (kubectl get nodes lists them)", name)
	}
	if err != nil {
		return Target{}, fmt.Errorf("get node %s: %w", name, err)
	}
	return Target{Node: n.Name, ProviderID: n.Spec.ProviderID}, nil
}

// ByProviderID finds the node carrying providerID, if any; a VM with no node
// (already deleted, or not in this cluster) is returned with Node empty.
func (f Finder) ByProviderID(ctx context.Context, providerID string) (Target, error) {
	if providerID == "" {
		return Target{}, fmt.Errorf("empty providerID")
	}
	list, err := f.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return Target{}, fmt.Errorf("list nodes: %w", err)
	}
	for _, n := range list.Items {
		if strings.EqualFold(n.Spec.ProviderID, providerID) {
			return Target{Node: n.Name, ProviderID: n.Spec.ProviderID}, nil
		}
	}
	return Target{ProviderID: providerID}, nil
}
