// Package fault is the fault vocabulary: every fault's name, its kind (what it
// acts on), its default failure domain and its safety class (which opt-in
// allows it), stated once in the catalog below, and the effect that confirms a
// fault took hold. Scenarios, the nemesis, the CLI and the observer all read
// it; adding a fault is one entry here plus its nemesis.
package fault

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Name is a fault's name (a scenario's fault.type, inject's FAULT).
type Name string

// Kind is the layer a fault acts on.
type Kind string

// Kinds of faults. Network and storage faults are next.
const (
	KindProcess Kind = "process" // the IRIS process inside its container
	KindPod     Kind = "pod"     // the IRIS pod
	KindNode    Kind = "node"    // a Kubernetes node, through the API
	KindVM      Kind = "vm"      // a node's VM, through its cloud's API
	KindNetwork Kind = "network" // a node's network links
	KindZone    Kind = "zone"    // every node of a zone (topology.kubernetes.io/zone)
	KindStorage Kind = "storage"
)

// OnNode says whether faults of this kind act on a node (so a scenario's
// targets.node applies).
func (k Kind) OnNode() bool { return k == KindNode || k == KindVM || k == KindNetwork }

// Safety is the opt-in a fault needs beyond asking for it.
type Safety string

// Safety classes.
const (
	SafetyNone Safety = ""
	// SafetyVM: powers off, restarts or deletes real machines through a cloud API.
	SafetyVM Safety = "vm"
	// SafetyNode: cuts a node's network (a privileged agent pod on the
	// node, or the local cluster's node power API); its processes keep
	// running, cut off.
	SafetyNode Safety = "node"
)

// Allow holds the opt-ins given (the CLI's flags): one per blast radius.
type Allow struct {
	VMActions   bool // --allow-vm-actions
	NodeActions bool // --allow-node-actions
}

// ErrVMActionsNotAllowed is returned for a VM fault without Allow.VMActions.
var ErrVMActionsNotAllowed = errors.New("VM faults power off, restart or delete real machines through the cloud API; pass --allow-vm-actions to allow it")

// ErrNodeActionsNotAllowed is returned for a partition without Allow.NodeActions.
var ErrNodeActionsNotAllowed = errors.New("partition faults cut real nodes off the network (a privileged agent pod with NET_ADMIN on the node, or the local cluster's link); pass --allow-node-actions to allow it")

// The failure domains of the seed article's table, in its order.
const (
	DomainIRIS          = "IRIS instance"
	DomainPod           = "Pod / container"
	DomainNodeTemporary = "Node temporarily unavailable"
	DomainNodeLost      = "Node or disk permanently lost"
	// The seed's "disconnect the network cable" and "availability zone
	// off-line", after its table.
	DomainPartition = "Network partition"
	DomainZone      = "Zone off-line"
)

// Domains lists the failure domains in the seed's order; reports use it for row order.
var Domains = []string{DomainIRIS, DomainPod, DomainNodeTemporary, DomainNodeLost, DomainPartition, DomainZone}

// Fault names.
const (
	IrisStop   Name = "iris-stop"
	IrisForce  Name = "iris-force"
	PodDelete  Name = "pod-delete"
	NodeDrain  Name = "node-drain"
	VMPowerOff Name = "vm-poweroff"
	VMPowerOn  Name = "vm-poweron"
	VMRestart  Name = "vm-restart"
	VMDelete   Name = "vm-delete"
	// NodePartition cuts a node off its peers; ZoneOutage takes every
	// node of a zone off at once (power off, or partition).
	NodePartition Name = "node-partition"
	ZoneOutage    Name = "zone-outage"
)

// DefaultDrainTimeout bounds a node-drain when the scenario or flag sets none.
const DefaultDrainTimeout = 2 * time.Minute

// Info is what the vocabulary says about one fault.
type Info struct {
	Name Name
	Kind Kind
	// Domain is the failure domain a scenario with this fault exercises by
	// default; empty for faults given by hand only (not in scenarios).
	Domain string
	Safety Safety
	// Does says what it does, for --help.
	Does string
}

// catalog is every fault, in failure-domain order.
var catalog = []Info{
	{IrisStop, KindProcess, DomainIRIS, SafetyNone, "iris stop iris quietly in the IRIS container"},
	{IrisForce, KindProcess, DomainIRIS, SafetyNone, "iris force iris quietly"},
	{PodDelete, KindPod, DomainPod, SafetyNone, "delete the pod (grace period 0 for at once)"},
	{NodeDrain, KindNode, DomainNodeTemporary, SafetyNone, "cordon and drain the node with force (healed by uncordon)"},
	{VMPowerOff, KindVM, DomainNodeLost, SafetyVM, "hard power off the node's VM through its cloud (healed by power on)"},
	{VMPowerOn, KindVM, "", SafetyVM, "power a VM on (by hand only: e.g. one left off with --no-heal)"},
	{VMRestart, KindVM, DomainNodeTemporary, SafetyVM, "restart the VM"},
	{VMDelete, KindVM, DomainNodeLost, SafetyVM, "delete the VM (never healed: by design)"},
	{NodePartition, KindNetwork, DomainPartition, SafetyNode, "cut the node off its peers, its processes running (healed by reconnect)"},
	// Its safety class is that of its method (Info.Via): power off by default.
	{ZoneOutage, KindZone, DomainZone, SafetyVM, "power off (or partition) every node of a zone at once (healed by power on / reconnect)"},
}

