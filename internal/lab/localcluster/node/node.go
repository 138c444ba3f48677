// Package node runs one local cluster node: its own network namespace, cgroup
// subtree, containerd and kubelet, and implements its power operations (a
// power cut kills every process of the node at once and cuts its link; power
// on is a fresh boot). Everything a node runs lives in its cgroup subtree and
// under its own directory, so nothing of it survives a power cut.
package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/irischaos/irischaos/internal/lab/localcluster/binaries"
	"github.com/irischaos/irischaos/internal/lab/localcluster/cgroups"
	"github.com/irischaos/irischaos/internal/lab/localcluster/config"
	"github.com/irischaos/irischaos/internal/lab/localcluster/controlplane"
	"github.com/irischaos/irischaos/internal/lab/localcluster/netns"
	"github.com/irischaos/irischaos/internal/lab/localcluster/pki"
	"github.com/irischaos/irischaos/internal/lab/localcluster/proc"
	"github.com/irischaos/irischaos/internal/lab/localcluster/state"
)

// CNIBinDir is where Debian's containernetworking-plugins installs.
const CNIBinDir = "/usr/lib/cni"

// Config is what a node needs from its cluster.
type Config struct {
	Layout       state.Layout
	Cluster      string
	Spec         state.Node
	Net          *netns.Net
	Cgroups      cgroups.Host
	Bins         binaries.Set
	BridgeIP     string
	SandboxImage string
	Images       []Image     // imported into the node's containerd
	PodRoutes    [][2]string // other nodes' pod subnets and their node addresses
	// Services are further daemons of the node (its Ceph OSD), started on
	// every boot after the kubelet, inside the node like the kubelet.
	Services []Service
	Progress io.Writer
}

// Service is a daemon a node runs on every boot.
type Service struct {
	Component string // log and process name: <node>-<Component>
	Argv      []string
}

// Image is an image tarball and the reference it carries.
type Image struct{ Ref, Path string }

// Node is one running (or powered-off) node.
type Node struct {
	cfg     Config
	mu      sync.Mutex // serialises power operations
	running []*proc.Started
}

// New returns a node; nothing is created until Prepare.
func New(cfg Config) *Node {
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	return &Node{cfg: cfg}
}

// Name is the node's name.
func (n *Node) Name() string { return n.cfg.Spec.Name }

// Subtree is the node's cgroup subtree.
func (n *Node) Subtree() cgroups.Subtree {
	return cgroups.Subtree{Host: n.cfg.Cgroups, Path: n.cfg.Spec.Cgroup}
}

func (n *Node) netNode() netns.Node {
	return netns.Node{NS: n.cfg.Spec.NS, HostVeth: n.cfg.Spec.HostVeth, IP: n.cfg.Spec.IP, PodRoutes: n.cfg.PodRoutes}
}

func (n *Node) dir(parts ...string) string {
	return filepath.Join(append([]string{n.cfg.Layout.Node(n.cfg.Spec.Name)}, parts...)...)
}

func (n *Node) socket() string { return n.dir("containerd.sock") }
func (n *Node) log(c string) string {
	return n.cfg.Layout.Log(n.cfg.Spec.Name + "-" + c)
}

