// Package cgroups gives each local cluster node a cgroup subtree of its own,
// nested under the cgroup the calling process was started in (never moving
// anything out of the cgroups we were given). The node's containerd and
// kubelet start inside it (shims and containers inherit it, and the kubelet
// uses it as its cgroupRoot), so one walk of the subtree finds every process
// of the node, and freezing then SIGKILLing the subtree is a power cut.
// Works with cgroup v1 (every v1 hierarchy, named ones included) and v2.
package cgroups

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Hierarchy is one mounted cgroup hierarchy.
type Hierarchy struct {
	Mount       string   // e.g. /sys/fs/cgroup/memory
	Controllers []string // e.g. [memory], [name=systemd]; empty for v2
}

// Host is the cgroup layout of this machine as seen by this process.
type Host struct {
	V2          bool        // unified hierarchy only
	Hierarchies []Hierarchy // v1 hierarchies, or the single v2 one
	// Base is the cgroup path of this process (the memory controller's on
	// v1), under which subtrees are created.
	Base string
}

// Detect reads the layout from /proc/self.
func Detect() (Host, error) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return Host{}, fmt.Errorf("reading mountinfo: %w", err)
	}
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return Host{}, fmt.Errorf("reading /proc/self/cgroup: %w", err)
	}
	return parse(string(mi), string(cg))
}

func parse(mountinfo, selfCgroup string) (Host, error) {
	var v1 []Hierarchy
	var v2 string
	sc := bufio.NewScanner(strings.NewReader(mountinfo))
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 {
			continue
		}
		switch qf[0] {
		case "cgroup2":
			v2 = pf[4]
		case "cgroup":
			var ctrls []string
			for _, o := range strings.Split(qf[2], ",") {
				switch o {
				case "rw", "ro", "nosuid", "nodev", "noexec", "relatime", "noatime", "clone_children", "xattr":
					continue
				}
				if strings.HasPrefix(o, "release_agent=") {
					continue
				}
				ctrls = append(ctrls, o)
			}
			v1 = append(v1, Hierarchy{Mount: pf[4], Controllers: ctrls})
		}
	}
	paths := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(selfCgroup), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 {
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			paths[c] = f[2]
		}
	}
	if len(v1) > 0 {
		base, ok := paths["memory"]
		if !ok {
			return Host{}, errors.New("cgroup v1 host without a memory controller line in /proc/self/cgroup")
		}
		sort.Slice(v1, func(i, j int) bool { return v1[i].Mount < v1[j].Mount })
		return Host{Hierarchies: v1, Base: base}, nil
	}
	if v2 == "" {
		return Host{}, errors.New("no cgroup filesystem mounted: the local cluster needs cgroups (mount cgroup2 on /sys/fs/cgroup)")
	}
	return Host{V2: true, Hierarchies: []Hierarchy{{Mount: v2}}, Base: paths[""]}, nil
}

// Subtree is one cgroup path present in every hierarchy.
type Subtree struct {
	Host Host
	// Path is the cgroup path (e.g. /process_api/x/irischaos-c/node-1):
	// what the kubelet takes as cgroupRoot.
	Path string
}

// Sub returns the subtree at Host.Base/rel; it does not create it.
func (h Host) Sub(rel string) Subtree {
	return Subtree{Host: h, Path: path.Join("/", h.Base, rel)}
}

// Dirs is the subtree's directory in every hierarchy.
func (s Subtree) Dirs() []string {
	var out []string
	for _, h := range s.Host.Hierarchies {
		out = append(out, filepath.Join(h.Mount, s.Path))
	}
	return out
}

