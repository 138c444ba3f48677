package nemesis

import (
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/ledger"
	"github.com/irischaos/irischaos/pkg/target"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestRenderRules(t *testing.T) {
	for _, c := range []struct {
		name  string
		dir   fault.Direction
		addrs []string
		set   []string
	}{
		{"both ways", fault.Both, []string{"10.0.0.2", "10.244.1.0/24"}, []string{
			"iptables -w -N IRISCHAOS-PARTITION",
			"iptables -w -A IRISCHAOS-PARTITION -s 10.0.0.2/32 -j DROP",
			"iptables -w -A IRISCHAOS-PARTITION -d 10.0.0.2/32 -j DROP",
			"iptables -w -A IRISCHAOS-PARTITION -s 10.244.1.0/24 -j DROP",
			"iptables -w -A IRISCHAOS-PARTITION -d 10.244.1.0/24 -j DROP",
			"iptables -w -I INPUT 1 -j IRISCHAOS-PARTITION",
			"iptables -w -I FORWARD 1 -j IRISCHAOS-PARTITION",
			"iptables -w -I OUTPUT 1 -j IRISCHAOS-PARTITION",
		}},
		{"incoming only", fault.Incoming, []string{"10.0.0.2"}, []string{
			"iptables -w -N IRISCHAOS-PARTITION",
			"iptables -w -A IRISCHAOS-PARTITION -s 10.0.0.2/32 -j DROP",
			"iptables -w -I INPUT 1 -j IRISCHAOS-PARTITION",
			"iptables -w -I FORWARD 1 -j IRISCHAOS-PARTITION",
			"iptables -w -I OUTPUT 1 -j IRISCHAOS-PARTITION",
		}},
		{"outgoing only, sorted, duplicates once, host bits masked", fault.Outgoing, []string{"10.0.0.3", "10.0.0.2", "10.0.0.3", "10.244.2.7/24"}, []string{
			"iptables -w -N IRISCHAOS-PARTITION",
			"iptables -w -A IRISCHAOS-PARTITION -d 10.0.0.2/32 -j DROP",
			"iptables -w -A IRISCHAOS-PARTITION -d 10.0.0.3/32 -j DROP",
			"iptables -w -A IRISCHAOS-PARTITION -d 10.244.2.0/24 -j DROP",
			"iptables -w -I INPUT 1 -j IRISCHAOS-PARTITION",
			"iptables -w -I FORWARD 1 -j IRISCHAOS-PARTITION",
			"iptables -w -I OUTPUT 1 -j IRISCHAOS-PARTITION",
		}},
		{"dual stack", fault.Both, []string{"fd00::2", "10.0.0.2"}, []string{
			"iptables -w -N IRISCHAOS-PARTITION",
			"iptables -w -A IRISCHAOS-PARTITION -s 10.0.0.2/32 -j DROP",
			"iptables -w -A IRISCHAOS-PARTITION -d 10.0.0.2/32 -j DROP",
			"iptables -w -I INPUT 1 -j IRISCHAOS-PARTITION",
			"iptables -w -I FORWARD 1 -j IRISCHAOS-PARTITION",
			"iptables -w -I OUTPUT 1 -j IRISCHAOS-PARTITION",
			"ip6tables -w -N IRISCHAOS-PARTITION",
			"ip6tables -w -A IRISCHAOS-PARTITION -s fd00::2/128 -j DROP",
			"ip6tables -w -A IRISCHAOS-PARTITION -d fd00::2/128 -j DROP",
			"ip6tables -w -I INPUT 1 -j IRISCHAOS-PARTITION",
			"ip6tables -w -I FORWARD 1 -j IRISCHAOS-PARTITION",
			"ip6tables -w -I OUTPUT 1 -j IRISCHAOS-PARTITION",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			set, undo, err := renderRules(c.dir, c.addrs)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(set, c.set) {
				t.Errorf("set:\n%s\nwant:\n%s", strings.Join(set, "\n"), strings.Join(c.set, "\n"))
			}
			// Undo removes every jump and the chain, per family.
			var want []string
			for _, cmd := range []string{"iptables", "ip6tables"} {
				if !slices.ContainsFunc(set, func(s string) bool { return strings.HasPrefix(s, cmd+" ") }) {
					continue
				}
				want = append(want, cmd+" -w -D INPUT -j IRISCHAOS-PARTITION", cmd+" -w -D FORWARD -j IRISCHAOS-PARTITION", cmd+" -w -D OUTPUT -j IRISCHAOS-PARTITION",
					cmd+" -w -F IRISCHAOS-PARTITION", cmd+" -w -X IRISCHAOS-PARTITION")
			}
			if !slices.Equal(undo, want) {
				t.Errorf("undo:\n%s\nwant:\n%s", strings.Join(undo, "\n"), strings.Join(want, "\n"))
			}
		})
	}
	for _, bad := range [][]string{nil, {"10.0.0.300"}, {"node-2"}, {"10.0.0.0/33"}} {
		if _, _, err := renderRules(fault.Both, bad); err == nil {
			t.Errorf("renderRules(%q) accepted", bad)
		}
	}
}

// partitionCluster: w1 (the IRIS node, zone a), w2 (zone b), cp1 (the
// control plane, zone c), the API server's endpoint 10.0.0.10.
func partitionCluster() *fake.Clientset {
	node := func(name, zone, ip, podCIDR string, labels ...string) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{ZoneLabel: zone}},
			Spec:   corev1.NodeSpec{PodCIDRs: []string{podCIDR}, ProviderID: "fake:///" + name},
			Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeHostName, Address: name}}}}
		for _, l := range labels {
			n.Labels[l] = ""
		}
		return n
	}
	ep := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes"}},
		AddressType: discoveryv1.AddressTypeIPv4, Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.10"}}}}
	return fake.NewClientset(node("w1", "a", "10.0.0.1", "10.244.1.0/24"), node("w2", "b", "10.0.0.2", "10.244.2.0/24"),
		node("cp1", "c", "10.0.0.10", "10.244.0.0/24", controlPlaneRole), ep)
}

