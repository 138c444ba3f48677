package longhornstandin

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/observe"
	"github.com/irischaos/irischaos/pkg/report"
	"github.com/irischaos/irischaos/pkg/storagehealth"
)

// NodeLoss is one node loss played by the stand-in's Controller while
// irischaos' observer records it through its Longhorn backend, with no
// IRIS stack: what the e2e test runs on a cluster and a unit test runs on
// fake clients.
type NodeLoss struct {
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	// Namespace is the observer's (it needs no pod there).
	Namespace string
	Volume    string
	Nodes     []Node   // Longhorn's nodes
	Replicas  []string // a replica on each; the volume is attached to the first
	Lost      string   // a replica's node, not the first
	RebuildOn string   // where the fresh replica goes
	Step      time.Duration
	Poll      time.Duration // the observer's storage poll
	Log       func(format string, args ...any)
	Progress  io.Writer // the observer's lines; nil for none

	ctl *Controller
}

// LonghornPV is the Longhorn CSI volume of a claim as Kubernetes shows it:
// only the driver and the volume handle matter to storagehealth.ForVolume.
func LonghornPV(volume string) (*storagev1.StorageClass, *corev1.PersistentVolume) {
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "longhorn"}, Provisioner: storagehealth.LonghornDriver}
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: volume},
		Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{
			CSI: &corev1.CSIPersistentVolumeSource{Driver: storagehealth.LonghornDriver, VolumeHandle: volume}}}}
	return sc, pv
}

// Play seeds the healthy volume, starts the observer on it (the backend
// chosen by storagehealth.ForVolume, as a run does), records a fault when
// the node is lost, plays the loss and returns the history's records.
func (n *NodeLoss) Play(ctx context.Context) ([]history.Record, error) {
	if len(n.Replicas) < 2 {
		return nil, fmt.Errorf("longhorn stand-in: %d replica nodes, a node loss needs at least 2", len(n.Replicas))
	}
	n.ctl = &Controller{Dynamic: n.Dynamic, Volume: n.Volume, Step: n.Step, Log: n.Log}
	if err := n.ctl.Seed(ctx, n.Nodes, n.Replicas[0], n.Replicas...); err != nil {
		return nil, err
	}
	sc, pv := LonghornPV(n.Volume)
	src, why := storagehealth.ForVolume(sc, pv, n.Kube, n.Dynamic, "Longhorn STAND-IN (irischaos test)")
	if src == nil {
		return nil, fmt.Errorf("no Longhorn backend for the stand-in's volume: %s", why)
	}
	h := history.NewMemory()
	ob, err := observe.New(n.Kube, observe.Options{Namespace: n.Namespace, Dynamic: n.Dynamic, Storage: src, StoragePoll: n.Poll,
		History: h, Progress: n.Progress})
	if err != nil {
		return nil, err
	}
	octx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := ob.Start(octx); err != nil {
		return nil, err
	}
	time.Sleep(4 * n.Poll) // the healthy state is read before the fault
	if err := h.Add(history.Record{Kind: history.KindFault, T: time.Now(), Name: "longhorn-standin-node-loss", Target: "node/" + n.Lost}); err != nil {
		return nil, err
	}
	if err := n.ctl.PlayNodeLoss(ctx, n.Replicas[0], n.Lost, n.RebuildOn); err != nil {
		return nil, err
	}
	// The last transition is read: on a loaded machine one reading of the
	// five resources can straddle the volume's update, so wait for the
	// storage's own clean reading (bounded) rather than a fixed time.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(n.Poll) {
		if lastStorageReason(h.Records()) == history.RedundancyClean {
			break
		}
	}
	cancel()
	return h.Records(), nil
}

// Delete removes what Play created.
func (n *NodeLoss) Delete(ctx context.Context) error {
	if n.ctl == nil {
		return nil
	}
	return n.ctl.Delete(ctx)
}

