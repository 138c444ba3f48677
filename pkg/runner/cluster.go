package runner

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/nemesis"
	"github.com/irischaos/irischaos/pkg/observe"
	"github.com/irischaos/irischaos/pkg/podexec"
	"github.com/irischaos/irischaos/pkg/report"
	"github.com/irischaos/irischaos/pkg/scenario"
	"github.com/irischaos/irischaos/pkg/stack"
	"github.com/irischaos/irischaos/pkg/stackid"
	"github.com/irischaos/irischaos/pkg/storagehealth"
	"github.com/irischaos/irischaos/pkg/workload/iris"
)

// The real implementations of Config's seams, over a cluster. Connect is
// the one constructor: the CLI (run, inject, recover, stack, preflight) and
// the e2e rig build every real seam through it.

// Cluster is the real seams over one cluster: its clients, the pod exec
// transport, the stack's namespace. Build it with Connect.
type Cluster struct {
	Kube      kubernetes.Interface
	Dynamic   dynamic.Interface // nil when it cannot be built: the observer then skips Longhorn volumes, its mitigation says so
	Exec      podexec.Execer
	Host      string // the API server, recorded in the ledger and the report
	Namespace string // the stack's namespace
	Context   string // the kubeconfig context, for the report
	// Instance is the IRIS instance in the stack's pod; stackid.Instance
	// when empty.
	Instance string
}

// Connect builds the clients of rc and checks, once, that the API server
// answers (so a wrong kubeconfig fails here, naming the server, rather than
// in the first call of whichever command runs).
func Connect(ctx context.Context, rc *rest.Config, namespace, kubeContext string) (*Cluster, error) {
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for %s: %w", rc.Host, err)
	}
	c := &Cluster{Kube: kube, Host: rc.Host, Namespace: namespace, Context: kubeContext}
	if err := stack.Reachable(ctx, c.Stack()); err != nil {
		return nil, err
	}
	if c.Exec, err = podexec.New(rc); err != nil {
		return nil, err
	}
	if d, err := dynamic.NewForConfig(rc); err == nil {
		c.Dynamic = d
	}
	return c, nil
}

// Stack is the clients pkg/stack takes.
func (c *Cluster) Stack() stack.Clients {
	return stack.Clients{Kube: c.Kube, Exec: c.Exec, Host: c.Host}
}

// Nemesis is the environment faults act in; VM calls go through clouds.
func (c *Cluster) Nemesis(clouds *cloud.Registry, out io.Writer) nemesis.Env {
	return nemesis.Env{Client: c.Kube, Dynamic: c.Dynamic, Exec: c.Exec, Clouds: clouds, Out: out, Instance: c.Instance}
}

// Config is a runner Config over the cluster: clients, namespace, API
// server, VM providers (clouds), what is measured (version names this
// irischaos), the IRIS marker workload and the observer, both printing to
// progress. The caller adds the run's own settings (reports, ledger, opt-ins).
func (c *Cluster) Config(version string, clouds func(cloud.Recorder) *cloud.Registry, progress io.Writer) Config {
	return Config{
		Kube: c.Kube, Dynamic: c.Dynamic, Exec: c.Exec, Namespace: c.Namespace, Instance: c.Instance, Cluster: c.Host, Clouds: clouds,
		Environment: clusterEnvironment(c.Kube, c.Exec, c.Host, c.Namespace, c.Instance, version, c.Context),
		NewWorkload: irisWorkload(c.Kube, c.Exec, c.Namespace, c.Instance, progress),
		NewObserver: clusterObserver(c.Kube, c.Dynamic, c.Namespace, progress),
		VolumeCopies: func(ctx context.Context) map[string]int {
			return VolumeCopies(ctx, c.Kube, c.Dynamic, c.Namespace)
		},
	}
}

