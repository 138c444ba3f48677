package netns

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestCommands(t *testing.T) {
	var got []string
	rec := func(_ context.Context, name string, args ...string) error {
		got = append(got, name+" "+strings.Join(args, " "))
		return nil
	}
	n := &Net{Bridge: "icbr0", BridgeIP: "10.250.0.1", Prefix: 24, Run: rec}
	node := Node{NS: "irischaos-c-node-1", HostVeth: "ic0n1", IP: "10.250.0.11", PodRoutes: [][2]string{{"10.244.2.0/24", "10.250.0.12"}}}
	ctx := context.Background()
	if err := n.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.AddNode(ctx, node); err != nil {
		t.Fatal(err)
	}
	if err := n.SetLink(ctx, node, false); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"ip link add icbr0 type bridge",
		"ip addr add 10.250.0.1/24 dev icbr0",
		"ip link set icbr0 up",
		"ip netns add irischaos-c-node-1",
		"ip link add ic0n1 type veth peer name ic0n1p",
		"ip link set ic0n1p netns irischaos-c-node-1",
		"ip -n irischaos-c-node-1 link set ic0n1p name eth0",
		"ip -n irischaos-c-node-1 addr add 10.250.0.11/24 dev eth0",
		"ip -n irischaos-c-node-1 link set lo up",
		"ip -n irischaos-c-node-1 link set eth0 up",
		"ip -n irischaos-c-node-1 route add default via 10.250.0.1",
		"ip -n irischaos-c-node-1 route add 10.244.2.0/24 via 10.250.0.12",
		"ip link set ic0n1 master icbr0",
		"ip link set ic0n1 up",
		"nsenter --net=/var/run/netns/irischaos-c-node-1 sh -c echo 1 > /proc/sys/net/ipv4/ip_forward",
		"ip link set ic0n1 down",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("commands:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestErrorsNameTheStep(t *testing.T) {
	fail := func(_ context.Context, name string, args ...string) error {
		if args[0] == "netns" {
			return errors.New("`ip netns add x`: exit status 1: File exists")
		}
		return nil
	}
	n := &Net{Bridge: "b", BridgeIP: "10.250.0.1", Prefix: 24, Run: fail}
	err := n.AddNode(context.Background(), Node{NS: "x", HostVeth: "v", IP: "10.250.0.11"})
	if err == nil || !strings.Contains(err.Error(), "node network x") || !strings.Contains(err.Error(), "File exists") {
		t.Errorf("err = %v", err)
	}
}
