package controlplane

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/irischaos/irischaos/internal/lab/localcluster/binaries"
	"github.com/irischaos/irischaos/internal/lab/localcluster/state"
)

func TestCredentialsAndArgs(t *testing.T) {
	l := state.Layout{Dir: t.TempDir()}
	if err := WriteCredentials(l, "c", "10.250.3.1"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(l.PKI(), "apiserver.crt"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	cert, _ := x509.ParseCertificate(blk.Bytes)
	for _, host := range []string{"10.250.3.1", "127.0.0.1", "kubernetes.default.svc"} {
		if err := cert.VerifyHostname(host); err != nil {
			t.Errorf("apiserver certificate lacks %s: %v", host, err)
		}
	}
	cfg, err := clientcmd.LoadFromFile(l.Kubeconfig())
	if err != nil || cfg.Clusters[cfg.Contexts[cfg.CurrentContext].Cluster].Server != "https://10.250.3.1:6443" {
		t.Fatalf("admin kubeconfig: %v", err)
	}
	if st, _ := os.Stat(filepath.Join(l.PKI(), "ca.key")); st.Mode().Perm() != 0o600 {
		t.Errorf("ca.key mode %v", st.Mode())
	}
	args := Args(l, binaries.Paths("/c"), "10.250.3.1", TimingsFast)
	all := strings.Join(args[1], " ")
	for _, want := range []string{"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction", "--anonymous-auth=false",
		"--kubelet-preferred-address-types=InternalIP", "--bind-address=10.250.3.1", "--default-unreachable-toleration-seconds=20"} {
		if !strings.Contains(all, want) {
			t.Errorf("apiserver args lack %s", want)
		}
	}
	if !strings.Contains(strings.Join(args[2], " "), "--node-monitor-grace-period=20s") {
		t.Error("controller-manager lacks the 20 s grace period")
	}
	if len(args) != len(Components) {
		t.Errorf("%d arg lists for %d components", len(args), len(Components))
	}
}

func TestTimings(t *testing.T) {
	l := state.Layout{Dir: t.TempDir()}
	for _, tc := range []struct {
		in               string
		api, kcm, notKCM string
	}{
		{"", "--default-unreachable-toleration-seconds=20", "--node-monitor-grace-period=20s", "50s"},
		{"fast", "--default-not-ready-toleration-seconds=20", "--node-monitor-period=2s", "50s"},
		{"upstream", "--default-unreachable-toleration-seconds=300", "--node-monitor-grace-period=50s", "20s"},
	} {
		tm, err := ParseTimings(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		args := Args(l, binaries.Paths("/c"), "10.250.3.1", tm)
		api, kcm := strings.Join(args[1], " "), strings.Join(args[2], " ")
		if !strings.Contains(api, tc.api) || !strings.Contains(kcm, tc.kcm) || strings.Contains(kcm, tc.notKCM) {
			t.Errorf("--timings %q: apiserver %q\nkcm %q", tc.in, api, kcm)
		}
	}
	if _, err := ParseTimings("slow"); err == nil || !strings.Contains(err.Error(), "upstream") {
		t.Errorf("ParseTimings(slow) = %v", err)
	}
}
