package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/irischaos/irischaos/pkg/podexec"
	"github.com/irischaos/irischaos/pkg/stackid"
	"github.com/irischaos/irischaos/pkg/workload/iris"
)

func TestRender(t *testing.T) {
	tol := int64(5)
	objs, err := Render(Options{
		Namespace: "db", Image: "example/iris:1", StorageClass: "replicated", Size: "1Gi",
		GracePeriod: 30 * time.Second, NodeLossTolerationSeconds: &tol, MergeCPF: "[Miscellaneous]\nSynchCommit=1",
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, meta := range map[string]*string{
		"pvc": objs.PVC.Namespace, "configmap": objs.ConfigMap.Namespace, "deployment": objs.Deployment.Namespace, "service": objs.Service.Namespace,
	} {
		if meta == nil || *meta != "db" {
			t.Errorf("%s namespace %v", name, meta)
		}
	}
	if *objs.PVC.Name != stackid.PVC || *objs.PVC.Spec.StorageClassName != "replicated" || objs.PVC.Spec.AccessModes[0] != corev1.ReadWriteOnce {
		t.Errorf("pvc %+v", objs.PVC.Spec)
	}
	if q := (*objs.PVC.Spec.Resources.Requests)[corev1.ResourceStorage]; q.String() != "1Gi" {
		t.Errorf("pvc size %s", q.String())
	}
	cpf := objs.ConfigMap.Data["merge.cpf"]
	if !strings.HasPrefix(cpf, "[config]\nglobals=0,0,500,0,0,0\ngmheap=256000\n") || !strings.HasSuffix(cpf, "[Miscellaneous]\nSynchCommit=1\n") {
		t.Errorf("merge.cpf = %q", cpf)
	}
	d := objs.Deployment
	if *d.Name != stackid.Deployment || *d.Spec.Replicas != 1 || *d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("deployment %+v", d.Spec)
	}
	// The embedded manifest carries the identity pkg/stackid states.
	if d.Labels[stackid.AppLabel] != stackid.AppValue || d.Labels[stackid.ManagedByLabel] != stackid.ManagedBy ||
		d.Spec.Template.Labels[stackid.AppLabel] != stackid.AppValue || d.Spec.Selector.MatchLabels[stackid.AppLabel] != stackid.AppValue {
		t.Errorf("labels %v %v", d.Labels, d.Spec.Template.Labels)
	}
	ps := d.Spec.Template.Spec
	if *ps.TerminationGracePeriodSeconds != 30 {
		t.Errorf("grace %d", *ps.TerminationGracePeriodSeconds)
	}
	c := ps.Containers[0]
	if *c.Image != "example/iris:1" || *c.ImagePullPolicy != corev1.PullIfNotPresent || *c.Name != stackid.Container {
		t.Errorf("container %s %s", *c.Image, *c.ImagePullPolicy)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[*e.Name] = *e.Value
	}
	if env["ISC_DATA_DIRECTORY"] != "/external/iris" || env["ISC_CPF_MERGE_FILE"] != "/external/merge/merge.cpf" {
		t.Errorf("env %v", env)
	}
	lp := c.LivenessProbe
	if strings.Join(lp.Exec.Command, " ") != "/bin/sh -c iris qlist iris | grep running" || *lp.InitialDelaySeconds != 25 || *lp.PeriodSeconds != 10 {
		t.Errorf("liveness probe %+v", lp)
	}
	if len(ps.Tolerations) != 2 || *ps.Tolerations[0].TolerationSeconds != 5 {
		t.Errorf("tolerations %+v", ps.Tolerations)
	}
	if *objs.Service.Spec.Type != corev1.ServiceTypeLoadBalancer || *objs.Service.Spec.Ports[0].Port != 52773 {
		t.Errorf("service %+v", objs.Service.Spec)
	}

	plain, err := Render(Options{Namespace: "db"})
	if err != nil {
		t.Fatal(err)
	}
	if *plain.Deployment.Spec.Template.Spec.Containers[0].Image != DefaultImage || *plain.PVC.Spec.StorageClassName != DefaultStorageClass ||
		len(plain.Deployment.Spec.Template.Spec.Tolerations) != 0 || strings.Contains(plain.ConfigMap.Data["merge.cpf"], "Miscellaneous") {
		t.Error("defaults not applied, or extras added unasked")
	}
	if _, err := Render(Options{Namespace: "db", Size: "ten gigs"}); err == nil {
		t.Error("bad size accepted")
	}
}

// zvExec answers the client's $zv line like a session would, or fails.
type zvExec struct{ err error }

func (z zvExec) Exec(_ context.Context, _ podexec.Target, _ []string, stdin io.Reader, stdout, _ io.Writer) error {
	if z.err != nil {
		return z.err
	}
	b, _ := io.ReadAll(stdin)
	if strings.Contains(string(b), iris.Commands{}.Identity()) {
		fmt.Fprintln(stdout, "USER>##ZV:irischaos IRIS stand-in 0.1.0")
	}
	return nil
}

func class(name, provisioner, standIn string) *storagev1.StorageClass {
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: provisioner}
	if standIn != "" {
		sc.Annotations = map[string]string{StandInAnnotation: standIn}
	}
	return sc
}

