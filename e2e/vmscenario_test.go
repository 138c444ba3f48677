//go:build chaos

package e2e

// The VM power-off scenario (scenarios/node-lost.yaml: vm-poweroff, powerOn)
// end to end through pkg/runner and the real cloud providers, on the local
// cluster with the stand-in stack on `replicated`:
//
//   - TestVMScenarioAWS: cloud/aws against moto_server. On a `--cloud local`
//     cluster the test starts moto with one instance per node whose state
//     drives node power (startMotoChain), and the nodes' local:// providerIDs
//     are resolved to those instances (nodeVMs); on a `--cloud aws-emulator`
//     cluster the nodes' aws:// IDs go straight to the cluster's awsemulator.
//   - TestVMScenarioAzure: cloud/azure against the SDK's fake ARM server whose
//     scale set instances are the nodes (azureOverNodePower).
//
// Each asserts the verdict passes with RPO <= 2 s, the IRIS pod now runs on
// another node, the report lists the hard power off and the power on of the
// IRIS node's VM with their results and durations (and every other call),
// the VM runs again and every node is Ready at the end.

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/internal/lab/awsemulator"
	"github.com/irischaos/irischaos/internal/lab/nodepower"
	"github.com/irischaos/irischaos/internal/suite"
	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/mitigation"
	"github.com/irischaos/irischaos/pkg/report"
	"github.com/irischaos/irischaos/pkg/rundir"
	"github.com/irischaos/irischaos/pkg/scenario"
	"github.com/irischaos/irischaos/pkg/target"
)

const vmScenarioNamespace = "irischaos-e2e-vm"

// vmCloud is the emulated cloud the nodes' VMs live in for one feature.
type vmCloud struct {
	name string // for the feature and run names
	// clouds builds the registries the runner uses, progress to w.
	clouds func(w io.Writer) func(cloud.Recorder) *cloud.Registry
	// vmOf maps a node name to its VM's providerID in that cloud.
	vmOf map[string]string
	// powerOff and powerOn recognise the calls the scenario must make.
	powerOff, powerOn callMatch
}

// callMatch recognises a cloud call by its API operation and a part of its request.
type callMatch struct{ action, request string }

func (m callMatch) matches(c report.CloudCall) bool {
	return c.Action == m.action && strings.Contains(c.Request, m.request)
}

func (m callMatch) String() string { return m.action + " (" + m.request + ")" }

// nodeVMs serves the nodes' own providerIDs (local://cluster/node) with the
// VMs they stand for in another cloud: Parse maps the ID, and Do, State and
// Describe go to that cloud's real provider in the same registry, so the
// calls recorded are that provider's.
type nodeVMs struct {
	reg  *cloud.Registry
	name string            // the other cloud's scheme
	ids  map[string]string // node providerID -> VM providerID
}

func (v *nodeVMs) Name() string { return v.name }

func (v *nodeVMs) Parse(providerID string) (cloud.VM, error) {
	to, ok := v.ids[providerID]
	if !ok {
		known := make([]string, 0, len(v.ids))
		for k := range v.ids {
			known = append(known, k)
		}
		sort.Strings(known)
		return cloud.VM{}, fmt.Errorf("providerID %q: %w in the test's %s cloud (it maps %s)", providerID, cloud.ErrNotFound, v.name, strings.Join(known, ", "))
	}
	_, vm, err := v.reg.For(to)
	return vm, err
}

func (v *nodeVMs) provider(vm cloud.VM) (cloud.Provider, error) {
	p, _, err := v.reg.For(vm.ProviderID)
	return p, err
}

func (v *nodeVMs) Describe(vm cloud.VM, a cloud.Action) string {
	p, err := v.provider(vm)
	if err != nil {
		return err.Error()
	}
	return p.Describe(vm, a)
}

func (v *nodeVMs) Do(ctx context.Context, vm cloud.VM, a cloud.Action) error {
	p, err := v.provider(vm)
	if err != nil {
		return err
	}
	return p.Do(ctx, vm, a)
}

func (v *nodeVMs) State(ctx context.Context, vm cloud.VM) (cloud.State, error) {
	p, err := v.provider(vm)
	if err != nil {
		return cloud.Unknown, err
	}
	return p.State(ctx, vm)
}

