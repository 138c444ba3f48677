// Package scenario is the scenario YAML schema: what fault to inject, at
// which failure domain, against which budgets, how many times and how long
// to watch. Files are decoded strictly: an unknown field, a bad duration or
// an invalid value is an error naming the file and line. docs/scenarios.md
// documents every field.
package scenario

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/mitigation"
)

// FaultType is what the nemesis does: a name from the fault vocabulary.
type FaultType = fault.Name

// Domains lists the failure domains in the seed's order (the vocabulary's).
var Domains = fault.Domains

// MitigatedBy is the seed's "mitigated automatically by" column, the default
// of a scenario's mitigatedBy.
var MitigatedBy = map[string]string{
	fault.DomainIRIS:          "Deployment liveness probe restarts the container when IRIS is down",
	fault.DomainPod:           "Deployment recreates the pod",
	fault.DomainNodeTemporary: "Deployment recreates the pod on another node; replicated storage makes the data available there",
	fault.DomainNodeLost:      "As above, plus the cluster autoscaler replaces the node and replicated storage rebuilds its data",
	fault.DomainPartition:     "Deployment recreates the pod on another node once the node is NotReady and evicted; the storage's fencing keeps the cut-off pod from writing",
	fault.DomainZone:          "Deployment recreates the pod in another zone; replicated storage with a copy in another zone makes the data available there",
}

// Defaults of optional fields.
const (
	DefaultRPO           = 2 * time.Second // the IRIS journal write cycle
	DefaultIterations    = 1
	DefaultWarmup        = 10 * time.Second
	DefaultMaxRecovery   = 5 * time.Minute
	DefaultAfterRecovery = 10 * time.Second
	DefaultInterval      = 100 * time.Millisecond
	DefaultStreams       = 1
	MaxIterations        = 1000
	MaxStreams           = 64
)

// Scenario is one file of scenarios/, with defaults applied.
type Scenario struct {
	// File is where it was loaded from (not part of the YAML).
	File string `yaml:"-" json:"file,omitempty"`
	// Name identifies the scenario in reports and run directories; defaults
	// to the file name without extension. Lower case, digits and dashes.
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description" json:"description,omitempty"`
	// FailureDomain is one of Domains; defaults from the fault type.
	FailureDomain string `yaml:"failureDomain" json:"failure_domain"`
	// MitigatedBy says what should recover it; defaults to the seed's wording.
	MitigatedBy string      `yaml:"mitigatedBy" json:"mitigated_by"`
	Fault       Fault       `yaml:"fault" json:"fault"`
	Targets     Targets     `yaml:"targets" json:"targets"`
	Budgets     Budgets     `yaml:"budgets" json:"budgets"`
	Iterations  int         `yaml:"iterations" json:"iterations"`
	Warmup      *Duration   `yaml:"warmup" json:"warmup"`
	Observation Observation `yaml:"observation" json:"observation"`
	Workload    Workload    `yaml:"workload" json:"workload"`

	// Mitigations: run the scenario once per entry, each with its change
	// applied (the failover advisor); Load expands them into one scenario
	// each, named <name> for none and <name>-<mitigation> otherwise.
	Mitigations []MitigationRun `yaml:"mitigations" json:"-"`
	// Mitigation is the change this scenario runs with (set by the
	// expansion of mitigations:; empty = none).
	Mitigation mitigation.Name `yaml:"-" json:"mitigation,omitempty"`
	// Expect: the outcome this scenario is known to have, when it is not a
	// pass (e.g. node loss with nothing mitigating it on attach-required
	// storage). The run shows it as expected, not as a red run; a pass
	// where a failure was expected fails the run, so a stale expectation
	// cannot hide.
	Expect *Expect `yaml:"expect" json:"expect,omitempty"`
}

// MitigationRun is one entry of mitigations:.
type MitigationRun struct {
	Name   mitigation.Name `yaml:"name" json:"name"`
	Expect *Expect         `yaml:"expect" json:"expect,omitempty"`
}

// Expect is a known outcome other than pass.
type Expect struct {
	// Verdict: only "fail" (a pass needs no expectation; unknown is never expected).
	Verdict string `yaml:"verdict" json:"verdict"`
	// Why: the finding, for the report.
	Why string `yaml:"why" json:"why"`
}

// ExpectFail is the one verdict an expectation may name.
const ExpectFail = "fail"

// MitigationName is the mitigation this scenario runs with (none when unset).
func (s Scenario) MitigationName() mitigation.Name {
	if s.Mitigation == "" {
		return mitigation.None
	}
	return s.Mitigation
}

// Expand returns the scenario once per entry of mitigations: (itself when
// it has none).
func (s Scenario) Expand() []Scenario {
	if len(s.Mitigations) == 0 {
		return []Scenario{s}
	}
	var out []Scenario
	for _, m := range s.Mitigations {
		v := s
		v.Mitigations = nil
		v.Mitigation = m.Name
		v.Expect = m.Expect
		if m.Name != mitigation.None {
			v.Name = s.Name + "-" + string(m.Name)
			v.MitigatedBy = s.MitigatedBy + "; mitigation: " + m.Name.Info().Summary
		}
		out = append(out, v)
	}
	return out
}

