package binaries

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindRoot(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "go.mod"), []byte("module "+Module+"\n\ngo 1.26\n"), 0o644)
	sub := filepath.Join(root, "tools", "k8s")
	os.MkdirAll(sub, 0o755)
	// A nested module of another name must be skipped.
	os.WriteFile(filepath.Join(sub, "go.mod"), []byte("module irischaos.local/tools/k8s\n"), 0o644)
	got, err := findRoot(sub)
	if err != nil || got != root {
		t.Fatalf("findRoot = %q, %v; want %q", got, err, root)
	}
	if _, err := findRoot(t.TempDir()); err == nil || !strings.Contains(err.Error(), "--tools-dir") {
		t.Errorf("findRoot outside a tree: %v", err)
	}
}

func TestEnsureCached(t *testing.T) {
	cache := t.TempDir()
	set := Paths(cache)
	for _, p := range append(set.k8s(), set.Etcd) {
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755)
	}
	var out strings.Builder
	// ToolsDir points nowhere: a cached set must not need it.
	got, err := Ensure(context.Background(), Options{CacheDir: cache, ToolsDir: "/nonexistent", Progress: &out})
	if err != nil || got != set {
		t.Fatalf("Ensure = %+v, %v", got, err)
	}
	if !strings.Contains(out.String(), KubernetesVersion) {
		t.Errorf("progress does not name the version: %q", out.String())
	}
	os.Remove(set.Etcd)
	_, err = Ensure(context.Background(), Options{CacheDir: cache, ToolsDir: "/nonexistent"})
	if err == nil || !strings.Contains(err.Error(), "tools module") {
		t.Errorf("missing etcd with no tools dir: %v", err)
	}
}

func TestBuildArgsK8s(t *testing.T) {
	args := strings.Join(BuildArgsK8s("/c/k8s-v1.36.3"), " ")
	for _, want := range []string{"gitVersion=v1.36.3", "gitMinor=36", "gitTreeState=clean", "-trimpath", "-o /c/k8s-v1.36.3/", "k8s.io/kubernetes/cmd/kubelet"} {
		if !strings.Contains(args, want) {
			t.Errorf("build args %q lack %q", args, want)
		}
	}
}

// Plan names the exact commands a build would run, and nothing when cached:
// the recipe is checked without building anything.
func TestPlan(t *testing.T) {
	cache := t.TempDir()
	set, builds, err := Plan(Options{CacheDir: cache, ToolsDir: "/src/tools"})
	if err != nil || set != Paths(cache) || len(builds) != 2 {
		t.Fatalf("Plan on an empty cache = %+v, %+v, %v", set, builds, err)
	}
	k, e := builds[0], builds[1]
	wantK := "cd /src/tools/k8s && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w -X k8s.io/component-base/version.gitVersion=" + KubernetesVersion +
		" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=36 -X k8s.io/component-base/version.gitTreeState=clean' -o " +
		cache + "/k8s-" + KubernetesVersion + "/ k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet"
	if k.Command() != wantK {
		t.Errorf("k8s command\n got %s\nwant %s", k.Command(), wantK)
	}
	wantE := "cd /src/tools/etcd && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o " + set.Etcd + " go.etcd.io/etcd/server/v3"
	if e.Command() != wantE {
		t.Errorf("etcd command\n got %s\nwant %s", e.Command(), wantE)
	}
	// Only etcd cached: only Kubernetes is planned.
	os.MkdirAll(filepath.Dir(set.Etcd), 0o755)
	os.WriteFile(set.Etcd, []byte("#!/bin/sh\n"), 0o755)
	if _, builds, _ := Plan(Options{CacheDir: cache, ToolsDir: "/src/tools"}); len(builds) != 1 || builds[0].What != "Kubernetes "+KubernetesVersion {
		t.Errorf("with etcd cached: %+v", builds)
	}
	if got := shellQuote("it's"); got != `'it'\''s'` {
		t.Errorf("shellQuote = %s", got)
	}
}
