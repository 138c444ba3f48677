package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from golden:\n%s", name, got)
	}
}

func TestContainerdGolden(t *testing.T) {
	got, err := ContainerdConfig(Containerd{
		Root: "/s/nodes/node-1/containerd/root", State: "/s/nodes/node-1/containerd/state",
		Socket: "/s/nodes/node-1/containerd.sock", RuncRoot: "/s/nodes/node-1/containerd/state/runc",
		OptDir: "/s/nodes/node-1/containerd/opt", CNIBinDir: "/usr/lib/cni", CNIConfDir: "/s/nodes/node-1/cni",
		SandboxImage: "irischaos.local/pause:3.10",
	})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "containerd.toml", got)
	if _, err := ContainerdConfig(Containerd{}); err == nil {
		t.Error("empty containerd config accepted")
	}
}

func TestCNIGolden(t *testing.T) {
	got, err := CNI("irischaos-node-1", "10.244.1.0/24", "/s/nodes/node-1/cni-ipam")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "cni.conflist", got)
	if _, err := CNI("", "", ""); err == nil {
		t.Error("empty CNI config accepted")
	}
}

func TestKubeletGolden(t *testing.T) {
	k := Kubelet{
		NodeIP: "10.250.0.11", ClientCAFile: "/s/pki/ca.crt", TLSCertFile: "/s/pki/kubelet-node-1.crt",
		TLSKeyFile: "/s/pki/kubelet-node-1.key", CgroupRoot: "/process_api/x/irischaos-c/node-1",
		RuntimeEndpoint: "unix:///s/nodes/node-1/containerd.sock", ProviderID: "local://c/node-1",
		ResolvConf: "/etc/resolv.conf",
	}
	got, err := KubeletConfig(k)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "kubelet.yaml", got)
	var m map[string]any
	if err := yaml.Unmarshal([]byte(got), &m); err != nil {
		t.Fatalf("kubelet config is not YAML: %v", err)
	}
	if m["authorization"].(map[string]any)["mode"] != "Webhook" || m["failCgroupV1"] != false {
		t.Errorf("security or cgroup settings lost: %v", m)
	}
	k.RuntimeEndpoint = "/no/scheme.sock"
	if _, err := KubeletConfig(k); err == nil || !strings.Contains(err.Error(), "unix://") {
		t.Errorf("bad endpoint: %v", err)
	}
}

func TestKubeconfig(t *testing.T) {
	b, err := Kubeconfig("c", "https://10.250.0.1:6443", []byte("CA"), []byte("CERT"), []byte("KEY"), "admin")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "admin@c" || cfg.Clusters["c"].Server != "https://10.250.0.1:6443" || string(cfg.AuthInfos["admin"].ClientKeyData) != "KEY" {
		t.Errorf("kubeconfig round trip: %+v", cfg)
	}
}
