package localcluster

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/irischaos/irischaos/internal/lab/ceph"
	"github.com/irischaos/irischaos/internal/lab/localcluster/node"
	"github.com/irischaos/irischaos/internal/lab/localcluster/proc"
	"github.com/irischaos/irischaos/internal/lab/localcluster/state"
	"github.com/irischaos/irischaos/pkg/storagehealth"
)

// cephOSDComponent names each node's OSD service (log <node>-ceph-osd).
const cephOSDComponent = "ceph-osd"

// startCephMonitors plans the cluster's Ceph, starts its monitor and manager
// on the host at the bridge address (they outlive any node) and creates one
// OSD per node in the node's disk directory; bootNodes then starts each OSD
// as a service of its node.
func (s *supervisor) startCephMonitors(ctx context.Context) error {
	if !s.o.Ceph {
		s.say("ceph: skipped (no --ceph)")
		return nil
	}
	var nodes []ceph.NodeSpec
	for _, n := range s.c.Snapshot() {
		nodes = append(nodes, ceph.NodeSpec{Name: n.Name, Zone: n.Zone, IP: n.IP, Disk: s.l.NodeDisk(n.Name)})
	}
	s.ceph = ceph.Plan(s.l.Ceph(), s.c.BridgeIP, s.c.BridgeIP+"/24", nodes)
	start := func(spec proc.Spec) (*proc.Started, error) {
		p, err := proc.Start(spec)
		if err != nil {
			return nil, err
		}
		return p, s.record(p)
	}
	return s.ceph.StartMonitors(ctx, start, s.l.Log, s.progress())
}

// nodeServices are the daemons a node starts on every boot besides its
// kubelet: its Ceph OSD.
func (s *supervisor) nodeServices(name string) []node.Service {
	if s.ceph == nil {
		return nil
	}
	argv, ok := s.ceph.OSDArgv(name)
	if !ok {
		return nil
	}
	return []node.Service{{Component: cephOSDComponent, Argv: argv}}
}

// startCephPool waits for every node's OSD, creates the RBD pool, waits for
// it to be active+clean and records the Ceph clients' settings in the
// cluster state.
func (s *supervisor) startCephPool(ctx context.Context) error {
	if s.ceph == nil {
		return nil
	}
	osdLog := func(host string) string { return s.l.Log(host + "-" + cephOSDComponent) }
	if err := s.ceph.WaitOSDsUp(ctx, 2*time.Minute, osdLog); err != nil {
		return err
	}
	s.say("ceph: %d OSDs up", len(s.ceph.OSDs))
	if err := s.ceph.CreatePool(ctx); err != nil {
		return err
	}
	version, err := ceph.Version(ctx)
	if err != nil {
		return err
	}
	health := storagehealth.Ceph{Conf: s.ceph.Conf(), Pool: ceph.Pool}
	if err := waitClean(ctx, health, 2*time.Minute, s.say); err != nil {
		return err
	}
	s.say("ceph: pool %s active+clean: %d copies (one per host), min_size %d, %d PGs; Ceph %s", ceph.Pool, s.ceph.Size(), s.ceph.MinSize(), ceph.PGs, version)
	return s.c.Update(s.l, func(c *state.Cluster) {
		c.Ceph = &state.Ceph{Conf: s.ceph.Conf(), MonHost: s.ceph.MonHost(), Pool: ceph.Pool, Version: version,
			Size: s.ceph.Size(), MinSize: s.ceph.MinSize()}
	})
}

// waitClean waits until src reports full redundancy.
func waitClean(ctx context.Context, src storagehealth.Source, timeout time.Duration, say func(string, ...any)) error {
	deadline := time.Now().Add(timeout)
	lastSay := time.Now()
	for {
		st, err := src.Health(ctx)
		if err == nil && st.Redundancy == storagehealth.Clean {
			return nil
		}
		msg := st.Summary()
		if err != nil {
			msg = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ceph: pool %s not clean after %s: %s", ceph.Pool, timeout, strings.TrimSpace(msg))
		}
		if time.Since(lastSay) > 5*time.Second {
			say("ceph: waiting for the pool to be clean: %s", msg)
			lastSay = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}
