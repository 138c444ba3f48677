package stack

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/irischaos/irischaos/pkg/podexec"
	"github.com/irischaos/irischaos/pkg/stackid"
	"github.com/irischaos/irischaos/pkg/workload/iris"
)

// Status reports the stack in o.Namespace: the Deployment, its pods (node,
// phase, restarts), the volume with its storage class and provisioner (and
// whether the class is a stand-in), the Service, and the database's $zv when
// a pod is running. A stack that is not deployed gives a State with an empty
// Deployment, not an error.
func Status(ctx context.Context, c Clients, o Options) (*State, error) {
	o.defaults()
	if err := Reachable(ctx, c); err != nil {
		return nil, err
	}
	ns := o.Namespace
	s := &State{Namespace: ns}
	d, err := c.Kube.AppsV1().Deployments(ns).Get(ctx, stackid.Deployment, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, fmt.Errorf("get deployment/%s in %s: %w", stackid.Deployment, ns, err)
	default:
		s.Deployment = d.Name
		s.Available = rolledOut(d)
		for _, ct := range d.Spec.Template.Spec.Containers {
			if ct.Name == stackid.Container {
				s.Image = ct.Image
			}
		}
	}

	pods, err := c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: stackid.Selector})
	if err != nil {
		return nil, fmt.Errorf("list pods %s in %s: %w", stackid.Selector, ns, err)
	}
	for i := range pods.Items {
		s.Pods = append(s.Pods, podState(&pods.Items[i]))
	}
	sort.Slice(s.Pods, func(i, j int) bool { return s.Pods[i].Created.Before(s.Pods[j].Created) })

	pvc, err := c.Kube.CoreV1().PersistentVolumeClaims(ns).Get(ctx, stackid.PVC, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, fmt.Errorf("get pvc/%s in %s: %w", stackid.PVC, ns, err)
	default:
		s.PVC, s.PVCPhase, s.Volume = pvc.Name, string(pvc.Status.Phase), pvc.Spec.VolumeName
		if pvc.Spec.StorageClassName != nil {
			s.StorageClass = *pvc.Spec.StorageClassName
			if sc, err := c.Kube.StorageV1().StorageClasses().Get(ctx, s.StorageClass, metav1.GetOptions{}); err == nil {
				s.Provisioner = sc.Provisioner
				s.StandIn = sc.Annotations[StandInAnnotation]
			}
		}
	}

	svc, err := c.Kube.CoreV1().Services(ns).Get(ctx, stackid.Service, metav1.GetOptions{})
	if err == nil {
		s.Service, s.ServiceType = svc.Name, string(svc.Spec.Type)
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if in.IP != "" {
				s.ExternalIP = in.IP
			} else if in.Hostname != "" {
				s.ExternalIP = in.Hostname
			}
		}
	}

	if p, perr := stackid.Running(pods.Items); perr == nil && c.Exec != nil {
		zv, err := iris.DatabaseIdentity(ctx, c.Exec, podexec.Target{Namespace: ns, Pod: p.Name, Container: stackid.Container}, iris.SessionCommand(o.Instance))
		if err != nil {
			s.DatabaseError = err.Error()
		} else {
			s.Database = zv
		}
	} else if s.Deployment != "" && perr != nil {
		s.DatabaseError = perr.Error()
	}
	return s, nil
}

func podState(p *corev1.Pod) PodState {
	ps := PodState{
		Name: p.Name, Node: p.Spec.NodeName, Phase: string(p.Status.Phase),
		Deleting: p.DeletionTimestamp != nil, Created: p.CreationTimestamp.Time,
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name != stackid.Container {
			continue
		}
		ps.Ready, ps.Restarts = cs.Ready, cs.RestartCount
		if cs.State.Waiting != nil {
			ps.Waiting = cs.State.Waiting.Reason
		}
	}
	return ps
}
