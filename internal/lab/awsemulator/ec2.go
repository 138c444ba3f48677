package awsemulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Region is the emulated region; its zones are Zones.
const Region = "us-east-1"

// Zones are the availability zones nodes are spread over.
var Zones = []string{"us-east-1a", "us-east-1b", "us-east-1c"}

// Zone returns the i-th node's zone, round robin over Zones.
func Zone(i int) string { return Zones[((i%len(Zones))+len(Zones))%len(Zones)] }

// Credentials the emulator accepts (moto checks none); set them as
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for irischaos.
const (
	AccessKeyID     = "testing"
	SecretAccessKey = "testing"
)

// NodeSpec is one node to register as an instance.
type NodeSpec struct {
	Name string
	Zone string // one of Zones; empty means Zone(index)
}

// Instance is a node's emulated EC2 instance.
type Instance struct {
	ID         string `json:"id"`
	Zone       string `json:"zone"`
	ProviderID string `json:"providerID"` // aws:///<zone>/<id>, for the Node's spec.providerID
}

// Client returns an EC2 client for the emulator at endpoint.
func Client(endpoint string) *ec2.Client {
	return ec2.New(ec2.Options{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   &http.Client{Timeout: 30 * time.Second},
	})
}

var zoneRE = regexp.MustCompile(`^us-east-1[a-f]$`)

// NodeTag is the tag carrying the node name on each instance.
const NodeTag = "irischaos/node"

// Launch runs one instance per node (RunInstances in the node's zone, tagged
// with the node's name) and returns them by node name. A node that already
// has a live instance keeps it, so Launch can be repeated.
func Launch(ctx context.Context, endpoint string, nodes []NodeSpec) (map[string]Instance, error) {
	c := Client(endpoint)
	existing, err := instancesByNode(ctx, c)
	if err != nil {
		return nil, err
	}
	out := map[string]Instance{}
	for i, n := range nodes {
		if n.Name == "" {
			return nil, fmt.Errorf("emulator: node %d has no name", i)
		}
		zone := n.Zone
		if zone == "" {
			zone = Zone(i)
		}
		if !zoneRE.MatchString(zone) {
			return nil, fmt.Errorf("emulator: node %s: zone %q is not in region %s (use one of %s)", n.Name, zone, Region, strings.Join(Zones, ", "))
		}
		if in, ok := existing[n.Name]; ok {
			out[n.Name] = in
			continue
		}
		res, err := c.RunInstances(ctx, &ec2.RunInstancesInput{
			ImageId:      aws.String("ami-12c6146b"),
			InstanceType: types.InstanceTypeT3Medium,
			MinCount:     aws.Int32(1),
			MaxCount:     aws.Int32(1),
			Placement:    &types.Placement{AvailabilityZone: aws.String(zone)},
			TagSpecifications: []types.TagSpecification{{
				ResourceType: types.ResourceTypeInstance,
				Tags:         []types.Tag{{Key: aws.String("Name"), Value: aws.String(n.Name)}, {Key: aws.String(NodeTag), Value: aws.String(n.Name)}},
			}},
		})
		if err != nil {
			return nil, fmt.Errorf("emulator: RunInstances for node %s at %s: %w", n.Name, endpoint, err)
		}
		if len(res.Instances) != 1 {
			return nil, fmt.Errorf("emulator: RunInstances for node %s returned %d instances, want 1", n.Name, len(res.Instances))
		}
		id := aws.ToString(res.Instances[0].InstanceId)
		out[n.Name] = Instance{ID: id, Zone: zone, ProviderID: "aws:///" + zone + "/" + id}
	}
	return out, nil
}

