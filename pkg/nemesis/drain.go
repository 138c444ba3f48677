package nemesis

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kubectl/pkg/drain"

	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/ledger"
	"github.com/irischaos/irischaos/pkg/target"
)

// nodeDrain cordons the IRIS pod's node and evicts every pod from it, as
// `kubectl drain --force --ignore-daemonsets --delete-emptydir-data` does.
// Heal uncordons the node.
type nodeDrain struct {
	env     Env
	t       target.Target
	grace   *time.Duration
	timeout time.Duration
}

func (f *nodeDrain) Name() fault.Name      { return fault.NodeDrain }
func (f *nodeDrain) Target() target.Target { return f.t }
func (f *nodeDrain) HealAction() string    { return ledger.HealUncordon }

// Effect: the IRIS pod marked for deletion by its eviction; a drain of a node
// named by hand, with no IRIS pod on it, is confirmed by the drain itself.
func (f *nodeDrain) Effect() fault.Effect {
	if f.t.Pod == "" {
		return fault.Effect{}
	}
	return fault.Effect{Kind: fault.EffectPodTerminating, Pod: f.t.Pod}
}

func (f *nodeDrain) graceSeconds() int {
	if f.grace == nil {
		return -1 // the pods' own grace periods, as kubectl drain
	}
	return int(f.grace.Round(time.Second) / time.Second)
}

func (f *nodeDrain) Plan() []string {
	grace := "each pod's own grace period"
	if s := f.graceSeconds(); s >= 0 {
		grace = fmt.Sprintf("grace period %ds", s)
	}
	return []string{
		fmt.Sprintf("cordon node %s (spec.unschedulable=true)", f.t.Node),
		fmt.Sprintf("evict every pod on node %s (policy/v1 Eviction) with force, ignoring DaemonSets, deleting emptyDir data, %s, timeout %s", f.t.Node, grace, f.timeout),
		fmt.Sprintf("effect: IRIS pod %s/%s terminating", f.t.Namespace, orNone(f.t.Pod)),
		fmt.Sprintf("heal: uncordon node %s", f.t.Node),
	}
}

func (f *nodeDrain) helper(ctx context.Context) *drain.Helper {
	out := f.env.Out
	if out == nil {
		out = io.Discard
	}
	return &drain.Helper{
		Ctx:                 ctx,
		Client:              f.env.Client,
		Force:               true,
		IgnoreAllDaemonSets: true,
		DeleteEmptyDirData:  true,
		GracePeriodSeconds:  f.graceSeconds(),
		Timeout:             f.timeout,
		Out:                 prefixWriter{w: out, prefix: "nemesis: node-drain: "},
		ErrOut:              prefixWriter{w: out, prefix: "nemesis: node-drain: "},
	}
}

func (f *nodeDrain) Inject(ctx context.Context) (Result, error) {
	node, err := f.env.Client.CoreV1().Nodes().Get(ctx, f.t.Node, metav1.GetOptions{})
	if err != nil {
		return Result{}, fmt.Errorf("node-drain: get node %s: %w", f.t.Node, err)
	}
	h := f.helper(ctx)
	var mu sync.Mutex
	var evicted []string
	var irisGone time.Time
	h.OnPodDeletionOrEvictionFinished = func(p *corev1.Pod, _ bool, err error) {
		if err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		evicted = append(evicted, p.Namespace+"/"+p.Name)
		if p.Namespace == f.t.Namespace && p.Name == f.t.Pod {
			irisGone = time.Now()
		}
	}
	f.env.printf("nemesis: node-drain: cordoning and draining node %s (timeout %s)", f.t.Node, f.timeout)
	res := Result{Issued: time.Now()}
	if err := drain.RunCordonOrUncordon(h, node, true); err != nil {
		// The cordon may have been applied before the error: the caller heals.
		return res, fmt.Errorf("node-drain: cordon node %s: %w", f.t.Node, err)
	}
	err = drain.RunNodeDrain(h, f.t.Node)
	res.Done = time.Now()
	mu.Lock()
	res.Detail = fmt.Sprintf("cordoned %s, evicted %d pod(s) %v", f.t.Node, len(evicted), evicted)
	if !irisGone.IsZero() {
		res.Detail += fmt.Sprintf("; IRIS pod gone after %s", irisGone.Sub(res.Issued).Round(time.Millisecond))
	}
	mu.Unlock()
	if err != nil {
		return res, fmt.Errorf("node-drain: drain node %s: %w", f.t.Node, err)
	}
	return res, nil
}

func (f *nodeDrain) Heal(ctx context.Context) error { return uncordon(ctx, f.env, f.t.Node) }

// uncordon makes node schedulable again; a node that no longer exists has
// nothing to heal.
func uncordon(ctx context.Context, env Env, name string) error {
	node, err := env.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		env.printf("heal: node %s no longer exists; nothing to uncordon", name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("uncordon node %s: %w", name, err)
	}
	if !node.Spec.Unschedulable {
		return nil
	}
	h := &drain.Helper{Ctx: ctx, Client: env.Client, Out: io.Discard, ErrOut: io.Discard}
	if err := drain.RunCordonOrUncordon(h, node, false); err != nil {
		return fmt.Errorf("uncordon node %s: %w (run: kubectl uncordon %s)", name, err, name)
	}
	env.printf("heal: node %s uncordoned", name)
	return nil
}

// prefixWriter prefixes the drain library's lines so they read as ours.
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	// One write per line so concurrent writers never interleave mid-line.
	if _, err := p.w.Write(append([]byte(p.prefix), b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}
