package localcluster

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/irischaos/irischaos/internal/lab/ceph"
	"github.com/irischaos/irischaos/internal/lab/csi"
	"github.com/irischaos/irischaos/internal/lab/localcluster/node"
	"github.com/irischaos/irischaos/internal/lab/localcluster/proc"
	"github.com/irischaos/irischaos/internal/lab/localcluster/provisioner"
	"github.com/irischaos/irischaos/internal/lab/localcluster/state"
	"github.com/irischaos/irischaos/pkg/storagehealth"
)

// Node service names (logs <node>-<component>): the node's Ceph OSD and
// its CSI node plugin, both in the node's power domain.
const (
	cephOSDComponent = "ceph-osd"
	csiNodeComponent = "csi-node"
)

// csiBinary is the driver's binary, next to irischaos (make build).
const csiBinary = "irischaos-csi"

// csiPath is the driver's binary: in BinDir, else next to the running
// executable.
func (s *supervisor) csiPath() string {
	dir := s.o.BinDir
	if dir == "" {
		if exe, err := os.Executable(); err == nil {
			if exe, err = filepath.EvalSymlinks(exe); err == nil {
				dir = filepath.Dir(exe)
			}
		}
	}
	return filepath.Join(dir, csiBinary)
}

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
// kubelet: its Ceph OSD and the CSI node plugin that stages RBD images for
// its pods (as a DaemonSet's pod would, it dies with the node).
func (s *supervisor) nodeServices(name string) []node.Service {
	if s.ceph == nil {
		return nil
	}
	argv, ok := s.ceph.OSDArgv(name)
	if !ok {
		return nil
	}
	return []node.Service{
		{Component: cephOSDComponent, Argv: argv},
		{Component: csiNodeComponent, Argv: []string{s.csiPath(), "node",
			"--node-name", name, "--kubelet-dir", filepath.Join(s.l.Node(name), "kubelet"),
			"--state-dir", filepath.Join(s.l.Node(name), "csi"), "--ceph-conf", s.ceph.Conf(), "--pool", ceph.Pool}},
	}
}

// startCSIController serves the replicated class with the Ceph RBD driver:
// the CSIDriver object (attach required), the provisioner and the attacher
// run in the supervisor, on the host like a control-plane Deployment, until
// ctx ends.
func (s *supervisor) startCSIController(ctx context.Context, version string) error {
	if _, err := os.Stat(s.csiPath()); err != nil {
		return fmt.Errorf("the CSI node plugin is missing (%v): run make build, which puts %s next to irischaos", err, csiBinary)
	}
	desc := csi.StorageName(version) + fmt.Sprintf(": pool %s, %d copies, one per node, min_size %d", ceph.Pool, s.ceph.Size(), s.ceph.MinSize())
	cc := csi.Ceph{Conf: s.ceph.Conf(), Pool: ceph.Pool}
	if err := csi.EnsureStorageClass(ctx, s.cs, csi.StorageClass(provisioner.Replicated, desc, cc)); err != nil {
		return err
	}
	f, err := os.OpenFile(s.l.Log("csi-controller"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	logger := log.New(f, "", log.LstdFlags|log.Lmicroseconds)
	c := &csi.Controller{Ceph: cc, NodeIP: csi.NodeIPFromAPI(s.cs)}
	if err := csi.EnsureCSIDriver(ctx, s.cs); err != nil {
		f.Close()
		return err
	}
	go func() {
		defer f.Close()
		if err := csi.RunController(ctx, s.cs, c, logger); err != nil {
			logger.Printf("controller stopped: %v", err)
		}
	}()
	s.say("storage: StorageClass %s served by %s (%s); controller log %s", provisioner.Replicated, csi.DriverName, desc, s.l.Log("csi-controller"))
	return nil
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
	s.cephVersion = version
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
