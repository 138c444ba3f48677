// Package ceph runs the local cluster's Ceph (Debian's Pacific packages):
// real replicated block storage standing in for Longhorn. One monitor and one
// manager run on the host at the bridge address, so they outlive any node;
// one BlueStore OSD per node runs inside that node's network namespace and
// cgroup subtree (a node service, restarted on every boot), on a file in the
// node's own disk directory, so a power cut kills it and a link cut cuts it
// off. CRUSH places one copy per host; hosts sit in their node's zone.
//
// Clients (the CSI driver, `ceph`, `rbd`) use ConfPath: auth is off and
// librbd's cache is off (see Render).
package ceph

import (
	"crypto/rand"
	"fmt"
	"path/filepath"
	"strings"
)

// Pool is the replicated RBD pool every volume lives in.
const Pool = "rbd"

// Daemon identities and ports.
const (
	MonID     = "a"
	MgrID     = "x"
	MonPortV2 = 3300
	MonPortV1 = 6789
	// PGs of Pool: fixed (autoscale off), enough to spread 3 OSDs evenly
	// and few enough for 2 cores.
	PGs = 32
	// OSDBytes is each OSD's BlueStore file (sparse, created by --mkfs).
	OSDBytes = 1536 << 20
)

// OSD is one node's object storage daemon.
type OSD struct {
	ID   int
	UUID string
	Host string // CRUSH host bucket = node name
	Zone string // CRUSH zone bucket = node's zone
	IP   string // node address: public and cluster address
	Data string // osd_data, in the node's disk directory
}

// Cluster is the plan of one Ceph cluster.
type Cluster struct {
	Dir     string // conf, monmap, mon and mgr data, admin sockets
	FSID    string
	MonIP   string // the bridge address
	Network string // public network, CIDR
	OSDs    []OSD
}

// NodeSpec is what Plan needs of a node.
type NodeSpec struct{ Name, Zone, IP, Disk string }

// Plan lays out a cluster: OSD i+1 belongs to nodes[i].
func Plan(dir, monIP, network string, nodes []NodeSpec) *Cluster {
	c := &Cluster{Dir: dir, FSID: uuid(), MonIP: monIP, Network: network}
	for i, n := range nodes {
		c.OSDs = append(c.OSDs, OSD{ID: i, UUID: uuid(), Host: n.Name, Zone: n.Zone, IP: n.IP,
			Data: filepath.Join(n.Disk, fmt.Sprintf("ceph-osd.%d", i))})
	}
	return c
}

// ConfPath is the ceph.conf of a cluster whose Ceph directory is dir.
func ConfPath(dir string) string { return filepath.Join(dir, "ceph.conf") }

// Conf is this cluster's ceph.conf path.
func (c *Cluster) Conf() string { return ConfPath(c.Dir) }

// MonHost is the monitor's address vector, as clients name it.
func (c *Cluster) MonHost() string {
	return fmt.Sprintf("[v2:%s:%d,v1:%s:%d]", c.MonIP, MonPortV2, c.MonIP, MonPortV1)
}

// Size is the pool's number of copies: one per node, at most 3.
func (c *Cluster) Size() int { return min(len(c.OSDs), 3) }

// MinSize is the number of copies of a placement group that must be up for
// it to take I/O at all. A write is acknowledged only once every up copy
// has it, so with size 3 / min_size 2 every acknowledged write is on two
// hosts at least: one node of three may die and I/O goes on (degraded);
// with two down, I/O to the PGs that lost both stops (unavailable, never
// silently lost) until one returns. It is Ceph's own default, size - size/2:
// 3 -> 2, 2 -> 1 (a 2-node cluster keeps writing on one copy while the
// other node is down: the price of 2 nodes), 1 -> 1.
func (c *Cluster) MinSize() int { s := c.Size(); return s - s/2 }

// minDownReporters: the monitor marks an OSD down on reports from this many
// other hosts (default 2). With 2 nodes only one peer is left to report, and
// Ceph would wait mon_osd_report_timeout (15 minutes) instead.
func (c *Cluster) minDownReporters() int { return max(1, min(2, len(c.OSDs)-1)) }

// Render is the cluster's ceph.conf.
func (c *Cluster) Render() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# irischaos local cluster: written by internal/lab/ceph; daemons log to stderr (-d).")
	w("[global]")
	w("fsid = %s", c.FSID)
	w("mon_host = %s", c.MonHost())
	w("public_network = %s", c.Network)
	w("cluster_network = %s", c.Network)
	w("auth_cluster_required = none")
	w("auth_service_required = none")
	w("auth_client_required = none")
	w("keyring = /dev/null")
	w("ms_bind_ipv6 = false")
	w("run_dir = %s", filepath.Join(c.Dir, "run"))
	// $pid: every CLI call and every rbd-fuse gets its own socket.
	w("admin_socket = %s", filepath.Join(c.Dir, "run", "$name.$pid.asok"))
	// Clients would leave a log file per call; daemons log to stderr.
	w("log_file = /dev/null")
	w("osd_pool_default_size = %d", c.Size())
	w("osd_pool_default_min_size = %d", c.MinSize())
	w("osd_pool_default_pg_autoscale_mode = off")
	w("osd_crush_chooseleaf_type = 1 # failure domain: host")
	w("mon_osd_min_down_reporters = %d", c.minDownReporters())
	if c.Size() == 1 {
		w("mon_allow_pool_size_one = true")
		w("mon_warn_on_pool_no_redundancy = false")
	}
	// Health noise that is not about the data: the host disk under 30 %%
	// free, and the global_id reclaim warning of a fresh Pacific cluster.
	w("mon_data_avail_warn = 1")
	w("auth_allow_insecure_global_id_reclaim = false")
	w("")
	w("[mon]")
	w("mon_data = %s", filepath.Join(c.Dir, "mon", "$cluster-$id"))
	w("")
	w("[mgr]")
	w("mgr_data = %s", filepath.Join(c.Dir, "mgr", "$cluster-$id"))
	w("")
	w("[osd]")
	w("bluestore_block_create = true")
	w("bluestore_block_size = %d", OSDBytes)
	// Trimmed for a 2-core machine shared with a whole Kubernetes cluster.
	w("bluestore_cache_autotune = false")
	w("bluestore_cache_size = %d", 64<<20)
	w("osd_memory_target = %d", 512<<20)
	w("osd_op_num_shards = 1")
	w("osd_op_num_threads_per_shard = 2")
	w("ms_async_op_threads = 2")
	for _, o := range c.OSDs {
		w("")
		w("[osd.%d]", o.ID)
		w("osd_data = %s", o.Data)
		w("public_addr = %s", o.IP)
		w("cluster_addr = %s", o.IP)
		// Required: nsenter --net keeps the machine's hostname, so without it
		// every OSD would land in one host bucket and no pool could place
		// its copies on different hosts.
		w("crush_location = root=default zone=%s host=%s", o.Zone, o.Host)
	}
	w("")
	w("[client]")
	// librbd's write-around cache acknowledges writes before the OSDs do and
	// rbd-fuse ignores rbd_flush's result: a fenced writer's write was seen
	// reported successful yet never stored. Off, every ack is the cluster's.
	w("rbd_cache = false")
	return b.String()
}

// uuid returns a random RFC 4122 version 4 UUID.
func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