// All lists every fault in failure-domain order.
func All() []Info { return append([]Info(nil), catalog...) }

// Scenario lists the faults a scenario may name.
func Scenario() []Info {
	var out []Info
	for _, i := range catalog {
		if i.Domain != "" {
			out = append(out, i)
		}
	}
	return out
}

// List names infos for messages: "a, b, c".
func List(infos []Info) string {
	s := make([]string, len(infos))
	for i, f := range infos {
		s[i] = string(f.Name)
	}
	return strings.Join(s, ", ")
}

// Lookup finds a fault by name; the error lists the known ones.
func Lookup(name Name) (Info, error) {
	for _, i := range catalog {
		if i.Name == name {
			return i, nil
		}
	}
	if name == "" {
		return Info{}, fmt.Errorf("no fault named (one of %s)", List(catalog))
	}
	return Info{}, fmt.Errorf("unknown fault %q (one of %s)", name, List(catalog))
}

// Info of a known name; the zero Info for an unknown one.
func (n Name) Info() Info {
	i, _ := Lookup(n)
	return i
}

// Permit says whether a gives the opt-in this fault needs: the one place the
// safety classes are enforced.
func (i Info) Permit(a Allow) error {
	switch {
	case i.Safety == SafetyVM && !a.VMActions:
		return fmt.Errorf("%s: %w", i.Name, ErrVMActionsNotAllowed)
	case i.Safety == SafetyNode && !a.NodeActions:
		return fmt.Errorf("%s: %w", i.Name, ErrNodeActionsNotAllowed)
	}
	return nil
}

// ZoneMethod is how a zone-outage takes its nodes off.
type ZoneMethod string

// Zone outage methods.
const (
	ZonePowerOff  ZoneMethod = "poweroff"  // every node's VM through its provider (the default)
	ZonePartition ZoneMethod = "partition" // every node cut off, as node-partition
)

// ParseZoneMethod validates a zone-outage method; empty is ZonePowerOff.
func ParseZoneMethod(s string) (ZoneMethod, error) {
	switch ZoneMethod(s) {
	case "", ZonePowerOff:
		return ZonePowerOff, nil
	case ZonePartition:
		return ZonePartition, nil
	}
	return "", fmt.Errorf("unknown zone-outage method %q (poweroff or partition)", s)
}

// Via is the fault as done by method m: a zone-outage by partition needs
// the node opt-in, not the VM one. Other faults are unchanged.
func (i Info) Via(m ZoneMethod) Info {
	if i.Name == ZoneOutage && m == ZonePartition {
		i.Safety = SafetyNode
	}
	return i
}

// EffectKind is what counts as a fault having taken hold.
type EffectKind string

// Effects the observer can confirm.
const (
	// EffectContainerRestart: the IRIS process is down (iris stop, iris
	// force): the container stopped or restarted, or the pod's Ready
	// condition left True while it runs, whichever the API shows first.
	EffectContainerRestart EffectKind = "container_restart"
	// EffectPodGone: the pod was removed from the API (pod delete).
	EffectPodGone EffectKind = "pod_gone"
	// EffectPodTerminating: the pod was marked for deletion (eviction, drain).
	EffectPodTerminating EffectKind = "pod_terminating"
	// EffectPodNotReady: the pod's Ready condition left True (the readiness
	// probe saw the database down while the container still runs, as after
	// `iris stop` until the liveness probe restarts it), or the pod is gone.
	EffectPodNotReady EffectKind = "pod_not_ready"
	// EffectNodeNotReady: the node's Ready condition left True, or the node
	// was deleted (power off, VM delete).
	EffectNodeNotReady EffectKind = "node_not_ready"
)

// Effect names the effect and its object; the zero Effect means the fault's
// own call confirms it (the drain returned, the provider reported the state).
type Effect struct {
	Kind EffectKind
	Pod  string // for the pod kinds
	Node string // for EffectNodeNotReady
}

// Target names the effect's object: "node/x" or "pod/x".
func (e Effect) Target() string {
	if e.Kind == EffectNodeNotReady {
		return "node/" + e.Node
	}
	return "pod/" + e.Pod
}
