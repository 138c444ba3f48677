package storagehealth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestLonghornGolden")

const lhVolumeName = "pvc-5f0c3a1e"

// lhObjects reads Longhorn objects from a YAML file of several documents.
func lhObjects(t *testing.T, files ...string) []runtime.Object {
	t.Helper()
	var out []runtime.Object
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join("testdata", "longhorn", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range strings.Split(string(b), "\n---\n") {
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			out = append(out, u)
		}
	}
	return out
}

// lhClients: a fake dynamic client serving objs, and Kubernetes nodes
// node-1..4 of which node-3 carries the only zone label Longhorn's node lacks.
func lhClients(objs ...runtime.Object) (*fake.Clientset, *dynfake.FakeDynamicClient) {
	lists := map[schema.GroupVersionResource]string{
		LonghornVolumes: "VolumeList", LonghornReplicas: "ReplicaList", LonghornEngines: "EngineList",
		LonghornNodes: "NodeList", LonghornSettings: "SettingList",
	}
	var nodes []runtime.Object
	for i, z := range []string{"", "", "zone-c", ""} {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-" + string(rune('1'+i)), Labels: map[string]string{}}}
		if z != "" {
			n.Labels[corev1.LabelTopologyZone] = z
		}
		nodes = append(nodes, n)
	}
	return fake.NewClientset(nodes...), dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), lists, objs...)
}

// TestLonghornGolden decodes Longhorn objects shaped as Longhorn publishes
// them, through a fake dynamic client, for each step of a node loss, and
// compares the reading with testdata/longhorn/<case>.golden.json
// (go test -run TestLonghornGolden -update rewrites them).
func TestLonghornGolden(t *testing.T) {
	for _, tc := range []struct {
		name  string
		want  Redundancy
		zones string
	}{
		{"healthy", Clean, "zone-a 1, zone-b 1, zone-c 1"},
		{"degraded", Degraded, "zone-a 1, zone-c 1"},
		{"rebuilding", Recovering, "zone-a 1, zone-c 1"},
		{"rebuilt", Clean, "zone-a 1, zone-b 1, zone-c 1"},
		{"detached", Unknown, "zone-a 1, zone-c 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kube, dyn := lhClients(lhObjects(t, "common.yaml", tc.name+".yaml")...)
			l := Longhorn{Dynamic: dyn, Kube: kube, Volume: lhVolumeName, Backend: "Longhorn v1.12.1"}
			st, err := l.Health(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if st.Redundancy != tc.want {
				t.Errorf("redundancy %s, want %s", st.Redundancy, tc.want)
			}
			if got := ZonesText(st.Zones); got != tc.zones {
				t.Errorf("zones %q, want %q", got, tc.zones)
			}
			got, err := json.MarshalIndent(struct {
				Status  Status `json:"status"`
				Summary string `json:"summary"`
			}{st, st.Summary()}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", "longhorn", tc.name+".golden.json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("reading differs from %s:\n%s", golden, got)
			}
		})
	}
}

// TestLonghornNodeLossChanges: the readings of a node loss, in order, give
// the transitions the history records.
func TestLonghornNodeLossChanges(t *testing.T) {
	var prev Status
	var got [][]string
	for i, c := range []string{"healthy", "degraded", "rebuilding", "rebuilt"} {
		kube, dyn := lhClients(lhObjects(t, "common.yaml", c+".yaml")...)
		st, err := Longhorn{Dynamic: dyn, Kube: kube, Volume: lhVolumeName}.Health(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			got = append(got, Changes(prev, st))
		}
		prev = st
	}
	want := [][]string{
		{"replica node-2(zone-b)/pvc-5f0c3a1e-r-5e6f7a8b RW -> node-2(zone-b)/pvc-5f0c3a1e-r-5e6f7a8b ERR"},
		{"replica node-2(zone-b)/pvc-5f0c3a1e-r-5e6f7a8b ERR -> node-2(zone-b)/pvc-5f0c3a1e-r-5e6f7a8b down,unknown",
			"replica added: node-4(zone-b)/pvc-5f0c3a1e-r-3a4b5c6d WO",
			"rebuild started: rebuild of pvc-5f0c3a1e-r-3a4b5c6d on node-4 from pvc-5f0c3a1e-r-1a2b3c4d 42%"},
		{"replica node-4(zone-b)/pvc-5f0c3a1e-r-3a4b5c6d WO -> node-4(zone-b)/pvc-5f0c3a1e-r-3a4b5c6d RW",
			"replica removed: node-2(zone-b)/pvc-5f0c3a1e-r-5e6f7a8b down,unknown",
			"rebuild ended: rebuild of pvc-5f0c3a1e-r-3a4b5c6d on node-4 from pvc-5f0c3a1e-r-1a2b3c4d complete"},
	}
	for i := range want {
		if strings.Join(got[i], "\n") != strings.Join(want[i], "\n") {
			t.Errorf("step %d changes:\n%s\nwant:\n%s", i+1, strings.Join(got[i], "\n"), strings.Join(want[i], "\n"))
		}
	}
}