// Prepare creates the node's network, cgroup subtree, credentials and
// configuration files.
func (n *Node) Prepare(ctx context.Context) error {
	s := n.cfg.Spec
	for _, d := range []string{n.dir("containerd", "root"), n.dir("cni"), n.dir("pki"), n.dir("kubelet"), n.dir("disk")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("node %s: %w", s.Name, err)
		}
	}
	if err := n.cfg.Net.AddNode(ctx, n.netNode()); err != nil {
		return err
	}
	if err := n.Subtree().Create(); err != nil {
		return fmt.Errorf("node %s: %w", s.Name, err)
	}
	ca, err := pki.LoadCA(n.cfg.Layout.PKI())
	if err != nil {
		return err
	}
	client, err := ca.Issue(pki.Spec{CommonName: "system:node:" + s.Name, Organization: []string{"system:nodes"}, Usage: pki.Client})
	if err != nil {
		return err
	}
	serving, err := ca.Issue(pki.Spec{CommonName: s.Name, DNSNames: []string{s.Name}, IPs: []net.IP{net.ParseIP(s.IP)}, Usage: pki.Server})
	if err != nil {
		return err
	}
	if err := serving.Write(n.dir("pki"), "kubelet-serving"); err != nil {
		return err
	}
	kc, err := config.Kubeconfig("irischaos-"+n.cfg.Cluster, controlplane.Server(n.cfg.BridgeIP), ca.PEM, client.CertPEM, client.KeyPEM, "system:node:"+s.Name)
	if err != nil {
		return err
	}
	ctr, err := config.ContainerdConfig(config.Containerd{
		Root: n.dir("containerd", "root"), State: n.dir("containerd", "state"), Socket: n.socket(),
		RuncRoot: n.dir("containerd", "state", "runc"), OptDir: n.dir("containerd", "opt"),
		CNIBinDir: CNIBinDir, CNIConfDir: n.dir("cni"), SandboxImage: n.cfg.SandboxImage,
	})
	if err != nil {
		return err
	}
	cni, err := config.CNI("irischaos-"+s.Name, s.PodSubnet, n.dir("containerd", "state", "cni-ipam"))
	if err != nil {
		return err
	}
	resolv := "/etc/resolv.conf"
	if _, err := os.Stat(resolv); err != nil {
		resolv = ""
	}
	kub, err := config.KubeletConfig(config.Kubelet{
		NodeIP: s.IP, ClientCAFile: filepath.Join(n.cfg.Layout.PKI(), "ca.crt"),
		TLSCertFile: n.dir("pki", "kubelet-serving.crt"), TLSKeyFile: n.dir("pki", "kubelet-serving.key"),
		CgroupRoot: s.Cgroup, RuntimeEndpoint: "unix://" + n.socket(), ProviderID: s.ProviderID, ResolvConf: resolv,
	})
	if err != nil {
		return err
	}
	for path, content := range map[string]string{
		n.dir("kubelet.kubeconfig"): string(kc), n.dir("containerd.toml"): ctr,
		n.dir("cni", "10-irischaos.conflist"): cni, n.dir("kubelet.yaml"): kub,
	} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return fmt.Errorf("node %s: writing %s: %w", s.Name, path, err)
		}
	}
	return nil
}

// Boot starts containerd, imports the images (when the runtime root lacks
// them) and starts the kubelet, all inside the node's network namespace and
// cgroup subtree. record is called for each started process.
func (n *Node) Boot(ctx context.Context, record func(*proc.Started) error) error {
	s := n.cfg.Spec
	in := func(argv ...string) []string {
		// nsenter, not `ip netns exec`: the latter remounts /sys and the
		// kubelet then finds no cgroup mounts.
		return n.Subtree().ShellPrefix(append([]string{"nsenter", "--net=" + n.netNode().NSPath()}, argv...)...)
	}
	start := func(component string, argv []string) (*proc.Started, error) {
		p, err := proc.Start(proc.Spec{Component: s.Name + "-" + component, Argv: argv, Log: n.log(component), Dir: n.dir()})
		if err != nil {
			return nil, err
		}
		n.running = append(n.running, p)
		if record != nil {
			if err := record(p); err != nil {
				return p, err
			}
		}
		return p, nil
	}
	ctrd, err := start("containerd", in("containerd", "--config", n.dir("containerd.toml")))
	if err != nil {
		return err
	}
	if err := n.waitSocket(ctx, ctrd); err != nil {
		return err
	}
	if err := n.importImages(ctx); err != nil {
		return err
	}
	labels := "topology.kubernetes.io/zone=" + s.Zone + ",irischaos.io/local-cluster=" + n.cfg.Cluster
	_, err = start("kubelet", in(n.cfg.Bins.Kubelet,
		"--config="+n.dir("kubelet.yaml"), "--kubeconfig="+n.dir("kubelet.kubeconfig"),
		"--root-dir="+n.dir("kubelet"), "--hostname-override="+s.Name, "--node-ip="+s.IP,
		"--node-labels="+labels, "--v=1"))
	if err != nil {
		return err
	}
	for _, svc := range n.cfg.Services {
		if _, err := start(svc.Component, in(svc.Argv...)); err != nil {
			return err
		}
	}
	return nil
}

