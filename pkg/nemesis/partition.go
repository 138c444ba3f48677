package nemesis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/ledger"
	"github.com/irischaos/irischaos/pkg/target"
)

// How a partition is made (Spec.PartitionVia).
const (
	// ViaAuto: through the node's provider when it can partition
	// (cloud.Partitioner: the local cluster) and the partition is a full
	// cut (both ways, control plane and nodes: what a link down does);
	// otherwise the agent.
	ViaAuto = "auto"
	// ViaAgent: a pod on the node sets iptables rules (ledger.CutAgent).
	ViaAgent = ledger.CutAgent
	// ViaProvider: the provider takes the node's link down (ledger.CutProvider).
	ViaProvider = ledger.CutProvider
)

// agentStartTimeout bounds the wait for the agent to run (its image pulled).
const agentStartTimeout = 2 * time.Minute

// controlPlaneRole marks control-plane nodes.
const controlPlaneRole = "node-role.kubernetes.io/control-plane"

// peerAddresses resolves each peer of p to the addresses cut, read from the
// API: the API server's endpoints (the kubernetes Service's EndpointSlices)
// and the control-plane nodes' InternalIPs; every other node's InternalIPs
// and pod CIDRs; the storage addresses given. The node's own addresses are
// never cut.
func peerAddresses(ctx context.Context, env Env, node string, p fault.Partition) (map[fault.Peer][]string, error) {
	if env.Client == nil {
		return nil, errors.New("the cluster is needed to find the partition's peers")
	}
	nodes, err := env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	own := map[string]bool{}
	for _, n := range nodes.Items {
		if n.Name == node {
			for _, a := range n.Status.Addresses {
				own[a.Address] = true
			}
		}
	}
	internal := func(n corev1.Node) []string {
		var out []string
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP && !own[a.Address] {
				out = append(out, a.Address)
			}
		}
		return out
	}
	out := map[fault.Peer][]string{}
	for _, peer := range p.Peers {
		var addrs []string
		switch peer {
		case fault.PeerControlPlane:
			sl, err := env.Client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=kubernetes"})
			if err != nil {
				return nil, fmt.Errorf("read the API server's endpoints (EndpointSlices of service default/kubernetes): %w", err)
			}
			for _, s := range sl.Items {
				for _, e := range s.Endpoints {
					for _, a := range e.Addresses {
						if !own[a] {
							addrs = append(addrs, a)
						}
					}
				}
			}
			for _, n := range nodes.Items {
				if _, cp := n.Labels[controlPlaneRole]; cp && n.Name != node {
					addrs = append(addrs, internal(n)...)
				}
			}
		case fault.PeerNodes:
			for _, n := range nodes.Items {
				if n.Name == node {
					continue
				}
				addrs = append(addrs, internal(n)...)
				addrs = append(addrs, n.Spec.PodCIDRs...)
			}
		case fault.PeerStorage:
			addrs = append(addrs, p.Storage...)
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("partition of node %s: no address found for peer %s", node, peer)
		}
		slices.Sort(addrs)
		out[peer] = slices.Compact(addrs)
	}
	return out, nil
}

// nodeCut is one node cut off: through its provider, or by an agent pod.
type nodeCut struct {
	env  Env
	node string
	opt  fault.Partition // normalised
	via  string
	// provider
	p  cloud.Partitioner
	vm cloud.VM
	// agent
	namespace, pod, image string
	peers                 map[fault.Peer][]string
	set, undo             []string
	until                 time.Time
}

