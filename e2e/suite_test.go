//go:build chaos

package e2e

// The certification suite's plumbing (issue 11 items 1-4), around the
// features of this package: its parameters (internal/suite.Params: flags
// e2e-*, or IRISCHAOS_E2E_* in the environment), what the target can give
// (internal/suite.Target, probed once the cluster is up), the namespaces it
// claims and removes, the secrets it copies into them, the fault ledger it
// heals first and on an interrupt, and the summary and JUnit file at the end.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/cloud/providers"
	"github.com/irischaos/irischaos/internal/lab/awsemulator"
	"github.com/irischaos/irischaos/internal/lab/image"
	"github.com/irischaos/irischaos/internal/lab/nodepower"
	"github.com/irischaos/irischaos/internal/suite"
	"github.com/irischaos/irischaos/pkg/ledger"
	"github.com/irischaos/irischaos/pkg/nemesis"
	"github.com/irischaos/irischaos/pkg/runner"
	"github.com/irischaos/irischaos/pkg/stack"
	"github.com/irischaos/irischaos/pkg/stackid"
	"github.com/irischaos/irischaos/pkg/storagehealth"
)

var (
	// params is the suite's target as given (flags, environment, defaults).
	params *suite.Params
	// recorder records every feature for the summary and the JUnit file;
	// its Target is probed once the cluster is up.
	recorder = suite.NewRecorder(suite.Target{})
	// claims are the namespaces the suite runs in.
	claims = &namespaces{byName: map[string]*claim{}}
)

// Names of what the suite copies into its namespaces.
const (
	pullSecretName = "irischaos-e2e-pull"
	licenseName    = "irischaos-e2e-license"
)

// instrumented is testenv with every feature recorded and skipped, saying
// why, when the target cannot give what it needs.
type instrumented struct{ env.Environment }

func (e instrumented) Test(t *testing.T, fs ...features.Feature) context.Context {
	t.Helper()
	return e.Environment.Test(t, recorder.Instrument(t, fs...)...)
}

func (e instrumented) TestInParallel(t *testing.T, fs ...features.Feature) context.Context {
	t.Helper()
	return e.Environment.TestInParallel(t, recorder.Instrument(t, fs...)...)
}

// skipTest skips a whole test before it builds its features, listed in the
// summary with the reason.
func skipTest(t *testing.T, format string, args ...any) {
	t.Helper()
	recorder.SkipTest(t, fmt.Sprintf(format, args...))
}

// lab reports whether the suite runs today's lab (the embedded cluster,
// the stand-in on replicated, the scenarios' own budgets): lab-only checks
// hold only then.
func lab() bool { return params.Lab(localCluster, image.StandinRef) }

// needs is the label value of what a feature needs.
func needs(n suite.Need) string { return string(n) }

// probeTarget finds what the cluster can give the features (a Setup step
// of testenv, once the cluster is up).
func probeTarget(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
	err := probe(ctx, cfg)
	if err != nil {
		recorder.SuiteError("the cluster of %s: %v", kubeconfigPath, err)
	}
	return ctx, err
}

func probe(ctx context.Context, cfg *envconf.Config) error {
	cs, err := kubernetes.NewForConfig(cfg.Client().RESTConfig())
	if err != nil {
		return err
	}
	o := suite.Observed{Cluster: kubeconfigPath, Embedded: localCluster}
	if localCluster {
		if _, err := nodepower.Discover(clusterName); err != nil {
			o.LocalPowerErr = fmt.Errorf("local cluster %s: %w", clusterName, err)
		}
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing the nodes: %w", err)
	}
	for _, n := range nodes.Items {
		o.ProviderIDs = append(o.ProviderIDs, n.Spec.ProviderID)
	}
	classes, err := cs.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing the storage classes: %w", err)
	}
	for _, c := range classes.Items {
		o.StorageClasses = append(o.StorageClasses, c.Name)
	}
	o.LonghornServed, o.LonghornWhy = storagehealth.LonghornServed(cs.Discovery())
	_, o.MotoErr = awsemulator.Binary()
	_, e1 := exec.LookPath("prometheus")
	_, e2 := exec.LookPath("prometheus-pushgateway")
	o.PrometheusInstalled = e1 == nil && e2 == nil
	recorder.Target = suite.Decide(o, params)
	fmt.Println("e2e: target:")
	for _, l := range recorder.Target.Lines() {
		fmt.Println("  " + l)
	}
	return nil
}

// clouds builds the VM provider registries of the suite's cloud settings.
func clouds(progress io.Writer) func(cloud.Recorder) *cloud.Registry {
	return func(rec cloud.Recorder) *cloud.Registry {
		return providers.New(providers.Options{AWSEndpoint: params.AWSEndpoint, AWSRegion: params.AWSRegion, Recorder: rec, Progress: progress})
	}
}

