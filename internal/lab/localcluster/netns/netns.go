// Package netns builds the local cluster's network: a host bridge owned by
// the cluster and, per node, a network namespace joined to it by a veth pair.
// It drives iproute2 (`ip`), so every step is the command an operator would
// type, and every error names the command that failed.
package netns

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Runner runs one command; tests replace it to record the commands.
type Runner func(ctx context.Context, name string, args ...string) error

// Exec runs a command and folds its stderr into the error.
func Exec(ctx context.Context, name string, args ...string) error {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("`%s %s`: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// Net is one cluster's network.
type Net struct {
	Bridge   string // host bridge link name
	BridgeIP string // e.g. 10.250.0.1
	Prefix   int    // e.g. 24
	Run      Runner
}

// Node is one node's network namespace.
type Node struct {
	NS       string // namespace name, /var/run/netns/<NS>
	HostVeth string // host end, enslaved to the bridge
	IP       string // node address on the bridge subnet (the kubelet's --node-ip)
	// PodRoutes maps other nodes' pod subnets to those nodes' addresses, so
	// pods reach pods on other nodes.
	PodRoutes [][2]string
}

// NSPath is the path nsenter --net takes.
func (n Node) NSPath() string { return "/var/run/netns/" + n.NS }

func (n *Net) run(ctx context.Context, args ...string) error {
	r := n.Run
	if r == nil {
		r = Exec
	}
	return r(ctx, "ip", args...)
}

func linkExists(name string) bool {
	_, err := os.Stat("/sys/class/net/" + name)
	return err == nil
}

// Up creates the bridge (idempotent).
func (n *Net) Up(ctx context.Context) error {
	if n.Run == nil && linkExists(n.Bridge) {
		return nil
	}
	for _, a := range [][]string{
		{"link", "add", n.Bridge, "type", "bridge"},
		{"addr", "add", fmt.Sprintf("%s/%d", n.BridgeIP, n.Prefix), "dev", n.Bridge},
		{"link", "set", n.Bridge, "up"},
	} {
		if err := n.run(ctx, a...); err != nil {
			return fmt.Errorf("creating cluster bridge %s: %w", n.Bridge, err)
		}
	}
	return nil
}

// AddNode creates the node's namespace and veth, addresses it and routes its
// traffic through the bridge. The node's end is called eth0.
func (n *Net) AddNode(ctx context.Context, node Node) error {
	peer := node.HostVeth + "p"
	steps := [][]string{
		{"netns", "add", node.NS},
		{"link", "add", node.HostVeth, "type", "veth", "peer", "name", peer},
		{"link", "set", peer, "netns", node.NS},
		{"-n", node.NS, "link", "set", peer, "name", "eth0"},
		{"-n", node.NS, "addr", "add", fmt.Sprintf("%s/%d", node.IP, n.Prefix), "dev", "eth0"},
		{"-n", node.NS, "link", "set", "lo", "up"},
		{"-n", node.NS, "link", "set", "eth0", "up"},
		{"-n", node.NS, "route", "add", "default", "via", n.BridgeIP},
	}
	for _, r := range node.PodRoutes {
		steps = append(steps, []string{"-n", node.NS, "route", "add", r[0], "via", r[1]})
	}
	steps = append(steps, [][]string{
		{"link", "set", node.HostVeth, "master", n.Bridge},
		{"link", "set", node.HostVeth, "up"},
	}...)
	for _, a := range steps {
		if err := n.run(ctx, a...); err != nil {
			return fmt.Errorf("node network %s: %w", node.NS, err)
		}
	}
	// Pods reach the cluster through the node, which routes for them.
	r := n.Run
	if r == nil {
		r = Exec
	}
	if err := r(ctx, "nsenter", "--net="+node.NSPath(), "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"); err != nil {
		return fmt.Errorf("node network %s: enabling forwarding: %w", node.NS, err)
	}
	return nil
}

// SetLink takes the node's link up or down (power, partition).
func (n *Net) SetLink(ctx context.Context, node Node, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	if err := n.run(ctx, "link", "set", node.HostVeth, state); err != nil {
		return fmt.Errorf("node %s link %s: %w", node.NS, state, err)
	}
	return nil
}

// LinkUp reports whether the node's host-side link is administratively up.
func LinkUp(node Node) bool {
	b, err := os.ReadFile("/sys/class/net/" + node.HostVeth + "/flags")
	if err != nil {
		return false
	}
	var flags uint64
	fmt.Sscanf(strings.TrimSpace(string(b)), "0x%x", &flags)
	return flags&1 == 1 // IFF_UP
}

// RemoveNode deletes the node's veth and namespace; missing ones are fine.
func (n *Net) RemoveNode(ctx context.Context, node Node) error {
	var errs []string
	if n.Run != nil || linkExists(node.HostVeth) {
		if err := n.run(ctx, "link", "del", node.HostVeth); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if _, err := os.Stat(node.NSPath()); n.Run != nil || err == nil {
		if err := n.run(ctx, "netns", "del", node.NS); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("removing node network %s: %s", node.NS, strings.Join(errs, "; "))
	}
	return nil
}

// Down deletes the bridge; a missing one is fine.
func (n *Net) Down(ctx context.Context) error {
	if n.Run == nil && !linkExists(n.Bridge) {
		return nil
	}
	if err := n.run(ctx, "link", "del", n.Bridge); err != nil {
		return fmt.Errorf("removing cluster bridge: %w", err)
	}
	return nil
}
