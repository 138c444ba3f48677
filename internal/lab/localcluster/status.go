package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/irischaos/irischaos/internal/lab/localcluster/provisioner"
	"github.com/irischaos/irischaos/internal/lab/localcluster/state"
	"github.com/irischaos/irischaos/internal/lab/nodepower"
)

// StandInAnnotation marks objects that stand in for production components
// (the storage classes); its value says what they stand in for.
const StandInAnnotation = provisioner.StandInAnnotation

// NodeStatus is one node as `cluster status` shows it.
type NodeStatus struct {
	nodepower.Node
	Ready string // True, False, Unknown, or "absent" when the Node object is gone
}

// StorageClassStatus is one storage class and what it stands in for.
type StorageClassStatus struct {
	Name, Provisioner, BindingMode, StandIn string
}

// Status is the state of one local cluster.
type Status struct {
	Name           string
	Cloud          string // local or aws-emulator
	Dir            string
	Kubeconfig     string
	Supervisor     string // "running (pid N)" or "not running"
	Components     map[string]string
	Nodes          []NodeStatus
	StorageClasses []StorageClassStatus
	APIError       string // why the apiserver could not be asked, if it could not
}

// GetStatus gathers a cluster's status from its state, its power API and its apiserver.
func GetStatus(ctx context.Context, name string) (*Status, error) {
	l := state.For(name)
	c, err := state.Load(l)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("local cluster %q does not exist: create it with `irischaos cluster up --name %s`", name, name)
	}
	if err != nil {
		return nil, err
	}
	st := &Status{Name: name, Cloud: c.Cloud, Dir: l.Dir, Kubeconfig: l.Kubeconfig(), Components: map[string]string{}}
	if c.Supervisor.Alive() {
		st.Supervisor = fmt.Sprintf("running (pid %d)", c.Supervisor.PID)
	} else {
		st.Supervisor = "not running (run `irischaos cluster down --name " + name + "` to clean up)"
	}
	for _, p := range c.Procs {
		if p.Alive() {
			st.Components[p.Component] = fmt.Sprintf("running (pid %d)", p.PID)
		} else {
			st.Components[p.Component] = "exited"
		}
	}
	power := map[string]nodepower.Node{}
	for _, n := range c.Nodes {
		power[n.Name] = nodepower.Node{Name: n.Name, State: n.Power, Partitioned: n.Partitioned, ProviderID: n.ProviderID, Zone: n.Zone, Address: n.IP}
	}
	ready := map[string]string{}
	cfg, err := clientcmd.BuildConfigFromFlags("", l.Kubeconfig())
	if err == nil {
		cfg.Timeout = 5 * time.Second
		var cs *kubernetes.Clientset
		if cs, err = kubernetes.NewForConfig(cfg); err == nil {
			var nodes *corev1.NodeList
			if nodes, err = cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil {
				for _, n := range nodes.Items {
					ready[n.Name] = "Unknown"
					for _, cond := range n.Status.Conditions {
						if cond.Type == corev1.NodeReady {
							ready[n.Name] = string(cond.Status)
						}
					}
				}
				if scs, err2 := cs.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{}); err2 == nil {
					for _, sc := range scs.Items {
						mode := ""
						if sc.VolumeBindingMode != nil {
							mode = string(*sc.VolumeBindingMode)
						}
						st.StorageClasses = append(st.StorageClasses, StorageClassStatus{Name: sc.Name, Provisioner: sc.Provisioner, BindingMode: mode, StandIn: sc.Annotations[StandInAnnotation]})
					}
				}
			}
		}
	}
	if err != nil {
		st.APIError = err.Error()
	}
	for _, n := range c.Nodes {
		r, ok := ready[n.Name]
		if !ok {
			r = "absent"
			if st.APIError != "" {
				r = "?"
			}
		}
		st.Nodes = append(st.Nodes, NodeStatus{Node: power[n.Name], Ready: r})
	}
	return st, nil
}
