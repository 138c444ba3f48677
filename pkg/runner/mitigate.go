package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/mitigation"
	"github.com/irischaos/irischaos/pkg/nemesis"
	"github.com/irischaos/irischaos/pkg/report"
	"github.com/irischaos/irischaos/pkg/scenario"
	"github.com/irischaos/irischaos/pkg/stack"
	"github.com/irischaos/irischaos/pkg/target"
)

// How the out-of-service taint's watch polls, and how long its removal
// waits for the node to be Ready again after the fault is healed.
const (
	nodeDownPoll     = time.Second
	nodeBackWait     = 2 * time.Minute
	rolloutWaitLimit = 5 * time.Minute
)

// mitigator applies one iteration's mitigation through the run's Guard (so
// it is in the ledger before it is made and undone on every way out) and
// says when it took effect.
type mitigator struct {
	r    *Runner
	m    mitigation.Info
	h    *history.Writer
	rec  cloud.Recorder
	node string // the lost node, for undo's wait

	mu      sync.Mutex
	active  *nemesis.Active
	applied time.Time
	err     error
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

func (r *Runner) mitigator(s scenario.Scenario, h *history.Writer, rec cloud.Recorder) *mitigator {
	return &mitigator{r: r, m: s.MitigationName().Info(), h: h, rec: rec, stop: func() {}}
}

func (m *mitigator) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	m.r.printf("%s", msg)
	_ = m.h.Add(history.Record{Kind: history.KindNote, T: m.r.cfg.Now(), Message: msg})
}

func (m *mitigator) apply(ctx context.Context, t target.Target) error {
	f, err := nemesis.NewMitigation(ctx, m.r.env(m.rec), m.m.Name, t)
	if err != nil {
		return err
	}
	for _, step := range f.Plan() {
		m.r.printf("mitigation plan: %s", step)
	}
	a, err := m.r.guard(m.rec).Inject(ctx, f)
	m.mu.Lock()
	m.active = a
	if a != nil && err == nil {
		// Not issued: the cluster had the change already; in effect since.
		m.applied = cmp.Or(a.Result.Issued, a.Result.Done)
	}
	m.mu.Unlock()
	if err != nil {
		return fmt.Errorf("mitigation %s: %w", m.m.Name, err)
	}
	m.note("mitigation %s applied on %s", m.m.Name, f.Target())
	return nil
}

// beforeFault makes the changes that must be in place before the warm-up
// (the Deployment's tolerations, Longhorn's node-down policy) and waits for
// the pod they recreate. A Longhorn mitigation on a cluster without
// Longhorn is skipped, saying so, and the iteration runs as deployed.
func (m *mitigator) beforeFault(ctx context.Context) error {
	if m.m.When != mitigation.BeforeFault {
		return nil
	}
	err := m.apply(ctx, target.Target{Namespace: m.r.cfg.Namespace})
	if errors.Is(err, nemesis.ErrNoLonghorn) {
		m.mu.Lock()
		m.err = err
		m.mu.Unlock()
		m.note("mitigation %s skipped: %v; the iteration runs as deployed", m.m.Name, err)
		return nil
	}
	if err != nil {
		return err
	}
	if !m.recreatesPod() {
		return nil
	}
	return m.rollout(ctx)
}

// recreatesPod: the change is made to the IRIS pod's template (Recreate),
// so the pod is rolled out after it and after its undoing; a Longhorn
// setting changes no pod.
func (m *mitigator) recreatesPod() bool {
	return m.m.When == mitigation.BeforeFault && !m.m.Longhorn
}

func (m *mitigator) rollout(ctx context.Context) error {
	err := stack.WaitRollout(ctx, stack.Clients{Kube: m.r.cfg.Kube}, stack.Options{Namespace: m.r.cfg.Namespace, Timeout: rolloutWaitLimit, Progress: m.r.cfg.Out})
	if err != nil {
		return fmt.Errorf("mitigation %s: %w", m.m.Name, err)
	}
	return nil
}

