package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/internal/lab/nodepower"
)

// nodes is an in-memory nodepower.Controller: the power API's real HTTP
// handler and client run on top of it.
type nodes struct {
	mu    sync.Mutex
	state map[string]nodepower.State
	part  map[string]bool
	seen  []string
}

func (n *nodes) Nodes() []nodepower.Node {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []nodepower.Node
	for name, st := range n.state {
		out = append(out, nodepower.Node{Name: name, State: st, Partitioned: n.part[name], ProviderID: ProviderID("c1", name)})
	}
	return out
}

func (n *nodes) Do(ctx context.Context, node string, a nodepower.Action) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.seen = append(n.seen, string(a)+" "+node)
	st, ok := n.state[node]
	if !ok {
		return fmt.Errorf("node %s: %w", node, nodepower.ErrNotFound)
	}
	if st == nodepower.Deleted {
		return fmt.Errorf("node %s is deleted: %w", node, nodepower.ErrConflict)
	}
	switch a {
	case nodepower.PowerOff:
		n.state[node] = nodepower.Off
	case nodepower.PowerOn, nodepower.Restart:
		n.state[node] = nodepower.On
	case nodepower.Delete:
		n.state[node] = nodepower.Deleted
	case nodepower.Partition, nodepower.Heal:
		if n.part == nil {
			n.part = map[string]bool{}
		}
		n.part[node] = a == nodepower.Partition
	}
	return nil
}

func setup(t *testing.T) (*Provider, *nodes, *cloud.CallLog, *bytes.Buffer) {
	t.Helper()
	ctrl := &nodes{state: map[string]nodepower.State{"n1": nodepower.On, "n2": nodepower.On}}
	srv := httptest.NewServer(nodepower.Handler(ctrl, "tok", nil))
	t.Cleanup(srv.Close)
	log := &cloud.CallLog{}
	progress := &bytes.Buffer{}
	p := New(Options{
		Discover: func(cluster string) (*nodepower.Client, error) {
			if cluster != "c1" {
				return nil, fmt.Errorf("local cluster %q is not running", cluster)
			}
			return nodepower.NewClient(cluster, srv.URL, "tok"), nil
		},
		Recorder: log.Recorder(),
		Progress: progress,
	})
	return p, ctrl, log, progress
}

func TestActions(t *testing.T) {
	p, ctrl, log, _ := setup(t)
	vm, err := p.Parse("local://c1/n1")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, a := range []cloud.Action{cloud.PowerOff, cloud.PowerOn, cloud.Restart, cloud.Delete} {
		before := len(log.Calls())
		if err := p.Do(ctx, vm, a); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		st, err := p.State(ctx, vm)
		if err != nil || st != a.Target() {
			t.Errorf("after %s: %s, %v; want %s", a, st, err, a.Target())
		}
		c := log.Calls()[before]
		if c.Action != "nodepower:"+string(a) || c.Request != p.Describe(vm, a) || c.Err != nil || c.Target != "local://c1/n1" {
			t.Errorf("%s recorded %+v", a, c)
		}
	}
	if got := strings.Join(ctrl.seen, ","); got != "poweroff n1,poweron n1,restart n1,delete n1" {
		t.Errorf("power API saw %s", got)
	}
	if err := p.Do(ctx, vm, cloud.PowerOn); !errors.Is(err, cloud.ErrConflict) {
		t.Errorf("power on of a deleted node: %v; want ErrConflict", err)
	}
}

func TestErrors(t *testing.T) {
	p, _, _, _ := setup(t)
	ctx := context.Background()
	ghost, _ := p.Parse("local://c1/ghost")
	if err := p.Do(ctx, ghost, cloud.PowerOff); !errors.Is(err, cloud.ErrNotFound) || !strings.Contains(err.Error(), `has no node "ghost"`) {
		t.Errorf("unknown node: %v", err)
	}
	if _, err := p.State(ctx, ghost); !errors.Is(err, cloud.ErrNotFound) {
		t.Errorf("State of unknown node: %v", err)
	}
	other, _ := p.Parse("local://c9/n1")
	if err := p.Do(ctx, other, cloud.PowerOff); err == nil || !strings.Contains(err.Error(), `"c9" is not running`) {
		t.Errorf("unknown cluster: %v", err)
	}
	n1, _ := p.Parse("local://c1/n1")
	if err := p.Do(ctx, n1, cloud.Deallocate); !errors.Is(err, cloud.ErrUnsupported) {
		t.Errorf("deallocate: %v", err)
	}
}

func TestParse(t *testing.T) {
	p := New(Options{})
	vm, err := p.Parse("local://iris/node-2")
	if err != nil || vm.ID != "node-2" || vm.Fields[FieldCluster] != "iris" || vm.Provider != Scheme {
		t.Errorf("Parse = %+v, %v", vm, err)
	}
	for _, bad := range []string{"local://iris", "local:///node", "local://iris/", "local://a/b/c", "aws:///x/i-1"} {
		if _, err := p.Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	if got := p.Describe(vm, cloud.PowerOff); got != `POST /v1/nodes/node-2/poweroff (node power API of local cluster "iris")` {
		t.Errorf("Describe = %s", got)
	}
}

func TestPartition(t *testing.T) {
	p, ctrl, log, _ := setup(t)
	vm, _ := p.Parse("local://c1/n2")
	var _ cloud.Partitioner = p
	ctx := context.Background()
	if err := p.Partition(ctx, vm); err != nil {
		t.Fatal(err)
	}
	if err := p.Reconnect(ctx, vm); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ctrl.seen, ","); got != "partition n2,heal n2" {
		t.Errorf("power API saw %s", got)
	}
	calls := log.Calls()
	if len(calls) != 2 || calls[0].Action != "nodepower:partition" || calls[1].Action != "nodepower:heal" || calls[0].Request != p.DescribePartition(vm, false) {
		t.Errorf("calls %+v", calls)
	}
	if got := p.DescribePartition(vm, false); got != `POST /v1/nodes/n2/partition (node power API of local cluster "c1": the node's link down, its processes running)` {
		t.Errorf("DescribePartition = %s", got)
	}
	if st, err := p.State(ctx, vm); err != nil || st != cloud.Running {
		t.Errorf("a partitioned node keeps running: %s, %v", st, err)
	}
}