// healLeftovers heals what the ledger still lists (a suite killed before
// it healed): the first thing the suite does on the cluster, and the last
// on an interrupt.
func healLeftovers(ctx context.Context, out io.Writer) error {
	l, err := ledger.Open(params.Reports)
	if err != nil {
		return err
	}
	if pend, err := l.Pending(); err != nil || len(pend) == 0 {
		return err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath)
	if err != nil {
		return err
	}
	cl, err := runner.Connect(ctx, rc, "", kubeconfigPath)
	if err != nil {
		return err
	}
	cl.Instance = params.Instance
	g := nemesis.Guard{Ledger: l, Cluster: cl.Host, Env: cl.Nemesis(clouds(out)(nil), out)}
	left, err := g.Recover(ctx, out)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		// Not this run's verdict (entries of another cluster, or one the
		// suite's providers cannot reach): said loudly, not failed.
		fmt.Fprintf(out, "e2e: WARNING: %d fault(s) in %s still unhealed (listed above): run irischaos recover --reports %s with the cluster and cloud they name\n", len(left), l.Path(), params.Reports)
	}
	return nil
}

// namespaces are those the suite runs in: created by it (removed at the
// end), or existing ones it was told to use (left as found: only the
// suite's own objects are removed).
type namespaces struct {
	mu     sync.Mutex
	byName map[string]*claim
}

type claim struct {
	name    string
	created bool // the suite's: removed at the end
	stack   bool // the suite deployed the IRIS stack here
	err     error
}

// namespaceFor is the namespace a feature runs in: --e2e-namespace when
// given, else its own (def).
func namespaceFor(def string) string {
	if params != nil && params.Namespace != "" {
		return params.Namespace
	}
	return def
}

// claimNamespace makes name the suite's to run in, once: created and
// labelled when missing; a namespace the suite labelled earlier is its own;
// any other only with --e2e-use-existing-namespace.
func claimNamespace(ctx context.Context, cs kubernetes.Interface, name string) (*claim, error) {
	claims.mu.Lock()
	defer claims.mu.Unlock()
	if c, ok := claims.byName[name]; ok {
		return c, c.err
	}
	c := &claim{name: name}
	c.err = func() error {
		ns, err := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsForbidden(err) && params.UseExistingNamespace {
			return nil // namespaced RBAC in a namespace given to the suite: borrowed
		}
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("namespace %s: %w", name, err)
		}
		exists := err == nil
		var labels map[string]string
		if exists {
			labels = ns.Labels
		}
		own, err := suite.Namespace(name, exists, labels, labels[stackid.ManagedByLabel] == stackid.ManagedBy, localCluster, params.UseExistingNamespace)
		if err != nil {
			return err
		}
		c.created = own != suite.Borrow
		if own != suite.Create {
			return nil
		}
		_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			suite.Label: suite.LabelValue, stackid.ManagedByLabel: stackid.ManagedBy,
		}}}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("creating namespace %s: %w", name, err)
		}
		return nil
	}()
	claims.byName[name] = c
	return c, c.err
}

// stackOptions deploys the suite's IRIS stack in namespace: today's lab
// settings on the embedded cluster, the parameters' image, class and
// secrets elsewhere.
func stackOptions(namespace string, progress io.Writer) stack.Options {
	o := stack.Options{Namespace: namespace, Image: params.Image, Instance: params.Instance, StorageClass: params.StorageClass, Progress: progress}
	if params.Image == image.StandinRef {
		o.ImagePullPolicy = corev1.PullIfNotPresent
		o.GracePeriod = 10 * time.Second // the stand-in stops at once; IRIS gets the stack's default
	}
	if params.PullSecret != "" {
		o.ImagePullSecrets = []string{pullSecretName}
	}
	if params.LicenseKey != "" {
		o.LicenseKeySecret = licenseName
	}
	return o
}

// deployStack claims namespace, copies the secrets given into it and
// deploys the stack with tol seconds of node-loss toleration (nil: the
// stack's default).
func deployStack(ctx context.Context, t *testing.T, kube kubernetes.Interface, clients stack.Clients, namespace string, tol *int64) {
	t.Helper()
	c, err := claimNamespace(ctx, kube, namespace)
	if err != nil {
		t.Fatal(err)
	}
	if err := copySecrets(ctx, kube, namespace); err != nil {
		t.Fatal(err)
	}
	if !c.created {
		if _, err := kube.AppsV1().Deployments(namespace).Get(ctx, stackid.Deployment, metav1.GetOptions{}); err == nil {
			claims.mu.Lock()
			mine := c.stack
			claims.mu.Unlock()
			if !mine {
				t.Fatalf("namespace %s already runs deployment/%s, not the suite's: the suite would replace and then delete it; use another namespace", namespace, stackid.Deployment)
			}
		}
	}
	o := stackOptions(namespace, tlog{t})
	o.NodeLossTolerationSeconds = tol
	claims.mu.Lock()
	c.stack = true
	claims.mu.Unlock()
	if _, err := stack.Deploy(ctx, clients, o); err != nil {
		t.Fatalf("deploy the IRIS stack (%s on %s) in %s: %v", o.Image, o.StorageClass, namespace, err)
	}
}