// Fault says what to inject and how.
type Fault struct {
	Type FaultType `yaml:"type" json:"type"`
	// GracePeriod (pod-delete): the deletion grace period; absent means the
	// pod's own terminationGracePeriodSeconds, 0 deletes at once.
	GracePeriod *Duration `yaml:"gracePeriod" json:"grace_period,omitempty"`
	// DrainTimeout (node-drain): how long the drain may take.
	DrainTimeout *Duration `yaml:"drainTimeout" json:"drain_timeout,omitempty"`
	// PowerOn (vm-poweroff): power the VM back on when healing (default true).
	PowerOn *bool `yaml:"powerOn" json:"power_on,omitempty"`

	// Method (zone-outage): poweroff (default) or partition.
	Method fault.ZoneMethod `yaml:"method" json:"method,omitempty"`
	// The partition (node-partition, zone-outage by partition): which way
	// (both, incoming, outgoing), from which peers (control-plane, nodes,
	// storage: default control-plane and nodes), the storage's addresses,
	// how long at most (the agent's dead man's switch; default 10m) and
	// how it is made (via: auto, agent, provider).
	Direction fault.Direction `yaml:"direction" json:"direction,omitempty"`
	Peers     []fault.Peer    `yaml:"peers" json:"peers,omitempty"`
	Storage   []string        `yaml:"storage" json:"storage,omitempty"`
	Duration  *Duration       `yaml:"duration" json:"duration,omitempty"`
	Via       string          `yaml:"via" json:"via,omitempty"`
}

// Partition is the fault's partition options.
func (f Fault) Partition() fault.Partition {
	return fault.Partition{Direction: f.Direction, Peers: f.Peers, Storage: f.Storage, Duration: f.Duration.Or(0)}
}

// Info is the vocabulary's entry as done by this fault's method (its
// safety class: a zone outage by partition needs the node opt-in).
func (f Fault) Info() fault.Info { return f.Type.Info().Via(f.Method) }

// partitions says whether the fault cuts nodes off (so the partition
// options apply).
func (f Fault) partitions() bool {
	return f.Type == fault.NodePartition || f.Type == fault.ZoneOutage && f.Method == fault.ZonePartition
}

// Targets narrows what the fault hits. By default everything is found from
// the stack: the IRIS pod, its node, that node's VM.
type Targets struct {
	// Node (node-drain, vm-*, node-partition): act on this node instead of the IRIS pod's.
	Node string `yaml:"node" json:"node,omitempty"`
	// Zone (zone-outage): take this zone off instead of the IRIS pod's.
	Zone string `yaml:"zone" json:"zone,omitempty"`
}

// Budgets the scenario must meet.
type Budgets struct {
	RTO *Duration `yaml:"rto" json:"rto"` // required
	RPO *Duration `yaml:"rpo" json:"rpo"` // default 2s
}

// Observation windows.
type Observation struct {
	// MaxRecovery: how long to wait for the first acknowledged write after
	// the fault before giving up (the verdict is then unknown).
	MaxRecovery *Duration `yaml:"maxRecovery" json:"max_recovery"`
	// AfterRecovery: how long to keep writing once recovered, so that writes
	// after recovery are in the history too.
	AfterRecovery *Duration `yaml:"afterRecovery" json:"after_recovery"`
}

// Workload settings of the marker writer.
type Workload struct {
	// Interval between writes on one stream; it bounds the probe resolution.
	Interval *Duration `yaml:"interval" json:"interval"`
	// Streams: concurrent sessions writing markers.
	Streams int `yaml:"streams" json:"streams"`
}

// Accessors with defaults applied (Load applies them too; these make a
// hand-built Scenario safe to use).

// RTO budget.
func (s Scenario) RTO() time.Duration { return s.Budgets.RTO.Or(0) }

// RPO budget.
func (s Scenario) RPO() time.Duration { return s.Budgets.RPO.Or(DefaultRPO) }

// WarmupD is the warm-up before the fault.
func (s Scenario) WarmupD() time.Duration { return s.Warmup.Or(DefaultWarmup) }

// MaxRecovery is the longest wait for recovery.
func (s Scenario) MaxRecovery() time.Duration {
	return s.Observation.MaxRecovery.Or(DefaultMaxRecovery)
}

// AfterRecovery is how long to keep writing after recovery.
func (s Scenario) AfterRecovery() time.Duration {
	return s.Observation.AfterRecovery.Or(DefaultAfterRecovery)
}

// Interval between writes of one stream.
func (s Scenario) Interval() time.Duration { return s.Workload.Interval.Or(DefaultInterval) }

// StreamCount is the number of writer streams.
func (s Scenario) StreamCount() int { return max(s.Workload.Streams, DefaultStreams) }

// IterationCount is how many times the scenario runs.
func (s Scenario) IterationCount() int { return max(s.Iterations, DefaultIterations) }

// DrainTimeout of a node-drain.
func (f Fault) DrainTimeoutD() time.Duration { return f.DrainTimeout.Or(fault.DefaultDrainTimeout) }

// PowerOnAfter says whether healing a vm-poweroff powers the VM back on.
func (f Fault) PowerOnAfter() bool { return f.PowerOn == nil || *f.PowerOn }

// GracePeriodSeconds is the pod-delete grace period for the API, nil when the
// pod's own applies.
func (f Fault) GracePeriodSeconds() *int64 {
	if f.GracePeriod == nil {
		return nil
	}
	s := int64(time.Duration(*f.GracePeriod) / time.Second)
	return &s
}

// Duration is a time.Duration written as a Go duration string ("30s",
// "1m30s", "250ms"); a bare 0 is also accepted.
type Duration time.Duration

// D is the duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Or is the duration, or def when d is nil.
func (d *Duration) Or(def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return time.Duration(*d)
}

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// parseDuration is time.ParseDuration with a message that says what to write.
func parseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		if _, numErr := fmt.Sscanf(s, "%g", new(float64)); numErr == nil && !strings.ContainsAny(s, "hmsuµn") {
			return 0, fmt.Errorf("duration %q has no unit: write e.g. %ss or %sms", s, s, s)
		}
		return 0, fmt.Errorf("bad duration %q: use a Go duration such as 30s, 1m30s or 250ms", s)
	}
	return Duration(d), nil
}
