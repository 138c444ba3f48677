// Package nemesis injects faults, one small type per fault: each says what it
// will do (Plan, for --dry-run), what observable effect confirms it took hold
// (Effect, confirmed by the observer's watches), injects it (Inject, which
// returns the instant it was issued: the checker's t_fault) and undoes what
// Kubernetes will not undo by itself (Heal). HealAction names that undoing
// for the ledger, so a fault left by a crash is healed by Recover.
package nemesis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/pkg/ledger"
	"github.com/irischaos/irischaos/pkg/observe"
	"github.com/irischaos/irischaos/pkg/target"
	"github.com/irischaos/irischaos/pkg/workload/podexec"
)

// Fault names (the scenario's fault.type and the inject command's FAULT).
const (
	IrisStop   = "iris-stop"
	IrisForce  = "iris-force"
	PodDelete  = "pod-delete"
	NodeDrain  = "node-drain"
	VMPowerOff = "vm-poweroff"
	VMPowerOn  = "vm-poweron" // by hand only: bring back what a fault left off
	VMRestart  = "vm-restart"
	VMDelete   = "vm-delete"
)

// Names lists every fault in failure-domain order.
var Names = []string{IrisStop, IrisForce, PodDelete, NodeDrain, VMPowerOff, VMPowerOn, VMRestart, VMDelete}

// IsVM says whether the fault calls a cloud API on a VM (needs --allow-vm-actions).
func IsVM(name string) bool { return strings.HasPrefix(name, "vm-") }

// ErrVMActionsNotAllowed is returned for a VM fault without AllowVMActions.
var ErrVMActionsNotAllowed = errors.New("VM faults power off, restart or delete real machines through the cloud API; pass --allow-vm-actions to allow it")

// Env is what faults act through.
type Env struct {
	Client kubernetes.Interface
	Exec   podexec.Execer  // for iris-stop / iris-force
	Clouds *cloud.Registry // for vm-*; calls are recorded by the registry's providers
	Out    io.Writer       // progress lines; nil for none
}

func (e Env) printf(format string, args ...any) {
	if e.Out != nil {
		fmt.Fprintf(e.Out, format+"\n", args...)
	}
}

// Spec says which fault and how.
type Spec struct {
	Name string
	// GracePeriod for pod-delete and node-drain: nil uses the pod's own
	// terminationGracePeriodSeconds, 0 deletes at once.
	GracePeriod *time.Duration
	// DrainTimeout bounds node-drain; 0 means DefaultDrainTimeout.
	DrainTimeout time.Duration
	// AllowVMActions must be set for vm-* faults (the --allow-vm-actions flag).
	AllowVMActions bool
	// NoPowerOn (vm-poweroff): leave the VM off when healing.
	NoPowerOn bool
}

// DefaultDrainTimeout bounds a drain when the scenario sets none.
const DefaultDrainTimeout = 2 * time.Minute

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
}

// Fault is one injectable fault bound to its target.
type Fault interface {
	// Name is one of the fault names above.
	Name() string
	// Target is what it acts on.
	Target() target.Target
	// Plan says exactly what Inject and Heal will do, without doing it.
	Plan() []string
	// Effect is what confirms that the fault took hold.
	Effect() observe.Effect
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
	if IsVM(s.Name) && !s.AllowVMActions {
		return nil, fmt.Errorf("%s on %s: %w", s.Name, t, ErrVMActionsNotAllowed)
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
	case IrisStop, IrisForce:
		if err := needPod(); err != nil {
			return nil, err
		}
		if env.Exec == nil {
			return nil, fmt.Errorf("%s: no exec transport configured", s.Name)
		}
		return &irisProcess{env: env, name: s.Name, t: t}, nil
	case PodDelete:
		if err := needPod(); err != nil {
			return nil, err
		}
		return &podDelete{env: env, t: t, grace: s.GracePeriod}, nil
	case NodeDrain:
		if err := needNode(); err != nil {
			return nil, err
		}
		timeout := s.DrainTimeout
		if timeout <= 0 {
			timeout = DefaultDrainTimeout
		}
		return &nodeDrain{env: env, t: t, grace: s.GracePeriod, timeout: timeout}, nil
	case VMPowerOff, VMPowerOn, VMRestart, VMDelete:
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
	case "":
		return nil, fmt.Errorf("no fault named (one of %s)", strings.Join(Names, ", "))
	default:
		return nil, fmt.Errorf("unknown fault %q (one of %s)", s.Name, strings.Join(Names, ", "))
	}
}

// LedgerEntry is the ledger's record of f, written before injecting it.
func LedgerEntry(f Fault) ledger.Entry {
	t := f.Target()
	return ledger.Entry{Fault: f.Name(), Heal: f.HealAction(), Namespace: t.Namespace, Pod: t.Pod, Node: t.Node, ProviderID: t.ProviderID}
}

// Recover heals a fault found pending in the ledger, from what the entry
// says alone (the process that injected it may be long gone).
func Recover(ctx context.Context, env Env, e ledger.Entry) error {
	switch e.Heal {
	case ledger.HealNone:
		return nil
	case ledger.HealUncordon:
		if e.Node == "" {
			return fmt.Errorf("ledger entry %s: uncordon without a node", e.ID)
		}
		return uncordon(ctx, env, e.Node)
	case ledger.HealPowerOn:
		if env.Clouds == nil {
			return fmt.Errorf("ledger entry %s: power on %s needs the cloud providers", e.ID, e.ProviderID)
		}
		p, vm, err := env.Clouds.For(e.ProviderID)
		if err != nil {
			return fmt.Errorf("ledger entry %s: %w", e.ID, err)
		}
		return powerOn(ctx, env, p, vm)
	default:
		return fmt.Errorf("ledger entry %s: unknown heal action %q (written by a newer irischaos?)", e.ID, e.Heal)
	}
}
