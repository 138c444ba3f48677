package storagehealth

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// Longhorn's API as irischaos reads it: group longhorn.io, version v1beta2
// (the only one served since Longhorn 1.10), objects in LonghornNamespace.
// A CSI volume's Longhorn volume is named by its PV's volumeHandle; its
// replicas and engines carry the label LonghornVolumeLabel=<volume>.
const (
	LonghornDriver      = "driver.longhorn.io"
	LonghornNamespace   = "longhorn-system"
	LonghornVolumeLabel = "longhornvolume"
)

// The longhorn.io/v1beta2 resources read (get, list, watch; written only by
// the advisor's Longhorn mitigation, one setting, in pkg/nemesis).
var (
	LonghornVolumes  = lhGVR("volumes")
	LonghornReplicas = lhGVR("replicas")
	LonghornEngines  = lhGVR("engines")
	LonghornNodes    = lhGVR("nodes")
	LonghornSettings = lhGVR("settings")
)

func lhGVR(resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "longhorn.io", Version: "v1beta2", Resource: resource}
}

// Longhorn's published values that irischaos acts on: volume robustness
// and the engine's replica modes (RW serves reads and writes, WO is being
// rebuilt, ERR failed).
const (
	RobustnessHealthy  = "healthy"
	RobustnessDegraded = "degraded"
	RobustnessFaulted  = "faulted"
	ModeRW             = "RW"
	ModeWO             = "WO"
	ModeERR            = "ERR"
)

// The fields read, with the names Longhorn publishes (longhorn-manager's
// k8s/pkg/apis/longhorn/v1beta2). Every other field is ignored. The
// stand-in CRDs of the e2e test declare exactly these.
type (
	lhVolume struct {
		metav1.ObjectMeta `json:"metadata"`
		Spec              struct {
			NumberOfReplicas int64  `json:"numberOfReplicas"`
			DataLocality     string `json:"dataLocality"`
		} `json:"spec"`
		Status struct {
			State         string `json:"state"`
			Robustness    string `json:"robustness"`
			CurrentNodeID string `json:"currentNodeID"`
		} `json:"status"`
	}
	lhReplica struct {
		metav1.ObjectMeta `json:"metadata"`
		Spec              struct {
			NodeID     string `json:"nodeID"`
			VolumeName string `json:"volumeName"`
			FailedAt   string `json:"failedAt"`
			// set once the replica first serves RW after creation or rebuild
			HealthyAt string `json:"healthyAt"`
		} `json:"spec"`
		Status struct {
			CurrentState string `json:"currentState"`
		} `json:"status"`
	}
	lhEngine struct {
		metav1.ObjectMeta `json:"metadata"`
		Spec              struct {
			NodeID     string `json:"nodeID"`
			VolumeName string `json:"volumeName"`
			Active     bool   `json:"active"`
		} `json:"spec"`
		Status struct {
			// replica name -> RW, WO or ERR
			ReplicaModeMap map[string]string `json:"replicaModeMap"`
			// replica name -> "ip:port"; rebuildStatus is keyed "tcp://ip:port"
			CurrentReplicaAddressMap map[string]string     `json:"currentReplicaAddressMap"`
			RebuildStatus            map[string]*lhRebuild `json:"rebuildStatus"`
		} `json:"status"`
	}
	lhRebuild struct {
		IsRebuilding           bool     `json:"isRebuilding"`
		Progress               int      `json:"progress"`
		State                  string   `json:"state"`
		Error                  string   `json:"error"`
		FromReplicaAddressList []string `json:"fromReplicaAddressList"`
	}
	lhNode struct {
		metav1.ObjectMeta `json:"metadata"`
		Status            struct {
			Zone string `json:"zone"`
		} `json:"status"`
	}
	lhSetting struct {
		metav1.ObjectMeta `json:"metadata"`
		Value             string `json:"value"`
	}
)

func decode(u *unstructured.Unstructured, into any) error {
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
		return fmt.Errorf("longhorn %s %s: unexpected shape: %w", u.GetKind(), u.GetName(), err)
	}
	return nil
}

// LonghornVolume is one reading of a Longhorn volume with its replicas and
// the rebuilds its engine reports.
type LonghornVolume struct {
	Name             string
	NumberOfReplicas int64  // spec; 0 when not set
	DataLocality     string // spec: disabled, best-effort, strict-local
	State            string // attached, detached, attaching, detaching, creating, deleting
	Robustness       string // healthy, degraded, faulted, unknown ("" when not reported)
	Node             string // the node it is attached to
	Replicas         []Replica
	Rebuilds         []Rebuild
}

