package nemesis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"

	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/ledger"
	"github.com/irischaos/irischaos/pkg/mitigation"
	"github.com/irischaos/irischaos/pkg/stackid"
	"github.com/irischaos/irischaos/pkg/storagehealth"
	"github.com/irischaos/irischaos/pkg/target"
)

// A mitigation's change to the cluster is run by the same Guard as a fault:
// written to the ledger before it is made, undone afterwards (Heal), and
// undone by Recover when the process that made it died. Its Name is the
// mitigation's, which the fault vocabulary never uses.

// NewMitigation binds mitigation m's change to its target: the node for the
// out-of-service taint, the IRIS Deployment in t.Namespace for the
// tolerations, Longhorn's setting for its node-down policy (an error
// wrapping ErrNoLonghorn where Longhorn is not installed). None and
// mitigations irischaos cannot apply give an error.
func NewMitigation(ctx context.Context, env Env, m mitigation.Name, t target.Target) (Fault, error) {
	if env.Client == nil {
		return nil, fmt.Errorf("mitigation %s needs the cluster", m)
	}
	switch m {
	case mitigation.OutOfServiceTaint:
		if t.Node == "" {
			return nil, fmt.Errorf("mitigation %s needs the lost node", m)
		}
		return &oosTaint{env: env, t: target.Target{Node: t.Node, ProviderID: t.ProviderID}}, nil
	case mitigation.ShortTolerations:
		if t.Namespace == "" {
			return nil, fmt.Errorf("mitigation %s needs the IRIS namespace", m)
		}
		d, err := env.Client.AppsV1().Deployments(t.Namespace).Get(ctx, stackid.Deployment, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("mitigation %s: read deployment/%s in %s: %w", m, stackid.Deployment, t.Namespace, err)
		}
		orig, err := json.Marshal(d.Spec.Template.Spec.Tolerations)
		if err != nil {
			return nil, err
		}
		return &tolerations{env: env, ns: t.Namespace, restore: string(orig)}, nil
	case mitigation.LonghornNodeDownPolicy:
		return newLonghornSetting(ctx, env, m, mitigation.LonghornNodeDownSetting, mitigation.LonghornNodeDownValue)
	default:
		return nil, fmt.Errorf("mitigation %s: irischaos cannot apply it here", m)
	}
}

// oosTaint is the out-of-service taint on a lost node.
type oosTaint struct {
	env     Env
	t       target.Target
	present bool // the node had the taint already: not ours to remove
}

func (o *oosTaint) Name() fault.Name      { return fault.Name(mitigation.OutOfServiceTaint) }
func (o *oosTaint) Target() target.Target { return o.t }
func (o *oosTaint) Effect() fault.Effect  { return fault.Effect{} }
func (o *oosTaint) HealAction() string    { return ledger.HealUntaint }
func (o *oosTaint) Plan() []string {
	return []string{
		fmt.Sprintf("once node %s is NotReady and its VM is confirmed off: kubectl taint nodes %s %s", o.t.Node, o.t.Node, taintText()),
		fmt.Sprintf("when the node is back: kubectl taint nodes %s %s-", o.t.Node, taintText()),
	}
}

func taintText() string {
	return mitigation.TaintKey + "=" + mitigation.TaintValue + ":" + mitigation.TaintEffect
}

func isOOS(t corev1.Taint) bool {
	return t.Key == mitigation.TaintKey && string(t.Effect) == mitigation.TaintEffect
}

func (o *oosTaint) Inject(ctx context.Context) (Result, error) {
	var res Result
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := o.env.Client.CoreV1().Nodes().Get(ctx, o.t.Node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if slices.ContainsFunc(n.Spec.Taints, isOOS) {
			o.present = true
			return nil
		}
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: mitigation.TaintKey, Value: mitigation.TaintValue, Effect: corev1.TaintEffect(mitigation.TaintEffect), TimeAdded: &metav1.Time{Time: o.now()}})
		res.Issued = o.now()
		_, err = o.env.Client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return err
	})
	res.Done = o.now()
	if err != nil {
		return res, fmt.Errorf("taint node %s %s: %w (check the RBAC: irischaos needs update on nodes)", o.t.Node, taintText(), err)
	}
	if o.present {
		res.Detail = "the node already had the taint; irischaos will not remove it"
	}
	o.env.printf("mitigation: node %s tainted %s", o.t.Node, taintText())
	return res, nil
}