var partTarget = target.Target{Namespace: "db", Pod: "iris-0", Node: "w1", ProviderID: "fake:///w1"}

func TestPartitionPeers(t *testing.T) {
	env := Env{Client: partitionCluster()}
	for _, c := range []struct {
		opt  fault.Partition
		want map[fault.Peer][]string
	}{
		{fault.Partition{}, map[fault.Peer][]string{
			fault.PeerControlPlane: {"10.0.0.10"},
			fault.PeerNodes:        {"10.0.0.10", "10.0.0.2", "10.244.0.0/24", "10.244.2.0/24"},
		}},
		{fault.Partition{Peers: []fault.Peer{fault.PeerStorage}, Storage: []string{"192.168.5.0/24"}}, map[fault.Peer][]string{
			fault.PeerStorage: {"192.168.5.0/24"},
		}},
	} {
		got, err := peerAddresses(context.Background(), env, "w1", c.opt.Normal())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(c.want) {
			t.Errorf("%+v: peers %v", c.opt, got)
		}
		for p, w := range c.want {
			if !slices.Equal(got[p], w) {
				t.Errorf("%+v: peer %s = %v, want %v", c.opt, p, got[p], w)
			}
		}
	}
}

func TestAgentPodGolden(t *testing.T) {
	set, undo, err := renderRules(fault.Both, []string{"10.0.0.10", "10.0.0.2", "10.244.2.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	pods := []*corev1.Pod{
		agentPod(agentPodName("w1.example.com", "abc123"), "db", "w1.example.com", DefaultAgentImage, "partition", agentScript(set, undo, 5*time.Minute), 6*time.Minute+3*time.Second),
		healPod(ledger.Cut{Node: "w1.example.com", Namespace: "db", Pod: agentPodName("w1.example.com", "abc123"), Image: DefaultAgentImage, Undo: undo}),
	}
	var got []byte
	for _, p := range pods {
		b, err := yaml.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		got = append(append(got, "---\n"...), b...)
	}
	golden := filepath.Join("testdata", "agent-pod.golden.yaml")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test ./pkg/nemesis -run TestAgentPodGolden -update writes it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("agent pods differ from %s (-update rewrites it):\n%s", golden, got)
	}
	if n := agentPodName(strings.Repeat("n", 80), "abc123") + "-heal"; len(n) > 63 {
		t.Errorf("agent pod name %q longer than 63", n)
	}
}

