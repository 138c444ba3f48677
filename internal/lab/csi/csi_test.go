package csi

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestParseLockers(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []Locker
		ip       string
	}{
		{"pacific list", `[{"id":"auto 139","locker":"client.4123","address":"10.250.0.11:0/3155"}]`,
			[]Locker{{ID: "auto 139", Locker: "client.4123", Address: "10.250.0.11:0/3155"}}, "10.250.0.11"},
		{"old map", `{"auto 7":{"locker":"client.9","address":"v1:127.0.0.1:0/42"}}`,
			[]Locker{{ID: "auto 7", Locker: "client.9", Address: "v1:127.0.0.1:0/42"}}, "127.0.0.1"},
		{"none", "[]\n", []Locker{}, ""},
		{"empty output", "", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseLockers([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("got %+v, want %+v", got[i], tc.want[i])
				}
				if got[i].IP() != tc.ip {
					t.Errorf("IP() = %q, want %q", got[i].IP(), tc.ip)
				}
			}
		})
	}
	if _, err := parseLockers([]byte("rbd: garbage")); err == nil {
		t.Error("unreadable output accepted")
	}
}

func TestCheckClientConf(t *testing.T) {
	for _, tc := range []struct {
		name, conf string
		ok         bool
	}{
		{"client off", "[global]\nfsid = x\n[client]\nrbd_cache = false\n", true},
		{"spaces in key", "[client]\nrbd cache = false # see notes\n", true},
		{"global off", "[global]\nrbd_cache = false\n", true},
		{"client overrides global", "[global]\nrbd_cache = false\n[client]\nrbd_cache = true\n", false},
		{"unset: librbd default is on", "[global]\nfsid = x\n", false},
		{"osd section does not count", "[osd]\nrbd_cache = false\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckClientConf(tc.conf)
			if (err == nil) != tc.ok {
				t.Errorf("CheckClientConf = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestParseVersion(t *testing.T) {
	v, err := parseVersion("ceph version 16.2.15 (618f440892089921c3e944a991122ddc44e60516) pacific (stable)\n")
	if err != nil || v != "16.2.15" {
		t.Fatalf("parseVersion = %q, %v", v, err)
	}
	if _, err := parseVersion("bash: ceph: not found"); err == nil {
		t.Error("no version accepted")
	}
	if s := StorageName(v); !strings.Contains(s, "Ceph RBD 16.2.15") || !strings.Contains(s, "standing in for Longhorn") {
		t.Errorf("StorageName = %q", s)
	}
}

func capability(mode csi.VolumeCapability_AccessMode_Mode, block bool) *csi.VolumeCapability {
	c := &csi.VolumeCapability{AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode}}
	if block {
		c.AccessType = &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}}
	} else {
		c.AccessType = &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}}
	}
	return c
}

// Requests that must be refused before any Ceph call (the Ceph config
// points nowhere, so a call would fail differently).
func TestControllerRejectsBadRequests(t *testing.T) {
	c := &Controller{Ceph: Ceph{Conf: "/nonexistent/ceph.conf", Pool: "rbd"}}
	ctx := context.Background()
	rwo := capability(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER, false)
	for _, tc := range []struct {
		name string
		req  *csi.CreateVolumeRequest
		code codes.Code
	}{
		{"no name", &csi.CreateVolumeRequest{VolumeCapabilities: []*csi.VolumeCapability{rwo}}, codes.InvalidArgument},
		{"name with slash", &csi.CreateVolumeRequest{Name: "rbd/x", VolumeCapabilities: []*csi.VolumeCapability{rwo}}, codes.InvalidArgument},
		{"no capability", &csi.CreateVolumeRequest{Name: "pvc-1"}, codes.InvalidArgument},
		{"multi-node", &csi.CreateVolumeRequest{Name: "pvc-1", VolumeCapabilities: []*csi.VolumeCapability{capability(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER, false)}}, codes.InvalidArgument},
		{"raw block", &csi.CreateVolumeRequest{Name: "pvc-1", VolumeCapabilities: []*csi.VolumeCapability{capability(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER, true)}}, codes.InvalidArgument},
		{"limit below required", &csi.CreateVolumeRequest{Name: "pvc-1", VolumeCapabilities: []*csi.VolumeCapability{rwo},
			CapacityRange: &csi.CapacityRange{RequiredBytes: 2 << 30, LimitBytes: 1 << 30}}, codes.OutOfRange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateVolume(ctx, tc.req)
			if status.Code(err) != tc.code {
				t.Errorf("CreateVolume = %v, want code %s", err, tc.code)
			}
		})
	}
	if _, err := c.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: "pvc-1", VolumeCapability: rwo}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("publish without node = %v", err)
	}
}

func TestRegistrationAnnouncesCSISocket(t *testing.T) {
	reg, sock := SocketPaths("/k", "/s")
	if reg != "/k/plugins_registry/rbd-reg.sock" || sock != "/s/csi.sock" {
		t.Fatalf("SocketPaths = %s, %s", reg, sock)
	}
	info, err := (&Registration{Endpoint: sock}).GetInfo(context.Background(), nil)
	if err != nil || info.Type != "CSIPlugin" || info.Name != DriverName || info.Endpoint != sock {
		t.Fatalf("GetInfo = %+v, %v", info, err)
	}
}

func TestCSIDriverRequiresAttach(t *testing.T) {
	d := CSIDriver()
	if d.Name != DriverName || d.Spec.AttachRequired == nil || !*d.Spec.AttachRequired {
		t.Fatalf("CSIDriver = %+v", d)
	}
	if attachFinalizer != "external-attacher/rbd-csi-irischaos-io" {
		t.Errorf("finalizer = %s", attachFinalizer)
	}
}

func TestIsRBDFuse(t *testing.T) {
	if isRBDFuse(1) {
		t.Error("pid 1 taken for rbd-fuse")
	}
	if isRBDFuse(-5) || isRBDFuse(0) {
		t.Error("non-pid taken for rbd-fuse")
	}
}

func TestLoopIn(t *testing.T) {
	sys := t.TempDir()
	for dev, backing := range map[string]string{"loop0": "/x/a/fuse/pvc-1\n", "loop1": "", "loop2": "/x/b/fuse/pvc-2\n", "sda": "/x/b/fuse/pvc-3\n"} {
		if err := os.MkdirAll(filepath.Join(sys, dev, "loop"), 0o755); err != nil {
			t.Fatal(err)
		}
		if backing != "" {
			if err := os.WriteFile(filepath.Join(sys, dev, "loop", "backing_file"), []byte(backing), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for file, want := range map[string]string{"/x/b/fuse/pvc-2": "/dev/loop2", "/x/a/fuse/pvc-1": "/dev/loop0", "/x/b/fuse/pvc-3": "", "/x/c": ""} {
		if got, err := loopIn(sys, file); err != nil || got != want {
			t.Errorf("loopIn(%s) = %q, %v; want %q", file, got, err, want)
		}
	}
}

func TestServeRefusesTooLongSocketPath(t *testing.T) {
	long := "/" + strings.Repeat("d", 120) + "/csi.sock"
	err := Serve(context.Background(), long, func(*grpc.Server) {})
	if err == nil || !strings.Contains(err.Error(), "longer than a unix socket allows") {
		t.Fatalf("Serve(%d-byte path) = %v", len(long), err)
	}
}