var nsObj = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "db"}}

// controller plays the parts of the Deployment controller, scheduler and
// kubelet: once the Deployment is applied and watched it is rolled out with
// one running pod. (The fake has no resource versions: an update between the
// waiter's list and its watch would be lost.)
func controller(ctx context.Context, cs *fake.Clientset) {
	watched := make(chan struct{})
	var once sync.Once
	cs.PrependWatchReactor("deployments", func(clienttesting.Action) (bool, watch.Interface, error) {
		once.Do(func() { close(watched) })
		return false, nil, nil
	})
	select {
	case <-watched:
	case <-ctx.Done():
		return
	}
	time.Sleep(20 * time.Millisecond)
	for ctx.Err() == nil {
		d, err := cs.AppsV1().Deployments("db").Get(ctx, stackid.Deployment, metav1.GetOptions{})
		if err == nil {
			p := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "iris-abc", Namespace: "db", Labels: map[string]string{"app": "iris"}, CreationTimestamp: metav1.Now()},
				Spec:       corev1.PodSpec{NodeName: "n1"},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
					{Name: "iris", Ready: true, RestartCount: 1, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}},
			}
			_, _ = cs.CoreV1().Pods("db").Create(ctx, p, metav1.CreateOptions{})
			d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1, ReadyReplicas: 1}
			_, _ = cs.AppsV1().Deployments("db").UpdateStatus(ctx, d, metav1.UpdateOptions{})
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDeployStatusTeardown(t *testing.T) {
	cs := fake.NewClientset(nsObj, class("replicated", "irischaos.io/replicated", "Longhorn (replicated block storage)"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go controller(ctx, cs)
	var progress bytes.Buffer
	c := Clients{Kube: cs, Exec: zvExec{}}
	o := Options{Namespace: "db", StorageClass: "replicated", Image: "irischaos/iris-standin:0.1.0", Timeout: 10 * time.Second, Progress: &progress}
	st, err := Deploy(ctx, c, o)
	if err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, progress.String())
	}
	if !st.Available || st.Image != "irischaos/iris-standin:0.1.0" || len(st.Pods) != 1 || st.Pods[0].Node != "n1" || st.Pods[0].Restarts != 1 ||
		st.StorageClass != "replicated" || st.Provisioner != "irischaos.io/replicated" || st.StandIn == "" ||
		st.Database != "irischaos IRIS stand-in 0.1.0" || st.ServiceType != "LoadBalancer" {
		t.Errorf("state %+v", st)
	}
	for _, want := range []string{"is an irischaos stand-in: Longhorn", "rolled out", "IRIS answers in pod iris-abc"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, progress.String())
		}
	}
	var printed bytes.Buffer
	st.Print(&printed)
	if !strings.Contains(printed.String(), "[stand-in: Longhorn") || !strings.Contains(printed.String(), "iris-abc on n1: Running") {
		t.Errorf("Print:\n%s", printed.String())
	}
	// Server-side apply with our field manager.
	d, err := cs.AppsV1().Deployments("db").Get(ctx, stackid.Deployment, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.ManagedFields) == 0 || d.ManagedFields[0].Manager != FieldManager {
		t.Errorf("managed fields %+v", d.ManagedFields)
	}
	// Idempotent: a second deploy succeeds and changes nothing.
	if _, err := Deploy(ctx, c, o); err != nil {
		t.Fatalf("second deploy: %v", err)
	}

	// Teardown: the pod goes with the Deployment (no garbage collector in
	// the fake: delete it as the controller would).
	go func() {
		time.Sleep(50 * time.Millisecond)
		_ = cs.CoreV1().Pods("db").Delete(ctx, "iris-abc", metav1.DeleteOptions{})
	}()
	if err := Teardown(ctx, c, Options{Namespace: "db", Timeout: 5 * time.Second, Progress: &progress}); err != nil {
		t.Fatal(err)
	}
	st, err = Status(ctx, c, Options{Namespace: "db"})
	if err != nil || st.Deployment != "" || st.PVC != "" || len(st.Pods) != 0 {
		t.Fatalf("after teardown: %+v, %v", st, err)
	}
	printed.Reset()
	st.Print(&printed)
	if !strings.Contains(printed.String(), "no IRIS stack in namespace db") {
		t.Errorf("Print of nothing: %s", printed.String())
	}
	// Twice is fine.
	if err := Teardown(ctx, c, Options{Namespace: "db", Timeout: 5 * time.Second}); err != nil {
		t.Fatalf("second teardown: %v", err)
	}
}

