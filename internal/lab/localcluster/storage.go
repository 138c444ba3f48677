package localcluster

import (
	"context"

	"github.com/irischaos/irischaos/internal/lab/localcluster/provisioner"
)

// startStorage serves the StorageClasses until ctx ends: replicated by the
// Ceph RBD CSI driver with --ceph (else by a directory stand-in), local-disk
// by the node-local stand-in.
func (s *supervisor) startStorage(ctx context.Context) error {
	p := &provisioner.Provisioner{NodeDisk: s.l.NodeDisk}
	if s.ceph == nil {
		p.ReplicatedDir = s.l.Replicated()
	}
	if err := provisioner.Run(ctx, s.cs, p); err != nil {
		return err
	}
	if s.ceph == nil {
		s.say("storage: StorageClasses %s (Longhorn stand-in: a directory, no real replication) and %s (node-local disk stand-in), provisioner %s", provisioner.Replicated, provisioner.LocalDisk, provisioner.Name)
		return nil
	}
	s.say("storage: StorageClass %s (node-local disk stand-in), provisioner %s", provisioner.LocalDisk, provisioner.Name)
	return s.startCSIController(ctx, s.cephVersion)
}