// onFault starts what acts while the fault is in effect: the out-of-service
// taint, applied once the node is NotReady and its VM is confirmed off
// through its provider, never before (the taint lets another node attach
// the volume: on a node that may still run, that is two writers).
func (m *mitigator) onFault(ctx context.Context, t target.Target, issued time.Time) {
	if m.m.When != mitigation.NodeIsDown {
		return
	}
	m.node = t.Node
	ctx, m.stop = context.WithCancel(ctx)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if err := m.whenNodeDown(ctx, t); err != nil {
			if ctx.Err() == nil {
				m.mu.Lock()
				m.err = err
				m.mu.Unlock()
				m.note("mitigation %s not applied: %v", m.m.Name, err)
			}
			return
		}
		if err := m.apply(ctx, t); err != nil {
			m.mu.Lock()
			m.err = err
			m.mu.Unlock()
			m.note("%v", err)
			return
		}
		m.r.printf("mitigation %s took effect +%s after the fault", m.m.Name, m.r.cfg.Now().Sub(issued).Round(time.Millisecond))
	}()
}

// whenNodeDown returns once node t.Node is NotReady (or Unknown) and its VM
// reads stopped or terminated through its provider.
func (m *mitigator) whenNodeDown(ctx context.Context, t target.Target) error {
	if t.Node == "" || t.ProviderID == "" {
		return fmt.Errorf("needs the node and its VM (providerID), target is %s", t)
	}
	p, vm, err := m.r.cfg.Clouds(m.rec).For(t.ProviderID)
	if err != nil {
		return err
	}
	tick := time.NewTicker(nodeDownPoll)
	defer tick.Stop()
	notReady, off := false, false
	for {
		if !notReady {
			n, err := m.r.cfg.Kube.CoreV1().Nodes().Get(ctx, t.Node, metav1.GetOptions{})
			notReady = err == nil && !nodeReady(n)
		}
		if notReady && !off {
			st, err := p.State(ctx, vm)
			off = err == nil && (st == cloud.Stopped || st == cloud.Terminated)
		}
		if notReady && off {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// appliedAfter is when the mitigation took effect after t (nil when not
// applied, or applied before t).
func (m *mitigator) appliedAfter(t time.Time) *float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.applied.IsZero() || t.IsZero() || m.applied.Before(t) {
		return nil
	}
	s := m.applied.Sub(t).Seconds()
	return &s
}

// wasApplied: the change was in effect during the iteration (before the
// fault, or appliedAfter it).
func (m *mitigator) wasApplied() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.applied.IsZero()
}

func (m *mitigator) failure() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err == nil {
		return ""
	}
	return m.err.Error()
}

// undo stops the watch and undoes what was applied, after the fault itself
// was healed: the taint comes off once the node is Ready again (or after
// nodeBackWait), the tolerations go back and their pod rolls out, Longhorn's
// setting gets its value back. Calling it
// again gives the first answer.
func (m *mitigator) undo(ctx context.Context) *report.Unhealed {
	m.stop()
	m.wg.Wait()
	m.mu.Lock()
	a := m.active
	m.mu.Unlock()
	if a == nil {
		return nil
	}
	first := a.HealStarted().IsZero()
	if first && m.m.When == mitigation.NodeIsDown && m.node != "" {
		m.waitNodeBack(ctx)
	}
	if u := m.r.heal(ctx, a, m.h); u != nil {
		return u
	}
	if first && m.recreatesPod() {
		if err := m.rollout(ctx); err != nil {
			m.note("%v", err)
		}
	}
	return nil
}

func (m *mitigator) waitNodeBack(ctx context.Context) {
	deadline := m.r.cfg.Now().Add(nodeBackWait)
	for m.r.cfg.Now().Before(deadline) {
		n, err := m.r.cfg.Kube.CoreV1().Nodes().Get(ctx, m.node, metav1.GetOptions{})
		if err == nil && nodeReady(n) {
			return
		}
		if !sleepCtx(ctx, 2*time.Second) {
			return
		}
	}
	m.note("node %s not Ready %s after the heal; removing the out-of-service taint anyway", m.node, nodeBackWait)
}
