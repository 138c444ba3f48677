package runner

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/mitigation"
	"github.com/irischaos/irischaos/pkg/report"
	"github.com/irischaos/irischaos/pkg/scenario"
	"github.com/irischaos/irischaos/pkg/storagehealth"
)

// longhornRunner is a runner over a cluster whose Longhorn (when served)
// has node-down-pod-deletion-policy "do-nothing", the Setting shaped as
// `kubectl -n longhorn-system get settings.longhorn.io -o yaml` shows it.
func longhornRunner(t *testing.T, served bool) (*Runner, *dynfake.FakeDynamicClient, func() int) {
	cs := fake.NewClientset(irisPod(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w1"}})
	if served {
		cs.Discovery().(*fakediscovery.FakeDiscovery).Resources = []*metav1.APIResourceList{{
			GroupVersion: storagehealth.LonghornVolumes.GroupVersion().String(),
			APIResources: []metav1.APIResource{{Name: "volumes", Namespaced: true, Kind: "Volume"}, {Name: "settings", Namespaced: true, Kind: "Setting"}},
		}}
	}
	setting := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "longhorn.io/v1beta2", "kind": "Setting",
		"metadata": map[string]any{"name": mitigation.LonghornNodeDownSetting, "namespace": storagehealth.LonghornNamespace},
		"value":    "do-nothing",
		"status":   map[string]any{"applied": true},
	}}
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{storagehealth.LonghornSettings: "SettingList"}, setting)
	r, l, _ := newRunner(t, &fakeDB{cs: cs, downFor: 100 * time.Millisecond})
	r.cfg.Dynamic = dyn
	return r, dyn, func() int { p, _ := l.Pending(); return len(p) }
}

func nodeDownPolicy(dyn *dynfake.FakeDynamicClient) string {
	u, err := dyn.Resource(storagehealth.LonghornSettings).Namespace(storagehealth.LonghornNamespace).Get(context.Background(), mitigation.LonghornNodeDownSetting, metav1.GetOptions{})
	if err != nil {
		return "error: " + err.Error()
	}
	v, _, _ := unstructured.NestedString(u.Object, "value")
	return v
}

func TestLonghornNodeDownPolicyMitigation(t *testing.T) {
	r, dyn, pending := longhornRunner(t, true)
	s := scen("pod-longhorn-policy", fault.PodDelete)
	s.Mitigation = mitigation.LonghornNodeDownPolicy
	var during string
	r.cfg.OnFault = func(_ scenario.Scenario, active bool) {
		if active {
			during = nodeDownPolicy(dyn)
		}
	}
	run, _, err := r.Run(context.Background(), []scenario.Scenario{s})
	if err != nil {
		t.Fatal(err)
	}
	it := run.Iterations[0]
	if it.Error != "" || it.MitigationError != "" || !it.MitigationApplied {
		t.Fatalf("iteration error %q, mitigation error %q, applied %v", it.Error, it.MitigationError, it.MitigationApplied)
	}
	if during != mitigation.LonghornNodeDownValue {
		t.Errorf("during the fault %s = %q, want %q", mitigation.LonghornNodeDownSetting, during, mitigation.LonghornNodeDownValue)
	}
	if got := nodeDownPolicy(dyn); got != "do-nothing" {
		t.Errorf("after the run %s = %q, want it put back to do-nothing", mitigation.LonghornNodeDownSetting, got)
	}
	if n := pending(); n != 0 {
		t.Errorf("%d ledger entries pending after the run", n)
	}
	rows := report.Advice(run)
	if len(rows) != 1 || rows[0].Mitigation != string(mitigation.LonghornNodeDownPolicy) || rows[0].Applied != "before the fault" {
		t.Errorf("advice rows %+v: want the Longhorn policy applied before the fault", rows)
	}
}

// Without Longhorn the mitigation is skipped with one line and the
// iteration runs as deployed; the plan says the same.
func TestLonghornNodeDownPolicyWithoutLonghorn(t *testing.T) {
	r, dyn, pending := longhornRunner(t, false)
	s := scen("pod-longhorn-policy", fault.PodDelete)
	s.Mitigation = mitigation.LonghornNodeDownPolicy
	plans := r.Plan(context.Background(), []scenario.Scenario{s})
	if plans[0].Err != nil || !strings.Contains(strings.Join(plans[0].Steps, "\n"), "skipped (no Longhorn: ") {
		t.Errorf("plan %+v", plans[0])
	}
	run, _, err := r.Run(context.Background(), []scenario.Scenario{s})
	if err != nil {
		t.Fatal(err)
	}
	it := run.Iterations[0]
	if it.Error != "" || it.MitigationApplied || !strings.HasPrefix(it.MitigationError, "no Longhorn: ") {
		t.Fatalf("iteration error %q, applied %v, mitigation error %q", it.Error, it.MitigationApplied, it.MitigationError)
	}
	if rows := report.Advice(run); len(rows) != 1 || !strings.HasPrefix(rows[0].Applied, "not applied: no Longhorn") {
		t.Errorf("advice rows %+v", rows)
	}
	if got := nodeDownPolicy(dyn); got != "do-nothing" {
		t.Errorf("%s = %q: changed on a cluster without Longhorn", mitigation.LonghornNodeDownSetting, got)
	}
	if n := pending(); n != 0 {
		t.Errorf("%d ledger entries pending", n)
	}
}