// agentCluster plays the kubelet for agent pods: a created pod runs at
// once (the partition agent) or succeeds (the heal pod); it records what
// was created and deleted.
func agentCluster(t *testing.T, healFails bool) (*fake.Clientset, *[]string) {
	cs := partitionCluster()
	var log []string
	cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod).DeepCopy()
		log = append(log, "create "+p.Name+" on "+p.Spec.NodeName)
		switch {
		case p.Labels[agentLabelRole] == "heal" && healFails:
			p.Status.Phase = corev1.PodFailed
			p.Status.Reason = "DeadlineExceeded"
		case p.Labels[agentLabelRole] == "heal":
			p.Status.Phase = corev1.PodSucceeded
		default:
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "agent", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(time.Now().Add(-agentStartDelay))}}}}
		}
		return true, p, cs.Tracker().Create(podsGVR, p, p.Namespace)
	})
	cs.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		log = append(log, "delete "+a.(k8stesting.DeleteAction).GetName())
		return false, nil, nil
	})
	return cs, &log
}

func TestNodePartitionAgent(t *testing.T) {
	cs, log := agentCluster(t, false)
	env := Env{Client: cs, Clouds: registry(newFakeVMs())}
	_, err := New(env, Spec{Name: fault.NodePartition}, partTarget)
	if !errors.Is(err, fault.ErrNodeActionsNotAllowed) {
		t.Fatalf("without --allow-node-actions: %v", err)
	}
	spec := Spec{Name: fault.NodePartition, Allow: fault.Allow{NodeActions: true}, Partition: fault.Partition{Direction: fault.Incoming, Duration: time.Minute}}
	f, err := New(env, spec, partTarget)
	if err != nil {
		t.Fatal(err)
	}
	plan := strings.Join(f.Plan(), "\n")
	for _, w := range []string{"with agent pod db/irischaos-cut-w1-", "peer control-plane: 10.0.0.10", "peer nodes: 10.0.0.10 10.0.0.2 10.244.0.0/24 10.244.2.0/24",
		"iptables -w -A IRISCHAOS-PARTITION -s 10.244.2.0/24 -j DROP", "iptables -w -D OUTPUT -j IRISCHAOS-PARTITION", "effect: node w1 NotReady"} {
		if !strings.Contains(plan, w) {
			t.Errorf("plan lacks %q:\n%s", w, plan)
		}
	}
	if strings.Contains(plan, "-d 10.0.0.2") {
		t.Errorf("incoming only, yet an outgoing rule:\n%s", plan)
	}
	e := LedgerEntry(f)
	if e.Heal != ledger.HealReconnect || len(e.Cuts) != 1 || e.Cuts[0].Via != ledger.CutAgent || len(e.Cuts[0].Rules) != 8 || len(e.Cuts[0].Undo) != 5 || e.Cuts[0].Until.IsZero() {
		t.Fatalf("ledger entry %+v", e)
	}

	dir := t.TempDir()
	l, _ := ledger.Open(dir)
	a, err := Guard{Ledger: l, Env: env}.Inject(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	if a.Result.Issued.IsZero() || !strings.Contains(a.Result.Detail, "8 rules set") {
		t.Errorf("result %+v", a.Result)
	}
	pod, err := cs.CoreV1().Pods("db").Get(context.Background(), e.Cuts[0].Pod, metav1.GetOptions{})
	if err != nil || pod.Spec.NodeName != "w1" || !pod.Spec.HostNetwork || !strings.Contains(pod.Spec.Containers[0].Command[2], "sleep 60 & wait $!") {
		t.Fatalf("agent pod %+v, %v", pod, err)
	}
	if err := a.Heal(context.Background()); err != nil {
		t.Fatal(err)
	}
	agent := e.Cuts[0].Pod
	if got := strings.Join(*log, ","); got != "create "+agent+" on w1,delete "+agent+",create "+agent+"-heal on w1,delete "+agent+"-heal" {
		t.Errorf("pods: %s", got)
	}
	if pend, _ := l.Pending(); len(pend) != 0 {
		t.Errorf("pending after heal: %+v", pend)
	}
}

func TestRecoverPartitionEntry(t *testing.T) {
	// An entry as a killed run left it (written by the ledger's JSON):
	// recover deletes the agent and runs the recorded removal on the node.
	undo := []string{"iptables -w -D INPUT -j IRISCHAOS-PARTITION", "iptables -w -F IRISCHAOS-PARTITION", "iptables -w -X IRISCHAOS-PARTITION"}
	for _, c := range []struct {
		name      string
		healFails bool
	}{{"reachable", false}, {"unreachable", true}} {
		t.Run(c.name, func(t *testing.T) {
			cs, log := agentCluster(t, c.healFails)
			dir := t.TempDir()
			l, _ := ledger.Open(dir)
			until := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
			if _, err := l.Record(ledger.Entry{Fault: string(fault.NodePartition), Heal: ledger.HealReconnect, Node: "w1",
				Cuts: []ledger.Cut{{Node: "w1", Via: ledger.CutAgent, Namespace: "db", Pod: "irischaos-cut-w1-x", Image: "img", Rules: []string{"iptables -w -N IRISCHAOS-PARTITION"}, Undo: undo, Until: until}}}); err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			left, err := Guard{Ledger: l, Env: Env{Client: cs}}.Recover(ctx, &out)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(*log, ","); !strings.HasPrefix(got, "delete irischaos-cut-w1-x,create irischaos-cut-w1-x-heal on w1") {
				t.Errorf("pods: %s", got)
			}
			if c.healFails {
				if len(left) != 1 || !strings.Contains(left[0].HealError, "removes its rules by itself at 2026-12-02T15:00:00Z") {
					t.Errorf("left %+v\n%s", left, out.String())
				}
				return
			}
			if len(left) != 0 {
				t.Errorf("left %+v\n%s", left, out.String())
			}
			heal, err := cs.CoreV1().Pods("db").Get(ctx, "irischaos-cut-w1-x-heal", metav1.GetOptions{})
			if err == nil {
				t.Errorf("heal pod left behind: %s", heal.Name)
			}
		})
	}
}

// partitioner is the fake cloud that can also take a node's link down.
type partitioner struct {
	*fakeVMs
	cut map[string]bool
}

func (p *partitioner) Partition(_ context.Context, vm cloud.VM) error {
	p.cut[vm.ID] = true
	return nil
}
func (p *partitioner) Reconnect(_ context.Context, vm cloud.VM) error {
	p.cut[vm.ID] = false
	return nil
}
func (p *partitioner) DescribePartition(vm cloud.VM, reconnect bool) string {
	if reconnect {
		return "FAKE link up " + vm.ID
	}
	return "FAKE link down " + vm.ID
}

func TestPartitionVia(t *testing.T) {
	p := &partitioner{fakeVMs: newFakeVMs(), cut: map[string]bool{}}
	clouds := &cloud.Registry{}
	clouds.Register("fake", func() (cloud.Provider, error) { return p, nil })
	env := Env{Client: partitionCluster(), Clouds: clouds}
	allow := fault.Allow{NodeActions: true}
	for _, c := range []struct {
		via  string
		opt  fault.Partition
		want string // ledger cut via, or an error's text
	}{
		{"", fault.Partition{}, ledger.CutProvider},                                             // a full cut: the link
		{"", fault.Partition{Direction: fault.Outgoing}, ledger.CutAgent},                       // one way: only rules can
		{"", fault.Partition{Peers: []fault.Peer{fault.PeerControlPlane}}, ledger.CutAgent},     // some peers: only rules can
		{ViaAgent, fault.Partition{}, ledger.CutAgent},                                          // asked for
		{ViaProvider, fault.Partition{Direction: fault.Incoming}, "takes the node's link down"}, // cannot
		{"ssh", fault.Partition{}, "unknown partition method"},
	} {
		f, err := New(env, Spec{Name: fault.NodePartition, Allow: allow, PartitionVia: c.via, Partition: c.opt}, partTarget)
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = LedgerEntry(f).Cuts[0].Via
		}
		if !strings.Contains(got, c.want) {
			t.Errorf("via %q %+v: %s, want %s", c.via, c.opt, got, c.want)
		}
	}
	f, _ := New(env, Spec{Name: fault.NodePartition, Allow: allow}, partTarget)
	if _, err := f.Inject(context.Background()); err != nil || !p.cut["w1"] {
		t.Fatalf("inject: %v, cut %v", err, p.cut)
	}
	if err := f.Heal(context.Background()); err != nil || p.cut["w1"] {
		t.Fatalf("heal: %v, cut %v", err, p.cut)
	}
	if plan := strings.Join(f.Plan(), "\n"); !strings.Contains(plan, "FAKE link down w1") || !strings.Contains(plan, "reconnect: FAKE link up w1") {
		t.Errorf("plan:\n%s", plan)
	}
	// Without a provider that can partition, the agent; without a cluster, no peers.
	if _, err := New(Env{Clouds: registry(newFakeVMs())}, Spec{Name: fault.NodePartition, Allow: allow}, partTarget); err == nil || !strings.Contains(err.Error(), "cluster is needed") {
		t.Errorf("agent without a cluster: %v", err)
	}
}

