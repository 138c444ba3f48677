//go:build chaos

package e2e

// VM power faults end to end on the local cluster, through each cloud
// provider: the local node power API (local://), EC2 in a moto_server that
// drives node power (aws:// in `cluster up --cloud aws-emulator` mode), and
// Azure through the SDK's fake server whose handlers call the node power API.
// Each feature powers one node off, sees the Node go NotReady, powers it on
// and sees it Ready again, and checks every cloud call was recorded.
//
// They run on the local cluster TestMain (main_test.go) brought up or was
// pointed at, and skip, saying why, on a foreign cluster or when the cluster
// is not in the mode they need.

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/cloud/providers"
	"github.com/irischaos/irischaos/internal/lab/awsemulator"
	"github.com/irischaos/irischaos/internal/lab/nodepower"
	"github.com/irischaos/irischaos/internal/suite"
	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/ledger"
)

// cloudNodeTimeout bounds each wait for a Node to turn NotReady or Ready: the
// node lifecycle controller's grace period plus a kubelet's start.
const cloudNodeTimeout = 4 * time.Minute

// cloudCluster is the running local cluster the cloud features act on.
type cloudCluster struct {
	name  string
	power *nodepower.Client
	cs    kubernetes.Interface
	nodes []corev1.Node // sorted by name
}

// findCloudCluster returns the local cluster under test (TestMain's), or
// skips: these features power its nodes through the node power API.
func findCloudCluster(t *testing.T) *cloudCluster {
	t.Helper()
	if why := recorder.Target.Missing(suite.Embedded, suite.LocalPower); why != "" || clusterName == "" {
		skipTest(t, "%s (these features power the embedded cluster's nodes off and on through the local node power API)", why)
	}
	power, err := nodepower.Discover(clusterName)
	if err != nil {
		t.Fatalf("local cluster %s: %v", clusterName, err)
	}
	cs, err := kubernetes.NewForConfig(envCfg.Client().RESTConfig())
	if err != nil {
		t.Fatalf("local cluster %s: client: %v", clusterName, err)
	}
	list, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("local cluster %s: listing nodes: %v", clusterName, err)
	}
	nodes := list.Items
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	return &cloudCluster{name: clusterName, power: power, cs: cs, nodes: nodes}
}

// victim picks the node to power cycle: the last Ready node that does not
// run the IRIS pod, so other features' stack is disturbed as little as possible.
func (c *cloudCluster) victim(t *testing.T) corev1.Node {
	t.Helper()
	busy := map[string]bool{}
	pods, err := c.cs.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	if err == nil {
		for _, p := range pods.Items {
			if strings.Contains(p.Name, "iris") {
				busy[p.Spec.NodeName] = true
			}
		}
	}
	var fallback *corev1.Node
	for i := len(c.nodes) - 1; i >= 0; i-- {
		n := c.nodes[i]
		if !nodeReady(&n) {
			continue
		}
		if !busy[n.Name] {
			return n
		}
		if fallback == nil {
			fallback = &n
		}
	}
	if fallback != nil {
		return *fallback
	}
	skipTest(t, "local cluster %s has no Ready node to power off", c.name)
	return corev1.Node{}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitNode watches the Node until its readiness is want, and says how long it took.
func (c *cloudCluster) waitNode(ctx context.Context, name string, want bool) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, cloudNodeTimeout)
	defer cancel()
	lw := cache.NewListWatchFromClient(c.cs.CoreV1().RESTClient(), "nodes", "", fields.OneTermEqualSelector("metadata.name", name))
	_, err := watchtools.UntilWithSync(ctx, lw, &corev1.Node{}, nil, func(ev watch.Event) (bool, error) {
		n, ok := ev.Object.(*corev1.Node)
		if !ok {
			return false, nil
		}
		return nodeReady(n) == want, nil
	})
	if err != nil {
		return time.Since(start), fmt.Errorf("node %s did not become ready=%v within %s: %w", name, want, cloudNodeTimeout, err)
	}
	return time.Since(start), nil
}

