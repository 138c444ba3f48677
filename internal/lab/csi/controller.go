package csi

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Identity is the CSI identity service of both plugin sides.
type Identity struct {
	csi.UnimplementedIdentityServer
	Version    string // driver version
	Controller bool   // advertise the controller service
}

// GetPluginInfo implements csi.IdentityServer.
func (i *Identity) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: DriverName, VendorVersion: i.Version}, nil
}

// GetPluginCapabilities implements csi.IdentityServer.
func (i *Identity) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	var caps []*csi.PluginCapability
	if i.Controller {
		caps = append(caps, &csi.PluginCapability{Type: &csi.PluginCapability_Service_{
			Service: &csi.PluginCapability_Service{Type: csi.PluginCapability_Service_CONTROLLER_SERVICE}}})
	}
	return &csi.GetPluginCapabilitiesResponse{Capabilities: caps}, nil
}

// Probe implements csi.IdentityServer.
func (i *Identity) Probe(context.Context, *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	return &csi.ProbeResponse{}, nil
}

// DefaultSize is the size of a volume whose request names none.
const DefaultSize = 1 << 30

// Controller is the CSI controller service: RBD images and their fencing.
type Controller struct {
	csi.UnimplementedControllerServer
	Ceph Ceph
	// NodeIP returns the address a node's Ceph clients connect from; lock
	// holders from any other address are fenced on publish.
	NodeIP func(ctx context.Context, nodeID string) (string, error)
}

// ControllerGetCapabilities implements csi.ControllerServer.
func (c *Controller) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	var caps []*csi.ControllerServiceCapability
	for _, t := range []csi.ControllerServiceCapability_RPC_Type{
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
		csi.ControllerServiceCapability_RPC_PUBLISH_UNPUBLISH_VOLUME,
	} {
		caps = append(caps, &csi.ControllerServiceCapability{Type: &csi.ControllerServiceCapability_Rpc{Rpc: &csi.ControllerServiceCapability_RPC{Type: t}}})
	}
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: caps}, nil
}

// checkCapabilities accepts single-node mounted volumes only: the chain
// (one rbd-fuse, one ext4) cannot be shared between nodes.
func checkCapabilities(caps []*csi.VolumeCapability) error {
	if len(caps) == 0 {
		return status.Error(codes.InvalidArgument, "no volume capabilities given")
	}
	for _, vc := range caps {
		if vc.GetMount() == nil {
			return status.Error(codes.InvalidArgument, "only filesystem (mount) volumes are served, not raw block")
		}
		if fs := vc.GetMount().GetFsType(); fs != "" && fs != FSType {
			return status.Errorf(codes.InvalidArgument, "file system %q is not served; only %s", fs, FSType)
		}
		switch vc.GetAccessMode().GetMode() {
		case csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER,
			csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER,
			csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER:
		default:
			return status.Errorf(codes.InvalidArgument, "access mode %s is not served: an RBD image here is used by one node at a time (ReadWriteOnce)", vc.GetAccessMode().GetMode())
		}
	}
	return nil
}

// imageName is the RBD image of a volume: the volume's name (the PV name,
// pvc-<uid>), so an image is found from its PV at a glance.
func imageName(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, "/@ ") {
		return "", status.Errorf(codes.InvalidArgument, "volume name %q cannot name an RBD image", name)
	}
	return name, nil
}

// CreateVolume implements csi.ControllerServer; a repeated call for an
// existing image of the same size succeeds (CSI idempotency).
func (c *Controller) CreateVolume(ctx context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	img, err := imageName(req.GetName())
	if err != nil {
		return nil, err
	}
	if err := checkCapabilities(req.GetVolumeCapabilities()); err != nil {
		return nil, err
	}
	size := req.GetCapacityRange().GetRequiredBytes()
	if size == 0 {
		size = DefaultSize
	}
	if limit := req.GetCapacityRange().GetLimitBytes(); limit != 0 && limit < size {
		return nil, status.Errorf(codes.OutOfRange, "volume %s: limit %d bytes is below the required %d", img, limit, size)
	}
	have, err := c.Ceph.ImageSize(ctx, img)
	switch {
	case err == nil && have != size:
		return nil, status.Errorf(codes.AlreadyExists, "image %s exists with %d bytes, %d requested", c.Ceph.spec(img), have, size)
	case errors.Is(err, ErrNotFound):
		if err := c.Ceph.CreateImage(ctx, img, size); err != nil {
			return nil, status.Errorf(codes.Internal, "creating volume %s: %v", img, err)
		}
	case err != nil:
		return nil, status.Errorf(codes.Unavailable, "volume %s: %v", img, err)
	}
	return &csi.CreateVolumeResponse{Volume: &csi.Volume{VolumeId: img, CapacityBytes: size}}, nil
}