// Rebuild is one replica being rebuilt by the volume's engine.
type Rebuild struct {
	Replica    string   `json:"replica"` // the replica's name (its address when unknown)
	Node       string   `json:"node,omitempty"`
	From       []string `json:"from,omitempty"` // the replicas sending data
	Rebuilding bool     `json:"rebuilding"`     // false once complete or failed
	Progress   int      `json:"progress"`       // percent
	State      string   `json:"state,omitempty"`
	Error      string   `json:"error,omitempty"`
}

// Decoders of single objects, for watchers of Longhorn volumes.

// DecodeLonghornVolume reads the volume fields of u (a longhorn.io Volume).
func DecodeLonghornVolume(u *unstructured.Unstructured) (LonghornVolume, error) {
	var v lhVolume
	if err := decode(u, &v); err != nil {
		return LonghornVolume{}, err
	}
	return LonghornVolume{Name: v.Name, NumberOfReplicas: v.Spec.NumberOfReplicas, DataLocality: v.Spec.DataLocality,
		State: v.Status.State, Robustness: v.Status.Robustness, Node: v.Status.CurrentNodeID}, nil
}

// Longhorn reads one Longhorn volume's redundancy through the dynamic
// client: the volume's robustness, state and node, each replica's node,
// zone and mode, and the engine's rebuilds.
type Longhorn struct {
	Dynamic dynamic.Interface
	// Kube, when set, gives a replica's zone from its Kubernetes node's
	// topology.kubernetes.io/zone when Longhorn's node reports none.
	Kube      kubernetes.Interface
	Namespace string // LonghornNamespace when empty
	Volume    string // the Longhorn volume: the PV's CSI volumeHandle
	Backend   string // how reports name it
}

func (l Longhorn) ns() string {
	if l.Namespace == "" {
		return LonghornNamespace
	}
	return l.Namespace
}

func (l Longhorn) list(ctx context.Context, gvr schema.GroupVersionResource, selector string) ([]unstructured.Unstructured, error) {
	ul, err := l.Dynamic.Resource(gvr).Namespace(l.ns()).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("list %s.longhorn.io in %s: %w", gvr.Resource, l.ns(), err)
	}
	return ul.Items, nil
}

// Settings reads every Longhorn setting: name -> value.
func (l Longhorn) Settings(ctx context.Context) (map[string]string, error) {
	if l.Dynamic == nil {
		return nil, errors.New("no dynamic client")
	}
	items, err := l.list(ctx, LonghornSettings, "")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for i := range items {
		var s lhSetting
		if err := decode(&items[i], &s); err != nil {
			return nil, err
		}
		out[s.Name] = s.Value
	}
	return out, nil
}

