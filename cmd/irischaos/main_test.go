package main

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/irischaos/irischaos/internal/lab/localcluster/state"
)

// The subcommands are those newRoot lists, nothing registered elsewhere.
func TestSubcommandsListed(t *testing.T) {
	root := newRoot(&app{kube: genericclioptions.NewConfigFlags(true)})
	var got []string
	for _, c := range root.Commands() {
		if c.Name() != "help" && c.Name() != "completion" {
			got = append(got, c.Name())
		}
	}
	sort.Strings(got)
	want := []string{"advise", "analyze", "cluster", "image", "inject", "preflight", "recover", "report", "run", "stack", "verify", "version"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("subcommands %v, want %v", got, want)
	}
}

// Commands print to their command's streams, never to os.Stdout: the
// output is captured here.
func TestClusterCommandsWriteToCommandOutput(t *testing.T) {
	t.Setenv("IRISCHAOS_STATE_DIR", t.TempDir())
	out, code, err := runCLIErr(t, "cluster", "down", "--all")
	if code != exitPass || err != nil || out != "no local clusters\n" {
		t.Errorf("cluster down --all: exit %d, %v, output %q", code, err, out)
	}
	kc := state.For("lab").Kubeconfig()
	if _, code, _ := runCLIErr(t, "cluster", "kubeconfig", "--name", "lab"); code != exitUnknown {
		t.Errorf("kubeconfig of a missing cluster: exit %d", code)
	}
	os.MkdirAll(filepath.Dir(kc), 0o755)
	os.WriteFile(kc, []byte("apiVersion: v1\n"), 0o600)
	out, code, err = runCLIErr(t, "cluster", "kubeconfig", "--name", "lab")
	if code != exitPass || err != nil || out != kc+"\n" {
		t.Errorf("cluster kubeconfig: exit %d, %v, output %q, want %q", code, err, out, kc)
	}
	out, _, _ = runCLIErr(t, "version")
	if !strings.Contains(out, "irischaos") {
		t.Errorf("version output %q", out)
	}
}

func TestExitCodePrintsToItsWriter(t *testing.T) {
	var b strings.Builder
	if c := exitCode(&b, withCode(exitFail, errors.New("a verdict failed"))); c != exitFail || b.String() != "irischaos: a verdict failed\n" {
		t.Errorf("exitCode = %d, printed %q", c, b.String())
	}
	b.Reset()
	if c := exitCode(&b, nil); c != exitPass || b.Len() != 0 {
		t.Errorf("exitCode(nil) = %d, printed %q", c, b.String())
	}
}