// viaNodes wraps base so that the nodes' providerIDs resolve to the VMs
// vmOf gives (through nodeVMs registered for the nodes' scheme). Nodes whose
// providerID already is their VM's need nothing.
func viaNodes(base func(cloud.Recorder) *cloud.Registry, c *cloudCluster, vmOf map[string]string) func(cloud.Recorder) *cloud.Registry {
	ids := map[string]string{}
	schemes := map[string]bool{}
	name := ""
	for _, n := range c.nodes {
		to := vmOf[n.Name]
		if to == "" || to == n.Spec.ProviderID {
			continue
		}
		s, err := cloud.Scheme(n.Spec.ProviderID)
		if err != nil {
			continue // a node without providerID cannot be a VM fault's target anyway
		}
		ids[n.Spec.ProviderID] = to
		schemes[s] = true
		name, _ = cloud.Scheme(to)
	}
	return func(rec cloud.Recorder) *cloud.Registry {
		reg := base(rec)
		for s := range schemes {
			reg.Register(s, func() (cloud.Provider, error) { return &nodeVMs{reg: reg, name: name, ids: ids}, nil })
		}
		return reg
	}
}

// nodeLost is scenarios/node-lost.yaml's run that recovers on attach-required
// storage: with the out-of-service taint, which the runner applies only once
// the provider under test reads the VM stopped (its own State call).
func nodeLost(t *testing.T) scenario.Scenario {
	t.Helper()
	s, err := scenario.LoadFile(filepath.Join("..", "scenarios", "node-lost.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Fault.Type != "vm-poweroff" || !s.Fault.PowerOnAfter() {
		t.Fatalf("scenarios/node-lost.yaml: fault %s (power on after: %v); this feature needs vm-poweroff with powerOn", s.Fault.Type, s.Fault.PowerOnAfter())
	}
	for _, v := range s.Expand() {
		if v.Mitigation == mitigation.OutOfServiceTaint {
			return v
		}
	}
	t.Fatalf("scenarios/node-lost.yaml has no %s run: on attach-required storage node loss needs it", mitigation.OutOfServiceTaint)
	return s
}

func TestVMScenarioAWS(t *testing.T) {
	c := findCloudCluster(t)
	g := newScenarioRig(t, vmScenarioNamespace)
	s := nodeLost(t)
	vc := vmCloud{
		vmOf:     map[string]string{},
		powerOff: callMatch{"ec2:StopInstances", "Force:true"},
		powerOn:  callMatch{"ec2:StartInstances", "InstanceIds"},
	}
	if sc, _ := cloud.Scheme(c.nodes[0].Spec.ProviderID); sc == "aws" {
		// `cluster up --cloud aws-emulator`: the nodes are the emulator's instances.
		ep, ok, err := awsemulator.ForCluster(c.name)
		if err != nil || !ok {
			t.Fatalf("cluster %s has aws:// nodes but no %s (%v): the supervisor must record its emulator", c.name, awsemulator.EndpointFile, err)
		}
		vc.name = "AWS provider against the cluster's moto"
		for _, n := range c.nodes {
			vc.vmOf[n.Name] = n.Spec.ProviderID
		}
		vc.clouds = func(w io.Writer) func(cloud.Recorder) *cloud.Registry { return awsRegistry(ep.URL, w) }
	} else {
		fleet := startMotoChain(t, c)
		vc.name = "AWS provider against moto driving node power"
		for _, n := range c.nodes {
			vc.vmOf[n.Name] = fleet.Instances[n.Name].ProviderID
		}
		vc.clouds = func(w io.Writer) func(cloud.Recorder) *cloud.Registry {
			return viaNodes(awsRegistry(fleet.Server.URL, w), c, vc.vmOf)
		}
	}
	testenv.Test(t, c.vmScenario(g, s, "aws", vc))
}

func TestVMScenarioAzure(t *testing.T) {
	c := findCloudCluster(t)
	g := newScenarioRig(t, vmScenarioNamespace)
	s := nodeLost(t)
	vc := vmCloud{
		name:     "Azure provider against the fake ARM server over node power",
		vmOf:     map[string]string{},
		powerOff: callMatch{"Microsoft.Compute/virtualMachineScaleSets/virtualMachines/powerOff", "skipShutdown=true"},
		powerOn:  callMatch{"Microsoft.Compute/virtualMachineScaleSets/virtualMachines/start", "/start?"},
	}
	for i, n := range c.nodes {
		vc.vmOf[n.Name] = azureProviderID(i)
	}
	vc.clouds = func(w io.Writer) func(cloud.Recorder) *cloud.Registry {
		return viaNodes(azureRegistry(c, w), c, vc.vmOf)
	}
	testenv.Test(t, c.vmScenario(g, s, "azure", vc))
}

// vmScenario runs s through the runner with vc's providers and checks what
// issue 5 asks of a VM scenario (items 6 and 7).
func (c *cloudCluster) vmScenario(g *scenarioRig, s scenario.Scenario, short string, vc vmCloud) features.Feature {
	finder := target.Finder{Client: g.kube, Namespace: g.namespace}
	var (
		before target.Target // the IRIS pod before the fault
		run    report.Run
		dir    string
	)
	return features.New(s.Name+" through the "+vc.name).
		WithLabel("suite", "cloud").
		WithLabel("fault", string(s.Fault.Type)).
		WithLabel(suite.NeedsLabel, needs(suite.Embedded)).
		WithLabel(suite.NeedsLabel, needs(suite.LocalPower)).
		Setup(g.deploy).
		Setup(func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			var err error
			if before, err = finder.IRIS(ctx); err != nil {
				t.Fatal(err)
			}
			if vc.vmOf[before.Node] == "" {
				t.Fatalf("node %s of the IRIS pod has no VM in the test's cloud (nodes: %v)", before.Node, vc.vmOf)
			}
			t.Logf("IRIS pod %s runs on node %s (providerID %s), VM %s", before.Pod, before.Node, before.ProviderID, vc.vmOf[before.Node])
			return ctx
		}).
		Assess("the scenario passes: IRIS recovers on another node, RPO <= 2s", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			run, dir = g.run(ctx, t, s, "e2e-vm-"+short+"-"+s.Name, vc.clouds(tlog{t}))
			if len(run.Iterations) != 1 {
				t.Fatalf("run %s: %d iterations, want 1", dir, len(run.Iterations))
			}
			res := run.Iterations[0].Result
			rto, rtoOK := res.RTO()
			rpo, rpoOK := res.RPO()
			t.Logf("%s through the %s: verdict %s, RTO %s (known %v), RPO %s (known %v), target %s; report %s",
				s.Name, vc.name, res.Verdict, rto, rtoOK, rpo, rpoOK, run.Iterations[0].Target, filepath.Join(dir, rundir.MDFile))
			if !rtoOK {
				t.Errorf("RTO unknown: %s", strings.Join(res.Reasons, "; "))
			}
			after, err := finder.IRIS(ctx)
			if err != nil {
				t.Fatalf("IRIS pod after the run: %v", err)
			}
			if after.Node == before.Node {
				t.Errorf("IRIS pod %s runs on node %s, as before the node's VM was powered off: want another node", after.Pod, after.Node)
			}
			pod, err := g.kube.CoreV1().Pods(g.namespace).Get(ctx, after.Pod, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !podReady(pod) {
				t.Errorf("IRIS pod %s on node %s is not Ready after the run", pod.Name, pod.Spec.NodeName)
			}
			t.Logf("IRIS pod moved from %s (node %s) to %s (node %s)", before.Pod, before.Node, after.Pod, after.Node)
			return ctx
		}).
		Assess("the report lists every cloud call: the power off, then the power on, with results and durations", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			if dir == "" {
				t.Skip("no run to check")
			}
			onDisk, err := rundir.Read(dir)
			if err != nil || len(onDisk.Iterations) != 1 {
				t.Fatalf("report of %s: %v (%d iterations)", dir, err, len(onDisk.Iterations))
			}
			it := onDisk.Iterations[0]
			vm := vc.vmOf[before.Node]
			off, on := -1, -1
			for i, call := range it.CloudCalls {
				result := "ok"
				if call.Error != "" {
					result = call.Error
					t.Errorf("cloud call %s %s failed: %s", call.Action, call.Request, call.Error)
				}
				t.Logf("cloud call %d: %s %s: %s in %.3fs", i+1, call.Action, call.Request, result, call.DurationSeconds)
				if call.Request == "" || call.Start.IsZero() || call.DurationSeconds < 0 {
					t.Errorf("incomplete cloud call record %+v", call)
				}
				if call.Target != vm {
					t.Errorf("cloud call %s targets %s; want only the IRIS node's VM %s", call.Action, call.Target, vm)
				}
				switch {
				case off < 0 && vc.powerOff.matches(call):
					off = i
				case off >= 0 && on < 0 && vc.powerOn.matches(call):
					on = i
				}
			}
			if off < 0 {
				t.Errorf("no %s call in the report", vc.powerOff)
			}
			if on < 0 {
				t.Errorf("no %s call after the power off in the report: the stopped VM was not started again", vc.powerOn)
			}
			for _, i := range []int{off, on} {
				if i >= 0 && it.CloudCalls[i].DurationSeconds <= 0 {
					t.Errorf("cloud call %s has no duration", it.CloudCalls[i].Action)
				}
			}
			recs, err := history.ReadFile(filepath.Join(dir, it.History))
			if err != nil {
				t.Fatal(err)
			}
			if n := len(report.CloudCallsFrom(recs)); n != len(it.CloudCalls) {
				t.Errorf("history %s has %d cloud_call records, the report %d", it.History, n, len(it.CloudCalls))
			}
			md, err := os.ReadFile(filepath.Join(dir, rundir.MDFile))
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range []string{vc.powerOff.action, vc.powerOn.action} {
				if !strings.Contains(string(md), a) {
					t.Errorf("%s does not list the %s call", rundir.MDFile, a)
				}
			}
			return ctx
		}).
		Assess("the VM runs again and every node is Ready", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			p, vm, err := vc.clouds(io.Discard)(nil).For(vc.vmOf[before.Node])
			if err != nil {
				t.Fatal(err)
			}
			if st, err := p.State(ctx, vm); err != nil || st != cloud.Running {
				t.Errorf("VM %s after the run: %s, %v; want running", vm, st, err)
			}
			// The cloud says running at once; the node follows (moto's state
			// reaches the node power API within awsemulator.SyncInterval).
			if st, err := c.waitPower(ctx, before.Node, nodepower.On, time.Minute); err != nil {
				t.Errorf("node %s power after the run: %s, %v; want on", before.Node, st, err)
			}
			for _, n := range c.nodes {
				d, err := c.waitNode(ctx, n.Name, true)
				if err != nil {
					t.Error(err)
					continue
				}
				t.Logf("node %s Ready (waited %s)", n.Name, d.Round(100*time.Millisecond))
			}
			return ctx
		}).
		Teardown(func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			// Whatever failed, leave the IRIS node on for what runs next:
			// through the cloud first (so an emulated cloud agrees), then
			// straight through the power API.
			if before.Node == "" {
				return ctx
			}
			if p, vm, err := vc.clouds(io.Discard)(nil).For(vc.vmOf[before.Node]); err == nil {
				if st, err := p.State(ctx, vm); err == nil && st == cloud.Stopped {
					if err := p.Do(ctx, vm, cloud.PowerOn); err != nil {
						t.Logf("teardown: %s poweron: %v", p.Name(), err)
					}
					_, _ = c.waitPower(ctx, before.Node, nodepower.On, 30*time.Second)
				}
			}
			if n, err := c.power.Node(ctx, before.Node); err == nil && n.State == nodepower.Off {
				if err := c.power.Do(ctx, before.Node, nodepower.PowerOn); err != nil {
					t.Errorf("teardown: powering %s on again: %v", before.Node, err)
				}
				_, _ = c.waitNode(ctx, before.Node, true)
			}
			return ctx
		}).
		Teardown(g.teardown).
		Feature()
}

// waitPower polls the node power API until node's power state is want.
func (c *cloudCluster) waitPower(ctx context.Context, node string, want nodepower.State, timeout time.Duration) (nodepower.State, error) {
	deadline := time.Now().Add(timeout)
	for {
		n, err := c.power.Node(ctx, node)
		if err == nil && n.State == want {
			return n.State, nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("still %s after %s", n.State, timeout)
			}
			return n.State, err
		}
		select {
		case <-ctx.Done():
			return n.State, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
