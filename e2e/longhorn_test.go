//go:build chaos

package e2e

// Longhorn in the evidence without Longhorn (issue 8 item 1): Longhorn
// cannot run on irischaos' machines, so this installs the Longhorn
// STAND-IN's CRDs (internal/lab/longhornstandin: exactly the fields
// irischaos reads, labelled irischaos.io/stand-in=longhorn) and runs the
// stand-in's controller, which plays Longhorn's documented node-loss
// transitions on a Volume/Engine/Replica set, while irischaos' observer
// reads them through its Longhorn backend into a history. Independent of
// the IRIS stack: the observer and the backend are driven directly. On a
// cluster with a real Longhorn it skips (nothing is installed over it).

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/irischaos/irischaos/internal/lab/longhornstandin"
	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/observe"
	"github.com/irischaos/irischaos/pkg/report"
	"github.com/irischaos/irischaos/pkg/storagehealth"
)

// longhornNS is where the observer watches (nothing runs there: the
// feature needs no pod).
const (
	longhornNS     = "irischaos-e2e-longhorn"
	longhornVolume = "pvc-irischaos-e2e-standin"
)

func dynamicClient(t *testing.T, cfg *envconf.Config) dynamic.Interface {
	t.Helper()
	dyn, err := dynamic.NewForConfig(cfg.Client().RESTConfig())
	if err != nil {
		t.Fatalf("dynamic client for %s: %v", kubeconfigPath, err)
	}
	return dyn
}

// longhornPV is a Longhorn CSI volume as Kubernetes shows it: only the
// driver and the volume handle matter to storagehealth.ForVolume.
func longhornPV() (*storagev1.StorageClass, *corev1.PersistentVolume) {
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "longhorn"}, Provisioner: storagehealth.LonghornDriver}
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: longhornVolume},
		Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{
			CSI: &corev1.CSIPersistentVolumeSource{Driver: storagehealth.LonghornDriver, VolumeHandle: longhornVolume}}}}
	return sc, pv
}

// realLonghorn reports whether the cluster serves longhorn.io volumes whose
// CRD is not the stand-in's; a stand-in left by an interrupted run is
// removed first.
func realLonghorn(ctx context.Context, t *testing.T, cfg *envconf.Config) bool {
	t.Helper()
	cs, dyn := clientset(t, cfg), dynamicClient(t, cfg)
	if ok, _ := storagehealth.LonghornServed(cs.Discovery()); !ok {
		return false
	}
	if real, err := longhornstandin.RealLonghorn(ctx, dyn); err != nil || real {
		if err != nil {
			t.Fatalf("reading the longhorn.io CRDs: %v", err)
		}
		return true
	}
	t.Log("removing the Longhorn stand-in's CRDs left by an earlier run")
	if err := longhornstandin.Uninstall(ctx, dyn); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if ok, _ := storagehealth.LonghornServed(cs.Discovery()); !ok {
			return false
		}
		if time.Now().After(deadline) {
			t.Fatal("the stand-in's longhorn.io CRDs are still served 2 minutes after their deletion")
		}
		time.Sleep(time.Second)
	}
}

func ensureNS(ctx context.Context, t *testing.T, cfg *envconf.Config, name string) bool {
	t.Helper()
	_, err := clientset(t, cfg).CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels: map[string]string{longhornstandin.StandInLabel: "longhorn"}}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return false
	}
	if err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	return true
}

