package observe

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/storagehealth"
)

type seqSource struct {
	seq    []storagehealth.Redundancy
	cancel context.CancelFunc
}

func (s *seqSource) Health(context.Context) (storagehealth.Status, error) {
	if len(s.seq) == 0 {
		s.cancel()
		return storagehealth.Status{}, errors.New("done")
	}
	r := s.seq[0]
	s.seq = s.seq[1:]
	return storagehealth.Status{Scope: "pool rbd", Redundancy: r, Detail: "d"}, nil
}

func TestWatchStorageRecordsChangesOnly(t *testing.T) {
	ob, err := New(fake.NewSimpleClientset(), Options{Namespace: "ns"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	src := &seqSource{cancel: cancel, seq: []storagehealth.Redundancy{
		storagehealth.Clean, storagehealth.Clean, storagehealth.Degraded, storagehealth.Degraded, storagehealth.Recovering, storagehealth.Clean}}
	ob.WatchStorage(ctx, src, time.Millisecond)
	var got []string
	for _, e := range ob.Events() {
		if e.Source == "storage" && e.Target == "pool rbd" {
			got = append(got, e.Reason)
		}
	}
	want := []string{"Observed", "degraded", "recovering", "clean"}
	if len(got) != len(want) {
		t.Fatalf("recorded %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("recorded %v, want %v", got, want)
		}
	}
}

type statusSeq struct {
	seq    []storagehealth.Status
	cancel context.CancelFunc
}

func (s *statusSeq) Health(context.Context) (storagehealth.Status, error) {
	if len(s.seq) == 0 {
		s.cancel()
		return storagehealth.Status{}, errors.New("done")
	}
	st := s.seq[0]
	s.seq = s.seq[1:]
	return st, nil
}

// TestWatchStorageLonghornNodeLoss: a Longhorn volume through a node loss
// (healthy, degraded, rebuilding, rebuilt) is recorded with its replica,
// rebuild and zone detail; rebuild progress only every ProgressStep points.
func TestWatchStorageLonghornNodeLoss(t *testing.T) {
	rep := func(id, node, zone, mode string) storagehealth.Replica {
		return storagehealth.Replica{ID: id, Node: node, Zone: zone, Mode: mode, Up: mode == storagehealth.ModeRW}
	}
	vol := func(rob string, progress int, rs ...storagehealth.Replica) storagehealth.Status {
		v := storagehealth.LonghornVolume{Name: "pvc-1", NumberOfReplicas: 3, State: "attached", Robustness: rob, Node: "node-1", Replicas: rs}
		if progress > 0 {
			v.Rebuilds = []storagehealth.Rebuild{{Replica: "r4", Node: "node-4", Rebuilding: progress < 100, Progress: progress, State: "in_progress"}}
		}
		return v.Status("Longhorn")
	}
	r1, r3 := rep("r1", "node-1", "zone-a", "RW"), rep("r3", "node-3", "zone-c", "RW")
	ob, err := New(fake.NewSimpleClientset(), Options{Namespace: "ns"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	src := &statusSeq{cancel: cancel, seq: []storagehealth.Status{
		vol("healthy", 0, r1, rep("r2", "node-2", "zone-b", "RW"), r3),
		vol("healthy", 0, r1, rep("r2", "node-2", "zone-b", "RW"), r3),
		vol("degraded", 0, r1, rep("r2", "node-2", "zone-b", "ERR"), r3),
		vol("degraded", 20, r1, r3, rep("r4", "node-4", "zone-b", "WO")),
		vol("degraded", 25, r1, r3, rep("r4", "node-4", "zone-b", "WO")),
		vol("degraded", 60, r1, r3, rep("r4", "node-4", "zone-b", "WO")),
		vol("healthy", 0, r1, r3, rep("r4", "node-4", "zone-b", "RW")),
	}}
	ob.WatchStorage(ctx, src, time.Millisecond)
	type rec struct{ reason, zones, msg string }
	var got []rec
	for _, e := range ob.Events() {
		if e.Source == history.SourceStorage {
			got = append(got, rec{e.Reason, storagehealth.ZonesText(e.Zones), e.Message})
			if e.Node != "node-1" || e.Target != "volume pvc-1" {
				t.Errorf("event %+v", e)
			}
		}
	}
	want := []struct{ reason, zones, msg string }{
		{"Observed", "zone-a 1, zone-b 1, zone-c 1", "clean: clean (robustness healthy"},
		{"degraded", "zone-a 1, zone-c 1", "replica node-2(zone-b)/r2 RW -> node-2(zone-b)/r2 ERR | degraded"},
		{"recovering", "zone-a 1, zone-c 1", "replica added: node-4(zone-b)/r4 WO; replica removed: node-2(zone-b)/r2 ERR; rebuild started: rebuild of r4 on node-4 20% | recovering"},
		{"recovering", "zone-a 1, zone-c 1", "rebuild of r4 on node-4 60% | recovering"},
		{"clean", "zone-a 1, zone-b 1, zone-c 1", "replica node-4(zone-b)/r4 WO -> node-4(zone-b)/r4 RW; rebuild ended: rebuild of r4 on node-4 60% (no longer reported) | clean"},
	}
	if len(got) != len(want) {
		t.Fatalf("recorded %d storage events, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].reason != w.reason || got[i].zones != w.zones || !strings.HasPrefix(got[i].msg, w.msg) {
			t.Errorf("event %d: %+v\nwant %+v", i, got[i], w)
		}
	}
}

func TestStorageSkippedSaysWhy(t *testing.T) {
	ob, err := New(fake.NewSimpleClientset(), Options{Namespace: "ns", StorageSkipped: "Longhorn: skipped, longhorn.io/v1beta2 is not served (Longhorn not installed)"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := ob.Start(ctx); err != nil {
		t.Fatal(err)
	}
	evs := ob.Events()
	if last := evs[len(evs)-1]; last.Reason != "Watching" || !strings.HasSuffix(last.Message, "(storage redundancy: Longhorn: skipped, longhorn.io/v1beta2 is not served (Longhorn not installed))") {
		t.Errorf("%+v", last)
	}
}
