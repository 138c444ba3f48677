package suite

import (
	"fmt"
	"sort"
	"strings"

	"github.com/irischaos/irischaos/cloud"
)

// Observed is what the suite read about the target once the cluster was up;
// Decide turns it into what the target can give.
type Observed struct {
	Cluster string // the kubeconfig, for the reasons
	// Embedded: the irischaos embedded local cluster; LocalPowerErr why its
	// node power API cannot be reached (nil: it can).
	Embedded      bool
	LocalPowerErr error
	// ProviderIDs of the nodes.
	ProviderIDs []string
	// StorageClasses of the cluster.
	StorageClasses []string
	// LonghornServed, or why not.
	LonghornServed bool
	LonghornWhy    string
	// MotoErr: why moto_server cannot be run here (nil: it can).
	MotoErr error
	// PrometheusInstalled: prometheus and prometheus-pushgateway on PATH.
	PrometheusInstalled bool
}

// Decide is what a target observed as o can give under p.
func Decide(o Observed, p *Params) Target {
	tg := Target{}
	switch {
	case o.Embedded:
		tg.Give(Embedded)
	default:
		tg.Lack(Embedded, "a lab-only check: the cluster of %s is not the irischaos embedded cluster", o.Cluster)
	}
	switch {
	case !o.Embedded:
		tg.Lack(LocalPower, "the local node power API exists only on the irischaos embedded cluster")
	case o.LocalPowerErr != nil:
		tg.Lack(LocalPower, "%v", o.LocalPowerErr)
	default:
		tg.Give(LocalPower)
	}

	schemes := map[string]int{}
	for _, id := range o.ProviderIDs {
		s, err := cloud.Scheme(id)
		if err != nil {
			s = "none"
		}
		schemes[s]++
	}
	var seen, powered []string
	for s, n := range schemes {
		seen = append(seen, fmt.Sprintf("%d %s", n, s))
		if s == "aws" || s == "azure" || (s == "local" && o.Embedded) {
			powered = append(powered, s)
		}
	}
	sort.Strings(seen)
	nodes := "nodes' providerIDs: " + strings.Join(seen, ", ")
	switch {
	case !p.AllowVMActions:
		tg.Lack(NodePower, "VM actions not allowed: pass -%s%s (%s)", FlagPrefix, FlagAllowVMActions, nodes)
	case len(powered) == 0:
		tg.Lack(NodePower, "no node's VM can be powered by a cloud provider (aws://, azure://; local:// on the embedded cluster): %s", nodes)
	default:
		tg.Give(NodePower)
	}

	if p.AllowNodeActions {
		tg.Give(NodeNetwork)
	} else {
		tg.Lack(NodeNetwork, "node actions not allowed: pass -%s%s (a privileged agent pod cuts the node's network)", FlagPrefix, FlagAllowNodeActs)
	}

	classes := append([]string(nil), o.StorageClasses...)
	sort.Strings(classes)
	found := false
	for _, c := range classes {
		found = found || c == p.StorageClass
	}
	switch {
	case found:
		tg.Give(Stack)
	case len(classes) == 0:
		tg.Lack(Stack, "storage class %q does not exist and the cluster has none: pass -%s%s", p.StorageClass, FlagPrefix, FlagStorageClass)
	default:
		tg.Lack(Stack, "storage class %q does not exist (the cluster has %s): pass -%s%s", p.StorageClass, strings.Join(classes, ", "), FlagPrefix, FlagStorageClass)
	}
	if found && len(classes) >= 2 {
		tg.Give(SecondStorageClass)
	} else {
		tg.Lack(SecondStorageClass, "the cluster has no storage class besides %q", p.StorageClass)
	}

	if o.LonghornServed {
		tg.Give(Longhorn)
	} else {
		tg.Lack(Longhorn, "%s", o.LonghornWhy)
	}
	if o.MotoErr != nil {
		tg.Lack(Moto, "%v", o.MotoErr)
	} else {
		tg.Give(Moto)
	}
	if o.PrometheusInstalled || o.Embedded {
		// The lab's CI installs them: one missing there fails its test
		// (internal/promtest) rather than skipping it.
		tg.Give(Prometheus)
	} else {
		tg.Lack(Prometheus, "prometheus and prometheus-pushgateway are not installed on this machine")
	}
	return tg
}