// Read reads the volume, its replicas, its engine and the nodes holding
// the replicas. A volume that cannot be read is an error; replicas,
// engines or nodes that cannot be listed leave their part empty and are
// reported in the error too (the volume is still returned).
func (l Longhorn) Read(ctx context.Context) (LonghornVolume, error) {
	if l.Dynamic == nil {
		return LonghornVolume{}, errors.New("no dynamic client")
	}
	if l.Volume == "" {
		return LonghornVolume{}, errors.New("no Longhorn volume named (the PVC is not bound yet?)")
	}
	u, err := l.Dynamic.Resource(LonghornVolumes).Namespace(l.ns()).Get(ctx, l.Volume, metav1.GetOptions{})
	if err != nil {
		return LonghornVolume{}, fmt.Errorf("get volumes.longhorn.io %s in %s: %w", l.Volume, l.ns(), err)
	}
	v, err := DecodeLonghornVolume(u)
	if err != nil {
		return v, err
	}
	var errs []error
	sel := LonghornVolumeLabel + "=" + l.Volume
	var replicas []lhReplica
	if items, err := l.list(ctx, LonghornReplicas, sel); err != nil {
		errs = append(errs, err)
	} else {
		for i := range items {
			var r lhReplica
			if err := decode(&items[i], &r); err != nil {
				errs = append(errs, err)
			} else if r.Spec.VolumeName == "" || r.Spec.VolumeName == l.Volume {
				replicas = append(replicas, r)
			}
		}
	}
	var engine *lhEngine
	if items, err := l.list(ctx, LonghornEngines, sel); err != nil {
		errs = append(errs, err)
	} else {
		engine, err = pickEngine(items, l.Volume, v.Node)
		if err != nil {
			errs = append(errs, err)
		}
	}
	zones, err := l.zones(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	v.Replicas, v.Rebuilds = combine(replicas, engine, zones)
	return v, errors.Join(errs...)
}

// pickEngine: a volume has one engine, two while it migrates; the active
// one on the attached node is the one serving it.
func pickEngine(items []unstructured.Unstructured, volume, node string) (*lhEngine, error) {
	var best *lhEngine
	score := func(e *lhEngine) int {
		s := 0
		if e.Spec.Active {
			s += 2
		}
		if node != "" && e.Spec.NodeID == node {
			s++
		}
		return s
	}
	for i := range items {
		e := new(lhEngine)
		if err := decode(&items[i], e); err != nil {
			return nil, err
		}
		if e.Spec.VolumeName != "" && e.Spec.VolumeName != volume {
			continue
		}
		if best == nil || score(e) > score(best) || (score(e) == score(best) && e.Name < best.Name) {
			best = e
		}
	}
	return best, nil
}

// zones maps node names to their zone: Longhorn's node status.zone, else
// the Kubernetes node's label.
func (l Longhorn) zones(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	var errs []error
	if l.Kube != nil {
		if nl, err := l.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("list nodes: %w", err))
		} else {
			for _, n := range nl.Items {
				if z := n.Labels[corev1.LabelTopologyZone]; z != "" {
					out[n.Name] = z
				}
			}
		}
	}
	if items, err := l.list(ctx, LonghornNodes, ""); err != nil {
		errs = append(errs, err)
	} else {
		for i := range items {
			var n lhNode
			if err := decode(&items[i], &n); err != nil {
				errs = append(errs, err)
			} else if n.Status.Zone != "" {
				out[n.Name] = n.Status.Zone
			}
		}
	}
	return out, errors.Join(errs...)
}

// combine joins the replicas with the engine's view of them: mode per
// replica name, rebuilds keyed by the replica's "tcp://" address.
func combine(rs []lhReplica, e *lhEngine, zones map[string]string) ([]Replica, []Rebuild) {
	var out []Replica
	node := map[string]string{}
	engineSays := e != nil && len(e.Status.ReplicaModeMap) > 0
	for _, r := range rs {
		rep := Replica{ID: r.Name, Node: r.Spec.NodeID, Zone: zones[r.Spec.NodeID], State: r.Status.CurrentState}
		if e != nil {
			rep.Mode = e.Status.ReplicaModeMap[r.Name]
		}
		// A running engine's modes decide (a replica it does not list yet,
		// e.g. one just created for a rebuild, holds no copy). Without them
		// (detached volume) a replica that became healthy once and is not
		// marked failed still holds one.
		rep.Up = rep.Mode == ModeRW || (!engineSays && r.Spec.FailedAt == "" && r.Spec.HealthyAt != "")
		node[r.Name] = r.Spec.NodeID
		out = append(out, rep)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Node != out[j].Node {
			return out[i].Node < out[j].Node
		}
		return out[i].ID < out[j].ID
	})
	if e == nil {
		return out, nil
	}
	byAddr := map[string]string{}
	for name, addr := range e.Status.CurrentReplicaAddressMap {
		byAddr["tcp://"+addr] = name
		byAddr[addr] = name
	}
	nameOf := func(addr string) string {
		if n, ok := byAddr[addr]; ok {
			return n
		}
		return addr
	}
	var rb []Rebuild
	for addr, st := range e.Status.RebuildStatus {
		if st == nil {
			continue
		}
		b := Rebuild{Replica: nameOf(addr), Rebuilding: st.IsRebuilding, Progress: st.Progress, State: st.State, Error: st.Error}
		b.Node = node[b.Replica]
		for _, f := range st.FromReplicaAddressList {
			b.From = append(b.From, nameOf(f))
		}
		rb = append(rb, b)
	}
	sort.Slice(rb, func(i, j int) bool { return rb[i].Replica < rb[j].Replica })
	return out, rb
}

// Redundancy maps the volume's robustness onto the history's vocabulary:
// faulted is unavailable; degraded is recovering while a replica is being
// rebuilt (an engine rebuild in progress or a replica in WO mode), else
// degraded; healthy is clean; anything else (a detached volume reports
// unknown) is unknown.
func (v LonghornVolume) Redundancy() Redundancy {
	switch v.Robustness {
	case RobustnessFaulted:
		return Unavailable
	case RobustnessHealthy:
		return Clean
	case RobustnessDegraded:
		if v.rebuilding() {
			return Recovering
		}
		return Degraded
	}
	return Unknown
}

