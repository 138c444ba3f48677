package csi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	mount "k8s.io/mount-utils"
	utilexec "k8s.io/utils/exec"
)

// FSType is the file system made on blank images.
const FSType = "ext4"

// Node is the CSI node service of one node. Stage builds the chain
// rbd-fuse (the image as a file) -> loop device -> ext4 -> staging path;
// publish bind-mounts the staging path into the pod. Its processes are
// the node's: it runs inside the node's network namespace and cgroup
// subtree, so the node's power-off kills its rbd-fuse too.
type Node struct {
	csi.UnimplementedNodeServer
	Ceph     Ceph
	NodeID   string
	StateDir string // per-volume FUSE mount points and rbd-fuse PIDs
	// StepTimeout bounds each unmount or detach before the chain is cut
	// by killing rbd-fuse (a fenced rbd-fuse never answers); 15 s when zero.
	StepTimeout time.Duration
	Mounter     *mount.SafeFormatAndMount
}

// NewNode returns a node service with the system's mounter.
func NewNode(c Ceph, nodeID, stateDir string) *Node {
	return &Node{Ceph: c, NodeID: nodeID, StateDir: stateDir,
		Mounter: &mount.SafeFormatAndMount{Interface: mount.New(""), Exec: utilexec.New()}}
}

func (n *Node) stepTimeout() time.Duration {
	if n.StepTimeout == 0 {
		return 15 * time.Second
	}
	return n.StepTimeout
}

func (n *Node) fuseDir(vol string) string { return filepath.Join(n.StateDir, vol, "fuse") }
func (n *Node) pidFile(vol string) string { return filepath.Join(n.StateDir, vol, "rbd-fuse.pid") }
func (n *Node) imageFile(vol string) string {
	return filepath.Join(n.fuseDir(vol), vol)
}

// NodeGetInfo implements csi.NodeServer.
func (n *Node) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	return &csi.NodeGetInfoResponse{NodeId: n.NodeID}, nil
}

// NodeGetCapabilities implements csi.NodeServer.
func (n *Node) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	return &csi.NodeGetCapabilitiesResponse{Capabilities: []*csi.NodeServiceCapability{{
		Type: &csi.NodeServiceCapability_Rpc{Rpc: &csi.NodeServiceCapability_RPC{Type: csi.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME}},
	}}}, nil
}