// DeleteVolume implements csi.ControllerServer. Ceph refuses to remove an
// image a client still has open; that error is returned as is.
func (c *Controller) DeleteVolume(ctx context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	img, err := imageName(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	if err := c.Ceph.RemoveImage(ctx, img); err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "deleting volume %s: %v", img, err)
	}
	return &csi.DeleteVolumeResponse{}, nil
}

// ControllerPublishVolume implements csi.ControllerServer: the image becomes
// the node's alone. Every lock holder on another node is blocklisted and
// loses the lock, so a node that was cut off (and whose pod Kubernetes gave
// up on) cannot write to the image once the new node has it.
func (c *Controller) ControllerPublishVolume(ctx context.Context, req *csi.ControllerPublishVolumeRequest) (*csi.ControllerPublishVolumeResponse, error) {
	img, err := imageName(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	if req.GetNodeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "no node id given")
	}
	if err := checkCapabilities([]*csi.VolumeCapability{req.GetVolumeCapability()}); err != nil {
		return nil, err
	}
	if _, err := c.Ceph.ImageSize(ctx, img); errors.Is(err, ErrNotFound) {
		return nil, status.Errorf(codes.NotFound, "volume %s: %v", img, err)
	} else if err != nil {
		return nil, status.Errorf(codes.Unavailable, "volume %s: %v", img, err)
	}
	ip, err := c.NodeIP(ctx, req.GetNodeId())
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "node %s: %v", req.GetNodeId(), err)
	}
	if _, err := c.Ceph.Fence(ctx, img, func(l Locker) bool { return l.IP() == ip }); err != nil {
		return nil, status.Errorf(codes.Unavailable, "publishing volume %s to node %s: %v", img, req.GetNodeId(), err)
	}
	return &csi.ControllerPublishVolumeResponse{}, nil
}

// ControllerUnpublishVolume implements csi.ControllerServer. After a clean
// unstage the node holds no lock and nothing happens; when Kubernetes
// detaches by force (the node stopped answering), the node's client still
// holds it and is fenced, so detached means unable to write.
func (c *Controller) ControllerUnpublishVolume(ctx context.Context, req *csi.ControllerUnpublishVolumeRequest) (*csi.ControllerUnpublishVolumeResponse, error) {
	img, err := imageName(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	if req.GetNodeId() == "" {
		return &csi.ControllerUnpublishVolumeResponse{}, nil
	}
	ip, err := c.NodeIP(ctx, req.GetNodeId())
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "node %s: %v", req.GetNodeId(), err)
	}
	if _, err := c.Ceph.Fence(ctx, img, func(l Locker) bool { return l.IP() != ip }); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, status.Errorf(codes.Unavailable, "unpublishing volume %s from node %s: %v", img, req.GetNodeId(), err)
	}
	return &csi.ControllerUnpublishVolumeResponse{}, nil
}

// ValidateVolumeCapabilities implements csi.ControllerServer.
func (c *Controller) ValidateVolumeCapabilities(ctx context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	img, err := imageName(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	if _, err := c.Ceph.ImageSize(ctx, img); err != nil {
		return nil, status.Errorf(codes.NotFound, "volume %s: %v", img, err)
	}
	if err := checkCapabilities(req.GetVolumeCapabilities()); err != nil {
		return &csi.ValidateVolumeCapabilitiesResponse{Message: err.Error()}, nil
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{VolumeCapabilities: req.GetVolumeCapabilities()}}, nil
}

// String names the storage as reports must: real Ceph, not Longhorn.
func StorageName(version string) string {
	return fmt.Sprintf("Ceph RBD %s (real replicated block storage, standing in for Longhorn)", version)
}
