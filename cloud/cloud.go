// Package cloud is the seam between irischaos and whatever powers a node's VM:
// Azure, AWS, or the local cluster's node power API. One provider interface,
// chosen by the scheme of the Node's spec.providerID.
package cloud

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// VM identifies one machine as its provider knows it.
type VM struct {
	ProviderID string            // the Node's spec.providerID, verbatim
	Provider   string            // "azure", "aws", "local"
	ID         string            // provider-specific instance id (instance id, VMSS instance, node name)
	Zone       string            // availability zone when the providerID carries one
	Fields     map[string]string // parsed parts (subscription, resourceGroup, scaleSet, instance, region, ...)
}

func (v VM) String() string { return v.ProviderID }

// State is a VM's power state, normalised across providers.
type State string

const (
	Running    State = "running"
	Stopped    State = "stopped" // powered off (Azure: stopped or deallocated)
	Starting   State = "starting"
	Stopping   State = "stopping"
	Terminated State = "terminated" // deleted
	Unknown    State = "unknown"
)

// Action is one power operation.
type Action string

const (
	PowerOff   Action = "poweroff"   // hard stop, no guest shutdown
	PowerOn    Action = "poweron"    // start a stopped VM
	Restart    Action = "restart"    // reboot
	Delete     Action = "delete"     // delete / terminate the VM
	Deallocate Action = "deallocate" // Azure only: stop and release the compute
)

// Actions lists every action in the order a user reads them.
var Actions = []Action{PowerOff, PowerOn, Restart, Delete, Deallocate}

// ParseAction validates a user-supplied action name.
func ParseAction(s string) (Action, error) {
	for _, a := range Actions {
		if string(a) == strings.ToLower(strings.TrimSpace(s)) {
			return a, nil
		}
	}
	return "", fmt.Errorf("unknown VM action %q (valid: poweroff, poweron, restart, delete, deallocate)", s)
}

// Target is the state a VM is in once the action has taken effect.
func (a Action) Target() State {
	switch a {
	case PowerOff, Deallocate:
		return Stopped
	case PowerOn, Restart:
		return Running
	case Delete:
		return Terminated
	}
	return Unknown
}

// Errors providers wrap so callers can tell causes apart with errors.Is. The
// wrapping message always says what to fix.
var (
	ErrNotFound    = errors.New("VM not found")
	ErrAuth        = errors.New("not authenticated or not authorized")
	ErrConflict    = errors.New("VM is busy or in a state that does not allow the action")
	ErrThrottled   = errors.New("throttled by the cloud API")
	ErrUnsupported = errors.New("action not supported by this provider")
	ErrTimeout     = errors.New("timed out waiting for the VM")
)

// Call is the record of one API call, kept for the report.
type Call struct {
	Provider string
	Action   string // the API operation, e.g. "ec2:StopInstances"
	Target   string // providerID
	Request  string // the exact request as a human reads it
	Response string // what the API answered, briefly (e.g. "CurrentState=stopping"); may be empty
	Start    time.Time
	Duration time.Duration
	Err      error
}

// Result is "ok" or the error text, as the report shows it.
func (c Call) Result() string {
	if c.Err != nil {
		return c.Err.Error()
	}
	return "ok"
}

// Recorder receives every call a provider makes. It may be nil.
type Recorder func(Call)

// Record calls r with c when r is not nil.
func (r Recorder) Record(c Call) {
	if r != nil {
		r(c)
	}
}

// Provider powers VMs. Implementations: cloud/azure, cloud/aws, cloud/local.
type Provider interface {
	// Name is the providerID scheme this provider serves ("azure", "aws", "local").
	Name() string
	// Parse resolves a providerID to a VM without calling any API.
	Parse(providerID string) (VM, error)
	// Describe returns the exact API call Do would make, for --dry-run.
	Describe(vm VM, a Action) string
	// Do performs the action and waits until it has taken effect (a.Target()),
	// or its timeout or ctx ends.
	Do(ctx context.Context, vm VM, a Action) error
	// State reads the VM's current power state. A VM the provider no longer
	// knows at all gives an error wrapping ErrNotFound.
	State(ctx context.Context, vm VM) (State, error)
}

