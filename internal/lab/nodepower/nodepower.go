// Package nodepower is the local cluster's "cloud API": a small authenticated
// HTTP API, served by the cluster supervisor on 127.0.0.1, that powers the
// local cluster's nodes off and on, restarts, deletes and partitions them.
// cloud/local and the e2e tests use its Client; the supervisor serves it with
// Serve and a Controller.
package nodepower

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Action is one power operation on a node.
type Action string

const (
	PowerOff  Action = "poweroff"  // every process of the node killed at once, link cut
	PowerOn   Action = "poweron"   // a fresh boot: runtime state gone, containerd and kubelet started
	Restart   Action = "restart"   // poweroff then poweron
	Delete    Action = "delete"    // poweroff, local disks wiped, Node object deleted
	Partition Action = "partition" // link down, everything keeps running
	Heal      Action = "heal"      // link up again after a partition
)

// Actions lists every action in the order a user reads them.
var Actions = []Action{PowerOff, PowerOn, Restart, Delete, Partition, Heal}

// ParseAction validates a user-supplied action name.
func ParseAction(s string) (Action, error) {
	for _, a := range Actions {
		if string(a) == s {
			return a, nil
		}
	}
	return "", fmt.Errorf("unknown node power action %q (valid: poweroff, poweron, restart, delete, partition, heal)", s)
}

// State is a node's power state.
type State string

const (
	On      State = "on"
	Off     State = "off"
	Deleted State = "deleted"
)

// Node is a node as the power API reports it.
type Node struct {
	Name        string `json:"name"`
	State       State  `json:"state"`
	Partitioned bool   `json:"partitioned"`
	ProviderID  string `json:"providerID"`
	Zone        string `json:"zone"`
	Address     string `json:"address,omitempty"` // the node's IP on the cluster bridge
}

// Errors a Controller returns so the API can answer with the right status.
var (
	ErrNotFound = errors.New("no such node")
	ErrConflict = errors.New("action not possible in the node's current state")
)

// StateRoot is where irischaos keeps local cluster state:
// $IRISCHAOS_STATE_DIR, else $XDG_STATE_HOME/irischaos, else ~/.local/state/irischaos.
func StateRoot() string {
	if d := os.Getenv("IRISCHAOS_STATE_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "irischaos")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		home = os.TempDir()
	}
	return filepath.Join(home, ".local", "state", "irischaos")
}

// ClusterDir is the directory holding one local cluster's state and logs.
func ClusterDir(name string) string {
	return filepath.Join(StateRoot(), "clusters", name)
}

// EndpointFile is the name, inside the cluster directory, of the file holding
// the power API's URL and bearer token (mode 0600).
const EndpointFile = "power-api.json"

// Endpoint is the content of EndpointFile.
type Endpoint struct {
	URL   string `json:"url"`
	Token string `json:"token"`
}