func (n *Node) waitSocket(ctx context.Context, p *proc.Started) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.DialTimeout("unix", n.socket(), time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.Exited:
			return fmt.Errorf("node %s: containerd exited during start-up (%v): see %s:\n%s", n.Name(), *p.Err, n.log("containerd"), controlplane.Tail(n.log("containerd"), 15))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %s: containerd socket %s not up after 30 s: see %s", n.Name(), n.socket(), n.log("containerd"))
		}
	}
}

// importImages loads every image tarball whose image the runtime lacks (the
// runtime root survives a power cycle, as a disk would).
func (n *Node) importImages(ctx context.Context) error {
	if len(n.cfg.Images) == 0 {
		return nil
	}
	have := map[string]bool{}
	out, err := exec.CommandContext(ctx, "ctr", "--address", n.socket(), "-n", "k8s.io", "images", "ls", "-q").Output()
	if err == nil {
		for _, l := range strings.Fields(string(out)) {
			have[l] = true
		}
	}
	for _, img := range n.cfg.Images {
		if have[img.Ref] || have["docker.io/"+img.Ref] {
			continue
		}
		cmd := exec.CommandContext(ctx, "ctr", "--address", n.socket(), "-n", "k8s.io", "images", "import", img.Path)
		b, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("node %s: importing image %s from %s: %v: %s", n.Name(), img.Ref, img.Path, err, strings.TrimSpace(string(b)))
		}
	}
	return nil
}

// PowerOff takes the node's link down, then kills every process of the node
// at once (freeze, SIGKILL, thaw). Link first: a machine that loses power
// sends nothing more, while a process killed on a live link has its kernel
// reset every connection, and peers that get "connection refused" react at
// once (Ceph marks such an OSD down in about 2 s instead of after its
// heartbeat grace, ~26 s, as for a vanished machine).
func (n *Node) PowerOff(ctx context.Context) error {
	if err := n.cfg.Net.SetLink(ctx, n.netNode(), false); err != nil {
		return fmt.Errorf("node %s power off: cutting its link: %w", n.Name(), err)
	}
	killed, err := n.Subtree().Kill(ctx)
	if err != nil {
		return fmt.Errorf("node %s power off: %w", n.Name(), err)
	}
	for _, p := range n.running {
		<-p.Exited
	}
	n.running = nil
	fmt.Fprintf(n.cfg.Progress, "node %s: powered off (link cut, then %d processes killed)\n", n.Name(), killed)
	return nil
}

// Clean removes what a reboot loses: leftover mounts under the node's
// directory and containerd's runtime state (the image store stays).
func (n *Node) Clean() error {
	if err := UnmountUnder(n.dir()); err != nil {
		return fmt.Errorf("node %s: %w", n.Name(), err)
	}
	if err := DetachLoopsUnder(n.dir()); err != nil {
		return fmt.Errorf("node %s: %w", n.Name(), err)
	}
	if err := os.RemoveAll(n.dir("containerd", "state")); err != nil {
		return fmt.Errorf("node %s: removing runtime state: %w", n.Name(), err)
	}
	_ = os.Remove(n.socket())
	return nil
}

// PowerOn boots the node afresh: link up, runtime state gone, containerd and
// kubelet started again.
func (n *Node) PowerOn(ctx context.Context, record func(*proc.Started) error) error {
	if err := n.Clean(); err != nil {
		return err
	}
	if err := n.cfg.Net.SetLink(ctx, n.netNode(), true); err != nil {
		return err
	}
	if err := n.Boot(ctx, record); err != nil {
		return err
	}
	fmt.Fprintf(n.cfg.Progress, "node %s: powered on\n", n.Name())
	return nil
}