// instancesByNode finds live (not terminated) instances carrying NodeTag.
func instancesByNode(ctx context.Context, c *ec2.Client) (map[string]Instance, error) {
	out := map[string]Instance{}
	p := ec2.NewDescribeInstancesPaginator(c, &ec2.DescribeInstancesInput{
		Filters: []types.Filter{{Name: aws.String("tag-key"), Values: []string{NodeTag}}},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("emulator: DescribeInstances: %w", err)
		}
		for _, r := range page.Reservations {
			for _, in := range r.Instances {
				if in.State == nil || in.State.Name == types.InstanceStateNameTerminated || in.State.Name == types.InstanceStateNameShuttingDown {
					continue
				}
				var node string
				for _, t := range in.Tags {
					if aws.ToString(t.Key) == NodeTag {
						node = aws.ToString(t.Value)
					}
				}
				zone := ""
				if in.Placement != nil {
					zone = aws.ToString(in.Placement.AvailabilityZone)
				}
				id := aws.ToString(in.InstanceId)
				out[node] = Instance{ID: id, Zone: zone, ProviderID: "aws:///" + zone + "/" + id}
			}
		}
	}
	return out, nil
}

// PowerFunc carries out a node power action: "poweroff", "poweron",
// "restart" or "delete" (the local cluster's node power actions).
type PowerFunc func(ctx context.Context, node, action string) error

// SyncInterval is how often Sync polls the emulator; RetryDelay is how long
// it waits before retrying a failed power action.
var (
	SyncInterval = 500 * time.Millisecond
	RetryDelay   = 5 * time.Second
)

