package suite

import (
	"fmt"
	"sort"
	"strings"

	"sigs.k8s.io/e2e-framework/pkg/features"
)

// NeedsLabel is the feature label naming what a feature needs from the
// target (one value per need): `features.New(...).WithLabel(suite.NeedsLabel,
// string(suite.NodePower))`. A feature whose needs the target cannot give is
// skipped with the target's reason, and listed so in the summary.
const NeedsLabel = "needs"

// Need is something a feature needs from the target.
type Need string

// What features need.
const (
	// Embedded: the irischaos embedded local cluster (lab-only checks).
	Embedded Need = "embedded-cluster"
	// LocalPower: the local cluster's node power API.
	LocalPower Need = "local-node-power"
	// NodePower: nodes whose VMs a cloud provider (or the local node power
	// API) can power off and on, and --e2e-allow-vm-actions.
	NodePower Need = "node-power"
	// NodeNetwork: nodes may be cut off the network (partitions), with
	// --e2e-allow-node-actions.
	NodeNetwork Need = "node-network"
	// Stack: the IRIS stack can be deployed (image, storage class).
	Stack Need = "iris-stack"
	// SecondStorageClass: a storage class besides the stack's.
	SecondStorageClass Need = "second-storage-class"
	// Longhorn: longhorn.io served by the cluster.
	Longhorn Need = "longhorn"
	// Moto: moto_server installed on the machine running the suite.
	Moto Need = "moto"
	// Tools: the Prometheus and Pushgateway binaries on this machine.
	Prometheus Need = "prometheus"
)

// Target is what the cluster under test can give: for each need, "" when it
// can, else the one-line reason it cannot. A need it does not list is
// unknown and treated as missing.
type Target map[Need]string

// Give records that the target gives n.
func (t Target) Give(n Need) { t[n] = "" }

// Lack records why the target cannot give n.
func (t Target) Lack(n Need, format string, args ...any) { t[n] = fmt.Sprintf(format, args...) }

// Missing returns why the target cannot meet needs, "" when it can: the
// first unmet need, in the order given.
func (t Target) Missing(needs ...Need) string {
	for _, n := range needs {
		why, ok := t[n]
		if !ok {
			return fmt.Sprintf("needs %s, which this suite cannot tell about the target", n)
		}
		if why != "" {
			return fmt.Sprintf("needs %s: %s", n, why)
		}
	}
	return ""
}

// Needs returns the needs a feature declares with NeedsLabel.
func Needs(f features.Feature) []Need {
	var out []Need
	for _, v := range f.Labels()[NeedsLabel] {
		out = append(out, Need(v))
	}
	return out
}

// Lines lists the target, one need a line, for the suite's start.
func (t Target) Lines() []string {
	var out []string
	for n, why := range t {
		if why == "" {
			out = append(out, fmt.Sprintf("%s: yes", n))
		} else {
			out = append(out, fmt.Sprintf("%s: no (%s)", n, why))
		}
	}
	sort.Strings(out)
	return out
}

// String is Lines on one line.
func (t Target) String() string { return strings.Join(t.Lines(), "; ") }