// WipeDisks destroys the node's local disks (its local-disk volumes).
func (n *Node) WipeDisks() error {
	if err := UnmountUnder(n.dir("disk")); err != nil {
		return err
	}
	if err := os.RemoveAll(n.dir("disk")); err != nil {
		return fmt.Errorf("node %s: wiping local disks: %w", n.Name(), err)
	}
	return os.MkdirAll(n.dir("disk"), 0o755)
}

// SetLink cuts or restores the node's network link (partition, heal).
func (n *Node) SetLink(ctx context.Context, up bool) error {
	return n.cfg.Net.SetLink(ctx, n.netNode(), up)
}

// Lock and Unlock serialise power operations on this node.
func (n *Node) Lock()   { n.mu.Lock() }
func (n *Node) Unlock() { n.mu.Unlock() }

// Destroy kills the node's processes and removes its mounts, cgroups and
// network. Safe on a node that was never (fully) created.
func Destroy(ctx context.Context, l state.Layout, h cgroups.Host, nw *netns.Net, s state.Node) error {
	sub := cgroups.Subtree{Host: h, Path: s.Cgroup}
	var errs []error
	if s.Cgroup != "" {
		if _, err := sub.Kill(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := UnmountUnder(l.Node(s.Name)); err != nil {
		errs = append(errs, err)
	}
	if err := DetachLoopsUnder(l.Node(s.Name)); err != nil {
		errs = append(errs, err)
	}
	if s.Cgroup != "" {
		if err := sub.Remove(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := nw.RemoveNode(ctx, netns.Node{NS: s.NS, HostVeth: s.HostVeth}); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// DetachLoopsUnder detaches every loop device whose backing file lies below
// dir (a volume's image file in a node's FUSE mount). Loop devices belong to
// the one shared kernel: a dead node's would stay, answering I/O errors. A
// device still open (a lazily unmounted file system) is freed by the kernel
// on its last close.
func DetachLoopsUnder(dir string) error {
	devs, err := loopsUnder("/sys/block", dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, dev := range devs {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			if _, serr := os.Stat("/sys/block/" + filepath.Base(dev) + "/loop/backing_file"); serr != nil {
				continue // detached meanwhile
			}
			errs = append(errs, fmt.Errorf("detaching loop device %s: %v: %s", dev, err, strings.TrimSpace(string(out))))
		}
	}
	return errors.Join(errs...)
}

// loopsUnder lists /dev/loopN whose backing file (sysfs) is below dir.
func loopsUnder(sysBlock, dir string) ([]string, error) {
	ents, err := os.ReadDir(sysBlock)
	if err != nil {
		return nil, fmt.Errorf("listing loop devices: %w", err)
	}
	prefix := strings.TrimRight(dir, "/") + "/"
	var out []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "loop") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(sysBlock, e.Name(), "loop", "backing_file"))
		if err != nil {
			continue // not attached
		}
		// The kernel appends " (deleted)" when the file is gone.
		file := strings.TrimSuffix(strings.TrimSpace(string(b)), " (deleted)")
		if strings.HasPrefix(file, prefix) {
			out = append(out, "/dev/"+e.Name())
		}
	}
	return out, nil
}

// UnmountUnder lazily unmounts every mount point below dir, deepest first.
func UnmountUnder(dir string) error {
	mps, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, mp := range mps {
		if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", mp, err))
		}
	}
	return errors.Join(errs...)
}

func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseMountsUnder(f, dir)
}

func parseMountsUnder(r io.Reader, dir string) ([]string, error) {
	prefix := strings.TrimRight(dir, "/") + "/"
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		mp := unescape(f[4])
		if strings.HasPrefix(mp, prefix) {
			out = append(out, mp)
		}
	}
	// Deepest first, and later mounts over earlier ones at the same place.
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, sc.Err()
}

// unescape undoes mountinfo's octal escapes (\040 for space, ...).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
