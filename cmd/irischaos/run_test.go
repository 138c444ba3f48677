package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/irischaos/irischaos/pkg/ledger"
)

// runCLIErr runs the root command and returns stdout, the exit code and the error.
func runCLIErr(t *testing.T, args ...string) (string, int, error) {
	t.Helper()
	a := &app{kube: genericclioptions.NewConfigFlags(true), ctx: context.Background()}
	root := newRoot(a)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&bytes.Buffer{})
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	code := exitPass
	if err != nil {
		code = exitUnknown
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
	}
	return out.String(), code, err
}

func TestRunInjectRecoverRefuseBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("name: x\nfault:\n  type: pod-delete\n  colour: red\n"), 0o644)
	vm := filepath.Join(dir, "vm.yaml")
	os.WriteFile(vm, []byte("name: vm\nfault:\n  type: vm-poweroff\nbudgets:\n  rto: 5m\n"), 0o644)
	zonePart := filepath.Join(dir, "zone.yaml")
	os.WriteFile(zonePart, []byte("name: zone\nfault:\n  type: zone-outage\n  method: partition\nbudgets:\n  rto: 5m\n"), 0o644)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown scenario field", []string{"run", bad}, "bad.yaml"},
		{"vm scenario without the flag", []string{"run", vm}, "--allow-vm-actions"},
		{"vm fault without the flag", []string{"inject", "vm-poweroff", "--node", "w1"}, "--allow-vm-actions"},
		// One opt-in per blast radius: the VM one does not allow a partition.
		{"partition scenario with the vm flag only", []string{"run", "../../scenarios/extra/node-partition.yaml", "--allow-vm-actions"}, "--allow-node-actions"},
		{"zone partition scenario with the vm flag only", []string{"run", zonePart, "--allow-vm-actions"}, "--allow-node-actions"},
		{"zone power off scenario with the node flag only", []string{"run", "../../scenarios/extra/zone-outage.yaml", "--allow-node-actions"}, "--allow-vm-actions"},
		{"partition without the flag", []string{"inject", "node-partition", "--node", "w1", "--allow-vm-actions"}, "--allow-node-actions"},
		{"zone partition without the flag", []string{"inject", "zone-outage", "--zone-method", "partition", "--allow-vm-actions"}, "--allow-node-actions"},
		{"bad zone method", []string{"inject", "zone-outage", "--zone-method", "flood"}, "unknown zone-outage method"},
		{"two targets", []string{"inject", "pod-delete", "--node", "a", "--pod", "b"}, "at most one"},
		{"heal-after and no-heal", []string{"inject", "node-drain", "--heal-after", "1m", "--no-heal"}, "exclude"},
		{"no fault", []string{"inject"}, "accepts 1 arg"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, code, err := runCLIErr(t, tc.args...)
			if code != exitUnknown || err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("exit %d, err %v; want exit 2 with %q", code, err, tc.wantErr)
			}
		})
	}
}

func TestRecoverLedger(t *testing.T) {
	dir := t.TempDir()
	out, code, err := runCLIErr(t, "recover", "--reports", dir)
	if code != 0 || !strings.Contains(out, "nothing to heal") {
		t.Fatalf("empty ledger: exit %d %v %q", code, err, out)
	}
	l, _ := ledger.Open(dir)
	if _, err := l.Record(ledger.Entry{Fault: "node-drain", Heal: ledger.HealUncordon, Node: "w2", Cluster: "https://x"}); err != nil {
		t.Fatal(err)
	}
	out, code, err = runCLIErr(t, "recover", "--reports", dir, "--dry-run")
	if code != 0 || !strings.Contains(out, "node-drain on node w2") || !strings.Contains(out, "heal: uncordon") {
		t.Fatalf("dry run: exit %d %v %q", code, err, out)
	}
	if p, _ := l.Pending(); len(p) != 1 {
		t.Fatal("dry run changed the ledger")
	}
	// A partition's dry run lists the exact rules recover removes.
	if _, err := l.Record(ledger.Entry{Fault: "node-partition", Heal: ledger.HealReconnect, Node: "w3", Cluster: "https://x",
		Cuts: []ledger.Cut{{Node: "w3", Via: ledger.CutAgent, Namespace: "db", Pod: "irischaos-cut-w3-x", Undo: []string{"iptables -w -D INPUT -j IRISCHAOS-PARTITION", "iptables -w -X IRISCHAOS-PARTITION"}}}}); err != nil {
		t.Fatal(err)
	}
	out, _, _ = runCLIErr(t, "recover", "--reports", dir, "--dry-run")
	for _, want := range []string{"heal: reconnect", "node w3: delete pod db/irischaos-cut-w3-x, then run in irischaos-cut-w3-x-heal", "      iptables -w -D INPUT -j IRISCHAOS-PARTITION\n      iptables -w -X IRISCHAOS-PARTITION\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run lacks %q:\n%s", want, out)
		}
	}
}