func TestZoneNodes(t *testing.T) {
	node := func(name, zone string) corev1.Node {
		return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{ZoneLabel: zone}}}
	}
	three := []corev1.Node{node("a1", "a"), node("b1", "b"), node("c1", "c")}
	twoInA := []corev1.Node{node("a1", "a"), node("a2", "a"), node("b1", "b")}
	for _, c := range []struct {
		name   string
		nodes  []corev1.Node
		zone   string
		home   string
		copies map[string]int
		want   []string // nodes, or nil for a refusal
		err    string
	}{
		{"the IRIS pod's zone", three, "", "b1", nil, []string{"b1"}, ""},
		{"a zone named", three, "c", "b1", nil, []string{"c1"}, ""},
		{"two nodes in one zone", twoInA, "", "a2", nil, []string{"a1", "a2"}, ""},
		{"copies elsewhere too", twoInA, "a", "", map[string]int{"a": 1, "b": 1}, []string{"a1", "a2"}, ""},
		{"every node", []corev1.Node{node("a1", "a"), node("a2", "a")}, "", "a1", nil, nil, `zone "a" holds every node (2)`},
		{"the last replica", twoInA, "a", "", map[string]int{"a": 2}, nil, `zone "a" holds every usable copy of the volume (2)`},
		{"no node there", three, "d", "", nil, nil, `no node is in zone "d" (zones: a, b, c)`},
		{"no zone label", []corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "x"}}}, "", "x", nil, nil, "node x has no topology.kubernetes.io/zone label"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, nodes, err := ZoneNodes(c.nodes, c.zone, c.home, c.copies)
			var names []string
			for _, n := range nodes {
				names = append(names, n.Name)
			}
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Errorf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || !slices.Equal(names, c.want) {
				t.Errorf("nodes %v, %v; want %v", names, err, c.want)
			}
		})
	}
}