// Create makes the subtree in every hierarchy. cpuset cgroups start with no
// CPUs or memory nodes, so each new level copies its parent's.
func (s Subtree) Create() error {
	for _, h := range s.Host.Hierarchies {
		dir := h.Mount
		for _, part := range strings.Split(strings.Trim(s.Path, "/"), "/") {
			parent := dir
			dir = filepath.Join(dir, part)
			if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("creating cgroup %s: %w", dir, err)
			}
			if s.Host.V2 {
				// Delegate controllers downwards; may fail where the parent
				// holds processes, in which case the subtree still groups
				// and kills processes, which is what we need.
				if b, err := os.ReadFile(filepath.Join(parent, "cgroup.controllers")); err == nil {
					for _, c := range strings.Fields(string(b)) {
						_ = os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte("+"+c), 0)
					}
				}
				continue
			}
			if has(h.Controllers, "cpuset") {
				for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
					cur, _ := os.ReadFile(filepath.Join(dir, f))
					if strings.TrimSpace(string(cur)) != "" {
						continue
					}
					v, err := os.ReadFile(filepath.Join(parent, f))
					if err != nil {
						return fmt.Errorf("reading %s of %s: %w", f, parent, err)
					}
					if err := os.WriteFile(filepath.Join(dir, f), v, 0); err != nil {
						return fmt.Errorf("copying %s into %s: %w", f, dir, err)
					}
				}
			}
		}
	}
	return nil
}

// ShellPrefix returns a command line that moves itself into the subtree in
// every hierarchy and then execs argv, so that the process and all its
// descendants start inside the subtree (Go's CgroupFD is v2-only).
func (s Subtree) ShellPrefix(argv ...string) []string {
	var b strings.Builder
	b.WriteString("set -e; ")
	for _, d := range s.Dirs() {
		fmt.Fprintf(&b, "echo $$ > %s; ", shellQuote(filepath.Join(d, "cgroup.procs")))
	}
	b.WriteString(`exec "$@"`)
	return append([]string{"/bin/sh", "-c", b.String(), "sh"}, argv...)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// killDir is the hierarchy used to find and freeze processes.
func (s Subtree) killDir() (dir string, freezer bool) {
	if s.Host.V2 {
		return filepath.Join(s.Host.Hierarchies[0].Mount, s.Path), false
	}
	for _, h := range s.Host.Hierarchies {
		if has(h.Controllers, "freezer") {
			return filepath.Join(h.Mount, s.Path), true
		}
	}
	return filepath.Join(s.Host.Hierarchies[0].Mount, s.Path), false
}

// Procs lists every process in the subtree.
func (s Subtree) Procs() ([]int, error) {
	dir, _ := s.killDir()
	return procsUnder(dir)
}

func procsUnder(dir string) ([]int, error) {
	var pids []int
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids, err
}

// Kill freezes the subtree, SIGKILLs every process in it, thaws it and
// waits until it is empty: nothing gets a chance to react, fork or clean up,
// as on a power cut. It returns how many processes it killed.
func (s Subtree) Kill(ctx context.Context) (int, error) {
	dir, freezer := s.killDir()
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	frozen := false
	switch {
	case freezer:
		frozen = os.WriteFile(filepath.Join(dir, "freezer.state"), []byte("FROZEN"), 0) == nil
		for i := 0; frozen && i < 200; i++ {
			b, _ := os.ReadFile(filepath.Join(dir, "freezer.state"))
			if strings.TrimSpace(string(b)) == "FROZEN" {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	case s.Host.V2:
		if os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0) == nil {
			break
		}
		frozen = os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte("1"), 0) == nil
	}
	killed := 0
	deadline := time.Now().Add(20 * time.Second)
	for {
		pids, err := procsUnder(dir)
		if err != nil {
			return killed, fmt.Errorf("listing processes of cgroup %s: %w", dir, err)
		}
		if len(pids) == 0 {
			return killed, nil
		}
		for _, pid := range pids {
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				killed++
			}
		}
		if frozen {
			// SIGKILL is delivered when the tasks thaw.
			if freezer {
				_ = os.WriteFile(filepath.Join(dir, "freezer.state"), []byte("THAWED"), 0)
			} else {
				_ = os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte("0"), 0)
			}
			frozen = false
		}
		if time.Now().After(deadline) {
			return killed, fmt.Errorf("cgroup %s still has processes %v 20 s after SIGKILL (stuck in uninterruptible I/O?)", dir, pids)
		}
		select {
		case <-ctx.Done():
			return killed, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Remove deletes the subtree (it must be empty of processes) in every
// hierarchy, deepest directories first. A missing subtree is not an error.
func (s Subtree) Remove() error {
	var errs []error
	for _, root := range s.Dirs() {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("removing cgroup %s: %w", dirs[i], err))
			}
		}
	}
	return errors.Join(errs...)
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