func (o *oosTaint) Heal(ctx context.Context) error {
	if o.present {
		return nil
	}
	return untaint(ctx, o.env, o.t.Node)
}

// untaint removes the out-of-service taint from a node (nothing to do when
// the node or the taint is gone).
func untaint(ctx context.Context, env Env, node string) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := env.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(n.Spec.Taints, isOOS) {
			return nil
		}
		n.Spec.Taints = slices.DeleteFunc(n.Spec.Taints, isOOS)
		_, err = env.Client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("remove taint %s from node %s: %w (run: kubectl taint nodes %s %s-)", taintText(), node, err, node, taintText())
	}
	env.printf("heal: node %s no longer has the out-of-service taint", node)
	return nil
}

// tolerations shortens the IRIS pod's not-ready/unreachable tolerations;
// Heal puts the Deployment's own back. Both roll the pod (Recreate).
type tolerations struct {
	env     Env
	ns      string
	restore string // the Deployment's tolerations before, as JSON
}

// Node conditions' taints whose tolerationSeconds decide when a pod on a
// lost node is evicted.
var evictionTaints = []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable}

func (o *tolerations) Name() fault.Name { return fault.Name(mitigation.ShortTolerations) }
func (o *tolerations) Target() target.Target {
	return target.Target{Namespace: o.ns, Pod: "deployment/" + stackid.Deployment}
}
func (o *tolerations) Effect() fault.Effect { return fault.Effect{} }
func (o *tolerations) HealAction() string   { return ledger.HealRestoreTolerations }
func (o *tolerations) Restore() string      { return o.restore }
func (o *tolerations) Plan() []string {
	return []string{
		fmt.Sprintf("before the warm-up: deployment/%s in %s gets tolerations %s and %s (NoExecute) with tolerationSeconds %d; the pod is recreated", stackid.Deployment, o.ns, corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable, mitigation.ShortTolerationSeconds),
		fmt.Sprintf("after the iteration: its tolerations are put back as they were (%s); the pod is recreated", o.restore),
	}
}

func (o *tolerations) Inject(ctx context.Context) (Result, error) {
	secs := int64(mitigation.ShortTolerationSeconds)
	var res Result
	err := o.update(ctx, func(ts []corev1.Toleration) []corev1.Toleration {
		ts = slices.DeleteFunc(ts, func(t corev1.Toleration) bool {
			return slices.Contains(evictionTaints, t.Key) && t.Effect == corev1.TaintEffectNoExecute
		})
		for _, k := range evictionTaints {
			ts = append(ts, corev1.Toleration{Key: k, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &secs})
		}
		res.Issued = o.now()
		return ts
	})
	res.Done = o.now()
	if err != nil {
		return res, err
	}
	o.env.printf("mitigation: deployment/%s in %s tolerates not-ready/unreachable for %ds", stackid.Deployment, o.ns, secs)
	return res, nil
}

func (o *tolerations) Heal(ctx context.Context) error {
	return restoreTolerations(ctx, o.env, o.ns, o.restore)
}

func restoreTolerations(ctx context.Context, env Env, ns, restore string) error {
	var orig []corev1.Toleration
	if err := json.Unmarshal([]byte(restore), &orig); err != nil {
		return fmt.Errorf("restore tolerations of deployment/%s in %s: bad saved value %q: %w", stackid.Deployment, ns, restore, err)
	}
	o := &tolerations{env: env, ns: ns}
	if err := o.update(ctx, func([]corev1.Toleration) []corev1.Toleration { return orig }); err != nil {
		return err
	}
	env.printf("heal: deployment/%s in %s has its own tolerations again", stackid.Deployment, ns)
	return nil
}

