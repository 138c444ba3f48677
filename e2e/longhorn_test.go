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
	"github.com/irischaos/irischaos/internal/suite"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/irischaos/irischaos/internal/lab/longhornstandin"
	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/observe"
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
		play                     *longhornstandin.NodeLoss
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
			sc, pv := longhornstandin.LonghornPV(longhornVolume)
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
			var watching *history.Record
			for _, e := range ob.Events() {
				if e.Source == "observer" && e.Reason == "Watching" {
					watching = &e
				}
			}
			if watching == nil || !strings.Contains(watching.Message, "storage redundancy: Longhorn: skipped") || strings.Contains(watching.Message, "Longhorn volumes") {
				t.Fatalf("Watching event: %+v", watching)
			}
			t.Logf("observer: %s", watching.Message)
			return ctx
		}).Feature()

	// The stand-in installs CRDs cluster-wide: only on the embedded cluster.
	nodeLoss := features.New("Longhorn STAND-IN: a node loss recorded into the history").
		WithLabel(suite.NeedsLabel, needs(suite.Embedded)).
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
			lost := replicaNodes[1]
			rebuildOn := lost // the node comes back and its replica is rebuilt there
			if len(nl.Items) > 3 {
				rebuildOn = nl.Items[3].Name // a spare node takes the fresh replica
			}
			play = &longhornstandin.NodeLoss{Kube: cs, Dynamic: dyn, Namespace: longhornNS, Volume: longhornVolume,
				Nodes: nodes, Replicas: replicaNodes, Lost: lost, RebuildOn: rebuildOn,
				Step: 2 * time.Second, Poll: 250 * time.Millisecond, Log: t.Logf, Progress: testWriter{t}}
			pctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
			defer cancel()
			recs, err := play.Play(pctx)
			if err != nil {
				t.Fatal(err)
			}
			res, rows, msgs, problems := play.Verify(recs, 8*time.Second)
			t.Logf("storage events:\n%s", strings.Join(msgs, "\n"))
			t.Logf("the result's rows:\n%s", rows)
			for _, p := range problems {
				t.Error(p)
			}
			if s := res.Storage; s != nil && s.DegradedSeconds != nil && s.FullRedundancySeconds != nil {
				t.Logf("replicas per zone before: %s; after: %s; degraded %.1fs, full redundancy %.1fs after the fault",
					storagehealth.ZonesText(s.ZonesBefore), storagehealth.ZonesText(s.ZonesAfter), *s.DegradedSeconds, *s.FullRedundancySeconds)
			}
			return ctx
		}).
		Teardown(func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			cs, dyn := clientset(t, cfg), dynamicClient(t, cfg)
			if play != nil {
				if err := play.Delete(ctx); err != nil {
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