func TestDeployErrors(t *testing.T) {
	unreachable := func(cs *fake.Clientset) {
		cs.PrependReactor("get", "version", func(clienttesting.Action) (bool, runtime.Object, error) {
			return true, nil, errors.New("dial tcp 10.0.0.1:6443: connect: connection refused")
		})
	}
	tests := []struct {
		name  string
		objs  []runtime.Object
		tweak func(*fake.Clientset)
		o     Options
		want  []string
	}{
		{"unreachable", nil, unreachable, Options{Namespace: "db"}, []string{"cannot reach the Kubernetes API at https://k8s.example", "--kubeconfig"}},
		{"no namespace", nil, nil, Options{Namespace: "db"}, []string{"namespace db does not exist", "--create-namespace"}},
		{"no storage class", []runtime.Object{nsObj, class("local-disk", "irischaos.io/local-disk", "a local disk"), class("replicated", "irischaos.io/replicated", "")}, nil,
			Options{Namespace: "db"}, []string{"storage class longhorn does not exist", "local-disk (irischaos.io/local-disk, stand-in for a local disk), replicated (irischaos.io/replicated)"}},
		{"no class at all", []runtime.Object{nsObj}, nil, Options{Namespace: "db"}, []string{"has none", "Longhorn"}},
		{"rollout stuck", []runtime.Object{nsObj, class("longhorn", "driver.longhorn.io", "")}, nil,
			Options{Namespace: "db", Timeout: 300 * time.Millisecond}, []string{"did not roll out within 300ms", "no pod was created"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewClientset(tt.objs...)
			if tt.tweak != nil {
				tt.tweak(cs)
			}
			_, err := Deploy(context.Background(), Clients{Kube: cs, Exec: zvExec{}, Host: "https://k8s.example"}, tt.o)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestDeployCreatesNamespace(t *testing.T) {
	cs := fake.NewClientset(class("longhorn", "driver.longhorn.io", ""))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go controller(ctx, cs)
	if _, err := Deploy(ctx, Clients{Kube: cs, Exec: zvExec{}}, Options{Namespace: "db", CreateNamespace: true, Timeout: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "db", metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace not created: %v", err)
	}
}

func TestDeployDatabaseNotAnswering(t *testing.T) {
	cs := fake.NewClientset(nsObj, class("longhorn", "driver.longhorn.io", ""))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go controller(ctx, cs)
	_, err := Deploy(ctx, Clients{Kube: cs, Exec: zvExec{err: errors.New("iris: instance not running")}}, Options{Namespace: "db", Timeout: 1500 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "did not answer a session") || !strings.Contains(err.Error(), "instance not running") {
		t.Fatalf("err = %v", err)
	}
}

func TestDeployFailsFastOnBadImage(t *testing.T) {
	cs := fake.NewClientset(nsObj, class("longhorn", "driver.longhorn.io", ""))
	watched := podsWatched(cs)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() {
		<-watched
		time.Sleep(20 * time.Millisecond)
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "iris-bad", Namespace: "db", Labels: map[string]string{"app": "iris"}},
			Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: "iris",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "InvalidImageName", Message: `couldn't parse image name "x:"`}}}}},
		}
		_, _ = cs.CoreV1().Pods("db").Create(ctx, p, metav1.CreateOptions{})
	}()
	start := time.Now()
	_, err := Deploy(ctx, Clients{Kube: cs, Exec: zvExec{}}, Options{Namespace: "db", Image: "x:", Timeout: 15 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "cannot roll out") || !strings.Contains(err.Error(), "InvalidImageName") || !strings.Contains(err.Error(), "fix --image") {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("took %s: waited for the timeout instead of failing fast", time.Since(start))
	}
}