// Verify checks a played node loss's history: the storage events in order
// (Observed, degraded, recovering, clean) each with the volume, its node
// and zones; the replica failing, the fresh one added, the rebuild's
// start, 25/50/75% and end; the observer's own volume watch seeing the
// robustness change; and the checker's result.storage with the report's
// rows (time degraded, time to full redundancy of at least minFull,
// replicas per zone before and after). It returns the result, the
// rendered rows, the storage events and what is wrong.
func (n *NodeLoss) Verify(recs []history.Record, minFull time.Duration) (checker.Result, string, []string, []string) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	first, last := map[string]int{}, map[string]int{}
	var msgs []string
	for i, r := range recs {
		if r.Kind != history.KindEvent || r.Source != history.SourceStorage {
			continue
		}
		if _, ok := first[r.Reason]; !ok {
			first[r.Reason] = i
		}
		last[r.Reason] = i
		msgs = append(msgs, r.Reason+": "+r.Message)
		if r.Target != "volume "+n.Volume || r.Node != n.Replicas[0] || r.Zones == nil {
			bad("storage event without the volume, its node or zones: %+v", r)
		}
	}
	at := func(m map[string]int, reason string) int {
		if i, ok := m[reason]; ok {
			return i
		}
		return -1
	}
	obs, deg, rec, clean := at(first, history.ReasonObserved), at(first, "degraded"), at(first, "recovering"), at(last, history.RedundancyClean)
	if obs < 0 || !(obs < deg && deg < rec && rec < clean) {
		bad("storage transitions out of order or missing: Observed %d, degraded %d, recovering %d, clean %d", obs, deg, rec, clean)
	}
	all := strings.Join(msgs, "\n")
	fresh := fmt.Sprintf("%s-r-%d", n.Volume, len(n.Replicas)+1)
	for _, want := range []string{" ERR", "replica added: ", "rebuild started: rebuild of " + fresh + " on " + n.RebuildOn, " 25%", " 50%", " 75%", "rebuild ended: rebuild of " + fresh} {
		if !strings.Contains(all, want) {
			bad("no storage event says %q", want)
		}
	}
	var robustness []string
	for _, r := range recs {
		if r.Kind == history.KindEvent && r.Source == "longhorn" && r.Reason == "Robustness" {
			robustness = append(robustness, r.Message)
		}
	}
	if got := strings.Join(robustness, ", "); got != "healthy -> degraded, degraded -> healthy" {
		bad("the observer's Longhorn volume watch saw robustness %q, want healthy -> degraded -> healthy", got)
	}
	res := checker.Check(recs, checker.DefaultBudgets())
	var out strings.Builder
	if err := report.RenderResult(&out, res, nil); err != nil {
		bad("rendering the result: %v", err)
	}
	s := res.Storage
	if s == nil || s.RedundancyLost != "degraded" || s.RedundancyRestoredAt == nil || s.DegradedSeconds == nil || s.FullRedundancySeconds == nil ||
		*s.FullRedundancySeconds < minFull.Seconds() || s.ZonesBefore == nil || s.ZonesAfter == nil {
		bad("result.storage: %+v", s)
		return res, out.String(), msgs, problems
	}
	count := func(z map[string]int) int {
		c := 0
		for _, v := range z {
			c += v
		}
		return c
	}
	if count(s.ZonesBefore) != len(n.Replicas) || count(s.ZonesAfter) != len(n.Replicas) {
		bad("replicas per zone before %s, after %s: want %d each", storagehealth.ZonesText(s.ZonesBefore), storagehealth.ZonesText(s.ZonesAfter), len(n.Replicas))
	}
	for _, want := range []string{"Time without full redundancy", "Time to full redundancy (from the fault)", "Replicas per zone before", "Replicas per zone after"} {
		if !strings.Contains(out.String(), want) {
			bad("the result's table lacks %q", want)
		}
	}
	return res, out.String(), msgs, problems
}

// lastStorageReason is the redundancy of the last storage event in recs.
func lastStorageReason(recs []history.Record) string {
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Kind == history.KindEvent && recs[i].Source == history.SourceStorage {
			return recs[i].Reason
		}
	}
	return ""
}