// NodeStageVolume implements csi.NodeServer.
func (n *Node) NodeStageVolume(ctx context.Context, req *csi.NodeStageVolumeRequest) (*csi.NodeStageVolumeResponse, error) {
	vol, err := imageName(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	target := req.GetStagingTargetPath()
	if target == "" {
		return nil, status.Error(codes.InvalidArgument, "no staging path given")
	}
	if err := checkCapabilities([]*csi.VolumeCapability{req.GetVolumeCapability()}); err != nil {
		return nil, err
	}
	if err := n.Stage(ctx, vol, target); err != nil {
		return nil, status.Errorf(codes.Internal, "staging volume %s on node %s: %v", vol, n.NodeID, err)
	}
	return &csi.NodeStageVolumeResponse{}, nil
}

// Stage builds the chain for vol and mounts its file system at target.
// Idempotent: a chain already mounted at target is kept.
func (n *Node) Stage(ctx context.Context, vol, target string) error {
	if mounted, _ := n.Mounter.IsMountPoint(target); mounted {
		return nil
	}
	if err := os.MkdirAll(target, 0o750); err != nil {
		return err
	}
	if err := n.startFuse(ctx, vol); err != nil {
		return err
	}
	loop, err := n.attachLoop(ctx, vol)
	if err != nil {
		return err
	}
	// FormatAndMount makes the file system only on a blank device and
	// checks an existing one first (a node that died left its journal).
	if err := n.Mounter.FormatAndMount(loop, target, FSType, nil); err != nil {
		return fmt.Errorf("mounting %s (image %s) at %s: %w", loop, n.Ceph.spec(vol), target, err)
	}
	return nil
}

// startFuse starts rbd-fuse exposing only vol, unless a live one serves it.
func (n *Node) startFuse(ctx context.Context, vol string) error {
	dir := n.fuseDir(vol)
	if _, err := os.Stat(n.imageFile(vol)); err == nil {
		return nil
	}
	// A dead rbd-fuse leaves "transport endpoint is not connected".
	n.stopFuse(ctx, vol, true)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(n.StateDir, vol, "rbd-fuse.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	// -f: stay in the foreground so its PID is the one recorded; its own
	// session, so a restart of this plugin does not take the mount down.
	cmd := exec.Command("rbd-fuse", dir, "-c", n.Ceph.Conf, "-p", n.Ceph.Pool, "-r", vol, "-f")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting rbd-fuse for %s: %w", n.Ceph.spec(vol), err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if err := os.WriteFile(n.pidFile(vol), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
		return err
	}
	deadline := time.After(30 * time.Second)
	for {
		if _, err := os.Stat(n.imageFile(vol)); err == nil {
			return nil
		}
		select {
		case err := <-exited:
			b, _ := os.ReadFile(logf.Name())
			return fmt.Errorf("rbd-fuse for %s exited (%v): %s", n.Ceph.spec(vol), err, strings.TrimSpace(string(b)))
		case <-deadline:
			_ = cmd.Process.Kill()
			return fmt.Errorf("rbd-fuse for %s: image file %s did not appear in 30 s; see %s", n.Ceph.spec(vol), n.imageFile(vol), logf.Name())
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// loopOf returns the loop device backed by file, or "". It reads sysfs
// rather than running `losetup -j`, which stats every loop device's
// backing file and so hangs on any other volume's fenced rbd-fuse.
func loopOf(_ context.Context, file string) (string, error) {
	return loopIn("/sys/block", file)
}

func loopIn(sysBlock, file string) (string, error) {
	ents, err := os.ReadDir(sysBlock)
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "loop") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(sysBlock, e.Name(), "loop", "backing_file"))
		if err != nil {
			continue // not attached
		}
		if filepath.Clean(strings.TrimSpace(string(b))) == filepath.Clean(file) {
			return "/dev/" + e.Name(), nil
		}
	}
	return "", nil
}

func (n *Node) attachLoop(ctx context.Context, vol string) (string, error) {
	file := n.imageFile(vol)
	if dev, err := loopOf(ctx, file); err == nil && dev != "" {
		return dev, nil
	}
	// The first write to the image takes its exclusive lock; when a dead
	// node still holds it, librbd waits for the dead watch to time out.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "losetup", "--find", "--show", file).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("losetup %s: %v: %s", file, err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// NodeUnstageVolume implements csi.NodeServer.
func (n *Node) NodeUnstageVolume(ctx context.Context, req *csi.NodeUnstageVolumeRequest) (*csi.NodeUnstageVolumeResponse, error) {
	vol, err := imageName(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	if req.GetStagingTargetPath() == "" {
		return nil, status.Error(codes.InvalidArgument, "no staging path given")
	}
	if err := n.Unstage(ctx, vol, req.GetStagingTargetPath()); err != nil {
		return nil, status.Errorf(codes.Internal, "unstaging volume %s on node %s: %v", vol, n.NodeID, err)
	}
	return &csi.NodeUnstageVolumeResponse{}, nil
}

// Unstage takes every layer down: ext4, loop device, rbd-fuse (which
// releases the image's lock on a clean exit). A step that does not finish
// in time (the client was fenced, or its OSDs are gone) cuts the chain at
// the bottom: rbd-fuse is killed, after which every layer above fails fast
// and is removed lazily.
func (n *Node) Unstage(ctx context.Context, vol, target string) error {
	cut := false
	if err := n.bounded(ctx, "umount", target); err != nil && !notMounted(err) {
		cut = true
		n.stopFuse(ctx, vol, true)
		if err := syscall.Unmount(target, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("unmounting %s: %w", target, err)
		}
	}
	if dev, err := loopOf(ctx, n.imageFile(vol)); err == nil && dev != "" {
		if err := n.bounded(ctx, "losetup", "-d", dev); err != nil {
			if !cut {
				cut = true
				n.stopFuse(ctx, vol, true)
			}
			if err := n.bounded(ctx, "losetup", "-d", dev); err != nil {
				return fmt.Errorf("detaching %s: %w", dev, err)
			}
		}
	}
	n.stopFuse(ctx, vol, cut)
	if err := os.RemoveAll(filepath.Join(n.StateDir, vol)); err != nil {
		return err
	}
	_ = os.Remove(target)
	return nil
}

// stopFuse detaches vol's FUSE mount and makes rbd-fuse exit. The mount
// is detached with umount2(MNT_DETACH), never with umount(8): the tool
// stats the mount point, and that stat waits uninterruptibly (D state) on
// a fenced rbd-fuse that never answers. A clean rbd-fuse then closes the
// image (releasing its lock) and exits; one that does not exit in time is
// killed. kill: SIGKILL it first (its client is known to be cut off).
func (n *Node) stopFuse(_ context.Context, vol string, kill bool) {
	pid := 0
	if b, err := os.ReadFile(n.pidFile(vol)); err == nil {
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if kill && pid > 0 && isRBDFuse(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = syscall.Unmount(n.fuseDir(vol), syscall.MNT_DETACH)
	waitGone(pid, n.stepTimeout())
	if pid > 0 && isRBDFuse(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		waitGone(pid, n.stepTimeout())
	}
}

// isRBDFuse tells whether pid is a live rbd-fuse (not a reused PID, not a
// zombie: a killed process reads as alive to kill -0 until reaped).
func isRBDFuse(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndex(s, ")")
	return strings.Contains(s, "(rbd-fuse)") && i >= 0 && len(s) > i+2 && s[i+2] != 'Z'
}

func waitGone(pid int, d time.Duration) {
	if pid <= 0 {
		return
	}
	for end := time.Now().Add(d); time.Now().Before(end) && isRBDFuse(pid); {
		time.Sleep(50 * time.Millisecond)
	}
}

// bounded runs a clean-up command for at most the step timeout. A command
// stuck in uninterruptible I/O (an unmount flushing to a fenced chain)
// cannot be killed, so it is left behind and reported; cutting the chain
// below it (killing rbd-fuse) then lets it finish.
func (n *Node) bounded(_ context.Context, argv ...string) error {
	var out bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(out.String()))
		}
		return nil
	case <-time.After(n.stepTimeout()):
		_ = cmd.Process.Kill()
		return fmt.Errorf("%s: no answer in %s", strings.Join(argv, " "), n.stepTimeout())
	}
}

func notMounted(err error) bool {
	s := err.Error()
	return strings.Contains(s, "not mounted") || strings.Contains(s, "no mount point") || strings.Contains(s, "No such file or directory")
}

// NodePublishVolume implements csi.NodeServer: a bind mount of the staged
// file system into the pod.
func (n *Node) NodePublishVolume(ctx context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	if _, err := imageName(req.GetVolumeId()); err != nil {
		return nil, err
	}
	src, target := req.GetStagingTargetPath(), req.GetTargetPath()
	if src == "" || target == "" {
		return nil, status.Error(codes.InvalidArgument, "staging and target paths are required")
	}
	if err := checkCapabilities([]*csi.VolumeCapability{req.GetVolumeCapability()}); err != nil {
		return nil, err
	}
	if mounted, _ := n.Mounter.IsMountPoint(target); mounted {
		return &csi.NodePublishVolumeResponse{}, nil
	}
	if err := os.MkdirAll(target, 0o750); err != nil {
		return nil, status.Errorf(codes.Internal, "creating %s: %v", target, err)
	}
	opts := []string{"bind"}
	if req.GetReadonly() {
		opts = append(opts, "ro")
	}
	if err := n.Mounter.Mount(src, target, "", opts); err != nil {
		return nil, status.Errorf(codes.Internal, "bind-mounting volume %s at %s: %v", req.GetVolumeId(), target, err)
	}
	return &csi.NodePublishVolumeResponse{}, nil
}

// NodeUnpublishVolume implements csi.NodeServer.
func (n *Node) NodeUnpublishVolume(ctx context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	if req.GetTargetPath() == "" {
		return nil, status.Error(codes.InvalidArgument, "no target path given")
	}
	if err := mount.CleanupMountPoint(req.GetTargetPath(), n.Mounter, true); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, status.Errorf(codes.Internal, "unmounting %s: %v", req.GetTargetPath(), err)
	}
	return &csi.NodeUnpublishVolumeResponse{}, nil
}
