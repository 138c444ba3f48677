// Package state is the bookkeeping of one local cluster: its directory layout,
// the addresses it was given, and every process, namespace, link and cgroup
// it created, saved as state.json so that `cluster down` can remove exactly
// those (and nothing else) even after a crash.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/irischaos/irischaos/internal/lab/nodepower"
)

// File is the state file's name in the cluster directory.
const File = "state.json"

// Node is one node's identity and resources.
type Node struct {
	Name        string          `json:"name"`
	Index       int             `json:"index"` // 1-based
	IP          string          `json:"ip"`
	NS          string          `json:"netns"`
	HostVeth    string          `json:"hostVeth"`
	Cgroup      string          `json:"cgroup"` // cgroup path, present in every hierarchy
	Zone        string          `json:"zone"`
	ProviderID  string          `json:"providerID"`
	PodSubnet   string          `json:"podSubnet"`
	Power       nodepower.State `json:"power"`
	Partitioned bool            `json:"partitioned"`
}

// Proc is a process the cluster started, identified by PID and start time
// (so a reused PID is never mistaken for ours).
type Proc struct {
	Component string `json:"component"`
	PID       int    `json:"pid"`
	Start     uint64 `json:"start"` // /proc/PID/stat starttime
}

// Cluster is the saved state of one cluster.
type Cluster struct {
	Name       string `json:"name"`
	Index      int    `json:"index"` // selects the bridge subnet 10.250.<Index>.0/24
	Cloud      string `json:"cloud"`
	Bridge     string `json:"bridge"`
	BridgeIP   string `json:"bridgeIP"`
	CgroupBase string `json:"cgroupBase"` // parent of every node's cgroup
	Nodes      []Node `json:"nodes"`
	Procs      []Proc `json:"procs"` // control plane, supervisor helpers
	Supervisor Proc   `json:"supervisor"`
	Timings    string `json:"timings"` // control plane failure detection: fast or upstream
	// Ceph is the cluster's replicated block storage, set once its pool is
	// active+clean; nil before (or without Ceph).
	Ceph *Ceph `json:"ceph,omitempty"`

	mu sync.Mutex
}

// Ceph is what clients (the CSI driver, the storage-health reader) need to
// reach the cluster's Ceph from the host or a node.
type Ceph struct {
	Conf    string `json:"conf"`    // ceph.conf path (auth none, rbd_cache off)
	MonHost string `json:"monHost"` // e.g. [v2:10.250.0.1:3300,v1:10.250.0.1:6789]
	Pool    string `json:"pool"`    // the replicated RBD pool
	Version string `json:"version"` // e.g. 16.2.15
	Size    int    `json:"size"`    // copies per object
	MinSize int    `json:"minSize"` // copies that must be up for I/O
}

// Ceph section of the layout: conf, monitor and manager data, sockets.
func (l Layout) Ceph() string { return filepath.Join(l.Dir, "ceph") }

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$`)

// ValidName checks a cluster name: it becomes part of link, namespace and
// cgroup names, so it is a short DNS label.
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("cluster name %q: use 1-20 lower-case letters, digits and '-', starting and ending with a letter or digit", name)
	}
	return nil
}

// Layout is the directory tree of one cluster.
type Layout struct{ Dir string }

// For returns the layout of the named cluster under nodepower.StateRoot().
func For(name string) Layout { return Layout{Dir: nodepower.ClusterDir(name)} }

func (l Layout) StateFile() string  { return filepath.Join(l.Dir, File) }
func (l Layout) PKI() string        { return filepath.Join(l.Dir, "pki") }
func (l Layout) Kubeconfig() string { return filepath.Join(l.Dir, "kubeconfig") }
func (l Layout) ComponentKubeconfig(c string) string {
	return filepath.Join(l.Dir, "kubeconfigs", c+".kubeconfig")
}
func (l Layout) Log(component string) string { return filepath.Join(l.Dir, "logs", component+".log") }
func (l Layout) Etcd() string                { return filepath.Join(l.Dir, "etcd") }
func (l Layout) Images() string              { return filepath.Join(l.Dir, "images") }
func (l Layout) Node(name string) string     { return filepath.Join(l.Dir, "nodes", name) }
func (l Layout) NodeDisk(name string) string { return filepath.Join(l.Node(name), "disk") }
func (l Layout) Replicated() string          { return filepath.Join(l.Dir, "volumes", "replicated") }
func (l Layout) Ready() string               { return filepath.Join(l.Dir, "ready") }
func (l Layout) Failed() string              { return filepath.Join(l.Dir, "failed") }
func (l Layout) Progress() string            { return filepath.Join(l.Dir, "progress.log") }

// Load reads a cluster's state; fs.ErrNotExist when there is none.
func Load(l Layout) (*Cluster, error) {
	b, err := os.ReadFile(l.StateFile())
	if err != nil {
		return nil, err
	}
	var c Cluster
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("cluster state %s is corrupt: %w (remove the directory by hand after checking nothing of it runs)", l.StateFile(), err)
	}
	return &c, nil
}

// Save writes the state atomically.
func (c *Cluster) Save(l Layout) error {
	c.mu.Lock()
	b, err := json.MarshalIndent(c, "", "  ")
	c.mu.Unlock()
	if err != nil {
		return err
	}
	tmp := l.StateFile() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("saving cluster state: %w", err)
	}
	return os.Rename(tmp, l.StateFile())
}

// Update changes the state under its lock and saves it.
func (c *Cluster) Update(l Layout, f func(c *Cluster)) error {
	c.mu.Lock()
	f(c)
	c.mu.Unlock()
	return c.Save(l)
}

// Snapshot returns a copy of the nodes, safe to read without the lock.
func (c *Cluster) Snapshot() []Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Node(nil), c.Nodes...)
}

// AddProc records a started process.
func (c *Cluster) AddProc(l Layout, p Proc) error {
	return c.Update(l, func(c *Cluster) { c.Procs = append(c.Procs, p) })
}

// List returns the names of every cluster with a state directory.
func List() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(nodepower.StateRoot(), "clusters"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// FreeIndex returns the lowest subnet index no other cluster uses.
func FreeIndex() (int, error) {
	names, err := List()
	if err != nil {
		return 0, err
	}
	used := map[int]bool{}
	for _, n := range names {
		if c, err := Load(For(n)); err == nil {
			used[c.Index] = true
		}
	}
	for i := 0; i < 250; i++ {
		if !used[i] {
			return i, nil
		}
	}
	return 0, errors.New("250 local clusters exist already: remove some with `irischaos cluster down --all`")
}

// StartTime reads a process's start time (clock ticks since boot), the
// second half of its identity.
func StartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	// The command name may hold spaces and parentheses: fields start after the last ')'.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// Alive reports whether p still runs (same PID and start time, not a zombie).
func (p Proc) Alive() bool {
	if p.PID <= 0 {
		return false
	}
	st, err := StartTime(p.PID)
	if err != nil || st != p.Start {
		return false
	}
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/stat")
	if i := strings.LastIndexByte(string(b), ')'); i >= 0 && len(b) > i+2 && b[i+2] == 'Z' {
		return false
	}
	return true
}