func TestLonghornProgressSteps(t *testing.T) {
	at := func(p int, on bool) Status {
		return Status{Rebuilds: []Rebuild{{Replica: "r", Rebuilding: on, Progress: p}}}
	}
	if c := Changes(at(42, true), at(48, true)); len(c) != 0 {
		t.Errorf("6 points recorded: %v", c)
	}
	if c := Changes(at(42, true), at(52, true)); len(c) != 1 || c[0] != "rebuild of r 52%" {
		t.Errorf("10 points: %v", c)
	}
	if c := Changes(at(42, true), Status{}); len(c) != 1 || !strings.HasPrefix(c[0], "rebuild ended") {
		t.Errorf("rebuild gone: %v", c)
	}
}

func TestLonghornSettings(t *testing.T) {
	_, dyn := lhClients(lhObjects(t, "common.yaml")...)
	s, err := Longhorn{Dynamic: dyn}.Settings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s["node-down-pod-deletion-policy"] != "delete-both-statefulset-and-deployment-pod" || s["replica-replenishment-wait-interval"] != "600" || len(s) != 3 {
		t.Errorf("settings %v", s)
	}
}

func TestLonghornVolumeMissing(t *testing.T) {
	kube, dyn := lhClients(lhObjects(t, "common.yaml")...)
	st, err := Longhorn{Dynamic: dyn, Kube: kube, Volume: "pvc-gone"}.Health(context.Background())
	if err == nil || st.Redundancy != Unknown || st.Scope != "volume pvc-gone" {
		t.Errorf("missing volume: %+v, %v", st, err)
	}
}

func TestForVolume(t *testing.T) {
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pvc-5f0c3a1e"},
		Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: LonghornDriver, VolumeHandle: lhVolumeName}}}}
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "longhorn"}, Provisioner: LonghornDriver}
	kube, dyn := lhClients()
	// No CRD served: skipped, with one line saying so.
	if src, why := ForVolume(sc, pv, kube, dyn, "b"); src != nil || !strings.Contains(why, "Longhorn: skipped") || !strings.Contains(why, "longhorn.io/v1beta2") {
		t.Errorf("without Longhorn: %v, %q", src, why)
	}
	kube.Resources = []*metav1.APIResourceList{{GroupVersion: "longhorn.io/v1beta2", APIResources: []metav1.APIResource{{Name: "volumes", Namespaced: true, Kind: "Volume"}}}}
	src, why := ForVolume(sc, pv, kube, dyn, "b")
	if l, ok := src.(Longhorn); !ok || l.Volume != lhVolumeName || why != "" {
		t.Errorf("with Longhorn: %#v, %q", src, why)
	}
	if src, why := ForVolume(&storagev1.StorageClass{Provisioner: "ebs.csi.aws.com"}, nil, kube, dyn, "b"); src != nil || why == "" {
		t.Errorf("other storage: %v, %q", src, why)
	}
}

// TestReplicaUsable: a running engine's modes decide; a replica it does not
// list yet (just created for a rebuild) holds no copy. Without modes (a
// detached volume) a replica healthy once and not failed does.
func TestReplicaUsable(t *testing.T) {
	rep := func(name, failedAt, healthyAt string) lhReplica {
		var r lhReplica
		r.Name, r.Spec.NodeID, r.Spec.FailedAt, r.Spec.HealthyAt = name, "n-"+name, failedAt, healthyAt
		return r
	}
	rs := []lhReplica{rep("a", "", "t"), rep("b", "", ""), rep("c", "t", "t")}
	var e lhEngine
	e.Status.ReplicaModeMap = map[string]string{"a": ModeRW, "c": ModeERR}
	up := func(e *lhEngine) string {
		out, _ := combine(rs, e, nil)
		var s []string
		for _, r := range out {
			s = append(s, fmt.Sprintf("%s:%v", r.ID, r.Up))
		}
		return strings.Join(s, " ")
	}
	if got := up(&e); got != "a:true b:false c:false" {
		t.Errorf("attached: %s", got)
	}
	if got := up(&lhEngine{}); got != "a:true b:false c:false" {
		t.Errorf("detached: %s", got)
	}
	if got := up(nil); got != "a:true b:false c:false" {
		t.Errorf("no engine: %s", got)
	}
}

// TestLonghornPartialReading: Longhorn nodes that cannot be listed (RBAC)
// leave the reading's redundancy, with what was not read in its detail.
func TestLonghornPartialReading(t *testing.T) {
	kube, dyn := lhClients(lhObjects(t, "common.yaml", "degraded.yaml")...)
	dyn.PrependReactor("list", "nodes", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(LonghornNodes.GroupResource(), "", errors.New("RBAC"))
	})
	st, err := Longhorn{Dynamic: dyn, Kube: kube, Volume: lhVolumeName}.Health(context.Background())
	if err != nil || st.Redundancy != Degraded || !strings.Contains(st.Detail, "not read: list nodes.longhorn.io") {
		t.Errorf("partial reading: %s, %v", st.Summary(), err)
	}
	if got := ZonesText(st.Zones); got != "(no zone) 1, zone-c 1" {
		t.Errorf("zones without Longhorn's nodes: %s (node-3's from its Kubernetes label)", got)
	}
}
