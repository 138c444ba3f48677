package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/cloud/providers"
	"github.com/irischaos/irischaos/internal/lab/awsemulator"
)

// noKubeconfig leaves client-go nothing to find: no KUBECONFIG, a HOME with
// no ~/.kube/config.
func noKubeconfig(t *testing.T) {
	t.Helper()
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBECONFIG", "")
	os.Unsetenv("KUBECONFIG")
}

// A VM named by --provider-id needs no cluster, even to plan.
func TestInjectVMDryRunWithoutKubeconfig(t *testing.T) {
	noKubeconfig(t)
	out, code, err := runCLIErr(t, "inject", "vm-poweroff", "--provider-id", "aws:///us-east-1a/i-0abc12345678", "--dry-run")
	if code != exitPass || err != nil {
		t.Fatalf("exit %d, %v:\n%s", code, err, out)
	}
	for _, want := range []string{"the cloud API (no cluster configured)", "vm aws:///us-east-1a/i-0abc12345678", "StopInstances", "--allow-vm-actions"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run lacks %q:\n%s", want, out)
		}
	}
	// Any other fault, or a VM fault without --provider-id, still needs the cluster.
	for _, args := range [][]string{{"inject", "pod-delete", "--dry-run"}, {"inject", "vm-poweroff", "--dry-run"}} {
		if _, _, err := runCLIErr(t, args...); err == nil || !strings.Contains(err.Error(), "no cluster configured") {
			t.Errorf("%v: %v", args, err)
		}
	}
}

// inject vm-poweroff --provider-id against the EC2 emulator with no
// kubeconfig: the VM is stopped, the effect is confirmed by the cloud API's
// state, the fault is in the ledger, and recover (no kubeconfig either)
// powers it on again.
func TestInjectVMWithoutKubeconfig(t *testing.T) {
	if _, err := awsemulator.Binary(); err != nil {
		t.Skipf("skipping: needs moto_server: %v", err)
	}
	noKubeconfig(t)
	for _, k := range []string{"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ACCESS_KEY_ID", awsemulator.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", awsemulator.SecretAccessKey)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := awsemulator.Start(ctx, filepath.Join(t.TempDir(), "moto.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	insts, err := awsemulator.Launch(ctx, srv.URL, []awsemulator.NodeSpec{{Name: "vm1", Zone: "us-east-1a"}})
	if err != nil {
		t.Fatal(err)
	}
	id := insts["vm1"].ProviderID
	reports := t.TempDir()

	out, code, err := runCLIErr(t, "inject", "vm-poweroff", "--provider-id", id, "--allow-vm-actions", "--no-heal",
		"--aws-endpoint", srv.URL, "--reports", reports, "--effect-timeout", "30s")
	if code != exitPass || err != nil {
		t.Fatalf("inject: exit %d, %v:\n%s", code, err, out)
	}
	if !strings.Contains(out, "effect confirmed") || !strings.Contains(out, "VM stopped (cloud API state)") || !strings.Contains(out, "left in effect") {
		t.Errorf("inject output:\n%s", out)
	}
	if st := vmState(t, srv.URL, id); st != cloud.Stopped {
		t.Fatalf("VM %s after inject, want stopped", st)
	}

	out, code, err = runCLIErr(t, "recover", "--reports", reports, "--aws-endpoint", srv.URL)
	if code != exitPass || err != nil || !strings.Contains(out, "healed: 1 fault(s)") {
		t.Fatalf("recover: exit %d, %v:\n%s", code, err, out)
	}
	if st := vmState(t, srv.URL, id); st != cloud.Running {
		t.Fatalf("VM %s after recover, want running", st)
	}
}

func vmState(t *testing.T, endpoint, id string) cloud.State {
	t.Helper()
	p, vm, err := providers.New(providers.Options{AWSEndpoint: endpoint}).For(id)
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.State(context.Background(), vm)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
