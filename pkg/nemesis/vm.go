package nemesis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/ledger"
	"github.com/irischaos/irischaos/pkg/target"
)

// vmFault acts on the IRIS node's VM through its cloud provider. Power off is
// healed by powering on; restart by powering on if it stayed off; a delete is
// by design never healed, and a power on (by hand) needs no healing.
type vmFault struct {
	env       Env
	name      fault.Name
	t         target.Target
	p         cloud.Provider
	vm        cloud.VM
	noPowerOn bool
}

func (f *vmFault) Name() fault.Name      { return f.name }
func (f *vmFault) Target() target.Target { return f.t }

func (f *vmFault) action() cloud.Action {
	switch f.name {
	case fault.VMPowerOn:
		return cloud.PowerOn
	case fault.VMRestart:
		return cloud.Restart
	case fault.VMDelete:
		return cloud.Delete
	default:
		return cloud.PowerOff
	}
}

func (f *vmFault) HealAction() string {
	switch {
	case f.name == fault.VMPowerOff && !f.noPowerOn, f.name == fault.VMRestart:
		return ledger.HealPowerOn
	default:
		return ledger.HealNone
	}
}

func (f *vmFault) Effect() fault.Effect {
	if f.name == fault.VMPowerOn || f.t.Node == "" {
		return fault.Effect{}
	}
	return fault.Effect{Kind: fault.EffectNodeNotReady, Node: f.t.Node}
}

func (f *vmFault) Plan() []string {
	plan := []string{
		fmt.Sprintf("%s %s of node %s through the %s provider: %s", f.action(), f.vm.ProviderID, orNone(f.t.Node), f.p.Name(), f.p.Describe(f.vm, f.action())),
	}
	if e := f.Effect(); e.Kind != "" {
		plan = append(plan, fmt.Sprintf("effect: node %s NotReady (or gone)", f.t.Node))
	} else {
		plan = append(plan, "effect: the provider reports the new power state")
	}
	switch f.HealAction() {
	case ledger.HealPowerOn:
		plan = append(plan, "heal: power the VM on if it is not running: "+f.p.Describe(f.vm, cloud.PowerOn))
	default:
		if f.name == fault.VMDelete {
			plan = append(plan, "heal: none (deleted by design; the node group replaces it)")
		} else {
			plan = append(plan, "heal: none")
		}
	}
	return plan
}

func (f *vmFault) Inject(ctx context.Context) (Result, error) {
	f.env.printf("nemesis: %s: %s", f.name, f.p.Describe(f.vm, f.action()))
	res := Result{Issued: time.Now()}
	err := f.p.Do(ctx, f.vm, f.action())
	res.Done = time.Now()
	if err != nil {
		return res, fmt.Errorf("%s of %s (node %s): %w", f.name, f.vm.ProviderID, orNone(f.t.Node), err)
	}
	res.Detail = fmt.Sprintf("%s: %s done after %s", f.p.Name(), f.action(), res.Done.Sub(res.Issued).Round(time.Millisecond))
	return res, nil
}

func (f *vmFault) Heal(ctx context.Context) error {
	if f.HealAction() != ledger.HealPowerOn {
		return nil
	}
	return powerOn(ctx, f.env, f.p, f.vm)
}

// powerOn starts vm unless it runs already; a terminated VM cannot be healed.
func powerOn(ctx context.Context, env Env, p cloud.Provider, vm cloud.VM) error {
	st, err := p.State(ctx, vm)
	if err != nil {
		return fmt.Errorf("power on %s: read its state: %w", vm.ProviderID, err)
	}
	switch st {
	case cloud.Running:
		return nil
	case cloud.Terminated:
		return fmt.Errorf("power on %s: the VM was deleted; it cannot be powered on (replace the node)", vm.ProviderID)
	}
	env.printf("heal: powering on %s (%s): %s", vm.ProviderID, st, p.Describe(vm, cloud.PowerOn))
	if err := p.Do(ctx, vm, cloud.PowerOn); err != nil {
		return fmt.Errorf("power on %s: %w", vm.ProviderID, err)
	}
	env.printf("heal: %s running again", vm.ProviderID)
	return nil
}

// ConfirmVMState confirms a VM fault's effect through the cloud API: it reads
// the VM's power state every poll until it is the state the action leads to
// (stopped, running, terminated; a VM the provider no longer knows counts as
// terminated) and returns when it saw it and the state. This is the effect
// when no cluster watches the VM's node (the VM was named by its providerID).
func ConfirmVMState(ctx context.Context, f Fault, poll time.Duration) (time.Time, cloud.State, error) {
	v, ok := f.(*vmFault)
	if !ok {
		return time.Time{}, "", fmt.Errorf("%s is not a VM fault: its effect is not a VM state", f.Name())
	}
	want := v.action().Target()
	for {
		st, err := v.p.State(ctx, v.vm)
		if errors.Is(err, cloud.ErrNotFound) {
			st, err = cloud.Terminated, nil
		}
		if err == nil && st == want {
			return time.Now(), st, nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return time.Time{}, st, fmt.Errorf("%s of %s: state not %s: %w (last read: %v)", f.Name(), v.vm.ProviderID, want, ctx.Err(), err)
			}
			return time.Time{}, st, fmt.Errorf("%s of %s: still %s, not %s: %w", f.Name(), v.vm.ProviderID, st, want, ctx.Err())
		case <-time.After(poll):
		}
	}
}
