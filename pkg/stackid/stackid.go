// Package stackid is the IRIS stack's identity, written once: the names of
// its objects, its labels, the IRIS container and instance, and the one rule
// that picks the IRIS pod among the pods those labels select. The stack
// deploys with it; the observer, the nemesis (through pkg/target), the
// workload, the runner and the preflight find the stack with it.
package stackid

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Names of the stack's objects, as the seed named them.
const (
	Deployment = "iris"
	PVC        = "iris-pvc"
	ConfigMap  = "iris-cpf-merge"
	Service    = "iris-svc"
	// Container is the IRIS container of the pod.
	Container = "iris"
	// Instance is the IRIS instance inside the container (iris session Instance).
	Instance = "iris"
)

// Labels on the Deployment, its pods, and the namespace the stack creates.
const (
	AppLabel       = "app"
	AppValue       = "iris"
	Selector       = AppLabel + "=" + AppValue // the IRIS pods' label selector
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "irischaos"
)

// ErrNoPod says no live pod was among those given.
var ErrNoPod = errors.New("no live IRIS pod")

// Live reports whether p can be the IRIS pod: not being deleted and not
// finished. A pod still Pending is live (it is the replacement on its way).
func Live(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// Pick is the one rule that picks the IRIS pod among pods (those Selector
// matched): the only live one. None is ErrNoPod; more than one is an error
// naming them: the stack runs one replica with the Recreate strategy, so two
// live pods mean a rollout (or a second stack) and no pod is "the" pod.
// Callers that need a container to exec into check Running themselves
// (see Running).
func Pick(pods []corev1.Pod) (*corev1.Pod, error) {
	var live []*corev1.Pod
	for i := range pods {
		if Live(&pods[i]) {
			live = append(live, &pods[i])
		}
	}
	switch len(live) {
	case 0:
		return nil, fmt.Errorf("%w (%d pods match %s, none live)", ErrNoPod, len(pods), Selector)
	case 1:
		return live[0], nil
	}
	names := make([]string, len(live))
	for i, p := range live {
		names[i] = p.Name
	}
	sort.Strings(names)
	return nil, fmt.Errorf("%d live IRIS pods (%s): the stack runs one replica; wait for the rollout to finish", len(live), strings.Join(names, ", "))
}

// Running is Pick, then requires the pod to be Running (a container to exec
// into).
func Running(pods []corev1.Pod) (*corev1.Pod, error) {
	p, err := Pick(pods)
	if err != nil {
		return nil, err
	}
	if p.Status.Phase != corev1.PodRunning {
		return nil, fmt.Errorf("IRIS pod %s is %s, not Running yet", p.Name, orUnknown(string(p.Status.Phase)))
	}
	return p, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "without a phase"
	}
	return s
}
