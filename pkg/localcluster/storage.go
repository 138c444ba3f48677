package localcluster

import "context"

// startStorage creates the StorageClasses and runs their provisioner.
func (s *supervisor) startStorage(ctx context.Context) error { return nil }
