// Package local powers the nodes of the embedded local cluster through its
// node power API (internal/lab/nodepower), as a cloud provider for local:// providerIDs.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/internal/lab/nodepower"
)

// Scheme is the providerID scheme of local cluster nodes: local://<cluster>/<node>.
const Scheme = "local"

// FieldCluster is the VM field holding the local cluster's name.
const FieldCluster = "cluster"

// Options configure the provider.
type Options struct {
	// Discover finds a cluster's power API; nil means nodepower.Discover.
	Discover func(cluster string) (*nodepower.Client, error)
	// Recorder receives every API call. May be nil.
	Recorder cloud.Recorder
	// Progress receives lines while waiting. May be nil.
	Progress io.Writer
	// Timeout bounds one action; default 5 minutes.
	Timeout time.Duration
	// ProgressEvery is how often a waiting line is written; default 5s.
	ProgressEvery time.Duration
}

// Provider is the local cluster's node power provider.
type Provider struct {
	o       Options
	mu      sync.Mutex
	clients map[string]*nodepower.Client
}

// New returns a local provider; it contacts no cluster until used.
func New(o Options) *Provider {
	if o.Discover == nil {
		o.Discover = nodepower.Discover
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 5 * time.Second
	}
	return &Provider{o: o, clients: map[string]*nodepower.Client{}}
}

// Name implements cloud.Provider.
func (p *Provider) Name() string { return Scheme }

// ProviderID is the providerID of a local cluster's node.
func ProviderID(cluster, node string) string { return Scheme + "://" + cluster + "/" + node }

// Parse implements cloud.Provider for local://<cluster>/<node>.
func (p *Provider) Parse(providerID string) (cloud.VM, error) {
	scheme, rest, ok := strings.Cut(providerID, "://")
	if !ok || !strings.EqualFold(scheme, Scheme) {
		return cloud.VM{}, fmt.Errorf("local providerID %q: not a local:// ID (expected local://<cluster>/<node>)", providerID)
	}
	cluster, node, ok := strings.Cut(rest, "/")
	if !ok || cluster == "" || node == "" || strings.Contains(node, "/") {
		return cloud.VM{}, fmt.Errorf("local providerID %q: expected local://<cluster>/<node>", providerID)
	}
	return cloud.VM{ProviderID: providerID, Provider: Scheme, ID: node, Fields: map[string]string{FieldCluster: cluster}}, nil
}

func powerAction(a cloud.Action) (nodepower.Action, error) {
	switch a {
	case cloud.PowerOff:
		return nodepower.PowerOff, nil
	case cloud.PowerOn:
		return nodepower.PowerOn, nil
	case cloud.Restart:
		return nodepower.Restart, nil
	case cloud.Delete:
		return nodepower.Delete, nil
	}
	return "", fmt.Errorf("%w: the local cluster has no action %q (valid: poweroff, poweron, restart, delete)", cloud.ErrUnsupported, a)
}

// Describe implements cloud.Provider.
func (p *Provider) Describe(vm cloud.VM, a cloud.Action) string {
	pa, err := powerAction(a)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("POST /v1/nodes/%s/%s (node power API of local cluster %q)", url.PathEscape(vm.ID), pa, vm.Fields[FieldCluster])
}

func (p *Provider) client(cluster string) (*nodepower.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[cluster]; ok {
		return c, nil
	}
	c, err := p.o.Discover(cluster)
	if err != nil {
		return nil, err
	}
	p.clients[cluster] = c
	return c, nil
}

// Do implements cloud.Provider. The power API returns once the action took
// effect; the state is read back to confirm it.
func (p *Provider) Do(ctx context.Context, vm cloud.VM, a cloud.Action) error {
	pa, err := powerAction(a)
	if err != nil {
		return err
	}
	c, err := p.client(vm.Fields[FieldCluster])
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
	defer cancel()
	start := time.Now()
	stop := cloud.Ticker(p.o.Progress, p.o.ProgressEvery, fmt.Sprintf("local node %s to %s", vm.ID, pa))
	err = c.Do(ctx, vm.ID, pa)
	stop()
	err = explain(vm, string(pa), err)
	resp := "done"
	if err != nil {
		resp = ""
	}
	p.o.Recorder.Record(cloud.Call{
		Provider: Scheme, Action: "nodepower:" + string(pa), Target: vm.ProviderID, Request: p.Describe(vm, a),
		Response: resp, Start: start, Duration: time.Since(start), Err: err,
	})
	if err != nil {
		return err
	}
	st, err := p.State(ctx, vm)
	if err != nil {
		return err
	}
	if st != a.Target() {
		return fmt.Errorf("local node %s: %s reported done but the node is %s, not %s", vm.ID, pa, st, a.Target())
	}
	return nil
}