func (v LonghornVolume) rebuilding() bool {
	for _, b := range v.Rebuilds {
		if b.Rebuilding {
			return true
		}
	}
	for _, r := range v.Replicas {
		if r.Mode == ModeWO {
			return true
		}
	}
	return false
}

// Status is the reading as the observer records it.
func (v LonghornVolume) Status(backend string) Status {
	st := Status{Backend: backend, Scope: "volume " + v.Name, Redundancy: v.Redundancy(),
		State: v.State, AttachedTo: v.Node, Replicas: v.Replicas, Rebuilds: v.Rebuilds, Zones: map[string]int{}}
	up := 0
	for _, r := range v.Replicas {
		if r.Up {
			up++
			st.Zones[r.Zone]++
		}
	}
	want := fmt.Sprintf("%d", v.NumberOfReplicas)
	if v.NumberOfReplicas == 0 {
		want = "?"
	}
	st.Detail = fmt.Sprintf("robustness %s, %s, %d/%s replicas usable", orNone(v.Robustness), v.where(), up, want)
	return st
}

func (v LonghornVolume) where() string {
	if v.Node == "" {
		return orNone(v.State)
	}
	return orNone(v.State) + " on " + v.Node
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// Health implements Source. Only a volume that cannot be read is an
// error; replicas, engine or zones that cannot be read leave the reading
// (its redundancy comes from the volume's robustness) with what was not
// read in its detail.
func (l Longhorn) Health(ctx context.Context) (Status, error) {
	v, err := l.Read(ctx)
	if v.Name == "" {
		return Status{Backend: l.Backend, Scope: "volume " + l.Volume, Redundancy: Unknown}, err
	}
	st := v.Status(l.Backend)
	if err != nil {
		st.Detail += "; not read: " + err.Error()
	}
	return st, nil
}

// LonghornServed says whether the cluster serves Longhorn's volumes
// (its CRDs installed), and if not, why in one line.
func LonghornServed(d discovery.DiscoveryInterface) (bool, string) {
	if d == nil {
		return false, "no discovery client"
	}
	res, err := d.ServerResourcesForGroupVersion(LonghornVolumes.GroupVersion().String())
	if err != nil {
		if apierrors.IsNotFound(err) {
			return false, LonghornVolumes.GroupVersion().String() + " is not served (Longhorn not installed)"
		}
		return false, "cannot tell whether Longhorn is installed: " + err.Error()
	}
	var names []string
	for _, r := range res.APIResources {
		if r.Name == LonghornVolumes.Resource {
			return true, ""
		}
		names = append(names, r.Name)
	}
	return false, fmt.Sprintf("%s serves no volumes (only %s)", LonghornVolumes.GroupVersion(), strings.Join(names, ", "))
}

// LonghornFieldsRead lists, per resource, the field paths the backend reads
// (metadata aside): "spec.nodeID", "status.replicaModeMap.*" for a map's
// values, "...fromReplicaAddressList[]" for a list's items. The e2e test's
// stand-in CRDs declare exactly these.
func LonghornFieldsRead() map[string][]string {
	out := map[string][]string{}
	for res, v := range map[string]any{
		LonghornVolumes.Resource: lhVolume{}, LonghornReplicas.Resource: lhReplica{}, LonghornEngines.Resource: lhEngine{},
		LonghornNodes.Resource: lhNode{}, LonghornSettings.Resource: lhSetting{},
	} {
		var paths []string
		fieldPaths(reflect.TypeOf(v), "", &paths)
		sort.Strings(paths)
		out[res] = paths
	}
	return out
}

func fieldPaths(t reflect.Type, prefix string, out *[]string) {
	switch t.Kind() {
	case reflect.Pointer:
		fieldPaths(t.Elem(), prefix, out)
	case reflect.Map:
		fieldPaths(t.Elem(), prefix+".*", out)
	case reflect.Slice:
		fieldPaths(t.Elem(), prefix+"[]", out)
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "metadata" || name == "" {
				continue
			}
			p := name
			if prefix != "" {
				p = prefix + "." + name
			}
			fieldPaths(f.Type, p, out)
		}
	default:
		*out = append(*out, prefix)
	}
}