func (o *tolerations) update(ctx context.Context, change func([]corev1.Toleration) []corev1.Toleration) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := o.env.Client.AppsV1().Deployments(o.ns).Get(ctx, stackid.Deployment, metav1.GetOptions{})
		if err != nil {
			return err
		}
		next := change(slices.Clone(d.Spec.Template.Spec.Tolerations))
		if equalJSON(next, d.Spec.Template.Spec.Tolerations) {
			return nil
		}
		d.Spec.Template.Spec.Tolerations = next
		_, err = o.env.Client.AppsV1().Deployments(o.ns).Update(ctx, d, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("update the tolerations of deployment/%s in %s: %w", stackid.Deployment, o.ns, err)
	}
	return nil
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// ErrNoLonghorn is why a Longhorn mitigation is skipped: the cluster does
// not serve Longhorn's API. The iteration then runs as deployed.
var ErrNoLonghorn = errors.New("no Longhorn")

// longhornSetting sets one of Longhorn's settings (a settings.longhorn.io
// object in storagehealth.LonghornNamespace, its value at the top level)
// and puts the old value back afterwards, unless someone changed it
// meanwhile. A setting that already had the value is left as it is.
type longhornSetting struct {
	env   Env
	m     mitigation.Name
	saved savedSetting
}

// savedSetting is a Longhorn setting change as the ledger entry's Restore
// keeps it (JSON): enough to undo it without the process that made it.
type savedSetting struct {
	Name string `json:"name"`
	Was  string `json:"was"` // the value before
	Set  string `json:"set"` // the value irischaos set
}

func newLonghornSetting(ctx context.Context, env Env, m mitigation.Name, name, value string) (Fault, error) {
	if ok, why := storagehealth.LonghornServed(env.Client.Discovery()); !ok {
		return nil, fmt.Errorf("%w: %s", ErrNoLonghorn, why)
	}
	if env.Dynamic == nil {
		return nil, fmt.Errorf("mitigation %s needs a dynamic client for Longhorn's settings", m)
	}
	was, err := getSetting(ctx, env, storagehealth.LonghornNamespace, name)
	if err != nil {
		return nil, fmt.Errorf("mitigation %s: %w", m, err)
	}
	return &longhornSetting{env: env, m: m, saved: savedSetting{Name: name, Was: was, Set: value}}, nil
}

func (o *longhornSetting) Name() fault.Name { return fault.Name(o.m) }
func (o *longhornSetting) Target() target.Target {
	return target.Target{Namespace: storagehealth.LonghornNamespace, Pod: settingRef(o.saved.Name)}
}
func (o *longhornSetting) Effect() fault.Effect { return fault.Effect{} }
func (o *longhornSetting) HealAction() string   { return ledger.HealRestoreLonghornSetting }
func (o *longhornSetting) Restore() string {
	b, _ := json.Marshal(o.saved)
	return string(b)
}

func (o *longhornSetting) ours() bool { return o.saved.Was != o.saved.Set }

func (o *longhornSetting) Plan() []string {
	ref := settingRef(o.saved.Name)
	if !o.ours() {
		return []string{fmt.Sprintf("nothing to change: %s in %s is already %q (left as it is afterwards)", ref, storagehealth.LonghornNamespace, o.saved.Set)}
	}
	return []string{
		fmt.Sprintf("before the warm-up: %s in %s set to %q (now %q)", ref, storagehealth.LonghornNamespace, o.saved.Set, o.saved.Was),
		fmt.Sprintf("after the iteration: put back to %q (unless changed meanwhile)", o.saved.Was),
	}
}

func settingRef(name string) string {
	return storagehealth.LonghornSettings.Resource + ".longhorn.io/" + name
}