// copySecrets puts the pull secret and license key given into namespace,
// labelled as the suite's.
func copySecrets(ctx context.Context, kube kubernetes.Interface, namespace string) error {
	for _, s := range []struct {
		from, name, key string
		typ             corev1.SecretType
	}{
		{params.PullSecret, pullSecretName, corev1.DockerConfigJsonKey, corev1.SecretTypeDockerConfigJson},
		{params.LicenseKey, licenseName, stack.LicenseKeyFile, corev1.SecretTypeOpaque},
	} {
		if s.from == "" {
			continue
		}
		data, err := secretData(ctx, kube, s.from, s.key)
		if err != nil {
			return err
		}
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: s.name, Namespace: namespace, Labels: map[string]string{suite.Label: suite.LabelValue}},
			Type: s.typ, Data: map[string][]byte{s.key: data}}
		_, err = kube.CoreV1().Secrets(namespace).Create(ctx, sec, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			_, err = kube.CoreV1().Secrets(namespace).Update(ctx, sec, metav1.UpdateOptions{})
		}
		if err != nil {
			return fmt.Errorf("secret %s in %s: %w", s.name, namespace, err)
		}
	}
	return nil
}

// secretData reads key's bytes from a file, or from the Secret NAMESPACE/NAME.
func secretData(ctx context.Context, kube kubernetes.Interface, from, key string) ([]byte, error) {
	if st, err := os.Stat(from); err == nil && !st.IsDir() {
		return os.ReadFile(from)
	}
	ns, name, ok := suite.SecretRef(from)
	if !ok {
		return nil, fmt.Errorf("%q is neither a file nor NAMESPACE/NAME of a Secret", from)
	}
	sec, err := kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", from, err)
	}
	b, ok := sec.Data[key]
	if !ok {
		return nil, fmt.Errorf("secret %s has no key %s", from, key)
	}
	return b, nil
}

// releaseNamespaces removes what the suite made: the namespaces it
// created (waiting up to wait for them to be gone); in the others, its
// stack and its secrets.
func releaseNamespaces(ctx context.Context, out io.Writer, wait time.Duration) error {
	if kubeconfigPath == "" {
		return nil
	}
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath)
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	claims.mu.Lock()
	var list []*claim
	for _, c := range claims.byName {
		if c.err == nil {
			list = append(list, c)
		}
	}
	claims.mu.Unlock()
	var errs []error
	var gone []string
	for _, c := range list {
		if c.created {
			err := kube.CoreV1().Namespaces().Delete(ctx, c.name, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("deleting namespace %s: %w", c.name, err))
				continue
			}
			fmt.Fprintf(out, "e2e: deleting namespace %s (the suite's)\n", c.name)
			gone = append(gone, c.name)
			continue
		}
		if c.stack {
			if err := stack.Teardown(ctx, stack.Clients{Kube: kube, Host: rc.Host}, stack.Options{Namespace: c.name, Timeout: wait}); err != nil {
				errs = append(errs, err)
			}
		}
		sel := suite.Label + "=" + suite.LabelValue
		if err := kube.CoreV1().Secrets(c.name).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: sel}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting the suite's secrets in %s: %w", c.name, err))
		}
		fmt.Fprintf(out, "e2e: namespace %s left as found (the suite's stack and secrets removed)\n", c.name)
	}
	deadline := time.Now().Add(wait)
	for _, n := range gone {
		for {
			_, err := kube.CoreV1().Namespaces().Get(ctx, n, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				errs = append(errs, fmt.Errorf("namespace %s still terminating after %s", n, wait))
				break
			}
			time.Sleep(time.Second)
		}
	}
	return errors.Join(errs...)
}

// recordFault writes a fault a feature injects directly (not through the
// runner) to the suite's ledger before it is injected, so that a suite
// killed before the feature undid it is healed by the next run or
// `irischaos recover --reports <-e2e-reports>`. The returned function marks
// it healed (err nil) or still pending with err.
func recordFault(t *testing.T, e ledger.Entry) func(err error) {
	t.Helper()
	l, err := ledger.Open(params.Reports)
	if err != nil {
		t.Fatal(err)
	}
	e.Cluster, e.Run = envCfg.Client().RESTConfig().Host, "e2e "+t.Name()
	e, err = l.Record(e)
	if err != nil {
		t.Fatalf("recording %s in the ledger before injecting it: %v", e.Fault, err)
	}
	return func(herr error) {
		if err := l.MarkHealed(e.ID, herr); err != nil {
			t.Errorf("ledger: %v", err)
		}
	}
}
