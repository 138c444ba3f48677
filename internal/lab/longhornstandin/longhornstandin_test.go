package longhornstandin

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/irischaos/irischaos/pkg/storagehealth"
)

// TestCRDsDeclareExactlyTheFieldsRead: the stand-in CRDs declare the fields
// storagehealth reads, no more, no fewer, with Longhorn's group, version
// and names, a structural schema each.
func TestCRDsDeclareExactlyTheFieldsRead(t *testing.T) {
	crds, err := CRDs()
	if err != nil {
		t.Fatal(err)
	}
	want := storagehealth.LonghornFieldsRead()
	if len(crds) != len(want) {
		t.Fatalf("%d CRDs, want one per resource read: %v", len(crds), want)
	}
	for _, c := range crds {
		plural, _, _ := unstructured.NestedString(c.Object, "spec", "names", "plural")
		group, _, _ := unstructured.NestedString(c.Object, "spec", "group")
		if c.GetName() != plural+".longhorn.io" || group != "longhorn.io" || c.GetLabels()[StandInLabel] != "longhorn" {
			t.Errorf("CRD %s: plural %s group %s labels %v", c.GetName(), plural, group, c.GetLabels())
		}
		versions, _, _ := unstructured.NestedSlice(c.Object, "spec", "versions")
		if len(versions) != 1 {
			t.Fatalf("%s: %d versions", c.GetName(), len(versions))
		}
		v := versions[0].(map[string]any)
		if v["name"] != storagehealth.LonghornVolumes.Version {
			t.Errorf("%s: version %v", c.GetName(), v["name"])
		}
		schemaRoot, _, _ := unstructured.NestedMap(v, "schema", "openAPIV3Schema")
		var got []string
		schemaPaths(schemaRoot, "", &got)
		if strings.Join(got, " ") != strings.Join(want[plural], " ") {
			t.Errorf("%s declares\n  %v\nstoragehealth reads\n  %v", c.GetName(), got, want[plural])
		}
	}
}

func schemaPaths(s map[string]any, prefix string, out *[]string) {
	switch s["type"] {
	case "object":
		if props, ok := s["properties"].(map[string]any); ok {
			var names []string
			for n := range props {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				p := n
				if prefix != "" {
					p = prefix + "." + n
				}
				schemaPaths(props[n].(map[string]any), p, out)
			}
		}
		if ap, ok := s["additionalProperties"].(map[string]any); ok {
			schemaPaths(ap, prefix+".*", out)
		}
	case "array":
		schemaPaths(s["items"].(map[string]any), prefix+"[]", out)
	default:
		*out = append(*out, prefix)
	}
}

// TestPlayNodeLoss: the stand-in's transitions, read back by the Longhorn
// backend after each one, give healthy -> degraded -> rebuilding ->
// healthy, with the rebuild's progress and the copies per zone.
func TestPlayNodeLoss(t *testing.T) {
	lists := map[schema.GroupVersionResource]string{
		storagehealth.LonghornVolumes: "VolumeList", storagehealth.LonghornReplicas: "ReplicaList", storagehealth.LonghornEngines: "EngineList",
		storagehealth.LonghornNodes: "NodeList", storagehealth.LonghornSettings: "SettingList",
	}
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), lists)
	ctx := context.Background()
	reader := storagehealth.Longhorn{Dynamic: dyn, Volume: "pvc-standin"}
	var got []string
	c := &Controller{Dynamic: dyn, Volume: "pvc-standin", Step: time.Millisecond, Log: func(string, ...any) {
		st, err := reader.Health(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rb := ""
		for _, b := range st.Rebuilds {
			rb = fmt.Sprintf(" rebuild %s %d%% %v", b.Node, b.Progress, b.Rebuilding)
		}
		got = append(got, fmt.Sprintf("%s [%s]%s", st.Redundancy, storagehealth.ZonesText(st.Zones), rb))
	}}
	nodes := []Node{{"n1", "zone-a"}, {"n2", "zone-b"}, {"n3", "zone-c"}, {"n4", "zone-b"}}
	if err := c.Seed(ctx, nodes, "n1", "n1", "n2", "n3"); err != nil {
		t.Fatal(err)
	}
	if err := c.PlayNodeLoss(ctx, "n1", "n2", "n4"); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"clean [zone-a 1, zone-b 1, zone-c 1]",
		"degraded [zone-a 1, zone-c 1]",
		"recovering [zone-a 1, zone-c 1] rebuild n4 0% true",
		"recovering [zone-a 1, zone-c 1] rebuild n4 25% true",
		"recovering [zone-a 1, zone-c 1] rebuild n4 50% true",
		"recovering [zone-a 1, zone-c 1] rebuild n4 75% true",
		"clean [zone-a 1, zone-b 1, zone-c 1] rebuild n4 100% false",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("readings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if err := c.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := reader.Health(ctx); err == nil {
		t.Error("volume still there after Delete")
	}
}

