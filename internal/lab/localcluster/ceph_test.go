package localcluster

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/irischaos/irischaos/internal/lab/ceph"
	"github.com/irischaos/irischaos/pkg/storagehealth"
)

type fakeHealth []storagehealth.Redundancy

func (f *fakeHealth) Health(context.Context) (storagehealth.Status, error) {
	r := (*f)[0]
	if len(*f) > 1 {
		*f = (*f)[1:]
	}
	return storagehealth.Status{Redundancy: r, Detail: "fake"}, nil
}

func TestWaitClean(t *testing.T) {
	say := func(string, ...any) {}
	f := &fakeHealth{storagehealth.Unknown, storagehealth.Unavailable, storagehealth.Clean}
	if err := waitClean(context.Background(), f, time.Minute, say); err != nil {
		t.Fatal(err)
	}
	f = &fakeHealth{storagehealth.Degraded}
	err := waitClean(context.Background(), f, 10*time.Millisecond, say)
	if err == nil || !strings.Contains(err.Error(), "not clean") || !strings.Contains(err.Error(), "degraded (fake)") {
		t.Errorf("waitClean on a degraded pool = %v", err)
	}
}

func TestNodeServices(t *testing.T) {
	s := &supervisor{say: func(string, ...any) {}, o: Options{BinDir: "bin"}}
	if s.nodeServices("node-1") != nil {
		t.Error("services without Ceph")
	}
	if err := s.startCephMonitors(context.Background()); err != nil || s.ceph != nil {
		t.Errorf("without --ceph the monitor step must do nothing: %v", err)
	}
	s.ceph = ceph.Plan("/c", "10.250.0.1", "10.250.0.0/24", []ceph.NodeSpec{{Name: "node-1", Zone: "zone-a", IP: "10.250.0.11", Disk: "/d"}})
	svc := s.nodeServices("node-1")
	if len(svc) != 2 || svc[0].Component != "ceph-osd" || !strings.Contains(strings.Join(svc[0].Argv, " "), "ceph-osd -c '/c/ceph.conf' -d -i 0") {
		t.Fatalf("node-1 services = %+v", svc)
	}
	// The CSI node plugin registers with this node's kubelet and keeps its
	// FUSE mounts in the node's directory, so power-off takes both down.
	if got := strings.Join(svc[1].Argv, " "); svc[1].Component != "csi-node" ||
		!strings.Contains(got, "bin/irischaos-csi node --node-name node-1 --kubelet-dir nodes/node-1/kubelet --state-dir nodes/node-1/csi --ceph-conf /c/ceph.conf --pool rbd") {
		t.Errorf("CSI node plugin = %+v", svc[1])
	}
}