// newCut binds a partition of node. providerID may be empty (no provider).
func newCut(ctx context.Context, env Env, s Spec, node, providerID, namespace string) (*nodeCut, error) {
	opt := s.Partition.Normal()
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	c := &nodeCut{env: env, node: node, opt: opt}
	via := s.PartitionVia
	if via == "" {
		via = ViaAuto
	}
	var perr error
	if via != ViaAgent && providerID != "" && env.Clouds != nil {
		if p, vm, err := env.Clouds.For(providerID); err != nil {
			perr = err
		} else if pp, ok := p.(cloud.Partitioner); ok {
			c.p, c.vm = pp, vm
		} else {
			perr = fmt.Errorf("the %s provider cannot partition a node", p.Name())
		}
	}
	switch via {
	case ViaProvider:
		if c.p == nil {
			if perr == nil {
				perr = fmt.Errorf("node %s has no provider (spec.providerID %q)", node, providerID)
			}
			return nil, fmt.Errorf("partition of node %s through its provider: %w", node, perr)
		}
		if !opt.Full() {
			return nil, fmt.Errorf("partition of node %s through its provider: the provider takes the node's link down (both ways, every peer), not %s; use the agent", node, opt)
		}
		c.via = ViaProvider
		return c, nil
	case ViaAuto:
		if c.p != nil && opt.Full() {
			c.via = ViaProvider
			return c, nil
		}
	case ViaAgent:
	default:
		return nil, fmt.Errorf("unknown partition method %q (auto, agent or provider)", via)
	}
	c.via, c.p = ViaAgent, nil
	if namespace == "" {
		return nil, fmt.Errorf("partition of node %s: the agent pod needs a namespace (--agent-namespace)", node)
	}
	c.namespace, c.image = namespace, s.AgentImage
	if c.image == "" {
		c.image = DefaultAgentImage
	}
	c.pod = agentPodName(node, strconv.FormatInt(time.Now().UnixMilli()%(36*36*36*36*36*36), 36))
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	peers, err := peerAddresses(rctx, env, node, opt)
	if err != nil {
		return nil, err
	}
	c.peers = peers
	var all []string
	for _, p := range opt.Peers {
		all = append(all, peers[p]...)
	}
	if c.set, c.undo, err = renderRules(opt.Direction, all); err != nil {
		return nil, fmt.Errorf("partition of node %s: %w", node, err)
	}
	return c, nil
}

// deadline is how long the kubelet lets the agent run: its start delay,
// the partition, and a minute's margin for its own removal.
func (c *nodeCut) deadline() time.Duration {
	return agentStartDelay + c.opt.Duration + time.Minute
}

func (c *nodeCut) agent() *corev1.Pod {
	return agentPod(c.pod, c.namespace, c.node, c.image, "partition", agentScript(c.set, c.undo, c.opt.Duration), c.deadline())
}

// healPod is the second, short-lived pod that removes cut's rules.
func healPod(cut ledger.Cut) *corev1.Pod {
	return agentPod(cut.Pod+"-heal", cut.Namespace, cut.Node, cut.Image, "heal", healScript(cut.Undo), 2*time.Minute)
}

// record is the ledger's Cut.
func (c *nodeCut) record() ledger.Cut {
	if c.via == ViaProvider {
		return ledger.Cut{Node: c.node, Via: ledger.CutProvider, ProviderID: c.vm.ProviderID}
	}
	until := c.until
	if until.IsZero() {
		// Written before the pod exists: the latest it can be.
		until = time.Now().Add(agentStartTimeout + c.deadline()).UTC().Truncate(time.Second)
	}
	return ledger.Cut{Node: c.node, Via: ledger.CutAgent, Namespace: c.namespace, Pod: c.pod, Image: c.image,
		Rules: c.set, Undo: c.undo, Until: until}
}

func (c *nodeCut) plan() []string {
	if c.via == ViaProvider {
		return []string{
			fmt.Sprintf("cut node %s off (%s) through the %s provider: %s", c.node, c.opt, c.vm.Provider, c.p.DescribePartition(c.vm, false)),
			"  the link stays down until healed: this provider has no timer of its own",
		}
	}
	out := []string{fmt.Sprintf("cut node %s off (%s) with agent pod %s/%s on it (image %s, hostNetwork, NET_ADMIN), rules set %s after it starts, removed by itself after %s:",
		c.node, c.opt, c.namespace, c.pod, c.image, agentStartDelay, c.opt.Duration)}
	for _, p := range c.opt.Peers {
		out = append(out, fmt.Sprintf("  peer %s: %s", p, strings.Join(c.peers[p], " ")))
	}
	for _, r := range c.set {
		out = append(out, "  "+r)
	}
	return out
}

func (c *nodeCut) healPlan() []string {
	if c.via == ViaProvider {
		return []string{"reconnect: " + c.p.DescribePartition(c.vm, true)}
	}
	out := []string{fmt.Sprintf("reconnect: delete pod %s/%s (it removes its rules on SIGTERM), then pod %s-heal on node %s runs:", c.namespace, c.pod, c.pod, c.node)}
	for _, r := range c.undo {
		out = append(out, "  "+r)
	}
	return out
}

