package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/irischaos/irischaos/internal/lab/localcluster"
	"github.com/irischaos/irischaos/internal/lab/localcluster/binaries"
)

// TestSuperviseCommandCarriesUpFlags checks that the supervisor `cluster up`
// starts is given every up flag as parsed, defaults included, and that the
// supervise command parses them back to the same options.
func TestSuperviseCommandCarriesUpFlags(t *testing.T) {
	tests := [][]string{
		nil,
		{"--nodes", "4", "--cloud", localcluster.CloudAWSEmulator},
		{"--tools-dir", "/src/irischaos tools", "--timings", "upstream", "--ceph"},
	}
	for _, args := range tests {
		var up localcluster.Options
		shared := pflag.NewFlagSet("up", pflag.ContinueOnError)
		upFlags(shared, &up)
		if err := shared.Parse(args); err != nil {
			t.Fatal(err)
		}
		argv := superviseCommand("/bin/irischaos", "lab", shared)
		want := []string{"/bin/irischaos", "cluster", superviseUse, "--name", "lab"}
		if !reflect.DeepEqual(argv[:len(want)], want) {
			t.Fatalf("superviseCommand(%v) = %v, want prefix %v", args, argv, want)
		}
		var sup localcluster.Options
		sfs := pflag.NewFlagSet("supervise", pflag.ContinueOnError)
		upFlags(sfs, &sup)
		sfs.String("name", "", "")
		if err := sfs.Parse(argv[3:]); err != nil {
			t.Fatalf("supervise cannot parse %v: %v", argv, err)
		}
		if !reflect.DeepEqual(sup, up) {
			t.Errorf("up %v: supervisor got %+v, up had %+v", args, sup, up)
		}
	}
}

// TestClusterDeps checks `cluster deps` on a temporary cache: --print names
// the exact go build commands (package binaries' recipe) and builds nothing;
// a cached set is reported at once, without a tools tree.
func TestClusterDeps(t *testing.T) {
	cache := t.TempDir()
	out, code, err := runCLIErr(t, "cluster", "deps", "--print", "--cache-dir", cache, "--tools-dir", "/src/tools")
	if code != exitPass || err != nil {
		t.Fatalf("deps --print: exit %d, %v", code, err)
	}
	set, builds, _ := binaries.Plan(binaries.Options{CacheDir: cache, ToolsDir: "/src/tools"})
	for _, b := range builds {
		if !strings.Contains(out, b.Command()+"\n") {
			t.Errorf("deps --print lacks %q:\n%s", b.Command(), out)
		}
	}
	if len(builds) != 2 || !strings.Contains(out, "etcd "+binaries.EtcdVersion+": "+set.Etcd) {
		t.Errorf("deps --print:\n%s", out)
	}
	if m := set.Missing(); len(m) != 5 {
		t.Fatalf("--print built something: missing %v", m)
	}
	for _, p := range allBinaries(set) {
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755)
	}
	start := time.Now()
	out, code, err = runCLIErr(t, "cluster", "deps", "--cache-dir", cache, "--tools-dir", "/nonexistent")
	if code != exitPass || err != nil || !strings.Contains(out, "cached") || !strings.Contains(out, "Kubernetes "+binaries.KubernetesVersion+": "+filepath.Dir(set.Kubelet)) {
		t.Errorf("deps on a full cache: exit %d, %v:\n%s", code, err, out)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("deps on a full cache took %s", d)
	}
	out, _, _ = runCLIErr(t, "cluster", "deps", "--print", "--cache-dir", cache)
	if !strings.Contains(out, "nothing to build") {
		t.Errorf("deps --print on a full cache:\n%s", out)
	}
}

func allBinaries(s binaries.Set) []string {
	return []string{s.APIServer, s.ControllerManager, s.Scheduler, s.Kubelet, s.Etcd}
}