// TestRealLonghornIsLeftAlone: the stand-in installs nothing over a real
// Longhorn's CRDs, and removes only its own.
func TestRealLonghornIsLeftAlone(t *testing.T) {
	ctx := context.Background()
	realCRD := &unstructured.Unstructured{}
	realCRD.SetAPIVersion("apiextensions.k8s.io/v1")
	realCRD.SetKind("CustomResourceDefinition")
	realCRD.SetName("volumes.longhorn.io")
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{crdGVR: "CustomResourceDefinitionList"}, realCRD)
	if real, err := RealLonghorn(ctx, dyn); err != nil || !real {
		t.Fatalf("RealLonghorn = %v, %v", real, err)
	}
	if created, err := Install(ctx, dyn); err == nil || created || !errors.Is(err, ErrRealLonghorn) {
		t.Fatalf("Install over a real Longhorn: created %v, %v", created, err)
	}
	if err := Uninstall(ctx, dyn); err != nil {
		t.Fatal(err)
	}
	if _, err := dyn.Resource(crdGVR).Get(ctx, "volumes.longhorn.io", metav1.GetOptions{}); err != nil {
		t.Errorf("Uninstall removed a real Longhorn's CRD: %v", err)
	}
}

// TestNodeLossObserved is the e2e feature's chain on fake clients: the
// stand-in plays a node loss while irischaos' observer records it through
// the Longhorn backend ForVolume picks; Verify (the e2e's own checks)
// finds nothing wrong.
func TestNodeLossObserved(t *testing.T) {
	lists := map[schema.GroupVersionResource]string{
		storagehealth.LonghornVolumes: "VolumeList", storagehealth.LonghornReplicas: "ReplicaList", storagehealth.LonghornEngines: "EngineList",
		storagehealth.LonghornNodes: "NodeList", storagehealth.LonghornSettings: "SettingList",
	}
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), lists)
	var kubeNodes []runtime.Object
	for i, z := range []string{"zone-a", "zone-b", "zone-c"} {
		kubeNodes = append(kubeNodes, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%d", i+1), Labels: map[string]string{corev1.LabelTopologyZone: z}}})
	}
	kube := fake.NewClientset(kubeNodes...)
	kube.Resources = []*metav1.APIResourceList{{GroupVersion: "longhorn.io/v1beta2", APIResources: []metav1.APIResource{{Name: "volumes", Namespaced: true, Kind: "Volume"}}}}
	n := &NodeLoss{Kube: kube, Dynamic: dyn, Namespace: "ns", Volume: "pvc-standin",
		Nodes:    []Node{{"node-1", "zone-a"}, {"node-2", "zone-b"}, {"node-3", ""}},
		Replicas: []string{"node-1", "node-2", "node-3"}, Lost: "node-2", RebuildOn: "node-2",
		Step: 150 * time.Millisecond, Poll: 15 * time.Millisecond}
	recs, err := n.Play(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	res, rows, msgs, problems := n.Verify(recs, 5*150*time.Millisecond)
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("storage events:\n%s\n%s", strings.Join(msgs, "\n"), rows)
	if got := storagehealth.ZonesText(res.Storage.ZonesBefore); got != "zone-a 1, zone-b 1, zone-c 1" {
		t.Errorf("zones before %s (node-3's from its Kubernetes label)", got)
	}
	if err := n.Delete(context.Background()); err != nil {
		t.Fatal(err)
	}
}
