package preflight

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/stack"
	"github.com/irischaos/irischaos/pkg/storagehealth"
)

const ns = "iris"

// cluster is a fake cluster holding the stack as irischaos deploys it.
type cluster struct {
	nodes   []*corev1.Node
	deploy  *appsv1.Deployment
	cm      *corev1.ConfigMap
	pvc     *corev1.PersistentVolumeClaim
	pv      *corev1.PersistentVolume
	sc      *storagev1.StorageClass
	pod     *corev1.Pod
	lh      []*unstructured.Unstructured
	noStack bool
	ceph    map[string]string // ceph CLI answers by arguments, for a Ceph RBD class
}

// cephRBD makes the class the local cluster's Ceph RBD one, its pool
// answering as Ceph 16.2 does: size, min_size, CRUSH failure domain, PGs.
func cephRBD(size, minSize int, domain, pgState string) func(*cluster) {
	return func(c *cluster) {
		c.sc.Provisioner = storagehealth.CephRBDDriver
		c.sc.Parameters = map[string]string{storagehealth.CephConfParam: "/c/ceph.conf", storagehealth.PoolParam: "rbd"}
		c.sc.Annotations = map[string]string{stack.StandInAnnotation: "Ceph RBD 16.2.15 (real replicated block storage, standing in for Longhorn)"}
		c.pv.Spec.CSI.Driver = storagehealth.CephRBDDriver
		c.ceph = map[string]string{
			"osd pool get rbd size --format json":       fmt.Sprintf(`{"pool":"rbd","size":%d}`, size),
			"osd pool get rbd min_size --format json":   fmt.Sprintf(`{"pool":"rbd","min_size":%d}`, minSize),
			"osd pool get rbd crush_rule --format json": `{"pool":"rbd","crush_rule":"r"}`,
			"osd crush rule dump r --format json":       fmt.Sprintf(`{"steps":[{"op":"take","item":-1},{"op":"chooseleaf_firstn","num":0,"type":%q},{"op":"emit"}]}`, domain),
			"pg ls-by-pool rbd --format json":           fmt.Sprintf(`{"pg_stats":[{"pgid":"2.0","state":%q,"up":[0,1,2]}]}`, pgState),
			"osd tree --format json":                    `{"nodes":[]}`,
		}
	}
}

func convert(t *testing.T, from, to any) {
	t.Helper()
	b, err := json.Marshal(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, to); err != nil {
		t.Fatal(err)
	}
}

func node(name, zone string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
	if zone != "" {
		n.Labels[corev1.LabelTopologyZone] = zone
	}
	return n
}

func goodCluster(t *testing.T, o stack.Options) *cluster {
	t.Helper()
	o.Namespace = ns
	objs, err := stack.Render(o)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{deploy: &appsv1.Deployment{}, cm: &corev1.ConfigMap{}, pvc: &corev1.PersistentVolumeClaim{}}
	convert(t, objs.Deployment, c.deploy)
	convert(t, objs.ConfigMap, c.cm)
	convert(t, objs.PVC, c.pvc)
	c.nodes = []*corev1.Node{node("node-1", "zone-a"), node("node-2", "zone-b"), node("node-3", "zone-c")}
	cp := node("cp", "")
	cp.Labels[controlPlaneLabel] = ""
	cp.Spec.Taints = []corev1.Taint{{Key: controlPlaneLabel, Effect: corev1.TaintEffectNoSchedule}}
	c.nodes = append(c.nodes, cp)
	c.pvc.Spec.VolumeName = "pvc-0d1c2b3a"
	c.pv = &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pvc-0d1c2b3a"},
		Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: storagehealth.LonghornDriver, VolumeHandle: "pvc-0d1c2b3a"}}}}
	c.sc = &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: *c.pvc.Spec.StorageClassName}, Provisioner: storagehealth.LonghornDriver,
		Parameters: map[string]string{"numberOfReplicas": "3"}}
	c.pod = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "iris-abc", Namespace: ns, Labels: c.deploy.Spec.Template.Labels},
		Spec: corev1.PodSpec{NodeName: "node-1"}}
	c.lh = longhornObjects(t)
	return c
}