// inject cuts the node; issued is when the cut was made (see Result.Issued).
func (c *nodeCut) inject(ctx context.Context) (issued time.Time, detail string, err error) {
	if c.via == ViaProvider {
		c.env.printf("nemesis: partition node %s: %s", c.node, c.p.DescribePartition(c.vm, false))
		issued = time.Now()
		err = c.p.Partition(ctx, c.vm)
		if err != nil {
			return issued, "", fmt.Errorf("partition node %s: %w", c.node, err)
		}
		return issued, fmt.Sprintf("%s: node %s link down", c.vm.Provider, c.node), nil
	}
	c.env.printf("nemesis: partition node %s: agent pod %s/%s", c.node, c.namespace, c.pod)
	pods := c.env.Client.CoreV1().Pods(c.namespace)
	created := time.Now()
	if _, err := pods.Create(ctx, c.agent(), metav1.CreateOptions{}); err != nil {
		return time.Time{}, "", fmt.Errorf("partition node %s: create agent pod %s/%s: %w", c.node, c.namespace, c.pod, err)
	}
	c.until = created.Add(agentStartTimeout + c.deadline())
	wctx, cancel := context.WithTimeout(ctx, agentStartTimeout)
	defer cancel()
	for {
		p, err := pods.Get(wctx, c.pod, metav1.GetOptions{})
		if err == nil {
			for _, cs := range p.Status.ContainerStatuses {
				if r := cs.State.Running; r != nil {
					// The API's start time has whole seconds: the rules
					// were set up to a second later than this.
					at := r.StartedAt.Add(agentStartDelay)
					c.until = r.StartedAt.Add(c.deadline())
					if d := time.Until(at); d > 0 {
						time.Sleep(d)
					}
					return at, fmt.Sprintf("agent %s/%s on node %s: %d rules set at its start + %s (to the second), removed by itself at %s", c.namespace, c.pod, c.node, len(c.set), agentStartDelay, c.until.UTC().Format(time.RFC3339)), nil
				}
				if t := cs.State.Terminated; t != nil {
					return created, "", fmt.Errorf("partition node %s: agent %s/%s ended before its rules held (%s, exit %d): %s", c.node, c.namespace, c.pod, t.Reason, t.ExitCode, t.Message)
				}
			}
			if p.Status.Phase == corev1.PodFailed {
				return created, "", fmt.Errorf("partition node %s: agent %s/%s failed: %s", c.node, c.namespace, c.pod, p.Status.Message)
			}
		}
		select {
		case <-wctx.Done():
			// It may still start: issued, so that the heal deletes it.
			return created, "", fmt.Errorf("partition node %s: agent %s/%s not running after %s (image %s pulled? pod security of namespace %s allows hostNetwork and NET_ADMIN?): %w", c.node, c.namespace, c.pod, agentStartTimeout, c.image, c.namespace, wctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (c *nodeCut) heal(ctx context.Context) error {
	if c.via == ViaProvider {
		c.env.printf("heal: reconnect node %s: %s", c.node, c.p.DescribePartition(c.vm, true))
		if err := c.p.Reconnect(ctx, c.vm); err != nil {
			return fmt.Errorf("reconnect node %s: %w", c.node, err)
		}
		return nil
	}
	return healAgent(ctx, c.env, c.record())
}

// healAgent removes an agent's rules: deletes its pod (on SIGTERM it removes
// them) and runs the removal in a second pod on the node, waiting until
// that pod succeeded. A node that never hears of either keeps the rules
// until the agent's own timer (Cut.Until).
func healAgent(ctx context.Context, env Env, cut ledger.Cut) error {
	if env.Client == nil {
		return fmt.Errorf("reconnect node %s: removing agent %s/%s's rules needs the cluster: pass --kubeconfig", cut.Node, cut.Namespace, cut.Pod)
	}
	pods := env.Client.CoreV1().Pods(cut.Namespace)
	env.printf("heal: reconnect node %s: delete agent %s/%s, run its rules' removal in %s-heal", cut.Node, cut.Namespace, cut.Pod, cut.Pod)
	if err := pods.Delete(ctx, cut.Pod, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("reconnect node %s: delete agent %s/%s: %w", cut.Node, cut.Namespace, cut.Pod, err)
	}
	heal := healPod(cut)
	if _, err := pods.Create(ctx, heal, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("reconnect node %s: create %s/%s: %w", cut.Node, cut.Namespace, heal.Name, err)
	}
	unreachable := func(why string) error {
		return fmt.Errorf("reconnect node %s: %s/%s %s; the node may not hear from the API server: the agent removes its rules by itself at %s at the latest", cut.Node, cut.Namespace, heal.Name, why, cut.Until.UTC().Format(time.RFC3339))
	}
	for {
		p, err := pods.Get(ctx, heal.Name, metav1.GetOptions{})
		switch {
		case err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil:
			env.printf("heal: read %s/%s: %v", cut.Namespace, heal.Name, err)
		case err == nil && p.Status.Phase == corev1.PodSucceeded:
			_ = pods.Delete(ctx, heal.Name, metav1.DeleteOptions{})
			env.printf("heal: node %s: rules removed", cut.Node)
			return nil
		case err == nil && p.Status.Phase == corev1.PodFailed:
			_ = pods.Delete(ctx, heal.Name, metav1.DeleteOptions{})
			return unreachable("failed: " + p.Status.Reason + " " + p.Status.Message)
		}
		select {
		case <-ctx.Done():
			return unreachable("did not complete: " + ctx.Err().Error())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// nodePartition is node-partition: one node cut off.
type nodePartition struct {
	t   target.Target
	cut *nodeCut
}

func (f *nodePartition) Name() fault.Name      { return fault.NodePartition }
func (f *nodePartition) Target() target.Target { return f.t }
func (f *nodePartition) HealAction() string    { return ledger.HealReconnect }
func (f *nodePartition) Cuts() []ledger.Cut    { return []ledger.Cut{f.cut.record()} }

// Effect: cut off from the control plane, the node goes NotReady; cut off
// from its peers only, the fault's own call confirms it.
func (f *nodePartition) Effect() fault.Effect {
	if slices.Contains(f.cut.opt.Peers, fault.PeerControlPlane) {
		return fault.Effect{Kind: fault.EffectNodeNotReady, Node: f.t.Node}
	}
	return fault.Effect{}
}

func (f *nodePartition) Plan() []string {
	plan := f.cut.plan()
	if e := f.Effect(); e.Kind != "" {
		plan = append(plan, fmt.Sprintf("effect: node %s NotReady (its kubelet cannot reach the API server); its pods keep running, cut off", f.t.Node))
	} else {
		plan = append(plan, "effect: the cut is in place (the node stays Ready: the control plane is not cut)")
	}
	return append(plan, f.cut.healPlan()...)
}

func (f *nodePartition) Inject(ctx context.Context) (Result, error) {
	issued, detail, err := f.cut.inject(ctx)
	return Result{Issued: issued, Done: time.Now(), Detail: detail}, err
}

func (f *nodePartition) Heal(ctx context.Context) error { return f.cut.heal(ctx) }

// recoverCuts undoes every cut of a ledger entry.
func recoverCuts(ctx context.Context, env Env, e ledger.Entry) error {
	if len(e.Cuts) == 0 {
		return fmt.Errorf("ledger entry %s: reconnect without cuts", e.ID)
	}
	var errs []error
	for _, c := range e.Cuts {
		switch c.Via {
		case ledger.CutAgent:
			errs = append(errs, healAgent(ctx, env, c))
		case ledger.CutProvider:
			if env.Clouds == nil {
				errs = append(errs, fmt.Errorf("ledger entry %s: reconnect node %s needs the cloud providers", e.ID, c.Node))
				continue
			}
			p, vm, err := env.Clouds.For(c.ProviderID)
			if err != nil {
				errs = append(errs, fmt.Errorf("ledger entry %s: %w", e.ID, err))
				continue
			}
			pp, ok := p.(cloud.Partitioner)
			if !ok {
				errs = append(errs, fmt.Errorf("ledger entry %s: the %s provider cannot reconnect node %s", e.ID, p.Name(), c.Node))
				continue
			}
			env.printf("heal: reconnect node %s: %s", c.Node, pp.DescribePartition(vm, true))
			errs = append(errs, pp.Reconnect(ctx, vm))
		default:
			errs = append(errs, fmt.Errorf("ledger entry %s: node %s cut via %q (written by a newer irischaos?)", e.ID, c.Node, c.Via))
		}
	}
	return errors.Join(errs...)
}
