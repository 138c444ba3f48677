// Package target finds what a fault acts on, starting from the stack: the IRIS
// pod (by the stack's labels), the node it runs on, and that node's VM (its
// spec.providerID). Nothing else is ever selected unless a scenario names it.
package target

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/irischaos/irischaos/pkg/stackid"
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

// Finder looks targets up in one namespace. The IRIS pod is found by the
// stack's identity (pkg/stackid: its labels, container and pick rule).
type Finder struct {
	Client    kubernetes.Interface
	Namespace string
}

// IRIS finds the one live IRIS pod of the stack (stackid.Pick), its node and
// VM. A pending pod is a target (pod and process faults still apply).
func (f Finder) IRIS(ctx context.Context) (Target, error) {
	list, err := f.Client.CoreV1().Pods(f.Namespace).List(ctx, metav1.ListOptions{LabelSelector: stackid.Selector})
	if err != nil {
		return Target{}, fmt.Errorf("list IRIS pods (%s) in namespace %q: %w", stackid.Selector, f.Namespace, err)
	}
	p, err := stackid.Pick(list.Items)
	if errors.Is(err, stackid.ErrNoPod) {
		return Target{}, fmt.Errorf("%w in namespace %q: deploy the stack first (irischaos stack deploy) or check -n/--namespace", err, f.Namespace)
	}
	if err != nil {
		return Target{}, fmt.Errorf("namespace %q: %w", f.Namespace, err)
	}
	return f.fromPod(ctx, p)
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
	t := Target{Namespace: p.Namespace, Pod: p.Name, PodUID: p.UID, Container: stackid.Container}
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
