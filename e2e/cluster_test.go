//go:build chaos

package e2e

// Features proving the cluster under test is a real Kubernetes cluster:
// nodes Ready, pods run real containers, exec works, the kubelet enforces
// liveness probes, a powered-off node's pods move, and the two storage
// stand-ins behave as node-local and node-independent storage do. They
// prove the lab: they need the embedded cluster (suite.Embedded) and are
// skipped, saying so, on a user's cluster.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/drain"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/irischaos/irischaos/internal/lab/image"
	"github.com/irischaos/irischaos/internal/lab/localcluster/provisioner"
	"github.com/irischaos/irischaos/internal/lab/nodepower"
	"github.com/irischaos/irischaos/internal/suite"
	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/ledger"
)

const clusterNS = "irischaos-e2e-cluster"

func clientset(t *testing.T, cfg *envconf.Config) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg.Client().RESTConfig())
	if err != nil {
		t.Fatalf("client for %s: %v", kubeconfigPath, err)
	}
	return cs
}

func setupNS(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
	if _, err := claimNamespace(ctx, clientset(t, cfg), clusterNS); err != nil {
		t.Fatal(err)
	}
	return ctx
}

func nodeIsReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// shell is a container of the stand-in image running a shell that exits
// promptly on SIGTERM (so deletions do not wait out the grace period).
func shell(name string) corev1.Container {
	return corev1.Container{
		Name: name, Image: image.StandinRef, ImagePullPolicy: corev1.PullIfNotPresent,
		Command: []string{"/bin/sh", "-c", "trap 'exit 0' TERM; touch /tmp/healthy; while true; do sleep 1; done"},
	}
}

func deployment(name string, pod corev1.PodSpec) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	pod.TerminationGracePeriodSeconds = ptr.To[int64](2)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: clusterNS, Labels: map[string]string{suite.Label: suite.LabelValue}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod},
		},
	}
}

func pvc(name, class string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: clusterNS, Labels: map[string]string{suite.Label: suite.LabelValue}},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: ptr.To(class),
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")}},
		},
	}
}

func withVolume(p corev1.PodSpec, claim string) corev1.PodSpec {
	p.Volumes = append(p.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}})
	p.Containers[0].VolumeMounts = append(p.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: "/data"})
	return p
}

// runningPod waits for a Running, Ready pod of app, optionally not on avoid.
func runningPod(ctx context.Context, t *testing.T, cs kubernetes.Interface, app, avoid string, timeout time.Duration) *corev1.Pod {
	t.Helper()
	var found *corev1.Pod
	var last string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(clusterNS).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = ""
		for i, p := range pods.Items {
			last += fmt.Sprintf("%s %s on %q; ", p.Name, p.Status.Phase, p.Spec.NodeName)
			if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning || p.Spec.NodeName == avoid {
				continue
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					found = &pods.Items[i]
					return true, nil
				}
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no running pod of %s (not on %q) after %s: %s", app, avoid, timeout, last)
	}
	return found
}

func create(ctx context.Context, t *testing.T, cs kubernetes.Interface, objs ...any) {
	t.Helper()
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *appsv1.Deployment:
			_, err = cs.AppsV1().Deployments(clusterNS).Create(ctx, o, metav1.CreateOptions{})
		case *corev1.PersistentVolumeClaim:
			_, err = cs.CoreV1().PersistentVolumeClaims(clusterNS).Create(ctx, o, metav1.CreateOptions{})
		case *corev1.Pod:
			_, err = cs.CoreV1().Pods(clusterNS).Create(ctx, o, metav1.CreateOptions{})
		default:
			t.Fatalf("create: unsupported %T", o)
		}
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("create %T: %v", o, err)
		}
	}
}

