package fault

import (
	"slices"
	"testing"
	"time"
)

func TestPartitionOptions(t *testing.T) {
	n := Partition{}.Normal()
	if n.Direction != Both || !slices.Equal(n.Peers, DefaultPeers) || n.Duration != DefaultPartitionDuration || !n.Full() {
		t.Errorf("defaults: %+v", n)
	}
	if got := (Partition{Peers: []Peer{PeerStorage, PeerNodes}, Storage: []string{"10.9.0.0/16"}}).Normal().Peers; !slices.Equal(got, []Peer{PeerNodes, PeerStorage}) {
		t.Errorf("peers in AllPeers order: %v", got)
	}
	for _, c := range []struct {
		p    Partition
		ok   bool
		full bool
	}{
		{Partition{}, true, true},
		{Partition{Direction: Incoming}, true, false},
		{Partition{Peers: []Peer{PeerNodes}}, true, false},
		{Partition{Peers: AllPeers, Storage: []string{"10.0.0.5"}}, true, true},
		{Partition{Peers: []Peer{PeerStorage}}, false, false},                // storage without addresses
		{Partition{Storage: []string{"10.0.0.5"}}, false, true},              // addresses without the peer
		{Partition{Direction: "sideways"}, false, false},                     // unknown direction
		{Partition{Peers: []Peer{"dns"}}, false, false},                      // unknown peer
		{Partition{Duration: 1500 * time.Millisecond}, false, true},          // not whole seconds
		{Partition{Direction: Outgoing, Duration: time.Minute}, true, false}, // one way
	} {
		if err := c.p.Validate(); (err == nil) != c.ok {
			t.Errorf("Validate(%+v) = %v, want ok %t", c.p, err, c.ok)
		}
		if c.p.Full() != c.full {
			t.Errorf("Full(%+v) = %t", c.p, c.p.Full())
		}
	}
	if ps, err := ParsePeers("nodes, control-plane"); err != nil || !slices.Equal(ps, []Peer{PeerNodes, PeerControlPlane}) {
		t.Errorf("ParsePeers = %v, %v", ps, err)
	}
	if _, err := ParsePeers("nodes,dns"); err == nil {
		t.Error("unknown peer accepted")
	}
	if got := (Partition{Direction: Incoming, Duration: 90 * time.Second}).String(); got != "incoming only (the node still sends), from control-plane, nodes, for at most 1m30s" {
		t.Errorf("String = %s", got)
	}
	if m, err := ParseZoneMethod(""); err != nil || m != ZonePowerOff {
		t.Errorf("default zone method %s, %v", m, err)
	}
	if _, err := ParseZoneMethod("flood"); err == nil {
		t.Error("unknown zone method accepted")
	}
}