// powerCycle is the feature every provider runs: power off, NotReady, power
// on, Ready, every call recorded; the node is powered on again whatever happens.
func (c *cloudCluster) powerCycle(name, node string, reg func(cloud.Recorder) *cloud.Registry, providerID string) features.Feature {
	log := &cloud.CallLog{}
	var p cloud.Provider
	var vm cloud.VM
	// healed marks the power off healed in the suite's ledger, once; the
	// entry names the node's own providerID, which the next run's heal (or
	// irischaos recover) can power on through the local provider.
	var healed func(error)
	heal := func(err error) {
		if healed != nil {
			healed(err)
			if err == nil {
				healed = nil
			}
		}
	}
	nodeProviderID := ""
	for _, n := range c.nodes {
		if n.Name == node {
			nodeProviderID = n.Spec.ProviderID
		}
	}
	return features.New(name).
		WithLabel("suite", "cloud").
		WithLabel(suite.NeedsLabel, needs(suite.Embedded)).
		WithLabel(suite.NeedsLabel, needs(suite.LocalPower)).
		Setup(func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			var err error
			p, vm, err = reg(log.Recorder()).For(providerID)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("node %s is %s; poweroff will call: %s", node, providerID, p.Describe(vm, cloud.PowerOff))
			return ctx
		}).
		Assess("power off: the Node turns NotReady", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			start := time.Now()
			healed = recordFault(t, ledger.Entry{Fault: string(fault.VMPowerOff), Heal: ledger.HealPowerOn, Node: node, ProviderID: nodeProviderID})
			if err := p.Do(ctx, vm, cloud.PowerOff); err != nil {
				t.Fatalf("poweroff: %v", err)
			}
			if st, err := p.State(ctx, vm); err != nil || st != cloud.Stopped {
				t.Fatalf("state after poweroff: %s, %v", st, err)
			}
			d, err := c.waitNode(ctx, node, false)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("poweroff took %s; node NotReady %s later", time.Since(start)-d, d.Round(time.Second))
			return ctx
		}).
		Assess("power on: the Node is Ready again", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			if err := p.Do(ctx, vm, cloud.PowerOn); err != nil {
				t.Fatalf("poweron: %v", err)
			}
			heal(nil)
			d, err := c.waitNode(ctx, node, true)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("node Ready %s after poweron", d.Round(time.Second))
			return ctx
		}).
		Assess("every cloud call is recorded", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			var ops []string
			for _, call := range log.Calls() {
				if call.Err != nil {
					t.Errorf("call %s %s failed: %v", call.Action, call.Request, call.Err)
				}
				if call.Target != providerID || call.Request == "" || call.Start.IsZero() {
					t.Errorf("incomplete call record %+v", call)
				}
				ops = append(ops, call.Action)
			}
			got := strings.Join(ops, " ")
			want := p.Describe(vm, cloud.PowerOff)
			if len(ops) < 2 || log.Calls()[0].Request != want {
				t.Errorf("calls %s; want the poweroff (%s) first and the poweron after", got, want)
			}
			t.Logf("cloud calls: %s", got)
			return ctx
		}).
		Teardown(func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			// Whatever failed, leave the node on for the features after this
			// one: through the provider first (so an emulated cloud agrees),
			// then straight through the power API.
			if p != nil {
				if st, err := p.State(ctx, vm); err == nil && st == cloud.Stopped {
					if err := p.Do(ctx, vm, cloud.PowerOn); err != nil {
						t.Logf("teardown: %s poweron: %v", p.Name(), err)
					}
				}
			}
			var err error
			if n, perr := c.power.Node(ctx, node); perr == nil && n.State == nodepower.Off {
				if err = c.power.Do(ctx, node, nodepower.PowerOn); err != nil {
					t.Errorf("teardown: powering %s on again: %v", node, err)
				}
				_, _ = c.waitNode(ctx, node, true)
			}
			heal(err)
			return ctx
		}).
		Feature()
}

func TestCloudLocalProvider(t *testing.T) {
	c := findCloudCluster(t)
	n := c.victim(t)
	if s, _ := cloud.Scheme(n.Spec.ProviderID); s != "local" {
		skipTest(t, "node %s has providerID %q; the local provider needs a `--cloud local` cluster", n.Name, n.Spec.ProviderID)
	}
	reg := func(r cloud.Recorder) *cloud.Registry {
		return providers.New(providers.Options{Recorder: r, Progress: testWriter{t}})
	}
	testenv.Test(t, c.powerCycle("vm power cycle through the local provider", n.Name, reg, n.Spec.ProviderID))
}

func TestCloudAWSProviderAgainstMoto(t *testing.T) {
	c := findCloudCluster(t)
	n := c.victim(t)
	if s, _ := cloud.Scheme(n.Spec.ProviderID); s != "aws" {
		skipTest(t, "node %s has providerID %q; the AWS feature needs a `cluster up --cloud aws-emulator` cluster", n.Name, n.Spec.ProviderID)
	}
	ep, ok, err := awsemulator.ForCluster(c.name)
	if err != nil || !ok {
		t.Fatalf("cluster %s has aws:// nodes but no %s (%v): the supervisor must record its emulator", c.name, awsemulator.EndpointFile, err)
	}
	reg := awsRegistry(ep.URL, testWriter{t})
	testenv.Test(t, c.powerCycle("vm power cycle through the AWS provider against moto", n.Name, reg, n.Spec.ProviderID))
}

// TestCloudAWSProviderThroughTestEmulator runs the AWS provider against a
// moto_server this test starts, whose instances stand for the cluster's nodes
// and whose state drives the node power API (awsemulator.Sync): on a plain
// `--cloud local` cluster, the same chain `--cloud aws-emulator` builds.
func TestCloudAWSProviderThroughTestEmulator(t *testing.T) {
	c := findCloudCluster(t)
	n := c.victim(t)
	if s, _ := cloud.Scheme(n.Spec.ProviderID); s == "aws" {
		skipTest(t, "the cluster runs its own EC2 emulator; TestCloudAWSProviderAgainstMoto covers it")
	}
	fleet := startMotoChain(t, c)
	reg := awsRegistry(fleet.Server.URL, testWriter{t})
	testenv.Test(t, c.powerCycle("vm power cycle through the AWS provider (moto driving node power)", n.Name, reg, fleet.Instances[n.Name].ProviderID))
}

// TestCloudAzureProviderThroughFake runs the Azure provider against the
// SDK's fake servers whose handlers power the local cluster's nodes: the
// scale set's instance i is the i-th node (by name).
func TestCloudAzureProviderThroughFake(t *testing.T) {
	c := findCloudCluster(t)
	n := c.victim(t)
	index := -1
	for i, x := range c.nodes {
		if x.Name == n.Name {
			index = i
		}
	}
	reg := azureRegistry(c, testWriter{t})
	testenv.Test(t, c.powerCycle("vm power cycle through the Azure provider (fake ARM over node power)", n.Name, reg, azureProviderID(index)))
}
