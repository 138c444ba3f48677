// Package longhornstandin is a STAND-IN FOR LONGHORN, NOT LONGHORN: Longhorn
// cannot run on irischaos' machines, so the e2e test installs CRDs written
// here for exactly the longhorn.io/v1beta2 fields irischaos reads
// (crds.yaml) and this package's Controller writes Volume, Engine, Replica,
// Node and Setting objects playing Longhorn's documented status transitions
// for a node loss: healthy, then degraded (the lost node's replica ERR,
// failedAt set), then rebuilding (a fresh replica WO, the engine's
// rebuildStatus in progress), then healthy again (the replica RW, the
// failed one removed). No data is stored and nothing is replicated: it
// only proves that irischaos reads and records what Longhorn would publish.
// Everything it creates is labelled StandInLabel=longhorn.
package longhornstandin

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/irischaos/irischaos/pkg/mitigation"
	"github.com/irischaos/irischaos/pkg/storagehealth"
)

// StandInLabel marks every object of the stand-in (its value: "longhorn").
const StandInLabel = "irischaos.io/stand-in"

//go:embed crds.yaml
var crdsYAML string

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// CRDs are the stand-in's CustomResourceDefinitions.
func CRDs() ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, doc := range strings.Split(crdsYAML, "\n---\n") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			return nil, fmt.Errorf("longhorn stand-in CRDs: %w", err)
		}
		out = append(out, u)
	}
	return out, nil
}

// ErrRealLonghorn: the cluster already has Longhorn's CRDs, not the
// stand-in's; nothing is installed over them.
var ErrRealLonghorn = errors.New("longhorn.io CRDs already installed and not the stand-in's (a real Longhorn?)")

// Install creates the stand-in CRDs and waits until they are served. It
// reports whether it created any (Uninstall removes only those); an
// existing stand-in CRD is left as is, a real Longhorn's is ErrRealLonghorn.
func Install(ctx context.Context, dyn dynamic.Interface) (bool, error) {
	crds, err := CRDs()
	if err != nil {
		return false, err
	}
	created := false
	for _, c := range crds {
		cur, err := dyn.Resource(crdGVR).Get(ctx, c.GetName(), metav1.GetOptions{})
		switch {
		case err == nil:
			if cur.GetLabels()[StandInLabel] != "longhorn" {
				return created, fmt.Errorf("%s: %w", c.GetName(), ErrRealLonghorn)
			}
		case apierrors.IsNotFound(err):
			if _, err := dyn.Resource(crdGVR).Create(ctx, c, metav1.CreateOptions{}); err != nil {
				return created, fmt.Errorf("create CRD %s: %w", c.GetName(), err)
			}
			created = true
		default:
			return created, fmt.Errorf("get CRD %s: %w", c.GetName(), err)
		}
	}
	for _, c := range crds {
		if err := waitEstablished(ctx, dyn, c.GetName()); err != nil {
			return created, err
		}
	}
	return created, nil
}

