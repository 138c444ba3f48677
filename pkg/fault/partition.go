package fault

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Direction is which way a partition drops traffic, seen from the cut node.
type Direction string

// Directions.
const (
	Both     Direction = "both"     // nothing in or out
	Incoming Direction = "incoming" // the node receives nothing from its peers; it still sends
	Outgoing Direction = "outgoing" // the node's packets to its peers are dropped; it still receives
)

// Peer is a group of addresses a partition cuts the node off from.
type Peer string

// Peers.
const (
	PeerControlPlane Peer = "control-plane" // the API server's endpoints and control-plane nodes
	PeerNodes        Peer = "nodes"         // every other node: its addresses and pod CIDRs
	PeerStorage      Peer = "storage"       // the storage addresses the scenario names (NFS, iSCSI, a storage network)
)

// AllPeers lists the peers in the order rules are written.
var AllPeers = []Peer{PeerControlPlane, PeerNodes, PeerStorage}

// DefaultPeers: the node is cut off from the control plane and the other
// nodes (the seed's "network cable"); storage needs its addresses named.
var DefaultPeers = []Peer{PeerControlPlane, PeerNodes}

// DefaultPartitionDuration bounds a partition when the scenario or flag
// sets none: the agent removes its rules by itself after it (the dead man's
// switch), whatever happened to irischaos.
const DefaultPartitionDuration = 10 * time.Minute

// Partition says how a node is cut off.
type Partition struct {
	Direction Direction // "" is Both
	Peers     []Peer    // nil is DefaultPeers
	// Storage: the addresses or CIDRs of the storage peer.
	Storage []string
	// Duration: the rules come off by themselves after it; 0 is
	// DefaultPartitionDuration.
	Duration time.Duration
}

// Normal fills the defaults and sorts the peers in AllPeers order.
func (p Partition) Normal() Partition {
	if p.Direction == "" {
		p.Direction = Both
	}
	if len(p.Peers) == 0 {
		p.Peers = DefaultPeers
	}
	var peers []Peer
	for _, x := range AllPeers {
		if slices.Contains(p.Peers, x) {
			peers = append(peers, x)
		}
	}
	p.Peers = peers
	if p.Duration <= 0 {
		p.Duration = DefaultPartitionDuration
	}
	return p
}

// Validate says what is wrong with p, once normalised.
func (p Partition) Validate() error {
	switch p.Direction {
	case "", Both, Incoming, Outgoing:
	default:
		return fmt.Errorf("unknown partition direction %q (both, incoming or outgoing)", p.Direction)
	}
	for _, x := range p.Peers {
		if !slices.Contains(AllPeers, x) {
			return fmt.Errorf("unknown partition peer %q (%s)", x, PeerList(AllPeers))
		}
	}
	if slices.Contains(p.Peers, PeerStorage) && len(p.Storage) == 0 {
		return fmt.Errorf("partition peer %s needs the storage's addresses (scenario fault.storage, flag --storage-address)", PeerStorage)
	}
	if len(p.Storage) > 0 && !slices.Contains(p.Peers, PeerStorage) {
		return fmt.Errorf("storage addresses given but %s is not among the peers cut (%s)", PeerStorage, PeerList(p.Normal().Peers))
	}
	if p.Duration < 0 || p.Duration%time.Second != 0 {
		return fmt.Errorf("partition duration %s: whole seconds, positive", p.Duration)
	}
	return nil
}

// Full says whether p cuts the node off completely from the control plane
// and the other nodes, both ways: what pulling the cable (a link down) does.
func (p Partition) Full() bool {
	n := p.Normal()
	return n.Direction == Both && slices.Contains(n.Peers, PeerControlPlane) && slices.Contains(n.Peers, PeerNodes)
}

// String describes p for plans: "both ways from control-plane, nodes for 10m0s".
func (p Partition) String() string {
	n := p.Normal()
	way := "both ways"
	switch n.Direction {
	case Incoming:
		way = "incoming only (the node still sends)"
	case Outgoing:
		way = "outgoing only (the node still receives)"
	}
	return fmt.Sprintf("%s, from %s, for at most %s", way, PeerList(n.Peers), n.Duration)
}

// ParsePeers reads "control-plane,nodes".
func ParsePeers(s string) ([]Peer, error) {
	var out []Peer
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !slices.Contains(AllPeers, Peer(f)) {
			return nil, fmt.Errorf("unknown partition peer %q (%s)", f, PeerList(AllPeers))
		}
		out = append(out, Peer(f))
	}
	return out, nil
}

// PeerList names peers: "control-plane, nodes".
func PeerList(ps []Peer) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, ", ")
}