func (o *longhornSetting) Inject(ctx context.Context) (Result, error) {
	var res Result
	ref := settingRef(o.saved.Name)
	present := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		r := o.env.Dynamic.Resource(storagehealth.LonghornSettings).Namespace(storagehealth.LonghornNamespace)
		u, err := r.Get(ctx, o.saved.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if settingValue(u) == o.saved.Set {
			present = true
			return nil
		}
		setSettingValue(u, o.saved.Set)
		res.Issued = o.now()
		_, err = r.Update(ctx, u, metav1.UpdateOptions{})
		return err
	})
	res.Done = o.now()
	if err != nil {
		return res, fmt.Errorf("set %s in %s to %q: %w (check the RBAC: irischaos needs update on settings.longhorn.io)", ref, storagehealth.LonghornNamespace, o.saved.Set, err)
	}
	if present {
		res.Detail = fmt.Sprintf("%s was already %q", ref, o.saved.Set)
		if !o.ours() {
			res.Detail += "; irischaos will leave it so"
		}
		o.env.printf("mitigation: %s", res.Detail)
		return res, nil
	}
	o.env.printf("mitigation: Longhorn's %s set to %q (was %q)", ref, o.saved.Set, o.saved.Was)
	return res, nil
}

func (o *longhornSetting) Heal(ctx context.Context) error {
	return restoreLonghornSetting(ctx, o.env, storagehealth.LonghornNamespace, o.Restore())
}

// restoreLonghornSetting puts back what restore (a savedSetting) says the
// setting in namespace ns was: only when irischaos had changed it and it
// still has the value irischaos set.
func restoreLonghornSetting(ctx context.Context, env Env, ns, restore string) error {
	var s savedSetting
	if err := json.Unmarshal([]byte(restore), &s); err != nil || s.Name == "" {
		return fmt.Errorf("restore a Longhorn setting in %s: bad saved value %q (%v)", ns, restore, err)
	}
	if ns == "" {
		ns = storagehealth.LonghornNamespace
	}
	ref := settingRef(s.Name)
	if s.Was == s.Set {
		return nil // it had the value already: not irischaos's to change
	}
	var changed string
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		r := env.Dynamic.Resource(storagehealth.LonghornSettings).Namespace(ns)
		u, err := r.Get(ctx, s.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			changed = "gone"
			return nil
		}
		if err != nil {
			return err
		}
		switch v := settingValue(u); v {
		case s.Was:
			return nil
		case s.Set:
		default:
			changed = fmt.Sprintf("%q now, changed by someone else", v)
			return nil
		}
		setSettingValue(u, s.Was)
		_, err = r.Update(ctx, u, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("put %s in %s back to %q: %w (run: kubectl -n %s patch %s --type merge -p '{\"value\":%q}')", ref, ns, s.Was, err, ns, ref, s.Was)
	}
	if changed != "" {
		env.printf("heal: %s in %s left as it is (%s)", ref, ns, changed)
		return nil
	}
	env.printf("heal: %s in %s is %q again", ref, ns, s.Was)
	return nil
}

func getSetting(ctx context.Context, env Env, ns, name string) (string, error) {
	u, err := env.Dynamic.Resource(storagehealth.LonghornSettings).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("no Longhorn setting %s in %s (a Longhorn version without it?)", name, ns)
	}
	if err != nil {
		return "", fmt.Errorf("read %s in %s: %w", settingRef(name), ns, err)
	}
	return settingValue(u), nil
}

// A Longhorn Setting's value is the object's top-level "value" (as
// storagehealth reads it).
func settingValue(u *unstructured.Unstructured) string {
	v, _, _ := unstructured.NestedString(u.Object, "value")
	return v
}

func setSettingValue(u *unstructured.Unstructured, v string) { u.Object["value"] = v }

func (o *oosTaint) now() time.Time        { return time.Now() }
func (o *tolerations) now() time.Time     { return time.Now() }
func (o *longhornSetting) now() time.Time { return time.Now() }
