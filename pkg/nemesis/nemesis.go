// Package nemesis injects faults, one small type per fault: each says what it
// will do (Plan, for --dry-run), what observable effect confirms it took hold
// (Effect, confirmed by the observer's watches), injects it (Inject, which
// returns the instant it was issued: the checker's t_fault) and undoes what
// Kubernetes will not undo by itself (Heal). HealAction names that undoing
// for the ledger; Guard (lifecycle.go) runs a fault from ledger to heal,
// and its Recover heals what a crashed or killed process left.
package nemesis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/ledger"
	"github.com/irischaos/irischaos/pkg/podexec"
	"github.com/irischaos/irischaos/pkg/stackid"
	"github.com/irischaos/irischaos/pkg/target"
)

// Env is what faults act through.
type Env struct {
	Client kubernetes.Interface
	// Dynamic reaches CRDs (Longhorn's settings, for its mitigation); nil
	// where none was built.
	Dynamic dynamic.Interface
	Exec    podexec.Execer  // for iris-stop / iris-force
	Clouds  *cloud.Registry // for vm-*; calls are recorded by the registry's providers
	Out     io.Writer       // progress lines; nil for none
	// Instance is the IRIS instance iris-stop / iris-force stop;
	// stackid.Instance when empty.
	Instance string
}

func (e Env) instance() string {
	if e.Instance == "" {
		return stackid.Instance
	}
	return e.Instance
}

func (e Env) printf(format string, args ...any) {
	if e.Out != nil {
		fmt.Fprintf(e.Out, format+"\n", args...)
	}
}

// Spec says which fault and how.
type Spec struct {
	Name fault.Name
	// GracePeriod for pod-delete and node-drain: nil uses the pod's own
	// terminationGracePeriodSeconds, 0 deletes at once.
	GracePeriod *time.Duration
	// DrainTimeout bounds node-drain; 0 means fault.DefaultDrainTimeout.
	DrainTimeout time.Duration
	// Allow holds the opt-ins given; the fault's safety class must be in it.
	Allow fault.Allow
	// NoPowerOn (vm-poweroff): leave the VM off when healing.
	NoPowerOn bool

	// Partition (node-partition, zone-outage by partition): how the node
	// is cut off; PartitionVia: ViaAuto (""), ViaAgent or ViaProvider.
	Partition    fault.Partition
	PartitionVia string
	// AgentImage and AgentNamespace of the partition agent pod: the
	// defaults are DefaultAgentImage and the target's namespace.
	AgentImage, AgentNamespace string
	// Zone (zone-outage): the zone taken off; "" is the IRIS pod's node's.
	Zone       string
	ZoneMethod fault.ZoneMethod
	// Copies: the volume's usable copies per zone where the storage tells
	// (nil otherwise); a zone-outage holding them all is refused.
	Copies map[string]int
}

// Result is what Inject reports.
type Result struct {
	// Issued is the fault instant t_fault: taken just before the call that
	// breaks something is sent.
	Issued time.Time
	// Done is when the fault's own call returned (the exec ended, the pod
	// delete was accepted, the drain evicted everything, the provider
	// reported the VM's new state).
	Done time.Time
	// Detail is what the call said, worth a note in the history.
	Detail string
	// Effect, when set, is when the fault itself saw its effect take hold
	// (an IRIS process fault: the instance reported down right after the
	// stop). The observer's confirmation is then not awaited.
	Effect time.Time
}

// Fault is one injectable fault bound to its target.
type Fault interface {
	// Name is the fault's name in the vocabulary.
	Name() fault.Name
	// Target is what it acts on.
	Target() target.Target
	// Plan says exactly what Inject and Heal will do, without doing it.
	Plan() []string
	// Effect is what confirms that the fault took hold.
	Effect() fault.Effect
	// Inject breaks something and blocks until its own call has returned.
	// A Result with a non-zero Issued comes back with any error once the
	// fault may have been issued: the caller must then still Heal.
	Inject(ctx context.Context) (Result, error)
	// HealAction is what the ledger records as needed to undo the fault.
	HealAction() string
	// Heal undoes the fault (uncordon, power on). Idempotent; nothing to do
	// is not an error.
	Heal(ctx context.Context) error
}