func drainer(ctx context.Context, cs kubernetes.Interface, out io.Writer) *drain.Helper {
	return &drain.Helper{Ctx: ctx, Client: cs, Force: true, IgnoreAllDaemonSets: true, DeleteEmptyDirData: true,
		GracePeriodSeconds: -1, Timeout: 2 * time.Minute, Out: out, ErrOut: out}
}

// drainNode cordons and drains name, recorded in the ledger first; the
// returned function uncordons it and marks it healed (call it deferred).
func drainNode(ctx context.Context, t *testing.T, cs kubernetes.Interface, name string) (uncordonIt func()) {
	t.Helper()
	n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	healed := recordFault(t, ledger.Entry{Fault: string(fault.NodeDrain), Heal: ledger.HealUncordon, Node: name})
	uncordonIt = func() { healed(uncordon(ctx, t, cs, name)) }
	var out bytes.Buffer
	h := drainer(ctx, cs, &out)
	if err := drain.RunCordonOrUncordon(h, n, true); err != nil {
		uncordonIt()
		t.Fatalf("cordon %s: %v", name, err)
	}
	if err := drain.RunNodeDrain(h, name); err != nil {
		uncordonIt()
		t.Fatalf("drain %s: %v\n%s", name, err, out.String())
	}
	return uncordonIt
}

func uncordon(ctx context.Context, t *testing.T, cs kubernetes.Interface, name string) error {
	n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Logf("uncordon %s: %v", name, err)
		return err
	}
	if err := drain.RunCordonOrUncordon(drainer(ctx, cs, io.Discard), n, false); err != nil {
		t.Logf("uncordon %s: %v", name, err)
		return err
	}
	return nil
}

func deleteApp(ctx context.Context, cs kubernetes.Interface, name string) {
	_ = cs.AppsV1().Deployments(clusterNS).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground)})
	_ = cs.CoreV1().PersistentVolumeClaims(clusterNS).Delete(ctx, name, metav1.DeleteOptions{})
}

