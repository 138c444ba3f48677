package provider

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/envfuncs"

	"github.com/irischaos/irischaos/internal/lab/localcluster/binaries"
	"github.com/irischaos/irischaos/internal/lab/localcluster/state"
)

// fakeIrischaos writes a stand-in irischaos that logs its arguments to
// calls and fails when its arguments contain "fail".
func fakeIrischaos(t *testing.T) (bin, calls string) {
	dir := t.TempDir()
	bin, calls = filepath.Join(dir, "irischaos"), filepath.Join(dir, "calls")
	script := "#!/bin/sh\necho \"$@\" >> " + calls + "\ncase \"$*\" in *fail*) echo boom >&2; exit 3;; esac\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, calls
}

func readCalls(t *testing.T, calls string) []string {
	b, err := os.ReadFile(calls)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// TestEnvFuncsCreateAndDestroy drives the provider through e2e-framework's
// own CreateClusterWithOpts and DestroyCluster.
func TestEnvFuncsCreateAndDestroy(t *testing.T) {
	t.Setenv("IRISCHAOS_STATE_DIR", t.TempDir())
	bin, calls := fakeIrischaos(t)
	// What `cluster up` leaves: a kubeconfig, here of an API server that is not there.
	kc := state.For("e2e").Kubeconfig()
	os.MkdirAll(filepath.Dir(kc), 0o755)
	os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: lab-ctx, context: {cluster: c, user: u}}]
current-context: lab-ctx
`), 0o600)
	p := New().WithOutput(&strings.Builder{}).WithPath(bin)
	cfg := envconf.New()
	ctx, err := envfuncs.CreateClusterWithOpts(p, "e2e")(context.Background(), cfg)
	// The fake brings no API server up, so waiting for the control plane
	// fails; Create itself must have run `cluster up` and set the kubeconfig.
	if err == nil {
		t.Fatal("no error from a cluster whose API server is absent")
	}
	if got := cfg.KubeconfigFile(); got != kc {
		t.Errorf("kubeconfig %q, want %q", got, kc)
	}
	if got := p.GetKubectlContext(); got != "lab-ctx" {
		t.Errorf("kubectl context %q", got)
	}
	if err := p.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	got := readCalls(t, calls)
	want := []string{"cluster up --name e2e", "cluster down --name e2e"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("commands %q, want %q", got, want)
	}
}

func TestCreateArgsVersionAndFailure(t *testing.T) {
	t.Setenv("IRISCHAOS_STATE_DIR", t.TempDir())
	bin, calls := fakeIrischaos(t)
	var out strings.Builder
	p := New().WithOutput(&out).WithPath(bin).WithName("lab")
	if _, err := p.WithVersion("v1.20.0").Create(context.Background()); err == nil || !strings.Contains(err.Error(), binaries.KubernetesVersion) {
		t.Errorf("other version: %v", err)
	}
	// A provider that never ran `cluster up` takes nothing down.
	if err := p.Destroy(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c := readCalls(t, calls); c[0] != "" {
		t.Errorf("commands run before Create: %q", c)
	}
	p.WithVersion(binaries.KubernetesVersion)
	kc, err := p.Create(context.Background(), "--nodes", "2")
	if err != nil || kc != state.For("lab").Kubeconfig() {
		t.Fatalf("Create = %q, %v", kc, err)
	}
	if _, err := p.Create(context.Background(), "--fail"); err == nil || !strings.Contains(err.Error(), "cluster up --name lab --fail") || !strings.Contains(out.String(), "boom") {
		t.Errorf("failing up: %v (output %q)", err, out.String())
	}
	if _, err := p.CreateWithConfig(context.Background(), "kind.yaml"); err == nil {
		t.Error("a configuration file was accepted")
	}
	if got := readCalls(t, calls); got[0] != "cluster up --name lab --nodes 2" {
		t.Errorf("commands %q", got)
	}
}
