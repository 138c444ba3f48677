package csi

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

// maxSocketPath is the longest path a unix socket can be bound or dialled
// at (sun_path holds 108 bytes with the terminating NUL).
const maxSocketPath = 107

// Serve answers gRPC on a fresh unix socket at path until ctx ends.
func Serve(ctx context.Context, path string, register func(*grpc.Server)) error {
	if len(path) > maxSocketPath {
		return fmt.Errorf("socket path %s is %d bytes, longer than a unix socket allows (%d): use a shorter cluster name or state directory", path, len(path), maxSocketPath)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("removing old socket %s: %w", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", path, err)
	}
	s := grpc.NewServer()
	register(s)
	go func() {
		<-ctx.Done()
		s.Stop()
	}()
	if err := s.Serve(l); err != nil && ctx.Err() == nil {
		return fmt.Errorf("serving %s: %w", path, err)
	}
	return nil
}

// SocketPaths are where the kubelet (root dir kubeletDir) finds the node
// plugin: the registration socket in plugins_registry, watched by the
// kubelet's plugin manager, and the CSI socket it announces, in the plugin's
// own state directory. Both names are short: a unix socket's path must fit
// in 107 bytes, and a kubelet root dir is already long
// (upstream's <driver>-reg.sock and plugins/<driver>/csi.sock did not fit).
func SocketPaths(kubeletDir, stateDir string) (registration, csiSocket string) {
	return filepath.Join(kubeletDir, "plugins_registry", "rbd-reg.sock"),
		filepath.Join(stateDir, "csi.sock")
}

// Registration is the kubelet plugin registration service (what
// node-driver-registrar does upstream): it tells the kubelet the driver's
// name and CSI socket.
type Registration struct {
	registerapi.UnimplementedRegistrationServer
	Endpoint string // CSI socket path
	// Registered receives the kubelet's verdict.
	Registered func(ok bool, err string)
}

// GetInfo implements registerapi.RegistrationServer.
func (r *Registration) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{Type: registerapi.CSIPlugin, Name: DriverName, Endpoint: r.Endpoint, SupportedVersions: []string{"1.0.0"}}, nil
}

// NotifyRegistrationStatus implements registerapi.RegistrationServer.
func (r *Registration) NotifyRegistrationStatus(_ context.Context, s *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if r.Registered != nil {
		r.Registered(s.PluginRegistered, s.Error)
	}
	return &registerapi.RegistrationStatusResponse{}, nil
}

// ServeNode serves the node plugin on the kubelet's sockets until ctx ends.
// The first socket that fails stops both.
func ServeNode(ctx context.Context, kubeletDir string, n *Node, id *Identity, registered func(bool, string)) error {
	regPath, csiPath := SocketPaths(kubeletDir, n.StateDir)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() {
		errc <- Serve(ctx, csiPath, func(s *grpc.Server) {
			csi.RegisterIdentityServer(s, id)
			csi.RegisterNodeServer(s, n)
		})
	}()
	go func() {
		errc <- Serve(ctx, regPath, func(s *grpc.Server) {
			registerapi.RegisterRegistrationServer(s, &Registration{Endpoint: csiPath, Registered: registered})
		})
	}()
	err := <-errc
	cancel()
	if err2 := <-errc; err == nil {
		err = err2
	}
	return err
}