// Sync makes instance state drive node power until ctx ends: it polls
// DescribeInstances (and the proxy's reboot list) every SyncInterval, and
// on a change calls power: stopping/stopped after running => "poweroff",
// pending/running after stopped => "poweron", a RebootInstances call =>
// "restart", shutting-down/terminated => "delete" (then the node is no
// longer followed). Nodes start out as running. Each node's actions run in
// order, nodes independently; a failed action is logged and retried after RetryDelay.
// Sync returns nil when ctx ends, after in-flight actions finished.
func Sync(ctx context.Context, endpoint string, instances map[string]Instance, power PowerFunc, log io.Writer) error {
	if power == nil {
		return errors.New("emulator: Sync needs a power function")
	}
	if log == nil {
		log = io.Discard
	}
	c := Client(endpoint)
	s := &syncer{c: c, endpoint: endpoint, power: power, log: log, nodes: map[string]*nodeState{}, byID: map[string]string{}}
	var ids []string
	for node, in := range instances {
		s.nodes[node] = &nodeState{prev: types.InstanceStateNameRunning}
		s.byID[in.ID] = node
		ids = append(ids, in.ID)
	}
	sort.Strings(ids)
	s.ids = ids
	defer s.wg.Wait()
	t := time.NewTicker(SyncInterval)
	defer t.Stop()
	for {
		s.tick(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

type nodeState struct {
	prev    types.InstanceStateName
	busy    bool
	retryAt time.Time
	pending []string // restarts requested while busy
	gone    bool
}

type syncer struct {
	c        *ec2.Client
	endpoint string
	power    PowerFunc
	log      io.Writer
	ids      []string
	byID     map[string]string

	mu          sync.Mutex
	nodes       map[string]*nodeState
	wg          sync.WaitGroup
	rebootSeq   int
	noReboots   bool
	lastErr     string
	rebootsHTTP http.Client
}

func (s *syncer) tick(ctx context.Context) {
	states, err := s.describe(ctx)
	if err != nil {
		if ctx.Err() == nil && err.Error() != s.lastErr {
			fmt.Fprintf(s.log, "aws-emulator sync: %v\n", err)
			s.lastErr = err.Error()
		}
		return
	}
	s.lastErr = ""
	reboots := s.reboots(ctx)

	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range reboots {
		if node, ok := s.byID[id]; ok && !s.nodes[node].gone {
			s.nodes[node].pending = append(s.nodes[node].pending, "restart")
		}
	}
	for id, st := range states {
		node, ok := s.byID[id]
		if !ok {
			continue
		}
		ns := s.nodes[node]
		if ns.gone || ns.busy || time.Now().Before(ns.retryAt) {
			continue
		}
		action := transition(ns.prev, st)
		if action == "" && len(ns.pending) > 0 && st == types.InstanceStateNameRunning {
			action = ns.pending[0]
		}
		if action == "" {
			ns.prev = st
			continue
		}
		ns.busy = true
		s.wg.Add(1)
		go s.run(ctx, node, ns, action, st)
	}
}

// transition is the node power action for an instance state change.
func transition(prev, cur types.InstanceStateName) string {
	up := func(s types.InstanceStateName) bool {
		return s == types.InstanceStateNamePending || s == types.InstanceStateNameRunning
	}
	down := func(s types.InstanceStateName) bool {
		return s == types.InstanceStateNameStopping || s == types.InstanceStateNameStopped
	}
	gone := func(s types.InstanceStateName) bool {
		return s == types.InstanceStateNameShuttingDown || s == types.InstanceStateNameTerminated
	}
	switch {
	case gone(cur) && !gone(prev):
		return "delete"
	case down(cur) && up(prev):
		return "poweroff"
	case up(cur) && down(prev):
		return "poweron"
	}
	return ""
}

func (s *syncer) run(ctx context.Context, node string, ns *nodeState, action string, st types.InstanceStateName) {
	defer s.wg.Done()
	start := time.Now()
	fmt.Fprintf(s.log, "aws-emulator sync: node %s: instance %s => %s\n", node, st, action)
	err := s.power(ctx, node, action)
	s.mu.Lock()
	defer s.mu.Unlock()
	ns.busy = false
	if err != nil {
		if ctx.Err() == nil {
			fmt.Fprintf(s.log, "aws-emulator sync: node %s: %s failed after %s: %v (retrying in %s)\n", node, action, time.Since(start).Round(time.Millisecond), err, RetryDelay)
		}
		ns.retryAt = time.Now().Add(RetryDelay)
		return
	}
	fmt.Fprintf(s.log, "aws-emulator sync: node %s: %s done in %s\n", node, action, time.Since(start).Round(time.Millisecond))
	if action == "restart" {
		ns.pending = ns.pending[1:]
		return
	}
	ns.prev = st
	if action == "delete" {
		ns.gone = true
	}
	// A stop or delete makes earlier reboot requests moot.
	if action != "poweron" {
		ns.pending = nil
	}
}

func (s *syncer) describe(ctx context.Context) (map[string]types.InstanceStateName, error) {
	out := map[string]types.InstanceStateName{}
	if len(s.ids) == 0 {
		return out, nil
	}
	res, err := s.c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: s.ids})
	if err != nil {
		return nil, fmt.Errorf("DescribeInstances at %s: %w", s.endpoint, err)
	}
	for _, r := range res.Reservations {
		for _, in := range r.Instances {
			if in.State != nil {
				out[aws.ToString(in.InstanceId)] = in.State.Name
			}
		}
	}
	return out, nil
}

// reboots fetches the instance ids rebooted since the last call from the
// Server's proxy; against a bare moto_server reboots cannot be seen.
func (s *syncer) reboots(ctx context.Context) []string {
	if s.noReboots {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s%s?after=%d", strings.TrimRight(s.endpoint, "/"), RebootsPath, s.rebootSeq), nil)
	if err != nil {
		return nil
	}
	s.rebootsHTTP.Timeout = 5 * time.Second
	resp, err := s.rebootsHTTP.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var rs []Reboot
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&rs) != nil {
		s.noReboots = true
		fmt.Fprintf(s.log, "aws-emulator sync: %s does not list reboots (not an emulator.Server?): RebootInstances will not restart nodes\n", s.endpoint)
		return nil
	}
	var ids []string
	for _, r := range rs {
		if r.Seq > s.rebootSeq {
			s.rebootSeq = r.Seq
		}
		ids = append(ids, r.Instance)
	}
	return ids
}