// New binds a fault to its target. Missing parts of the target (no node for a
// drain, no providerID for a VM fault) and VM faults without AllowVMActions
// are errors saying what to do.
func New(env Env, s Spec, t target.Target) (Fault, error) {
	info, err := fault.Lookup(s.Name)
	if err != nil {
		return nil, err
	}
	if err := info.Via(s.ZoneMethod).Permit(s.Allow); err != nil {
		return nil, fmt.Errorf("%w (on %s)", err, t)
	}
	needPod := func() error {
		if t.Pod == "" || t.Namespace == "" {
			return fmt.Errorf("%s needs a pod (the stack's IRIS pod or --pod)", s.Name)
		}
		return nil
	}
	needNode := func() error {
		if t.Node == "" {
			return fmt.Errorf("%s needs a node: the IRIS pod is not scheduled yet, or pass --node", s.Name)
		}
		return nil
	}
	switch s.Name {
	case fault.IrisStop, fault.IrisForce:
		if err := needPod(); err != nil {
			return nil, err
		}
		if env.Exec == nil {
			return nil, fmt.Errorf("%s: no exec transport configured", s.Name)
		}
		return &irisProcess{env: env, name: s.Name, t: t}, nil
	case fault.PodDelete:
		if err := needPod(); err != nil {
			return nil, err
		}
		return &podDelete{env: env, t: t, grace: s.GracePeriod}, nil
	case fault.NodeDrain:
		if err := needNode(); err != nil {
			return nil, err
		}
		timeout := s.DrainTimeout
		if timeout <= 0 {
			timeout = fault.DefaultDrainTimeout
		}
		return &nodeDrain{env: env, t: t, grace: s.GracePeriod, timeout: timeout}, nil
	case fault.VMPowerOff, fault.VMPowerOn, fault.VMRestart, fault.VMDelete:
		if t.ProviderID == "" {
			if t.Node != "" {
				return nil, fmt.Errorf("%s: node %s has no spec.providerID, so its VM is unknown; pass --provider-id", s.Name, t.Node)
			}
			return nil, fmt.Errorf("%s needs a VM: pass --node or --provider-id", s.Name)
		}
		if env.Clouds == nil {
			return nil, fmt.Errorf("%s: no cloud providers configured", s.Name)
		}
		p, vm, err := env.Clouds.For(t.ProviderID)
		if err != nil {
			return nil, fmt.Errorf("%s on %s: %w", s.Name, t, err)
		}
		return &vmFault{env: env, name: s.Name, t: t, p: p, vm: vm, noPowerOn: s.NoPowerOn}, nil
	case fault.NodePartition:
		if err := needNode(); err != nil {
			return nil, err
		}
		ns := s.AgentNamespace
		if ns == "" {
			ns = t.Namespace
		}
		c, err := newCut(context.Background(), env, s, t.Node, t.ProviderID, ns)
		if err != nil {
			return nil, err
		}
		return &nodePartition{t: t, cut: c}, nil
	case fault.ZoneOutage:
		if s.AgentNamespace == "" {
			s.AgentNamespace = t.Namespace
		}
		return newZoneOutage(env, s, t)
	default:
		return nil, fmt.Errorf("%s (%s): no nemesis implements it", s.Name, info.Kind)
	}
}

// LedgerEntry is the ledger's record of f, written before injecting it.
func LedgerEntry(f Fault) ledger.Entry {
	t := f.Target()
	e := ledger.Entry{Fault: string(f.Name()), Heal: f.HealAction(), Namespace: t.Namespace, Pod: t.Pod, Node: t.Node, ProviderID: t.ProviderID}
	if r, ok := f.(interface{ Restore() string }); ok {
		e.Restore = r.Restore()
	}
	if c, ok := f.(interface{ Cuts() []ledger.Cut }); ok {
		e.Cuts = c.Cuts()
	}
	if p, ok := f.(interface{ ProviderIDs() []string }); ok {
		e.ProviderIDs = p.ProviderIDs()
	}
	return e
}

// recoverEntry heals a fault found pending in the ledger, from what the entry
// says alone (the process that injected it may be long gone).
func recoverEntry(ctx context.Context, env Env, e ledger.Entry) error {
	switch e.Heal {
	case ledger.HealNone:
		return nil
	case ledger.HealUncordon:
		if e.Node == "" {
			return fmt.Errorf("ledger entry %s: uncordon without a node", e.ID)
		}
		if env.Client == nil {
			return fmt.Errorf("ledger entry %s: uncordon node %s needs the cluster: pass --kubeconfig", e.ID, e.Node)
		}
		return uncordon(ctx, env, e.Node)
	case ledger.HealPowerOn:
		ids := e.ProviderIDs
		if len(ids) == 0 {
			ids = []string{e.ProviderID}
		}
		if env.Clouds == nil {
			return fmt.Errorf("ledger entry %s: power on %s needs the cloud providers", e.ID, strings.Join(ids, ", "))
		}
		var errs []error
		for _, id := range ids {
			p, vm, err := env.Clouds.For(id)
			if err != nil {
				errs = append(errs, fmt.Errorf("ledger entry %s: %w", e.ID, err))
				continue
			}
			errs = append(errs, powerOn(ctx, env, p, vm))
		}
		return errors.Join(errs...)
	case ledger.HealReconnect:
		return recoverCuts(ctx, env, e)
	case ledger.HealUntaint:
		if env.Client == nil {
			return fmt.Errorf("ledger entry %s: untaint node %s needs the cluster: pass --kubeconfig", e.ID, e.Node)
		}
		return untaint(ctx, env, e.Node)
	case ledger.HealRestoreTolerations:
		if env.Client == nil {
			return fmt.Errorf("ledger entry %s: restoring the tolerations of deployment/%s in %s needs the cluster: pass --kubeconfig", e.ID, stackid.Deployment, e.Namespace)
		}
		return restoreTolerations(ctx, env, e.Namespace, e.Restore)
	case ledger.HealRestoreLonghornSetting:
		if env.Dynamic == nil {
			return fmt.Errorf("ledger entry %s: restoring Longhorn's setting in %s (%s) needs the cluster: pass --kubeconfig", e.ID, e.Namespace, e.Restore)
		}
		return restoreLonghornSetting(ctx, env, e.Namespace, e.Restore)
	default:
		return fmt.Errorf("ledger entry %s: unknown heal action %q (written by a newer irischaos?)", e.ID, e.Heal)
	}
}
