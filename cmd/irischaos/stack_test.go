package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStackCommandsBadInput(t *testing.T) {
	dir := t.TempDir()
	kc := unreachableKubeconfig(t, dir)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"stack", "status", "--kubeconfig", filepath.Join(dir, "missing")}, "kubeconfig"},
		{[]string{"stack", "status", "--kubeconfig", kc}, "cannot reach the Kubernetes API at https://127.0.0.1:1"},
		{[]string{"stack", "deploy", "--kubeconfig", kc, "--timeout", "5s"}, "cannot reach"},
		{[]string{"stack", "teardown", "--kubeconfig", kc}, "cannot reach"},
		{[]string{"stack", "deploy", "--kubeconfig", kc, "--merge-cpf-file", filepath.Join(dir, "none.cpf")}, "--merge-cpf-file"},
		{[]string{"stack", "deploy", "extra-arg"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[:2], " ")+" "+tt.want, func(t *testing.T) {
			_, code, err := runCLIErr(t, tt.args...)
			if code != exitUnknown || err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("exit %d, err %v; want exit %d and %q", code, err, exitUnknown, tt.want)
			}
		})
	}
}

func TestStackHelp(t *testing.T) {
	for _, sub := range []string{"deploy", "status", "teardown"} {
		out, code, err := runCLIErr(t, "stack", sub, "--help")
		if code != exitPass || err != nil || !strings.Contains(out, "Examples:") || !strings.Contains(out, "irischaos stack "+sub) {
			t.Errorf("stack %s --help: exit %d, %v:\n%s", sub, code, err, out)
		}
	}
	out, _, _ := runCLIErr(t, "stack", "deploy", "--help")
	for _, flag := range []string{"--image", "--storage-class", "--timeout", "--create-namespace", "--namespace"} {
		if !strings.Contains(out, flag) {
			t.Errorf("stack deploy --help lacks %s", flag)
		}
	}
}

func TestBadInputBeforeTouchingACluster(t *testing.T) {
	// No configuration anywhere: client-go would silently fall back to
	// http://localhost:8080; the CLI must say what to set instead.
	t.Setenv("KUBECONFIG", "")
	t.Setenv("HOME", t.TempDir())
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"inject", "no-such-fault"}, `unknown fault "no-such-fault" (one of iris-stop,`},
		{[]string{"inject", "pod-delete"}, "no cluster configured"},
		{[]string{"stack", "status"}, "no cluster configured"},
		{[]string{"run", "--dry-run", "../../scenarios/pod.yaml"}, "no cluster configured"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, code, err := runCLIErr(t, tt.args...)
			if code != exitUnknown || err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("exit %d, err %v; want exit %d and %q", code, err, exitUnknown, tt.want)
			}
		})
	}
}

func TestHelpEverywhereHasExamples(t *testing.T) {
	walk := func(path []string) {
		out, code, err := runCLIErr(t, append(path, "--help")...)
		if code != exitPass || err != nil {
			t.Fatalf("%v --help: exit %d, %v", path, code, err)
		}
		if len(path) > 0 && !strings.Contains(out, "Examples:") {
			t.Errorf("irischaos %s --help has no examples", strings.Join(path, " "))
		}
	}
	for _, p := range [][]string{{}, {"cluster"}, {"cluster", "up"}, {"cluster", "down"}, {"cluster", "status"}, {"cluster", "kubeconfig"},
		{"stack"}, {"stack", "deploy"}, {"run"}, {"inject"}, {"recover"}, {"analyze"}, {"report"}, {"version"}, {"image"}, {"image", "build"}} {
		walk(p)
	}
}

// unreachableKubeconfig writes dir/kubeconfig naming an API server that is
// not there (connection refused at once), namespace db.
func unreachableKubeconfig(t *testing.T, dir string) string {
	t.Helper()
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u, namespace: db}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	return kc
}
