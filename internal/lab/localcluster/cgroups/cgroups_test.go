package cgroups

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const hybridMountinfo = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`

func TestParse(t *testing.T) {
	tests := []struct {
		name, mi, cg string
		want         Host
		wantErr      string
	}{
		{"hybrid v1", hybridMountinfo, "9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu,cpuacct:/\n0::/\n",
			Host{Base: "/process_api/abc", Hierarchies: []Hierarchy{
				{"/sys/fs/cgroup/cpu,cpuacct", []string{"cpu", "cpuacct"}},
				{"/sys/fs/cgroup/cpuset", []string{"cpuset"}},
				{"/sys/fs/cgroup/freezer", []string{"freezer"}},
				{"/sys/fs/cgroup/memory", []string{"memory"}},
				{"/sys/fs/cgroup/systemd", []string{"name=systemd"}},
			}}, ""},
		{"v2", "41 31 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n", "0::/user.slice/x.scope\n",
			Host{V2: true, Base: "/user.slice/x.scope", Hierarchies: []Hierarchy{{Mount: "/sys/fs/cgroup"}}}, ""},
		{"none", "1 2 0:1 / / rw - ext4 /dev/vda rw\n", "0::/\n", Host{}, "no cgroup filesystem"},
		{"no memory line", hybridMountinfo, "1:cpu,cpuacct:/\n", Host{}, "memory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parse(tc.mi, tc.cg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("parse = %+v, %v\nwant %+v", got, err, tc.want)
			}
		})
	}
}

// TestCreateRemoveOnFakeTree exercises the directory logic on plain
// directories standing in for cgroupfs (no root needed).
func TestCreateRemoveOnFakeTree(t *testing.T) {
	root := t.TempDir()
	h := Host{Base: "/p/x", Hierarchies: []Hierarchy{
		{Mount: filepath.Join(root, "cpuset"), Controllers: []string{"cpuset"}},
		{Mount: filepath.Join(root, "freezer"), Controllers: []string{"freezer"}},
	}}
	for _, hh := range h.Hierarchies {
		os.MkdirAll(hh.Mount, 0o755)
	}
	os.WriteFile(filepath.Join(root, "cpuset", "cpuset.cpus"), []byte("0-1\n"), 0o644)
	os.WriteFile(filepath.Join(root, "cpuset", "cpuset.mems"), []byte("0\n"), 0o644)
	s := h.Sub("irischaos-c/node-1")
	if s.Path != "/p/x/irischaos-c/node-1" {
		t.Fatalf("Path = %s", s.Path)
	}
	if err := s.Create(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "cpuset", s.Path, "cpuset.cpus"))
	if err != nil || string(b) != "0-1\n" {
		t.Errorf("cpuset.cpus not copied down: %q %v", b, err)
	}
	os.WriteFile(filepath.Join(root, "freezer", s.Path, "cgroup.procs"), []byte("123\n456\n"), 0o644)
	pids, err := s.Procs()
	if err != nil || !reflect.DeepEqual(pids, []int{123, 456}) {
		t.Errorf("Procs = %v, %v", pids, err)
	}
	argv := s.ShellPrefix("nsenter", "--net=/var/run/netns/x", "kubelet")
	if argv[0] != "/bin/sh" || !strings.Contains(argv[2], filepath.Join(root, "freezer", s.Path, "cgroup.procs")) || argv[len(argv)-1] != "kubelet" {
		t.Errorf("ShellPrefix = %q", argv)
	}
}