// Partition implements cloud.Partitioner: the node's link goes down, its
// processes keep running.
func (p *Provider) Partition(ctx context.Context, vm cloud.VM) error {
	return p.link(ctx, vm, nodepower.Partition)
}

// Reconnect implements cloud.Partitioner: the node's link up again.
func (p *Provider) Reconnect(ctx context.Context, vm cloud.VM) error {
	return p.link(ctx, vm, nodepower.Heal)
}

// DescribePartition implements cloud.Partitioner.
func (p *Provider) DescribePartition(vm cloud.VM, reconnect bool) string {
	a := nodepower.Partition
	if reconnect {
		a = nodepower.Heal
	}
	return fmt.Sprintf("POST /v1/nodes/%s/%s (node power API of local cluster %q: the node's link %s, its processes running)", url.PathEscape(vm.ID), a, vm.Fields[FieldCluster], map[bool]string{false: "down", true: "up"}[reconnect])
}

// link partitions or heals the node and reads back that it is so.
func (p *Provider) link(ctx context.Context, vm cloud.VM, a nodepower.Action) error {
	c, err := p.client(vm.Fields[FieldCluster])
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
	defer cancel()
	start := time.Now()
	err = explain(vm, string(a), c.Do(ctx, vm.ID, a))
	resp := "done"
	if err != nil {
		resp = ""
	}
	p.o.Recorder.Record(cloud.Call{
		Provider: Scheme, Action: "nodepower:" + string(a), Target: vm.ProviderID, Request: p.DescribePartition(vm, a == nodepower.Heal),
		Response: resp, Start: start, Duration: time.Since(start), Err: err,
	})
	if err != nil {
		return err
	}
	n, err := c.Node(ctx, vm.ID)
	if err != nil {
		return explain(vm, "state", err)
	}
	if want := a == nodepower.Partition; n.Partitioned != want {
		return fmt.Errorf("local node %s: %s reported done but the node reads partitioned=%t", vm.ID, a, n.Partitioned)
	}
	return nil
}

// State implements cloud.Provider.
func (p *Provider) State(ctx context.Context, vm cloud.VM) (cloud.State, error) {
	c, err := p.client(vm.Fields[FieldCluster])
	if err != nil {
		return cloud.Unknown, err
	}
	start := time.Now()
	n, err := c.Node(ctx, vm.ID)
	err = explain(vm, "state", err)
	st := MapState(n.State)
	p.o.Recorder.Record(cloud.Call{
		Provider: Scheme, Action: "nodepower:get", Target: vm.ProviderID,
		Request:  fmt.Sprintf("GET /v1/nodes/%s (node power API of local cluster %q)", url.PathEscape(vm.ID), vm.Fields[FieldCluster]),
		Response: "state=" + string(n.State), Start: start, Duration: time.Since(start), Err: err,
	})
	if err != nil {
		return cloud.Unknown, err
	}
	return st, nil
}

// MapState normalises a node power state.
func MapState(s nodepower.State) cloud.State {
	switch s {
	case nodepower.On:
		return cloud.Running
	case nodepower.Off:
		return cloud.Stopped
	case nodepower.Deleted:
		return cloud.Terminated
	}
	return cloud.Unknown
}

func explain(vm cloud.VM, op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, nodepower.ErrNotFound):
		return fmt.Errorf("%w: %w: local cluster %q has no node %q (list them with `irischaos cluster status`)", cloud.ErrNotFound, err, vm.Fields[FieldCluster], vm.ID)
	case errors.Is(err, nodepower.ErrConflict):
		return fmt.Errorf("%w: %w", cloud.ErrConflict, err)
	}
	return fmt.Errorf("local node %s: %s: %w", vm.ID, op, err)
}
