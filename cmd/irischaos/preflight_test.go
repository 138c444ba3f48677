package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestPreflightBadInput(t *testing.T) {
	dir := t.TempDir()
	kc := unreachableKubeconfig(t, dir)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad format before any cluster", []string{"preflight", "--kubeconfig", filepath.Join(dir, "missing"), "-o", "yaml"}, `--output "yaml"`},
		{"missing kubeconfig", []string{"preflight", "--kubeconfig", filepath.Join(dir, "missing")}, "kubeconfig"},
		{"unreachable cluster", []string{"preflight", "--kubeconfig", kc}, "cannot reach the Kubernetes API at https://127.0.0.1:1"},
		{"extra argument", []string{"preflight", "extra"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, code, err := runCLIErr(t, tt.args...)
			if code != exitUnknown || err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("exit %d, err %v; want exit %d and %q", code, err, exitUnknown, tt.want)
			}
		})
	}
}
