package localcluster

import (
	"context"

	"github.com/irischaos/irischaos/internal/lab/localcluster/provisioner"
)

// startStorage creates the stand-in StorageClasses and runs their provisioner
// in the supervisor until ctx ends.
func (s *supervisor) startStorage(ctx context.Context) error {
	p := &provisioner.Provisioner{ReplicatedDir: s.l.Replicated(), NodeDisk: s.l.NodeDisk}
	if err := provisioner.Run(ctx, s.cs, p); err != nil {
		return err
	}
	s.say("storage: StorageClasses %s (Longhorn stand-in) and %s (node-local disk stand-in), provisioner %s", provisioner.Replicated, provisioner.LocalDisk, provisioner.Name)
	return nil
}
