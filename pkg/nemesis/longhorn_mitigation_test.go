package nemesis

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	"github.com/irischaos/irischaos/pkg/ledger"
	"github.com/irischaos/irischaos/pkg/mitigation"
	"github.com/irischaos/irischaos/pkg/storagehealth"
	"github.com/irischaos/irischaos/pkg/target"
)

// lhSettings are Longhorn's Setting objects as Longhorn publishes them
// (storagehealth's golden testdata, `kubectl get settings.longhorn.io -o
// yaml`), with node-down-pod-deletion-policy at nodeDown.
func lhSettings(t *testing.T, nodeDown string) []runtime.Object {
	t.Helper()
	b, err := os.ReadFile("../storagehealth/testdata/longhorn/common.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out []runtime.Object
	for _, doc := range strings.Split(string(b), "\n---\n") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		if u.GetKind() != "Setting" {
			continue
		}
		if u.GetName() == mitigation.LonghornNodeDownSetting {
			u.Object["value"] = nodeDown
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		t.Fatal("no Setting in the testdata")
	}
	return out
}

// lhEnv is a cluster serving Longhorn's API (or not) with its settings.
func lhEnv(t *testing.T, served bool, nodeDown string) (Env, *dynfake.FakeDynamicClient) {
	cs := fake.NewClientset()
	if served {
		cs.Discovery().(*fakediscovery.FakeDiscovery).Resources = []*metav1.APIResourceList{{
			GroupVersion: storagehealth.LonghornVolumes.GroupVersion().String(),
			APIResources: []metav1.APIResource{{Name: "volumes", Namespaced: true, Kind: "Volume"}, {Name: "settings", Namespaced: true, Kind: "Setting"}},
		}}
	}
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{storagehealth.LonghornSettings: "SettingList"}, lhSettings(t, nodeDown)...)
	return Env{Client: cs, Dynamic: dyn}, dyn
}

