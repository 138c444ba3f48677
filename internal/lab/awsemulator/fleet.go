package awsemulator

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
)

// Fleet is a local cluster's emulated EC2: a running Server, one instance
// per node, and the EndpointFile in the cluster directory that tells
// irischaos where it is. It is what `cluster up --cloud aws-emulator` needs:
//
//	f, err := emulator.StartFleet(ctx, clusterDir, specs) // before kubelets start
//	node.ProviderID = f.Instances[node.Name].ProviderID   // and node.Zone = ...Zone
//	go f.Sync(ctx, power, log)                            // while the cluster runs
//	f.Close()                                             // at teardown
type Fleet struct {
	Server    *Server
	Instances map[string]Instance // by node name
	dir       string
}

// StartFleet starts moto_server (logging to dir/moto.log), launches one
// instance per node and writes dir/EndpointFile.
func StartFleet(ctx context.Context, dir string, nodes []NodeSpec) (*Fleet, error) {
	srv, err := Start(ctx, filepath.Join(dir, "moto.log"))
	if err != nil {
		return nil, err
	}
	insts, err := Launch(ctx, srv.URL, nodes)
	if err != nil {
		return nil, errors.Join(err, srv.Stop())
	}
	if err := WriteEndpoint(dir, Endpoint{URL: srv.URL, Region: Region, Instances: insts}); err != nil {
		return nil, errors.Join(err, srv.Stop())
	}
	return &Fleet{Server: srv, Instances: insts, dir: dir}, nil
}

// Sync runs Sync for the fleet's instances until ctx ends.
func (f *Fleet) Sync(ctx context.Context, power PowerFunc, log io.Writer) error {
	return Sync(ctx, f.Server.URL, f.Instances, power, log)
}

// Close stops moto_server and removes the EndpointFile.
func (f *Fleet) Close() error {
	if f == nil {
		return nil
	}
	err := os.Remove(filepath.Join(f.dir, EndpointFile))
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	}
	return errors.Join(err, f.Server.Stop())
}
