// Package cloud is the seam between irischaos and whatever powers a node's VM:
// Azure, AWS, or the local cluster's node power API. One provider interface,
// chosen by the scheme of the Node's spec.providerID.
package cloud

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
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
	PowerOff Action = "poweroff" // hard stop, no guest shutdown
	PowerOn  Action = "poweron"
	Restart  Action = "restart"
	Delete   Action = "delete"
)

// Call is the record of one API call, kept for the report.
type Call struct {
	Provider string
	Action   string // the API operation, e.g. "ec2:StopInstances"
	Target   string // providerID
	Request  string // the exact request as a human reads it
	Start    time.Time
	Duration time.Duration
	Err      error
}

// Recorder receives every call a provider makes. It may be nil.
type Recorder func(Call)

// Provider powers VMs. Implementations: cloud/azure, cloud/aws, cloud/local.
type Provider interface {
	// Name is the providerID scheme this provider serves ("azure", "aws", "local").
	Name() string
	// Parse resolves a providerID to a VM without calling any API.
	Parse(providerID string) (VM, error)
	// Describe returns the exact API call Do would make, for --dry-run.
	Describe(vm VM, a Action) string
	// Do performs the action and waits until it has taken effect (or ctx ends).
	Do(ctx context.Context, vm VM, a Action) error
	// State reads the VM's current power state.
	State(ctx context.Context, vm VM) (State, error)
}

// Scheme returns the scheme of a providerID ("aws" for "aws:///us-east-1a/i-1").
func Scheme(providerID string) (string, error) {
	i := strings.Index(providerID, "://")
	if i <= 0 {
		return "", fmt.Errorf("providerID %q has no scheme (expected e.g. aws:///zone/i-123 or azure:///subscriptions/...)", providerID)
	}
	return strings.ToLower(providerID[:i]), nil
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

func (r *Registry) schemes() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s []string
	for k := range r.factories {
		s = append(s, k)
	}
	if len(s) == 0 {
		return "none registered"
	}
	sortStrings(s)
	return strings.Join(s, ", ")
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
