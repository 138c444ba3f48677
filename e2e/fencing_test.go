//go:build chaos

package e2e

// Fencing on the local cluster's Ceph RBD (issue 12 item 5, the proof behind
// issue 9's partition): a pod writing to a `replicated` volume keeps running
// on a node whose link is cut; the node is declared out of service, the
// replacement starts on another node and attaches the volume (the CSI
// driver's ControllerPublish takes the image's lock and blocklists the old
// node's client). A write then issued on the old node's mount of the volume
// must never be acknowledged: it blocks while the link is down and fails
// once the link is back, and the replacement never sees it.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/irischaos/irischaos/internal/lab/localcluster/provisioner"
	"github.com/irischaos/irischaos/internal/lab/nodepower"
	"github.com/irischaos/irischaos/internal/suite"
	"github.com/irischaos/irischaos/pkg/mitigation"
	"github.com/irischaos/irischaos/pkg/storagehealth"
)

// stagingMount is the node's ext4 mount of the volume (the CSI staging
// path, under that node's kubelet directory), "" when none.
func stagingMount(cluster, node string) string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		p := fields[4]
		if strings.Contains(p, "/clusters/"+cluster+"/nodes/"+node+"/") && strings.Contains(p, storagehealth.CephRBDDriver) && strings.HasSuffix(p, "/globalmount") {
			return p
		}
	}
	return ""
}

func setTaint(ctx context.Context, t *testing.T, cfg *envconf.Config, node string, on bool) {
	cs := clientset(t, cfg)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		isOOS := func(x corev1.Taint) bool { return x.Key == mitigation.TaintKey }
		n.Spec.Taints = slices.DeleteFunc(n.Spec.Taints, isOOS)
		if on {
			n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: mitigation.TaintKey, Value: mitigation.TaintValue, Effect: corev1.TaintEffect(mitigation.TaintEffect)})
		}
		_, err = cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Errorf("out-of-service taint on %s (%v): %v", node, on, err)
	}
}

func TestFencing(t *testing.T) {
	f := features.New("Ceph RBD fencing of a partitioned node").
		WithLabel("suite", "cluster").
		WithLabel(suite.NeedsLabel, needs(suite.Embedded)).
		WithLabel(suite.NeedsLabel, needs(suite.LocalPower)).
		Setup(setupNS).
		Assess("the old node's write to the volume is never acknowledged once another node attached it", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			if !localCluster {
				t.Skip("skipping: partitioning a node needs the irischaos local cluster's node power API")
			}
			cs := clientset(t, cfg)
			sc, err := cs.StorageV1().StorageClasses().Get(ctx, provisioner.Replicated, metav1.GetOptions{})
			if err != nil || sc.Provisioner != storagehealth.CephRBDDriver {
				t.Skipf("skipping: %s is not served by Ceph RBD here (%v)", provisioner.Replicated, err)
			}
			pc, err := nodepower.Discover(clusterName)
			if err != nil {
				t.Fatal(err)
			}
			writer := shell("c")
			writer.Command = []string{"/bin/sh", "-c", "trap 'exit 0' TERM; touch /tmp/healthy; while true; do date >> /data/log; sleep 0.2; done"}
			create(ctx, t, cs, pvc("fence", provisioner.Replicated), deployment("fence", withVolume(corev1.PodSpec{Containers: []corev1.Container{writer}}, "fence")))
			defer deleteApp(context.WithoutCancel(ctx), cs, "fence")
			old := runningPod(ctx, t, cs, "fence", "", 3*time.Minute)
			victim := old.Spec.NodeName
			mnt := stagingMount(clusterName, victim)
			if mnt == "" {
				t.Fatalf("no staging mount of the volume under node %s's kubelet directory", victim)
			}
			t.Logf("pod %s writes on node %s; its volume is staged at %s", old.Name, victim, mnt)

			start := time.Now()
			if err := pc.Do(ctx, victim, nodepower.Partition); err != nil {
				t.Fatal(err)
			}
			healed := false
			heal := func() {
				if !healed {
					healed = true
					if err := pc.Do(context.WithoutCancel(ctx), victim, nodepower.Heal); err != nil {
						t.Errorf("reconnecting %s: %v", victim, err)
					}
				}
			}
			defer heal()
			defer setTaint(context.WithoutCancel(ctx), t, cfg, victim, false)
			err = wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
				n, err := cs.CoreV1().Nodes().Get(ctx, victim, metav1.GetOptions{})
				return err == nil && !nodeIsReady(n), nil
			})
			if err != nil {
				t.Fatalf("node %s still Ready 2 minutes after its link was cut", victim)
			}
			t.Logf("node %s NotReady %s after its link was cut; tainting it out of service (as an operator, or irischaos' mitigation, would)", victim, time.Since(start).Round(time.Second))
			setTaint(ctx, t, cfg, victim, true)
			moved := runningPod(ctx, t, cs, "fence", victim, 3*time.Minute)
			t.Logf("replacement %s runs on %s %s after the cut: the volume is attached there", moved.Name, moved.Spec.NodeName, time.Since(start).Round(time.Second))

			// The old node's mount is still there (its kubelet cannot hear
			// that the pod is gone); write on it, as the old IRIS would.
			probe := fmt.Sprintf("fenced-write-%d", time.Now().UnixNano())
			done := make(chan error, 1)
			go func() {
				fd, err := os.OpenFile(mnt+"/fence-probe", os.O_CREATE|os.O_WRONLY|os.O_APPEND|syscall.O_DSYNC, 0o644)
				if err == nil {
					_, err = fd.WriteString(probe + "\n")
					if cerr := fd.Close(); err == nil {
						err = cerr
					}
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil {
					t.Fatalf("a write on partitioned node %s's mount was acknowledged after %s took the volume: two writers", victim, moved.Spec.NodeName)
				}
				t.Logf("write on the partitioned node failed at once: %v", err)
			case <-time.After(5 * time.Second):
				t.Logf("write on the partitioned node blocked (its client cannot reach Ceph); reconnecting the node")
				heal()
				select {
				case err := <-done:
					if err == nil {
						t.Fatalf("the blocked write on node %s was acknowledged once its link came back, after %s took the volume: the old client was not fenced", victim, moved.Spec.NodeName)
					}
					t.Logf("after reconnecting, the fenced write failed: %v", err)
				case <-time.After(2 * time.Minute):
					t.Logf("the fenced write is still blocked 2 minutes after reconnecting: never acknowledged")
				}
			}

			// The replacement never sees it.
			var out bytes.Buffer
			err = cfg.Client().Resources().ExecInPod(ctx, clusterNS, moved.Name, "c", []string{"/bin/sh", "-c", "cat /data/fence-probe 2>/dev/null; echo end"}, &out, &out)
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Fatalf("reading the volume on %s: %v", moved.Spec.NodeName, err)
			}
			if strings.Contains(out.String(), probe) {
				t.Fatalf("the replacement on %s reads the fenced node's write: %q", moved.Spec.NodeName, out.String())
			}
			t.Logf("the replacement on %s does not see the fenced write", moved.Spec.NodeName)
			return ctx
		}).Feature()
	testenv.Test(t, f)
}