func TestDeployFailsAfterRepeatedPullFailures(t *testing.T) {
	cs := fake.NewClientset(nsObj, class("longhorn", "driver.longhorn.io", ""))
	watched := podsWatched(cs)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	setWait := func(p *corev1.Pod, reason string) {
		p.Status = corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: "iris", Image: "registry.invalid/iris:1",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "dial tcp: lookup registry.invalid: no such host"}}}}}
	}
	go func() {
		<-watched
		time.Sleep(20 * time.Millisecond)
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "iris-pull", Namespace: "db", Labels: map[string]string{"app": "iris"}}}
		setWait(p, "ContainerCreating")
		_, _ = cs.CoreV1().Pods("db").Create(ctx, p, metav1.CreateOptions{})
		// The kubelet's cycle: a failed pull, back-off, another failed pull...
		for _, r := range []string{"ErrImagePull", "ImagePullBackOff", "ErrImagePull", "ImagePullBackOff", "ErrImagePull"} {
			time.Sleep(20 * time.Millisecond)
			setWait(p, r)
			_, _ = cs.CoreV1().Pods("db").UpdateStatus(ctx, p, metav1.UpdateOptions{})
		}
	}()
	start := time.Now()
	_, err := Deploy(ctx, Clients{Kube: cs, Exec: zvExec{}}, Options{Namespace: "db", Image: "registry.invalid/iris:1", Timeout: 15 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "failed 3 times") || !strings.Contains(err.Error(), "no such host") || !strings.Contains(err.Error(), "--image") {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("took %s: waited for the timeout instead of failing after repeated pull failures", time.Since(start))
	}
}

// podsWatched is closed once Deploy starts watching the stack's pods, so a
// test creates its pod only when the watch will see it.
func podsWatched(cs *fake.Clientset) <-chan struct{} {
	watched := make(chan struct{})
	var once sync.Once
	cs.PrependWatchReactor("pods", func(clienttesting.Action) (bool, watch.Interface, error) {
		once.Do(func() { close(watched) })
		return false, nil, nil
	})
	return watched
}

// TestRenderPullSecretAndLicense: a private registry's pull secret and a
// license key Secret reach the IRIS pod; without them the pod is the seed's.
func TestRenderPullSecretAndLicense(t *testing.T) {
	objs, err := Render(Options{Namespace: "db", ImagePullSecrets: []string{"regcred"}, LicenseKeySecret: "iris-key"})
	if err != nil {
		t.Fatal(err)
	}
	pod := objs.Deployment.Spec.Template.Spec
	if len(pod.ImagePullSecrets) != 1 || *pod.ImagePullSecrets[0].Name != "regcred" {
		t.Errorf("imagePullSecrets %+v", pod.ImagePullSecrets)
	}
	var vol bool
	for _, v := range pod.Volumes {
		if v.Secret != nil && *v.Secret.SecretName == "iris-key" && *v.Secret.Items[0].Key == LicenseKeyFile {
			vol = true
		}
	}
	c := pod.Containers[0]
	var mount bool
	for _, m := range c.VolumeMounts {
		if *m.MountPath == LicenseKeyDir && *m.ReadOnly {
			mount = true
		}
	}
	if !vol || !mount || strings.Join(c.Args, " ") != "--key /irislicense/iris.key" {
		t.Errorf("license key: volume %v, mount %v, args %q", vol, mount, c.Args)
	}
	plain, err := Render(Options{Namespace: "db"})
	if err != nil {
		t.Fatal(err)
	}
	if p := plain.Deployment.Spec.Template.Spec; len(p.ImagePullSecrets) != 0 || len(p.Containers[0].Args) != 0 || len(p.Volumes) != 2 {
		t.Errorf("the seed's pod changed: %d pull secrets, args %q, %d volumes", len(p.ImagePullSecrets), p.Containers[0].Args, len(p.Volumes))
	}
}

// TestRenderInstance: the probes ask qlist of the image's own instance.
func TestRenderInstance(t *testing.T) {
	objs, err := Render(Options{Namespace: "db", Instance: "PROD"})
	if err != nil {
		t.Fatal(err)
	}
	c := objs.Deployment.Spec.Template.Spec.Containers[0]
	for name, p := range map[string]*corev1ac.ProbeApplyConfiguration{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if got := strings.Join(p.Exec.Command, " "); got != "/bin/sh -c iris qlist PROD | grep running" {
			t.Errorf("%s probe %q", name, got)
		}
	}
}