func TestZoneOutage(t *testing.T) {
	cs := partitionCluster()
	// A second node in zone a: the outage takes both at once.
	if _, err := cs.CoreV1().Nodes().Create(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w3", Labels: map[string]string{ZoneLabel: "a"}},
		Spec: corev1.NodeSpec{ProviderID: "fake:///w3"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	vms := newFakeVMs()
	vms.state["w3"] = cloud.Running
	env := Env{Client: cs, Clouds: registry(vms)}
	if _, err := New(env, Spec{Name: fault.ZoneOutage, Allow: fault.Allow{NodeActions: true}}, partTarget); !errors.Is(err, fault.ErrVMActionsNotAllowed) {
		t.Errorf("zone power off with the node opt-in only: %v", err)
	}
	if _, err := New(env, Spec{Name: fault.ZoneOutage, ZoneMethod: fault.ZonePartition, Allow: fault.Allow{VMActions: true}}, partTarget); !errors.Is(err, fault.ErrNodeActionsNotAllowed) {
		t.Errorf("zone partition with the VM opt-in only: %v", err)
	}
	f, err := New(env, Spec{Name: fault.ZoneOutage, Allow: fault.Allow{VMActions: true}}, partTarget)
	if err != nil {
		t.Fatal(err)
	}
	e := LedgerEntry(f)
	if e.Heal != ledger.HealPowerOn || !slices.Equal(e.ProviderIDs, []string{"fake:///w1", "fake:///w3"}) || f.Effect().Node != "w1" {
		t.Errorf("ledger entry %+v, effect %+v", e, f.Effect())
	}
	if plan := strings.Join(f.Plan(), "\n"); !strings.Contains(plan, "zone a off-line (poweroff) at the same moment: nodes w1, w3") {
		t.Errorf("plan:\n%s", plan)
	}
	res, err := f.Inject(context.Background())
	if err != nil || res.Issued.IsZero() || vms.state["w1"] != cloud.Stopped || vms.state["w3"] != cloud.Stopped {
		t.Fatalf("inject: %+v, %v, %v", res, err, vms.state)
	}
	// A killed run's entry: recover powers every VM of the zone on.
	dir := t.TempDir()
	l, _ := ledger.Open(dir)
	if _, err := l.Record(e); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if left, err := (Guard{Ledger: l, Env: env}).Recover(context.Background(), &out); err != nil || len(left) != 0 {
		t.Fatalf("recover: %+v, %v\n%s", left, err, out.String())
	}
	if vms.state["w1"] != cloud.Running || vms.state["w3"] != cloud.Running {
		t.Errorf("after recover: %v", vms.state)
	}

	// By partition: one agent per node of the zone.
	cs2, log := agentCluster(t, false)
	if _, err := cs2.CoreV1().Nodes().Create(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w3", Labels: map[string]string{ZoneLabel: "a"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f, err = New(Env{Client: cs2}, Spec{Name: fault.ZoneOutage, ZoneMethod: fault.ZonePartition, Allow: fault.Allow{NodeActions: true}}, partTarget)
	if err != nil {
		t.Fatal(err)
	}
	e = LedgerEntry(f)
	if e.Heal != ledger.HealReconnect || len(e.Cuts) != 2 || e.Cuts[0].Node != "w1" || e.Cuts[1].Node != "w3" {
		t.Fatalf("ledger entry %+v", e)
	}
	if _, err := f.Inject(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.Heal(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(*log); n != 8 {
		t.Errorf("pods: %v", *log)
	}
}

// TestAgentScriptInNetns runs the agent's and the heal pod's sh for real,
// in a network namespace of its own (unshare -n: the host's rules are never
// touched): the rules are in place during the cut, gone after its duration
// (the dead man's switch), gone at once on SIGTERM, and a kill -9 leaves
// them for the heal script, which removes them (twice is fine). It needs
// root, unshare and iptables, and is skipped without them.
func TestAgentScriptInNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (unshare -n, iptables)")
	}
	for _, bin := range []string{"unshare", "iptables", "ip6tables", "sh"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("needs %s", bin)
		}
	}
	set, undo, err := renderRules(fault.Both, []string{"10.0.0.10", "10.244.2.0/24", "fd00::2"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	agent, heal := filepath.Join(dir, "agent.sh"), filepath.Join(dir, "heal.sh")
	os.WriteFile(agent, []byte(agentScript(set, undo, 2*time.Second)), 0o644)
	os.WriteFile(heal, []byte(healScript(undo)), 0o644)
	// Each case in a namespace of its own, all at once; count gives the
	// chain's lines (IPv4, IPv6): 4 rules, 3 jumps and the chain itself.
	count := `count() { echo "$1 $(iptables -S | grep -c IRISCHAOS) $(ip6tables -S | grep -c IRISCHAOS)"; }
sh ` + agent + ` >/dev/null & P=$!; sleep 3.5; count during; `
	cases := map[string]struct{ script, want string }{
		"expires":    {"wait $P; count after", "during 8 6\nafter 0 0\n"},
		"terminated": {"kill -TERM $P; wait $P; count after", "during 8 6\nafter 0 0\n"},
		"killed":     {"kill -9 $P; wait $P 2>/dev/null; count killed; sh " + heal + " >/dev/null; sh " + heal + " >/dev/null; count healed", "during 8 6\nkilled 8 6\nhealed 0 0\n"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out, err := exec.Command("timeout", "30", "unshare", "-n", "sh", "-c", count+c.script).CombinedOutput()
			if err != nil {
				t.Skipf("unshare -n: %v: %s", err, out)
			}
			if string(out) != c.want {
				t.Errorf("got:\n%swant:\n%s", out, c.want)
			}
		})
	}
}