// clusterEnvironment describes what is measured, read-only: the database's
// $zv (through one session), the IRIS volume's storage class, provisioner
// and stand-in annotation, the Kubernetes version and the nodes.
func clusterEnvironment(kube kubernetes.Interface, exec podexec.Execer, host, namespace, instance, version, kubeContext string) func(context.Context) (report.Environment, error) {
	return func(ctx context.Context) (report.Environment, error) {
		env := report.Environment{Namespace: namespace, Irischaos: version, Context: kubeContext}
		v, err := kube.Discovery().ServerVersion()
		if err != nil {
			return env, fmt.Errorf("server version of %s: %w", host, err)
		}
		env.Kubernetes = v.GitVersion
		// The cluster's identity for the manifest; not fatal: the run can
		// measure without it.
		if ns, err := kube.CoreV1().Namespaces().Get(ctx, metav1.NamespaceSystem, metav1.GetOptions{}); err == nil {
			env.ClusterUID = string(ns.UID)
		}
		nodes, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return env, fmt.Errorf("list nodes: %w", err)
		}
		for _, n := range nodes.Items {
			env.Nodes = append(env.Nodes, n.Name)
		}
		sort.Strings(env.Nodes)
		st, err := stack.Status(ctx, stack.Clients{Kube: kube, Exec: exec, Host: host}, stack.Options{Namespace: namespace, Instance: instance})
		if err != nil {
			return env, err
		}
		if st.Deployment == "" {
			return env, fmt.Errorf("the IRIS stack is not deployed in namespace %q: run `irischaos stack deploy -n %s` first", namespace, namespace)
		}
		env.StorageClass, env.Provisioner = st.StorageClass, st.Provisioner
		env.StorageStandIn = st.StandIn != ""
		env.StorageDescription = st.StandIn
		env.Database = st.Database
		env.DatabaseStandIn = strings.Contains(strings.ToLower(st.Database), "stand-in")
		if st.Database == "" {
			return env, fmt.Errorf("database identity ($zv): %s", st.DatabaseError)
		}
		return env, nil
	}
}

// irisWorkload writes markers through `iris session` over the exec API.
func irisWorkload(kube kubernetes.Interface, exec podexec.Execer, namespace, instance string, progress io.Writer) func(scenario.Scenario, *history.Writer) (Workload, error) {
	return func(s scenario.Scenario, h *history.Writer) (Workload, error) {
		// The checker counts a write that took longer than this as part of
		// the outage (docs/history.md, "hung").
		if err := h.Add(history.Record{Kind: history.KindMeta, Meta: map[string]string{history.MetaWriteTimeout: iris.DefaultWriteTimeout.String()}}); err != nil {
			return nil, err
		}
		return iris.New(iris.Config{
			Kube: kube, Exec: exec, History: h, Namespace: namespace, Instance: instance,
			Streams: s.StreamCount(), Interval: s.Interval(), Progress: progress,
			WriteTimeout: iris.DefaultWriteTimeout,
		})
	}
}

// clusterObserver watches the stack's pods, the nodes, events and volume
// attachments into the history, and the redundancy of the volume's storage
// where irischaos can read it (storagehealth.ForStorageClass).
// dyn, when not nil, lets the observer also watch Longhorn volumes where the
// cluster serves them (the RTO phases then show the volume's attachment).
func clusterObserver(kube kubernetes.Interface, dyn dynamic.Interface, namespace string, progress io.Writer) func(*history.Writer) (Observer, error) {
	return func(h *history.Writer) (Observer, error) {
		src, why := storageSource(kube, dyn, namespace)
		return observe.New(kube, observe.Options{Namespace: namespace, History: h, Progress: progress, Dynamic: dyn,
			Storage: src, StorageSkipped: why})
	}
}

// VolumeCopies reads the usable copies per zone of the stack's volume, nil
// when its storage does not say (or cannot be read).
func VolumeCopies(ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface, namespace string) map[string]int {
	src, _ := storageSource(kube, dyn, namespace)
	if src == nil {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := src.Health(rctx)
	if err != nil {
		return nil
	}
	return st.Zones
}

// storageSource is the redundancy source of the stack's volume, or nil and
// why when its storage is not one irischaos reads (or the claim cannot be
// read, or Longhorn's CRDs are not served): the observer then says so in
// its one "Watching" line.
func storageSource(kube kubernetes.Interface, dyn dynamic.Interface, namespace string) (storagehealth.Source, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pvc, err := kube.CoreV1().PersistentVolumeClaims(namespace).Get(ctx, stackid.PVC, metav1.GetOptions{})
	if err != nil {
		return nil, "claim " + stackid.PVC + " not read: " + err.Error()
	}
	var sc *storagev1.StorageClass
	if pvc.Spec.StorageClassName != nil {
		sc, _ = kube.StorageV1().StorageClasses().Get(ctx, *pvc.Spec.StorageClassName, metav1.GetOptions{})
	}
	var pv *corev1.PersistentVolume
	if pvc.Spec.VolumeName != "" {
		pv, _ = kube.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	}
	backend := ""
	if sc != nil {
		backend = sc.Annotations[stack.StandInAnnotation]
	}
	return storagehealth.ForVolume(sc, pv, kube, dyn, backend)
}