func TestClusterIsReal(t *testing.T) {
	basics := features.New("cluster basics").
		WithLabel("suite", "cluster").
		WithLabel(suite.NeedsLabel, needs(suite.Embedded)).
		Setup(setupNS).
		Assess("every node is Ready", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			cs := clientset(t, cfg)
			err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
				nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
				if err != nil || len(nodes.Items) == 0 {
					return false, nil
				}
				for i := range nodes.Items {
					if !nodeIsReady(&nodes.Items[i]) {
						return false, nil
					}
				}
				return true, nil
			})
			if err != nil {
				t.Fatalf("not every node Ready: %v", err)
			}
			return ctx
		}).
		Assess("a Deployment's pod runs and exec returns its output", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			cs := clientset(t, cfg)
			create(ctx, t, cs, deployment("basic", corev1.PodSpec{Containers: []corev1.Container{shell("c")}}))
			pod := runningPod(ctx, t, cs, "basic", "", 2*time.Minute)
			var stdout, stderr bytes.Buffer
			start := time.Now()
			if err := cfg.Client().Resources().ExecInPod(ctx, clusterNS, pod.Name, "c", []string{"/bin/sh", "-c", "echo hello-from-$(hostname)"}, &stdout, &stderr); err != nil {
				t.Fatalf("exec in %s: %v (stderr %q)", pod.Name, err, stderr.String())
			}
			if got, want := strings.TrimSpace(stdout.String()), "hello-from-"+pod.Name; got != want {
				t.Errorf("exec output %q, want %q", got, want)
			}
			t.Logf("exec in %s on %s took %s", pod.Name, pod.Spec.NodeName, time.Since(start).Round(time.Millisecond))
			return ctx
		}).
		Assess("a failing liveness probe restarts the container", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			cs := clientset(t, cfg)
			c := shell("c")
			c.LivenessProbe = &corev1.Probe{
				ProbeHandler:     corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c", "test -f /tmp/healthy"}}},
				PeriodSeconds:    2,
				FailureThreshold: 1,
			}
			create(ctx, t, cs, deployment("liveness", corev1.PodSpec{Containers: []corev1.Container{c}}))
			pod := runningPod(ctx, t, cs, "liveness", "", 2*time.Minute)
			var out bytes.Buffer
			if err := cfg.Client().Resources().ExecInPod(ctx, clusterNS, pod.Name, "c", []string{"rm", "/tmp/healthy"}, &out, &out); err != nil {
				t.Fatalf("breaking the probe: %v %s", err, out.String())
			}
			err := wait.PollUntilContextTimeout(ctx, time.Second, 90*time.Second, true, func(ctx context.Context) (bool, error) {
				p, err := cs.CoreV1().Pods(clusterNS).Get(ctx, pod.Name, metav1.GetOptions{})
				if err != nil {
					return false, nil
				}
				for _, s := range p.Status.ContainerStatuses {
					if s.RestartCount >= 1 {
						return true, nil
					}
				}
				return false, nil
			})
			if err != nil {
				t.Fatalf("container of %s not restarted by the kubelet after its liveness probe failed: %v", pod.Name, err)
			}
			return ctx
		}).
		Teardown(func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			cs := clientset(t, cfg)
			deleteApp(ctx, cs, "basic")
			deleteApp(ctx, cs, "liveness")
			return ctx
		}).Feature()

	storage := features.New("storage stand-ins under a node drain").
		WithLabel("suite", "cluster").
		WithLabel(suite.NeedsLabel, needs(suite.Embedded)).
		Setup(setupNS).
		Assess("local-disk: the replacement pod stays Pending on the volume's node affinity", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			cs := clientset(t, cfg)
			if _, err := cs.StorageV1().StorageClasses().Get(ctx, provisioner.LocalDisk, metav1.GetOptions{}); err != nil {
				t.Skipf("no %s StorageClass on this cluster: %v", provisioner.LocalDisk, err)
			}
			create(ctx, t, cs, pvc("local", provisioner.LocalDisk), deployment("local", withVolume(corev1.PodSpec{Containers: []corev1.Container{shell("c")}}, "local")))
			pod := runningPod(ctx, t, cs, "local", "", 2*time.Minute)
			defer drainNode(ctx, t, cs, pod.Spec.NodeName)()
			var msg string
			err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
				pods, err := cs.CoreV1().Pods(clusterNS).List(ctx, metav1.ListOptions{LabelSelector: "app=local"})
				if err != nil {
					return false, nil
				}
				for _, p := range pods.Items {
					if p.Name == pod.Name || p.Status.Phase != corev1.PodPending {
						continue
					}
					for _, c := range p.Status.Conditions {
						// The scheduler's reason is stable; its wording is
						// not ("volume node affinity conflict" before v1.3x,
						// "didn't match PersistentVolume's node affinity" now).
						if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
							msg = c.Message
							return strings.Contains(strings.ToLower(msg), "node affinity"), nil
						}
					}
				}
				return false, nil
			})
			if err != nil {
				t.Fatalf("replacement pod not unschedulable for node affinity (last message %q): %v", msg, err)
			}
			t.Logf("scheduler: %s", msg)
			return ctx
		}).
		Assess("replicated: the replacement pod runs on another node with the same volume", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			cs := clientset(t, cfg)
			if _, err := cs.StorageV1().StorageClasses().Get(ctx, provisioner.Replicated, metav1.GetOptions{}); err != nil {
				t.Skipf("no %s StorageClass on this cluster: %v", provisioner.Replicated, err)
			}
			create(ctx, t, cs, pvc("repl", provisioner.Replicated), deployment("repl", withVolume(corev1.PodSpec{Containers: []corev1.Container{shell("c")}}, "repl")))
			pod := runningPod(ctx, t, cs, "repl", "", 2*time.Minute)
			var out bytes.Buffer
			if err := cfg.Client().Resources().ExecInPod(ctx, clusterNS, pod.Name, "c", []string{"/bin/sh", "-c", "echo marker-1 > /data/m"}, &out, &out); err != nil {
				t.Fatalf("writing a marker: %v %s", err, out.String())
			}
			defer drainNode(ctx, t, cs, pod.Spec.NodeName)()
			moved := runningPod(ctx, t, cs, "repl", pod.Spec.NodeName, 2*time.Minute)
			// Read a few times: once (1 run in 5) an exec of a process that
			// exits at once returned nil with its stdout not yet delivered.
			// A marker that is not on the volume is never read, however often.
			var readErr error
			for attempt := 0; attempt < 5; attempt++ {
				out.Reset()
				readErr = cfg.Client().Resources().ExecInPod(ctx, clusterNS, moved.Name, "c", []string{"cat", "/data/m"}, &out, &out)
				if readErr == nil && strings.TrimSpace(out.String()) == "marker-1" {
					break
				}
				time.Sleep(time.Second)
			}
			if readErr != nil || strings.TrimSpace(out.String()) != "marker-1" {
				t.Fatalf("marker not on the replicated volume after the move from %s to %s: %v %q", pod.Spec.NodeName, moved.Spec.NodeName, readErr, out.String())
			}
			t.Logf("pod moved from %s to %s with its data", pod.Spec.NodeName, moved.Spec.NodeName)
			return ctx
		}).
		Teardown(func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			cs := clientset(t, cfg)
			deleteApp(ctx, cs, "local")
			deleteApp(ctx, cs, "repl")
			return ctx
		}).Feature()

	power := features.New("node power off").
		WithLabel("suite", "cluster").
		WithLabel(suite.NeedsLabel, needs(suite.Embedded)).
		WithLabel(suite.NeedsLabel, needs(suite.LocalPower)).
		Setup(setupNS).
		Assess("a powered-off node goes NotReady and its pod is recreated on another node", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			if !localCluster {
				t.Skip("node power needs the irischaos local cluster (this cluster came from a kubeconfig)")
			}
			pc, err := nodepower.Discover(clusterName)
			if err != nil {
				t.Fatal(err)
			}
			cs := clientset(t, cfg)
			create(ctx, t, cs, deployment("power", corev1.PodSpec{Containers: []corev1.Container{shell("c")}}))
			pod := runningPod(ctx, t, cs, "power", "", 2*time.Minute)
			victim := pod.Spec.NodeName
			node, err := cs.CoreV1().Nodes().Get(ctx, victim, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			healed := recordFault(t, ledger.Entry{Fault: string(fault.VMPowerOff), Heal: ledger.HealPowerOn, Node: victim, ProviderID: node.Spec.ProviderID})
			start := time.Now()
			if err := pc.Do(ctx, victim, nodepower.PowerOff); err != nil {
				healed(nil) // never powered off
				t.Fatal(err)
			}
			defer func() {
				err := pc.Do(context.Background(), victim, nodepower.PowerOn)
				if err != nil {
					t.Errorf("powering %s back on: %v", victim, err)
				}
				healed(err)
			}()
			err = wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
				n, err := cs.CoreV1().Nodes().Get(ctx, victim, metav1.GetOptions{})
				return err == nil && !nodeIsReady(n), nil
			})
			if err != nil {
				t.Fatalf("node %s still Ready 2 minutes after its power cut", victim)
			}
			t.Logf("node %s NotReady %s after the power cut", victim, time.Since(start).Round(time.Second))
			moved := runningPod(ctx, t, cs, "power", victim, 3*time.Minute)
			t.Logf("pod recreated as %s on %s %s after the power cut", moved.Name, moved.Spec.NodeName, time.Since(start).Round(time.Second))
			return ctx
		}).
		Teardown(func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			deleteApp(ctx, clientset(t, cfg), "power")
			return ctx
		}).Feature()

	testenv.Test(t, basics, storage, power)
}