func waitEstablished(ctx context.Context, dyn dynamic.Interface, name string) error {
	for {
		u, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("CRD %s not established: %w", name, context.Cause(ctx))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Uninstall deletes the stand-in CRDs (and with them every stand-in object).
func Uninstall(ctx context.Context, dyn dynamic.Interface) error {
	crds, err := CRDs()
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range crds {
		cur, err := dyn.Resource(crdGVR).Get(ctx, c.GetName(), metav1.GetOptions{})
		if err != nil || cur.GetLabels()[StandInLabel] != "longhorn" {
			continue // never a real Longhorn's
		}
		if err := dyn.Resource(crdGVR).Delete(ctx, c.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Node is a Kubernetes node the stand-in places replicas on.
type Node struct {
	Name string
	// Zone is what the stand-in's Longhorn Node reports in status.zone;
	// empty to leave the zone to the Kubernetes node's label.
	Zone string
}

// Controller writes the stand-in objects of one volume in Namespace
// (storagehealth.LonghornNamespace when empty).
type Controller struct {
	Dynamic   dynamic.Interface
	Namespace string
	Volume    string
	// Step is how long each transition is held (the replenishment wait,
	// each rebuild progress step); 1 s when 0.
	Step time.Duration
	// Log, when set, gets one line per transition, once it is written.
	Log func(format string, args ...any)

	replicas []replicaState
	want     int64 // numberOfReplicas
	next     int
}

type replicaState struct {
	name, node, addr string
}

func (c *Controller) ns() string {
	if c.Namespace == "" {
		return storagehealth.LonghornNamespace
	}
	return c.Namespace
}

func (c *Controller) step() time.Duration {
	if c.Step <= 0 {
		return time.Second
	}
	return c.Step
}

func (c *Controller) logf(format string, args ...any) {
	if c.Log != nil {
		c.Log("longhorn stand-in: "+format, args...)
	}
}

func (c *Controller) res(gvr schema.GroupVersionResource) dynamic.ResourceInterface {
	return c.Dynamic.Resource(gvr).Namespace(c.ns())
}

func (c *Controller) object(kind, name string, labels map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetAPIVersion(storagehealth.LonghornVolumes.GroupVersion().String())
	u.SetKind(kind)
	u.SetName(name)
	u.SetNamespace(c.ns())
	l := map[string]string{StandInLabel: "longhorn"}
	for k, v := range labels {
		l[k] = v
	}
	u.SetLabels(l)
	return u
}

// put creates or replaces obj, then its status (the CRDs have a status
// subresource, as Longhorn's do, so status is written on its own).
func (c *Controller) put(ctx context.Context, gvr schema.GroupVersionResource, obj *unstructured.Unstructured) error {
	status, hasStatus := obj.Object["status"]
	r := c.res(gvr)
	cur, err := r.Get(ctx, obj.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		// Right after its CRD is established a resource may still be
		// unknown to the API server's handlers for a moment.
		for try := 0; ; try++ {
			cur, err = r.Create(ctx, obj, metav1.CreateOptions{})
			if !apierrors.IsNotFound(err) || try == 20 || ctx.Err() != nil {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
	case err == nil:
		obj.SetResourceVersion(cur.GetResourceVersion())
		cur, err = r.Update(ctx, obj, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("longhorn stand-in: write %s %s: %w", obj.GetKind(), obj.GetName(), err)
	}
	if !hasStatus || gvr == storagehealth.LonghornSettings {
		return nil
	}
	cur.Object["status"] = status
	if _, err := r.UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("longhorn stand-in: write status of %s %s: %w", obj.GetKind(), obj.GetName(), err)
	}
	return nil
}

func (c *Controller) volume(ctx context.Context, state, robustness, node string) error {
	v := c.object("Volume", c.Volume, map[string]string{storagehealth.LonghornVolumeLabel: c.Volume})
	v.Object["spec"] = map[string]any{"numberOfReplicas": c.want, "dataLocality": "disabled"}
	v.Object["status"] = map[string]any{"state": state, "robustness": robustness, "currentNodeID": node}
	return c.put(ctx, storagehealth.LonghornVolumes, v)
}

// engine writes the engine's view: mode per replica and rebuilds keyed by
// "tcp://" + the replica's address, as Longhorn's engine does.
func (c *Controller) engine(ctx context.Context, node string, modes map[string]string, rebuild map[string]any) error {
	e := c.object("Engine", c.Volume+"-e-0", map[string]string{storagehealth.LonghornVolumeLabel: c.Volume})
	e.Object["spec"] = map[string]any{"nodeID": node, "volumeName": c.Volume, "active": true}
	modeMap, addrs := map[string]any{}, map[string]any{}
	for _, r := range c.replicas {
		if m, ok := modes[r.name]; ok {
			modeMap[r.name] = m
			addrs[r.name] = r.addr
		}
	}
	if rebuild == nil {
		rebuild = map[string]any{}
	}
	e.Object["status"] = map[string]any{"replicaModeMap": modeMap, "currentReplicaAddressMap": addrs, "rebuildStatus": rebuild}
	return c.put(ctx, storagehealth.LonghornEngines, e)
}

func (c *Controller) replica(ctx context.Context, r replicaState, state, failedAt, healthyAt string) error {
	o := c.object("Replica", r.name, map[string]string{storagehealth.LonghornVolumeLabel: c.Volume, "longhornnode": r.node})
	o.Object["spec"] = map[string]any{"nodeID": r.node, "volumeName": c.Volume, "failedAt": failedAt, "healthyAt": healthyAt}
	o.Object["status"] = map[string]any{"currentState": state}
	return c.put(ctx, storagehealth.LonghornReplicas, o)
}

func (c *Controller) newReplica(node string) replicaState {
	c.next++
	return replicaState{name: fmt.Sprintf("%s-r-%d", c.Volume, c.next), node: node, addr: fmt.Sprintf("10.42.%d.%d:10000", c.next, 10+c.next)}
}

// Seed writes Longhorn's nodes, two settings and a healthy volume attached
// to attachedTo with one RW replica on each of replicaNodes.
func (c *Controller) Seed(ctx context.Context, nodes []Node, attachedTo string, replicaNodes ...string) error {
	for _, n := range nodes {
		o := c.object("Node", n.Name, nil)
		o.Object["status"] = map[string]any{"zone": n.Zone}
		if err := c.put(ctx, storagehealth.LonghornNodes, o); err != nil {
			return err
		}
	}
	for name, value := range map[string]string{mitigation.LonghornNodeDownSetting: "do-nothing", "replica-replenishment-wait-interval": "600"} {
		o := c.object("Setting", name, nil)
		o.Object["value"] = value
		if err := c.put(ctx, storagehealth.LonghornSettings, o); err != nil {
			return err
		}
	}
	c.replicas, c.want = nil, int64(len(replicaNodes))
	modes := map[string]string{}
	for _, n := range replicaNodes {
		r := c.newReplica(n)
		c.replicas = append(c.replicas, r)
		modes[r.name] = storagehealth.ModeRW
		if err := c.replica(ctx, r, "running", "", now()); err != nil {
			return err
		}
	}
	if err := c.engine(ctx, attachedTo, modes, nil); err != nil {
		return err
	}
	if err := c.volume(ctx, "attached", storagehealth.RobustnessHealthy, attachedTo); err != nil {
		return err
	}
	c.logf("volume %s healthy, attached to %s, replicas on %s", c.Volume, attachedTo, strings.Join(replicaNodes, ", "))
	return nil
}

// PlayNodeLoss plays Longhorn's transitions when the node lost holds one
// of the volume's replicas (not the attached node): the engine marks that
// replica ERR and Longhorn sets its failedAt (instance state unknown), the
// volume turns degraded; after the replenishment wait (Step) a fresh
// replica on rebuildOn is added in WO mode and rebuilt (rebuildStatus
// isRebuilding, progress 0, 25, 50, 75), then turns RW, the rebuild is
// reported complete, the failed replica is removed and the volume is
// healthy. Each state is held for Step.
func (c *Controller) PlayNodeLoss(ctx context.Context, attachedTo, lost, rebuildOn string) error {
	var failed *replicaState
	var from string
	modes := map[string]string{}
	for i, r := range c.replicas {
		modes[r.name] = storagehealth.ModeRW
		if r.node == lost && failed == nil {
			failed = &c.replicas[i]
		} else if from == "" {
			from = r.addr
		}
	}
	if failed == nil {
		return fmt.Errorf("longhorn stand-in: no replica of %s on %s", c.Volume, lost)
	}
	hold := func() error {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(c.step()):
			return nil
		}
	}
	// Node lost: the replica there fails, the volume is degraded.
	modes[failed.name] = storagehealth.ModeERR
	if err := c.replica(ctx, *failed, "unknown", now(), now()); err != nil {
		return err
	}
	if err := c.engine(ctx, attachedTo, modes, nil); err != nil {
		return err
	}
	if err := c.volume(ctx, "attached", storagehealth.RobustnessDegraded, attachedTo); err != nil {
		return err
	}
	c.logf("%s lost: replica %s ERR, volume degraded", lost, failed.name)
	if err := hold(); err != nil {
		return err
	}

	// Replenishment: a fresh replica, rebuilt from a healthy one.
	fresh := c.newReplica(rebuildOn)
	c.replicas = append(c.replicas, fresh)
	delete(modes, failed.name)
	modes[fresh.name] = storagehealth.ModeWO
	if err := c.replica(ctx, fresh, "running", "", ""); err != nil {
		return err
	}
	rebuild := func(progress int, on bool, state string) map[string]any {
		return map[string]any{"tcp://" + fresh.addr: map[string]any{
			"isRebuilding": on, "progress": int64(progress), "state": state, "error": "", "fromReplicaAddressList": []any{"tcp://" + from}}}
	}
	for _, p := range []int{0, 25, 50, 75} {
		if err := c.engine(ctx, attachedTo, modes, rebuild(p, true, "in_progress")); err != nil {
			return err
		}
		c.logf("rebuilding replica %s on %s: %d%%", fresh.name, rebuildOn, p)
		if err := hold(); err != nil {
			return err
		}
	}

	// Rebuilt: RW (healthyAt set), the failed replica removed, healthy again.
	modes[fresh.name] = storagehealth.ModeRW
	if err := c.engine(ctx, attachedTo, modes, rebuild(100, false, "complete")); err != nil {
		return err
	}
	if err := c.replica(ctx, fresh, "running", "", now()); err != nil {
		return err
	}
	if err := c.res(storagehealth.LonghornReplicas).Delete(ctx, failed.name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("longhorn stand-in: delete replica %s: %w", failed.name, err)
	}
	var keep []replicaState
	for _, r := range c.replicas {
		if r.name != failed.name {
			keep = append(keep, r)
		}
	}
	c.replicas = keep
	if err := c.volume(ctx, "attached", storagehealth.RobustnessHealthy, attachedTo); err != nil {
		return err
	}
	c.logf("replica %s rebuilt on %s, %s removed, volume healthy", fresh.name, rebuildOn, failed.name)
	return nil
}

func now() string { return time.Now().UTC().Format(time.RFC3339) }

// Delete removes the volume's stand-in objects (nodes and settings too).
func (c *Controller) Delete(ctx context.Context) error {
	var errs []error
	for _, gvr := range []schema.GroupVersionResource{storagehealth.LonghornVolumes, storagehealth.LonghornEngines, storagehealth.LonghornReplicas, storagehealth.LonghornNodes, storagehealth.LonghornSettings} {
		l, err := c.res(gvr).List(ctx, metav1.ListOptions{LabelSelector: StandInLabel + "=longhorn"})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, o := range l.Items {
			if err := c.res(gvr).Delete(ctx, o.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// RealLonghorn reports whether the cluster has Longhorn's volumes CRD and it
// is not the stand-in's (then nothing of the stand-in may be installed).
func RealLonghorn(ctx context.Context, dyn dynamic.Interface) (bool, error) {
	crd, err := dyn.Resource(crdGVR).Get(ctx, storagehealth.LonghornVolumes.GroupResource().String(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, err
	}
	return crd.GetLabels()[StandInLabel] != "longhorn", nil
}
