package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStackCommandsBadInput(t *testing.T) {
	dir := t.TempDir()
	// An API server that is not there: connection refused at once.
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
