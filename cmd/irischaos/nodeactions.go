package main

import (
	"github.com/spf13/cobra"

	"github.com/irischaos/irischaos/pkg/nemesis"
)

// nodeActionFlags: the opt-in of partitions and their agent pod, for run,
// advise and inject.
type nodeActionFlags struct {
	allow                      bool
	agentImage, agentNamespace string
}

func (f *nodeActionFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.allow, "allow-node-actions", false, "allow partition faults (node-partition, zone-outage by partition): they cut real nodes off the network, their processes running")
	cmd.Flags().StringVar(&f.agentImage, "agent-image", nemesis.DefaultAgentImage, "image of the partition agent pod: any image with sh, sleep and iptables (ip6tables for IPv6 peers)")
	cmd.Flags().StringVar(&f.agentNamespace, "agent-namespace", "", "namespace of the partition agent pods (default: the stack's); its pod security must allow hostNetwork and NET_ADMIN, and irischaos must be allowed to create and delete pods there (deploy/rbac.yaml)")
}
