// Package storagehealth reports the redundancy of the storage behind the
// database's volume, for the observer to record into the history: when
// redundancy was lost (a replica's node died) and when it was restored. Each
// storage system is a Source; Ceph's reads the pool's placement groups,
// Longhorn's the volume's robustness, replicas and rebuilds.
package storagehealth

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// Redundancy is the state of a volume's copies, worst first.
type Redundancy string

const (
	// Unavailable: some of the data cannot be read or written now (Ceph:
	// PGs not active, e.g. fewer copies up than min_size, or peering;
	// Longhorn: volume faulted).
	Unavailable Redundancy = "unavailable"
	// Recovering: copies are being rebuilt (Ceph: recovering, backfilling
	// or waiting to; Longhorn: a replica rebuilding).
	Recovering Redundancy = "recovering"
	// Degraded: data has fewer copies than wanted and nothing rebuilds them
	// yet (Ceph: degraded objects; Longhorn: robustness degraded).
	Degraded Redundancy = "degraded"
	// Undersized: fewer places hold copies than wanted, though every object
	// written since still has all its remaining copies (Ceph: undersized).
	Undersized Redundancy = "undersized"
	// Clean: every copy present where it belongs.
	Clean Redundancy = "clean"
	// Unknown: the storage cannot say (no manager data, no answer).
	Unknown Redundancy = "unknown"
)

// Lost reports whether r is short of full redundancy (Unknown is not a loss:
// the storage could not say).
func (r Redundancy) Lost() bool { return r != Clean && r != Unknown }

// Replica is one place a copy lives.
type Replica struct {
	Node string `json:"node"` // the Kubernetes node holding it
	ID   string `json:"id"`   // e.g. "osd.1", a Longhorn replica's name
	Up   bool   `json:"up"`   // holds a usable copy (Longhorn: mode RW)
	// Longhorn: the node's zone, the engine's mode of the replica (RW, WO
	// while rebuilt, ERR) and the replica's state (running, stopped...).
	Zone  string `json:"zone,omitempty"`
	Mode  string `json:"mode,omitempty"`
	State string `json:"state,omitempty"`
}

// Status is one reading.
type Status struct {
	Backend    string     `json:"backend"` // e.g. "Ceph RBD 16.2.15"
	Scope      string     `json:"scope"`   // what it describes: "pool rbd", "volume pvc-..."
	Redundancy Redundancy `json:"redundancy"`
	// Detail is the storage's own words, e.g. "33 PGs: 21
	// active+undersized+degraded, 12 active+clean".
	Detail   string    `json:"detail"`
	Replicas []Replica `json:"replicas,omitempty"`

	// Longhorn only: the volume's state and the node it is attached to,
	// the engine's rebuilds, and the usable copies per zone ("" for nodes
	// without a zone). Zones is nil where the backend cannot tell which
	// copies are the volume's (Ceph: a pool's OSDs).
	State      string         `json:"state,omitempty"`
	AttachedTo string         `json:"attached_to,omitempty"`
	Rebuilds   []Rebuild      `json:"rebuilds,omitempty"`
	Zones      map[string]int `json:"zones,omitempty"`
}

// Summary is a one-line rendering for the history and progress output.
func (s Status) Summary() string {
	m := fmt.Sprintf("%s (%s)", s.Redundancy, s.Detail)
	if len(s.Replicas) > 0 {
		m += "; copies on"
		for _, r := range s.Replicas {
			m += " " + r.summary()
		}
	}
	for _, b := range s.Rebuilds {
		m += "; " + b.summary()
	}
	return m
}

func (r Replica) summary() string {
	st := "up"
	if !r.Up {
		st = "down"
	}
	where := r.Node
	if r.Zone != "" {
		where += "(" + r.Zone + ")"
	}
	if r.Mode != "" {
		st = r.Mode
	} else if r.State != "" {
		st += "," + r.State
	}
	return fmt.Sprintf("%s/%s %s", where, r.ID, st)
}

func (b Rebuild) summary() string {
	m := fmt.Sprintf("rebuild of %s", b.Replica)
	if b.Node != "" {
		m += " on " + b.Node
	}
	if len(b.From) > 0 {
		m += " from " + strings.Join(b.From, ",")
	}
	switch {
	case b.Error != "":
		m += " failed: " + b.Error
	case b.Rebuilding:
		m += fmt.Sprintf(" %d%%", b.Progress)
	default:
		m += " " + orNone(b.State)
	}
	return m
}

// ZonesText renders copies per zone, e.g. "zone-a 1, zone-b 2" ("(no
// zone)" for nodes without one); "none" when empty.
func ZonesText(z map[string]int) string {
	if len(z) == 0 {
		return "none"
	}
	var keys []string
	for k := range z {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		name := k
		if name == "" {
			name = "(no zone)"
		}
		parts = append(parts, fmt.Sprintf("%s %d", name, z[k]))
	}
	return strings.Join(parts, ", ")
}

// ProgressStep is how far a rebuild must progress (percentage points)
// before another reading is worth recording.
const ProgressStep = 10

// Changes says what differs from prev to cur worth recording beyond the
// redundancy itself: the volume's state or node, a replica added, removed
// or changing mode or node, a rebuild starting, progressing by at least
// ProgressStep, ending or failing. Empty when nothing did.
func Changes(prev, cur Status) []string {
	var out []string
	if prev.State != cur.State || prev.AttachedTo != cur.AttachedTo {
		out = append(out, fmt.Sprintf("volume %s on %s -> %s on %s", orNone(prev.State), orNone(prev.AttachedTo), orNone(cur.State), orNone(cur.AttachedTo)))
	}
	old := map[string]Replica{}
	for _, r := range prev.Replicas {
		old[r.ID] = r
	}
	seen := map[string]bool{}
	for _, r := range cur.Replicas {
		seen[r.ID] = true
		o, ok := old[r.ID]
		switch {
		case !ok:
			out = append(out, "replica added: "+r.summary())
		case o.Node != r.Node || o.Mode != r.Mode || o.Up != r.Up || o.Zone != r.Zone:
			out = append(out, fmt.Sprintf("replica %s -> %s", o.summary(), r.summary()))
		}
	}
	for _, r := range prev.Replicas {
		if !seen[r.ID] {
			out = append(out, "replica removed: "+r.summary())
		}
	}
	oldB := map[string]Rebuild{}
	for _, b := range prev.Rebuilds {
		oldB[b.Replica] = b
	}
	seenB := map[string]bool{}
	for _, b := range cur.Rebuilds {
		seenB[b.Replica] = true
		o, ok := oldB[b.Replica]
		switch {
		case b.Error != "" && o.Error != b.Error:
			out = append(out, b.summary())
		case b.Rebuilding && (!ok || !o.Rebuilding):
			out = append(out, "rebuild started: "+b.summary())
		case b.Rebuilding && b.Progress >= o.Progress+ProgressStep:
			out = append(out, b.summary())
		case !b.Rebuilding && ok && o.Rebuilding:
			out = append(out, "rebuild ended: "+b.summary())
		}
	}
	for _, b := range prev.Rebuilds {
		if !seenB[b.Replica] && b.Rebuilding {
			out = append(out, "rebuild ended: "+b.summary()+" (no longer reported)")
		}
	}
	return out
}

// Source reads the redundancy of the storage behind one volume.
type Source interface {
	Health(ctx context.Context) (Status, error)
}
