package observe

import (
	"context"
	"errors"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"

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
