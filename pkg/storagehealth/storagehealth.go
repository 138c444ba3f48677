// Package storagehealth reports the redundancy of the storage behind the
// database's volume, for the observer to record into the history: when
// redundancy was lost (a replica's node died) and when it was restored. Each
// storage system is a Source; Ceph's reads the pool's placement groups, a
// Longhorn one would read the volume's robustness and replica nodes.
package storagehealth

import (
	"context"
	"fmt"
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
	Up   bool   `json:"up"`
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
}

// Summary is a one-line rendering for the history and progress output.
func (s Status) Summary() string {
	m := fmt.Sprintf("%s (%s)", s.Redundancy, s.Detail)
	if len(s.Replicas) > 0 {
		m += "; copies on"
		for _, r := range s.Replicas {
			st := "up"
			if !r.Up {
				st = "down"
			}
			m += fmt.Sprintf(" %s/%s %s", r.Node, r.ID, st)
		}
	}
	return m
}

// Source reads the redundancy of the storage behind one volume.
type Source interface {
	Health(ctx context.Context) (Status, error)
}