// Partitioner is a Provider that can also cut a VM off the network while
// it keeps running, and reconnect it (the local cluster's node link).
// Providers of real clouds are not: there a partition is made on the node
// by an agent pod (pkg/nemesis).
type Partitioner interface {
	// Partition cuts the VM's network, both ways, every peer; it returns
	// once in effect.
	Partition(ctx context.Context, vm VM) error
	// Reconnect undoes Partition; nothing to undo is not an error.
	Reconnect(ctx context.Context, vm VM) error
	// DescribePartition is the exact call Partition (or Reconnect) makes.
	DescribePartition(vm VM, reconnect bool) string
}

// Scheme returns the scheme of a providerID ("aws" for "aws:///us-east-1a/i-1").
func Scheme(providerID string) (string, error) {
	i := strings.Index(providerID, "://")
	if i <= 0 {
		return "", fmt.Errorf("providerID %q has no scheme (expected e.g. aws:///zone/i-123 or azure:///subscriptions/...)", providerID)
	}
	return strings.ToLower(providerID[:i]), nil
}

// NodeProviderID returns node's spec.providerID, or an error saying why a VM
// fault cannot target it.
func NodeProviderID(node *corev1.Node) (string, error) {
	if node == nil {
		return "", errors.New("no node given")
	}
	if node.Spec.ProviderID == "" {
		return "", fmt.Errorf("node %s has no spec.providerID: its VM cannot be found through a cloud API (clusters without a cloud provider, e.g. kind, cannot run VM faults; the local cluster sets local:// or, with --cloud aws-emulator, aws:// IDs)", node.Name)
	}
	return node.Spec.ProviderID, nil
}

// Registry picks a provider by providerID scheme.
type Registry struct {
	mu        sync.Mutex
	providers map[string]Provider
	factories map[string]func() (Provider, error)
}

// Register adds a provider constructed lazily on first use, so absent
// credentials of one cloud never break another.
func (r *Registry) Register(scheme string, f func() (Provider, error)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.factories == nil {
		r.factories = map[string]func() (Provider, error){}
		r.providers = map[string]Provider{}
	}
	r.factories[strings.ToLower(scheme)] = f
	delete(r.providers, strings.ToLower(scheme))
}

// For returns the provider serving providerID and the parsed VM.
func (r *Registry) For(providerID string) (Provider, VM, error) {
	scheme, err := Scheme(providerID)
	if err != nil {
		return nil, VM{}, err
	}
	r.mu.Lock()
	p, ok := r.providers[scheme]
	f, known := r.factories[scheme]
	r.mu.Unlock()
	if !ok {
		if !known {
			return nil, VM{}, fmt.Errorf("providerID %q: no cloud provider for scheme %q (supported: %s)", providerID, scheme, r.schemes())
		}
		p, err = f()
		if err != nil {
			return nil, VM{}, fmt.Errorf("cloud provider %q: %w", scheme, err)
		}
		r.mu.Lock()
		r.providers[scheme] = p
		r.mu.Unlock()
	}
	vm, err := p.Parse(providerID)
	if err != nil {
		return nil, VM{}, err
	}
	return p, vm, nil
}

// ForNode returns the provider and VM behind a Node, through its spec.providerID.
func (r *Registry) ForNode(node *corev1.Node) (Provider, VM, error) {
	id, err := NodeProviderID(node)
	if err != nil {
		return nil, VM{}, err
	}
	p, vm, err := r.For(id)
	if err != nil {
		return nil, VM{}, fmt.Errorf("node %s: %w", node.Name, err)
	}
	return p, vm, nil
}

// Schemes lists the registered schemes, sorted.
func (r *Registry) Schemes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := make([]string, 0, len(r.factories))
	for k := range r.factories {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

func (r *Registry) schemes() string {
	s := r.Schemes()
	if len(s) == 0 {
		return "none registered"
	}
	return strings.Join(s, ", ")
}
