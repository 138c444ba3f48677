// Package localcluster assembles a real multi-node Kubernetes cluster on one
// machine from upstream parts (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, and per node a kubelet, containerd, runc and CNI, each node
// in its own network namespace and cgroup subtree) and supervises it: node
// power (the local "cloud"), the storage stand-ins' provisioner, teardown.
//
// Up starts a detached supervisor process (`irischaos cluster supervise`)
// that runs Supervise and returns when every node is Ready; Down stops it and
// removes whatever the cluster created, also after a crash.
package localcluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/irischaos/irischaos/internal/lab/ceph"
	"github.com/irischaos/irischaos/internal/lab/localcluster/controlplane"
	"github.com/irischaos/irischaos/internal/lab/localcluster/node"
	"github.com/irischaos/irischaos/internal/lab/localcluster/state"
)

// DefaultName is the default cluster name.
const DefaultName = "irischaos"

// Clouds a cluster can stand in for.
const (
	CloudLocal       = "local"        // providerIDs local://<cluster>/<node>, powered by pkg/nodepower
	CloudAWSEmulator = "aws-emulator" // providerIDs aws:///<zone>/<instance>, from a moto EC2 emulator
)

// Options configure a cluster.
type Options struct {
	Name     string
	Nodes    int
	Cloud    string
	ToolsDir string // repository tools/ directory, for building binaries
	BinDir   string // where the image binaries (iris, iris-main, pause) are; see image.Options
	// Supervisor is the command line (program first) that runs Supervise
	// with these Options in the foreground; Up starts it detached. The
	// command that owns the flags builds it (cmd/irischaos: `irischaos
	// cluster supervise ...`), so this package never spells a CLI flag.
	Supervisor []string
	// Timings: the control plane's failure detection, "fast" (default) or
	// "upstream" (Kubernetes' defaults); see controlplane.Timings.
	Timings string
	timings controlplane.Timings
	// Ceph runs Ceph in the cluster (monitor and manager on the host, an
	// OSD per node, pool rbd; see internal/lab/ceph) and serves the
	// replicated StorageClass from it through the CSI driver. The CLI's
	// default; without it, replicated is a directory every node mounts.
	Ceph bool
}

func (o *Options) defaults() error {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if err := state.ValidName(o.Name); err != nil {
		return err
	}
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Nodes < 1 || o.Nodes > 26 {
		return fmt.Errorf("--nodes %d: between 1 and 26 nodes (one zone letter each)", o.Nodes)
	}
	if o.Cloud == "" {
		o.Cloud = CloudLocal
	}
	if o.Cloud != CloudLocal && o.Cloud != CloudAWSEmulator {
		return fmt.Errorf("--cloud %q: use %s or %s", o.Cloud, CloudLocal, CloudAWSEmulator)
	}
	t, err := controlplane.ParseTimings(o.Timings)
	if err != nil {
		return err
	}
	o.Timings, o.timings = string(t), t
	return nil
}

// InstallCommand installs every host prerequisite (what `make deps` runs).
const InstallCommand = "sudo apt-get install -y containerd runc containernetworking-plugins busybox-static iproute2 iptables util-linux && sudo apt-get install -y --no-install-recommends ceph-mon ceph-mgr ceph-osd ceph-common rbd-fuse   (or: make deps)"

// CheckPrerequisites reports every missing host tool at once, with the
// command that installs them.
func CheckPrerequisites() error {
	var missing []string
	for _, bin := range []string{"containerd", "containerd-shim-runc-v2", "runc", "ctr", "nsenter", "ip", "iptables"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(node.CNIBinDir + "/" + p); err != nil {
			missing = append(missing, node.CNIBinDir+"/"+p)
		}
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		missing = append(missing, "/bin/busybox")
	}
	missing = append(missing, ceph.Missing()...)
	var errs []error
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("missing prerequisites: %s; install them with: %s", strings.Join(missing, ", "), InstallCommand))
	}
	if os.Geteuid() != 0 {
		errs = append(errs, errors.New("the local cluster needs root (network namespaces, cgroups, mounts): run as root, e.g. with sudo"))
	}
	return errors.Join(errs...)
}