func TestLonghornStandInNodeLoss(t *testing.T) {
	var (
		createdCRDs, createdLHNS bool
		ctl                      *longhornstandin.Controller
	)
	without := features.New("without Longhorn: skipped, with one line saying so").
		Setup(func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			if realLonghorn(ctx, t, cfg) {
				t.Skip("this cluster runs Longhorn's own CRDs: the stand-in is not installed over them")
			}
			ensureNS(ctx, t, cfg, longhornNS)
			return ctx
		}).
		Assess("ForVolume and the observer's Watching event say Longhorn is skipped", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			cs, dyn := clientset(t, cfg), dynamicClient(t, cfg)
			sc, pv := longhornPV()
			src, why := storagehealth.ForVolume(sc, pv, cs, dyn, "")
			if src != nil || !strings.HasPrefix(why, "Longhorn: skipped") {
				t.Fatalf("ForVolume without Longhorn: %v, %q", src, why)
			}
			ob, err := observe.New(cs, observe.Options{Namespace: longhornNS, Dynamic: dyn, StorageSkipped: why})
			if err != nil {
				t.Fatal(err)
			}
			octx, cancel := context.WithCancel(ctx)
			defer cancel()
			if err := ob.Start(octx); err != nil {
				t.Fatal(err)
			}
			evs := ob.Events()
			last := evs[len(evs)-1]
			if last.Reason != "Watching" || !strings.Contains(last.Message, "storage redundancy: Longhorn: skipped") || strings.Contains(last.Message, "Longhorn volumes") {
				t.Errorf("Watching event: %+v", last)
			}
			t.Logf("observer: %s", last.Message)
			return ctx
		}).Feature()

	nodeLoss := features.New("Longhorn STAND-IN: a node loss recorded into the history").
		Setup(func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			if realLonghorn(ctx, t, cfg) {
				t.Skip("this cluster runs Longhorn's own CRDs: the stand-in is not installed over them")
			}
			dyn := dynamicClient(t, cfg)
			ictx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			var err error
			createdCRDs, err = longhornstandin.Install(ictx, dyn)
			if err != nil {
				t.Fatalf("installing the Longhorn stand-in's CRDs: %v", err)
			}
			createdLHNS = ensureNS(ctx, t, cfg, storagehealth.LonghornNamespace)
			ensureNS(ctx, t, cfg, longhornNS)
			// Discovery must serve the new group before ForVolume picks it.
			cs := clientset(t, cfg)
			for {
				if ok, _ := storagehealth.LonghornServed(cs.Discovery()); ok {
					break
				}
				select {
				case <-ictx.Done():
					t.Fatal("longhorn.io/v1beta2 volumes not served after installing the stand-in's CRDs")
				case <-time.After(500 * time.Millisecond):
				}
			}
			return ctx
		}).
		Assess("healthy -> degraded -> rebuilding -> healthy, with replicas, rebuild and zones", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			cs, dyn := clientset(t, cfg), dynamicClient(t, cfg)
			nl, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(nl.Items) < 2 {
				t.Skipf("%d nodes: a replica per node needs at least 2", len(nl.Items))
			}
			sort.Slice(nl.Items, func(i, j int) bool { return nl.Items[i].Name < nl.Items[j].Name })
			var nodes []longhornstandin.Node
			var replicaNodes []string
			for i, n := range nl.Items {
				zone := n.Labels[corev1.LabelTopologyZone]
				if i == 2 {
					zone = "" // this one's zone comes from the Kubernetes node's label
				}
				nodes = append(nodes, longhornstandin.Node{Name: n.Name, Zone: zone})
				if i < 3 {
					replicaNodes = append(replicaNodes, n.Name)
				}
			}
			attached, lost := replicaNodes[0], replicaNodes[1]
			rebuildOn := lost // the node comes back and its replica is rebuilt there
			if len(nl.Items) > 3 {
				rebuildOn = nl.Items[3].Name // a spare node takes the fresh replica
			}
			ctl = &longhornstandin.Controller{Dynamic: dyn, Volume: longhornVolume, Step: 2 * time.Second, Log: t.Logf}
			if err := ctl.Seed(ctx, nodes, attached, replicaNodes...); err != nil {
				t.Fatal(err)
			}

			sc, pv := longhornPV()
			src, why := storagehealth.ForVolume(sc, pv, cs, dyn, "Longhorn STAND-IN (irischaos e2e)")
			if src == nil {
				t.Fatalf("ForVolume with the stand-in's CRDs: %s", why)
			}
			h, err := history.Create(filepath.Join(t.TempDir(), "history.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			ob, err := observe.New(cs, observe.Options{Namespace: longhornNS, Dynamic: dyn, Storage: src, StoragePoll: 250 * time.Millisecond,
				History: h, Progress: testWriter{t}})
			if err != nil {
				t.Fatal(err)
			}
			octx, cancel := context.WithCancel(ctx)
			defer cancel()
			if err := ob.Start(octx); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second) // the healthy state is read before the fault
			if err := h.Add(history.Record{Kind: history.KindFault, T: time.Now(), Name: "longhorn-standin-node-loss", Target: "node/" + lost}); err != nil {
				t.Fatal(err)
			}
			pctx, pcancel := context.WithTimeout(ctx, 2*time.Minute)
			defer pcancel()
			if err := ctl.PlayNodeLoss(pctx, attached, lost, rebuildOn); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Second) // the last transition is read
			cancel()
			recs := h.Records()
			if err := h.Close(); err != nil {
				t.Fatal(err)
			}

			// The history: the redundancy's transitions, in order, with the
			// replica, rebuild and zone detail.
			first := map[string]int{}
			var msgs []string
			for i, r := range recs {
				if r.Kind != history.KindEvent || r.Source != history.SourceStorage {
					continue
				}
				if _, ok := first[r.Reason]; !ok {
					first[r.Reason] = i
				}
				msgs = append(msgs, r.Reason+": "+r.Message)
				if r.Target != "volume "+longhornVolume || r.Node != attached || r.Zones == nil {
					t.Errorf("storage event without the volume, its node or zones: %+v", r)
				}
			}
			t.Logf("storage events:\n%s", strings.Join(msgs, "\n"))
			at := func(reason string) int {
				if i, ok := first[reason]; ok {
					return i
				}
				return -1
			}
			obs, deg, rec, clean := at(history.ReasonObserved), at("degraded"), at("recovering"), lastIndex(recs, history.RedundancyClean)
			if obs < 0 || !(obs < deg && deg < rec && rec < clean) {
				t.Errorf("storage transitions out of order or missing: Observed %d, degraded %d, recovering %d, clean %d", obs, deg, rec, clean)
			}
			all := strings.Join(msgs, "\n")
			for _, want := range []string{fmt.Sprintf("rebuild started: rebuild of %s-r-%d on %s", longhornVolume, len(replicaNodes)+1, rebuildOn), " 25%", " 50%", " 75%", "rebuild ended: ", "ERR", "replica added: "} {
				if !strings.Contains(all, want) {
					t.Errorf("no storage event says %q", want)
				}
			}
			// The observer's own watch of Longhorn volumes saw the robustness change too.
			var robustness []string
			for _, r := range recs {
				if r.Kind == history.KindEvent && r.Source == "longhorn" && r.Reason == "Robustness" {
					robustness = append(robustness, r.Message)
				}
			}
			if strings.Join(robustness, ", ") != "healthy -> degraded, degraded -> healthy" {
				t.Errorf("Longhorn volume watch: robustness %v", robustness)
			}

			// The checker and the report: time degraded, time to full
			// redundancy, copies per zone before and after.
			res := checker.Check(recs, checker.DefaultBudgets())
			s := res.Storage
			if s == nil || s.RedundancyLost != "degraded" || s.RedundancyRestoredAt == nil || s.DegradedSeconds == nil || s.FullRedundancySeconds == nil ||
				*s.FullRedundancySeconds < 8 || s.ZonesBefore == nil || s.ZonesAfter == nil {
				t.Fatalf("result.storage: %+v", s)
			}
			before, after := storagehealth.ZonesText(s.ZonesBefore), storagehealth.ZonesText(s.ZonesAfter)
			if n := count(s.ZonesBefore); n != len(replicaNodes) {
				t.Errorf("copies before: %s, want %d", before, len(replicaNodes))
			}
			if n := count(s.ZonesAfter); n != len(replicaNodes) {
				t.Errorf("copies after: %s, want %d", after, len(replicaNodes))
			}
			var out strings.Builder
			if err := report.RenderResult(&out, res, nil); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"Time without full redundancy", "Time to full redundancy (from the fault)", "Replicas per zone before", "Replicas per zone after"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("analyze's table lacks %q", want)
				}
			}
			t.Logf("copies per zone before: %s; after: %s; degraded %.1fs, full redundancy %.1fs after the fault", before, after, *s.DegradedSeconds, *s.FullRedundancySeconds)
			if dir := os.Getenv("IRISCHAOS_E2E_KEEP"); dir != "" {
				_ = os.WriteFile(filepath.Join(dir, "longhorn-standin-report.txt"), []byte(out.String()), 0o644)
			}
			return ctx
		}).
		Teardown(func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			cs, dyn := clientset(t, cfg), dynamicClient(t, cfg)
			if ctl != nil {
				if err := ctl.Delete(ctx); err != nil {
					t.Errorf("deleting the stand-in's objects: %v", err)
				}
			}
			if createdCRDs {
				if err := longhornstandin.Uninstall(ctx, dyn); err != nil {
					t.Errorf("removing the stand-in's CRDs: %v", err)
				}
			}
			if createdLHNS {
				_ = cs.CoreV1().Namespaces().Delete(ctx, storagehealth.LonghornNamespace, metav1.DeleteOptions{})
			}
			_ = cs.CoreV1().Namespaces().Delete(ctx, longhornNS, metav1.DeleteOptions{})
			return ctx
		}).Feature()

	testenv.Test(t, without, nodeLoss)
}

func lastIndex(recs []history.Record, reason string) int {
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Kind == history.KindEvent && recs[i].Source == history.SourceStorage && recs[i].Reason == reason {
			return i
		}
	}
	return -1
}

func count(z map[string]int) int {
	n := 0
	for _, c := range z {
		n += c
	}
	return n
}