func longhornObjects(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile("testdata/longhorn-objects.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Settings []map[string]any `json:"settings"`
		Volume   map[string]any   `json:"volume"`
		Engine   map[string]any   `json:"engine"`
		Replicas []map[string]any `json:"replicas"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, o := range append(append(raw.Settings, raw.Volume, raw.Engine), raw.Replicas...) {
		out = append(out, &unstructured.Unstructured{Object: o})
	}
	return out
}

func (c *cluster) lhSet(name, value string) {
	for _, u := range c.lh {
		if u.GetKind() == "Setting" && u.GetName() == name {
			u.Object["value"] = value
		}
	}
}

func (c *cluster) lhObj(kind, name string) *unstructured.Unstructured {
	for _, u := range c.lh {
		if u.GetKind() == kind && u.GetName() == name {
			return u
		}
	}
	return nil
}

func (c *cluster) run(t *testing.T, a Assumptions) Report {
	t.Helper()
	objs := []runtime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}}
	for _, n := range c.nodes {
		objs = append(objs, n)
	}
	if !c.noStack {
		objs = append(objs, c.deploy, c.cm, c.pvc, c.pv, c.sc)
		if c.pod != nil {
			objs = append(objs, c.pod)
		}
	}
	scheme := runtime.NewScheme()
	lists := map[schema.GroupVersionResource]string{storagehealth.LonghornVolumes: "VolumeList", storagehealth.LonghornReplicas: "ReplicaList",
		storagehealth.LonghornEngines: "EngineList", storagehealth.LonghornNodes: "NodeList", storagehealth.LonghornSettings: "SettingList"}
	var lh []runtime.Object
	for _, u := range c.lh {
		lh = append(lh, u)
	}
	kube := fake.NewClientset(objs...)
	if len(c.lh) > 0 {
		kube.Resources = []*metav1.APIResourceList{{GroupVersion: "longhorn.io/v1beta2", APIResources: []metav1.APIResource{{Name: "volumes", Namespaced: true, Kind: "Volume"}}}}
	}
	o := Options{Kube: kube, Dynamic: dynfake.NewSimpleDynamicClientWithCustomListKinds(scheme, lists, lh...), Namespace: ns, Assumptions: a}
	if c.ceph != nil {
		o.CephRun = func(_ context.Context, args ...string) ([]byte, error) {
			out, ok := c.ceph[strings.Join(args, " ")]
			if !ok {
				return nil, fmt.Errorf("unexpected ceph %s", strings.Join(args, " "))
			}
			return []byte(out), nil
		}
	}
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func status(r Report, id string) Status {
	for _, c := range r.Checks {
		if c.ID == id {
			return c.Status
		}
	}
	return ""
}

func TestPreflightChecks(t *testing.T) {
	ten := int64(10)
	tests := []struct {
		name   string
		opts   stack.Options
		mutate func(*cluster)
		want   map[string]Status
		exit   int
	}{
		{name: "the stack as deployed, Longhorn defaults", opts: stack.Options{NodeLossTolerationSeconds: &ten},
			want: map[string]Status{"nodes.workers": Pass, "nodes.zones": Pass, "nodes.elsewhere": Pass, "storage.class": Pass,
				"storage.longhorn.replicas": Pass, "storage.longhorn.health": Pass, "storage.longhorn.replica-spread": Pass,
				"storage.longhorn.node-down-pod-deletion-policy": Warn, "storage.longhorn.replica-zone-soft-anti-affinity": Warn,
				"deployment.replicas": Pass, "deployment.strategy": Pass, "deployment.liveness": Pass, "deployment.datadir": Pass,
				"deployment.journal": Pass, "deployment.tolerations": Pass, "deployment.grace": Pass}, exit: 0},
		{name: "default tolerations", want: map[string]Status{"deployment.tolerations": Warn}, exit: 0},
		{name: "two nodes in one zone", mutate: func(c *cluster) {
			c.nodes = []*corev1.Node{node("node-1", "z"), node("node-2", "z")}
		}, want: map[string]Status{"nodes.workers": Warn, "nodes.zones": Warn, "nodes.elsewhere": Warn}, exit: 0},
		{name: "one worker, cordoned others", mutate: func(c *cluster) {
			c.nodes[1].Spec.Unschedulable = true
			c.nodes[2].Status.Conditions[0].Status = corev1.ConditionFalse
		}, want: map[string]Status{"nodes.workers": Fail, "nodes.elsewhere": Fail}, exit: 1},
		{name: "two replicas and a rolling update", mutate: func(c *cluster) {
			two := int32(2)
			c.deploy.Spec.Replicas = &two
			c.deploy.Spec.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
		}, want: map[string]Status{"deployment.replicas": Fail, "deployment.strategy": Fail}, exit: 1},
		{name: "no liveness probe, no data directory", mutate: func(c *cluster) {
			c.deploy.Spec.Template.Spec.Containers[0].LivenessProbe = nil
			c.deploy.Spec.Template.Spec.Containers[0].Env = nil
		}, want: map[string]Status{"deployment.liveness": Fail, "deployment.datadir": Fail}, exit: 1},
		{name: "journal off the PVC", opts: stack.Options{MergeCPF: "[Journal]\nCurrentDirectory=/usr/irissys/mgr/journal/"},
			want: map[string]Status{"deployment.journal": Fail}, exit: 1},
		{name: "journal on the PVC", opts: stack.Options{MergeCPF: "[Journal]\nCurrentDirectory=/external/journal1/\nAlternateDirectory=/external/journal2/"},
			want: map[string]Status{"deployment.journal": Pass}, exit: 0},
		{name: "a directory every node mounts (the local cluster's replicated stand-in): not node-local", mutate: func(c *cluster) {
			c.sc.Provisioner = "irischaos.io/local-cluster"
			c.sc.Annotations = map[string]string{stack.StandInAnnotation: "Longhorn stand-in: volume directory outside every node"}
			c.pv.Spec.CSI = nil
			c.pv.Spec.HostPath = &corev1.HostPathVolumeSource{Path: "/v/pvc-0d1c2b3a"}
		}, want: map[string]Status{"storage.class": Warn}, exit: 0},
		{name: "a hostPath pinned to one node (the local-disk stand-in)", mutate: func(c *cluster) {
			c.sc.Provisioner = "irischaos.io/local-cluster"
			c.pv.Spec.CSI = nil
			c.pv.Spec.HostPath = &corev1.HostPathVolumeSource{Path: "/n/node-1/disk/pvc-0d1c2b3a"}
			c.pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{"node-1"}}}}}}}
		}, want: map[string]Status{"storage.class": Fail}, exit: 1},
		{name: "local disk", mutate: func(c *cluster) {
			c.sc.Provisioner = "kubernetes.io/no-provisioner"
			c.pv.Spec.CSI = nil
			c.pv.Spec.Local = &corev1.LocalVolumeSource{Path: "/mnt/disk"}
		}, want: map[string]Status{"storage.class": Fail}, exit: 1},
		{name: "Longhorn: one replica, degraded, replicas sharing a node", mutate: func(c *cluster) {
			v := c.lhObj("Volume", "pvc-0d1c2b3a")
			_ = unstructured.SetNestedField(v.Object, int64(1), "spec", "numberOfReplicas")
			_ = unstructured.SetNestedField(v.Object, "degraded", "status", "robustness")
			_ = unstructured.SetNestedField(c.lhObj("Replica", "pvc-0d1c2b3a-r-2").Object, "node-1", "spec", "nodeID")
		}, want: map[string]Status{"storage.longhorn.replicas": Fail, "storage.longhorn.health": Warn, "storage.longhorn.replica-spread": Fail}, exit: 1},
		{name: "Longhorn's class without Longhorn installed: one line", mutate: func(c *cluster) { c.lh = nil },
			want: map[string]Status{"storage.longhorn.read": Unknown}, exit: 2},
		{name: "Longhorn: the settings HA wants", mutate: func(c *cluster) {
			c.lhSet(settingNodeDown, "delete-deployment-pod")
			c.lhSet(settingZoneSoftAnti, "false")
		}, want: map[string]Status{"storage.longhorn.node-down-pod-deletion-policy": Pass, "storage.longhorn.replica-zone-soft-anti-affinity": Pass}, exit: 0},
		{name: "Ceph RBD: 3 copies over hosts, clean", mutate: cephRBD(3, 2, "host", "active+clean"),
			want: map[string]Status{"storage.class": Pass, "storage.ceph.size": Pass, "storage.ceph.failure_domain": Pass, "storage.ceph.health": Pass}, exit: 0},
		{name: "Ceph RBD: one copy, spread over OSDs, degraded", mutate: cephRBD(1, 1, "osd", "active+undersized+degraded"),
			want: map[string]Status{"storage.class": Warn, "storage.ceph.size": Fail, "storage.ceph.failure_domain": Fail, "storage.ceph.health": Warn}, exit: 1},
		{name: "Ceph RBD: min_size equal to size", mutate: cephRBD(2, 2, "host", "active+clean"),
			want: map[string]Status{"storage.ceph.size": Warn}, exit: 0},
		{name: "no stack deployed", mutate: func(c *cluster) { c.noStack = true },
			want: map[string]Status{"deployment.exists": Fail}, exit: 1},
		{name: "no pod running", mutate: func(c *cluster) { c.pod = nil },
			want: map[string]Status{"nodes.elsewhere": Unknown}, exit: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := goodCluster(t, tc.opts)
			if tc.mutate != nil {
				tc.mutate(c)
			}
			r := c.run(t, Assumptions{})
			for id, want := range tc.want {
				if got := status(r, id); got != want {
					t.Errorf("%s = %q, want %q (checks: %+v)", id, got, want, r.Checks)
				}
			}
			if got := r.ExitCode(); got != tc.exit {
				t.Errorf("exit %d, want %d (worst %s)", got, tc.exit, r.Worst())
			}
			for _, ch := range r.Checks {
				if ch.Status != Pass && ch.Fix == "" {
					t.Errorf("%s is %s without a fix", ch.ID, ch.Status)
				}
			}
		})
	}
}

func TestPredictedNodeLoss(t *testing.T) {
	thirty := int64(30)
	tests := []struct {
		name   string
		tol    *int64
		policy string
		oos    bool
		noCSI  bool // a volume with no attach (the directory stand-in)
		want   time.Duration
	}{
		// An attach-required volume stays attached to the lost node while the
		// evicted pod stays Terminating there: never, without a mitigation
		// (measured on the local cluster's Ceph RBD with upstream timings).
		{name: "Kubernetes defaults", want: -1},
		{name: "30 s tolerations", tol: &thirty, want: -1},
		// No attach: the replacement mounts as soon as it is scheduled.
		{name: "30 s tolerations, no attach", tol: &thirty, noCSI: true, want: 50*time.Second + 30*time.Second + 40*time.Second},
		{name: "30 s tolerations and Longhorn's node-down policy", tol: &thirty, policy: "delete-both-statefulset-and-deployment-pod",
			want: 50*time.Second + 30*time.Second + longhornNodeDown + 40*time.Second},
		{name: "out-of-service taint", oos: true, want: 50*time.Second + 40*time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := goodCluster(t, stack.Options{NodeLossTolerationSeconds: tc.tol})
			if tc.policy != "" {
				c.lhSet(settingNodeDown, tc.policy)
			}
			if tc.noCSI {
				c.pv.Spec.CSI = nil
				c.pv.Spec.HostPath = &corev1.HostPathVolumeSource{Path: "/v"}
			}
			r := c.run(t, Assumptions{OutOfService: tc.oos})
			p, ok := r.Predicted(fault.DomainNodeLost)
			if !ok {
				t.Fatalf("no node-loss prediction in %+v", r.Predictions)
			}
			if p.RTO != tc.want {
				t.Errorf("predicted %s, want %s (%s)", p.RTO, tc.want, terms(p))
			}
		})
	}
	// The IRIS instance: the liveness probe's 3 x 10 s, then IRIS's start.
	r := goodCluster(t, stack.Options{}).run(t, Assumptions{})
	if p, _ := r.Predicted(fault.DomainIRIS); p.RTO != 30*time.Second+30*time.Second {
		t.Errorf("IRIS instance predicted %s", p.RTO)
	}
}

func TestPreflightErrorsAndFormats(t *testing.T) {
	if _, err := Run(context.Background(), Options{Kube: fake.NewClientset(), Namespace: ""}); err == nil || !strings.Contains(err.Error(), "-n NAMESPACE") {
		t.Errorf("no namespace: %v", err)
	}
	if _, err := Run(context.Background(), Options{Kube: fake.NewClientset(), Namespace: "nope"}); err == nil || !strings.Contains(err.Error(), `namespace "nope" does not exist`) {
		t.Errorf("missing namespace: %v", err)
	}
	r := goodCluster(t, stack.Options{}).run(t, Assumptions{})
	for _, f := range Formats {
		var b bytes.Buffer
		if err := Write(&b, r, f); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"deployment.liveness", fault.DomainNodeLost} {
			if !strings.Contains(b.String(), want) {
				t.Errorf("%s output lacks %q:\n%s", f, want, b.String())
			}
		}
	}
	var back Report
	var b bytes.Buffer
	_ = Write(&b, r, "json")
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || len(back.Checks) != len(r.Checks) {
		t.Errorf("json round trip: %v", err)
	}
	if err := Write(&b, r, "yaml"); err == nil {
		t.Error("unknown format accepted")
	}
}
