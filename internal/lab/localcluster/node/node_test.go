package node

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseMountsUnder(t *testing.T) {
	mi := `22 1 8:1 / / rw - ext4 /dev/vda rw
100 22 0:50 / /s/c/nodes/node-1/kubelet/pods/x/volumes/kubernetes.io~projected/kube-api-access rw - tmpfs tmpfs rw
101 22 0:51 / /s/c/nodes/node-1/containerd/state/io.containerd.runtime.v2.task/k8s.io/abc/rootfs rw - overlay overlay rw
102 22 0:52 / /s/c/nodes/node-10/kubelet/x rw - tmpfs tmpfs rw
103 22 0:53 / /s/c/nodes/node-1/with\040space rw - tmpfs tmpfs rw
`
	got, err := parseMountsUnder(strings.NewReader(mi), "/s/c/nodes/node-1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/s/c/nodes/node-1/containerd/state/io.containerd.runtime.v2.task/k8s.io/abc/rootfs",
		"/s/c/nodes/node-1/kubelet/pods/x/volumes/kubernetes.io~projected/kube-api-access",
		"/s/c/nodes/node-1/with space",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}