func nodeDownValue(t *testing.T, dyn *dynfake.FakeDynamicClient) string {
	t.Helper()
	u, err := dyn.Resource(storagehealth.LonghornSettings).Namespace(storagehealth.LonghornNamespace).Get(context.Background(), mitigation.LonghornNodeDownSetting, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if applied, _, _ := unstructured.NestedBool(u.Object, "status", "applied"); !applied {
		t.Errorf("the setting's status was lost: %v", u.Object)
	}
	v, _, _ := unstructured.NestedString(u.Object, "value")
	return v
}

func setNodeDown(t *testing.T, dyn *dynfake.FakeDynamicClient, v string) {
	t.Helper()
	r := dyn.Resource(storagehealth.LonghornSettings).Namespace(storagehealth.LonghornNamespace)
	u, err := r.Get(context.Background(), mitigation.LonghornNodeDownSetting, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u.Object["value"] = v
	if _, err := r.Update(context.Background(), u, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// The node-down policy is set through the ledger, and Heal puts the
// cluster's own value back.
func TestLonghornNodeDownPolicyAppliedAndHealed(t *testing.T) {
	ctx := context.Background()
	env, dyn := lhEnv(t, true, "do-nothing")
	l, err := ledger.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewMitigation(ctx, env, mitigation.LonghornNodeDownPolicy, target.Target{Namespace: "db"})
	if err != nil {
		t.Fatal(err)
	}
	if plan := strings.Join(f.Plan(), "\n"); !strings.Contains(plan, `set to "`+mitigation.LonghornNodeDownValue+`" (now "do-nothing")`) || !strings.Contains(plan, `put back to "do-nothing"`) {
		t.Errorf("plan:\n%s", plan)
	}
	a, err := Guard{Ledger: l, Env: env}.Inject(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if got := nodeDownValue(t, dyn); got != mitigation.LonghornNodeDownValue {
		t.Fatalf("applied: %s = %q", mitigation.LonghornNodeDownSetting, got)
	}
	p, _ := l.Pending()
	if len(p) != 1 || p[0].Heal != ledger.HealRestoreLonghornSetting || p[0].Namespace != storagehealth.LonghornNamespace || !strings.Contains(p[0].Restore, `"was":"do-nothing"`) {
		t.Fatalf("ledger before the change: %+v", p)
	}
	if err := a.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if got := nodeDownValue(t, dyn); got != "do-nothing" {
		t.Errorf("healed: %s = %q, want do-nothing", mitigation.LonghornNodeDownSetting, got)
	}
	if p, _ := l.Pending(); len(p) != 0 {
		t.Errorf("ledger pending after heal: %+v", p)
	}
}

// A process that died with the policy set: Recover puts it back from the
// ledger entry alone.
func TestRecoverRestoresLonghornSetting(t *testing.T) {
	ctx := context.Background()
	env, dyn := lhEnv(t, true, "delete-deployment-pod")
	l, err := ledger.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewMitigation(ctx, env, mitigation.LonghornNodeDownPolicy, target.Target{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (Guard{Ledger: l, Env: env}).Inject(ctx, f); err != nil {
		t.Fatal(err)
	}
	if got := nodeDownValue(t, dyn); got != mitigation.LonghornNodeDownValue {
		t.Fatalf("applied: %q", got)
	}
	// A new process: only the clients and the ledger.
	var out bytes.Buffer
	left, err := Guard{Ledger: l, Env: Env{Client: env.Client, Dynamic: dyn}}.Recover(ctx, &out)
	if err != nil || len(left) != 0 {
		t.Fatalf("Recover left %+v, err %v", left, err)
	}
	if got := nodeDownValue(t, dyn); got != "delete-deployment-pod" {
		t.Errorf("recovered: %q, want delete-deployment-pod", got)
	}
	// Without a dynamic client the entry stays pending, saying why.
	if _, err := (Guard{Ledger: l, Env: env}).Inject(ctx, f); err != nil {
		t.Fatal(err)
	}
	left, _ = Guard{Ledger: l, Env: Env{Client: env.Client}}.Recover(ctx, io.Discard)
	if len(left) != 1 || !strings.Contains(left[0].HealError, "needs the cluster") {
		t.Errorf("recover without a dynamic client: %+v", left)
	}
}

// A policy the cluster already had is not irischaos's to undo; nor is a
// value someone else set while the mitigation was applied.
func TestLonghornSettingNotOursIsLeft(t *testing.T) {
	ctx := context.Background()
	env, dyn := lhEnv(t, true, mitigation.LonghornNodeDownValue)
	f, err := NewMitigation(ctx, env, mitigation.LonghornNodeDownPolicy, target.Target{})
	if err != nil {
		t.Fatal(err)
	}
	if plan := strings.Join(f.Plan(), "\n"); !strings.Contains(plan, "nothing to change") {
		t.Errorf("plan:\n%s", plan)
	}
	res, err := f.Inject(ctx)
	if err != nil || !strings.Contains(res.Detail, "already") {
		t.Fatalf("inject: %+v, %v", res, err)
	}
	if err := f.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if got := nodeDownValue(t, dyn); got != mitigation.LonghornNodeDownValue {
		t.Errorf("after heal: %q: the cluster's own value was changed", got)
	}

	env, dyn = lhEnv(t, true, "do-nothing")
	f, err = NewMitigation(ctx, env, mitigation.LonghornNodeDownPolicy, target.Target{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Inject(ctx); err != nil {
		t.Fatal(err)
	}
	setNodeDown(t, dyn, "delete-deployment-pod")
	var out bytes.Buffer
	env.Out = &out
	if err := restoreLonghornSetting(ctx, env, storagehealth.LonghornNamespace, f.(interface{ Restore() string }).Restore()); err != nil {
		t.Fatal(err)
	}
	if got := nodeDownValue(t, dyn); got != "delete-deployment-pod" {
		t.Errorf("after heal: %q: someone else's value was overwritten", got)
	}
	if !strings.Contains(out.String(), "changed by someone else") {
		t.Errorf("heal said %q", out.String())
	}
}

// Without Longhorn's CRDs the mitigation is skipped with one line, not an
// opaque error.
func TestLonghornSettingWithoutLonghorn(t *testing.T) {
	env, _ := lhEnv(t, false, "do-nothing")
	_, err := NewMitigation(context.Background(), env, mitigation.LonghornNodeDownPolicy, target.Target{})
	if !errors.Is(err, ErrNoLonghorn) {
		t.Fatalf("err %v, want ErrNoLonghorn", err)
	}
	if want := "no Longhorn: longhorn.io/v1beta2 is not served (Longhorn not installed)"; err.Error() != want {
		t.Errorf("err %q, want %q", err, want)
	}
}
