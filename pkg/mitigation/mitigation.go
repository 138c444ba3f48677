// Package mitigation is the failover advisor's vocabulary: the changes that
// can shorten a node loss's outage, what each does, when irischaos applies it
// during a run, and how a platform team makes it permanent. Every name is
// stated once here; scenarios (mitigations:), `irischaos advise`, the nemesis
// that applies them and the reports read it.
package mitigation

import (
	"fmt"
	"strings"
	"time"
)

// Name is a mitigation's name (a scenario's mitigations: entry, advise's --mitigations).
type Name string

// Mitigation names.
const (
	// None measures the cluster as deployed.
	None Name = "none"
	// ShortTolerations sets the IRIS pod's not-ready/unreachable
	// tolerationSeconds to ShortTolerationSeconds before the fault.
	ShortTolerations Name = "short-tolerations"
	// OutOfServiceTaint applies Kubernetes' non-graceful node shutdown taint
	// to the lost node once it is NotReady and its VM is confirmed off.
	OutOfServiceTaint Name = "out-of-service-taint"
	// LonghornNodeDownPolicy sets Longhorn's node-down pod deletion policy
	// to delete the Deployment's pod on a down node.
	LonghornNodeDownPolicy Name = "longhorn-node-down-policy"
)

// ShortTolerationSeconds is what short-tolerations sets on the IRIS pod.
const ShortTolerationSeconds = 10

// The Longhorn setting LonghornNodeDownPolicy changes and the value it sets:
// Longhorn then force-deletes the terminating pod of a StatefulSet or
// Deployment on a down node, so its volume is detached without waiting
// Kubernetes' 6-minute forced detach.
const (
	LonghornNodeDownSetting = "node-down-pod-deletion-policy"
	LonghornNodeDownValue   = "delete-both-statefulset-and-deployment-pod"
)

// The out-of-service taint (KEP-2268, GA in Kubernetes 1.28): on a node with
// it, the pod garbage collector force-deletes pods that do not tolerate it and
// the attach-detach controller detaches their volumes at once.
const (
	TaintKey    = "node.kubernetes.io/out-of-service"
	TaintValue  = "nodeshutdown"
	TaintEffect = "NoExecute"
)

// When says at which moment of an iteration a mitigation acts.
type When string

// Moments.
const (
	Never       When = ""             // none
	BeforeFault When = "before-fault" // a change made before the warm-up, reverted after the iteration
	NodeIsDown  When = "node-down"    // applied once the node is NotReady and its VM is off, removed when it is back
)

// Info is what the vocabulary says about one mitigation.
type Info struct {
	Name Name
	// Summary: what it does, one line for tables.
	Summary string
	// When it acts.
	When When
	// Permanent: how to make it part of the cluster, for the advice.
	Permanent string
	// Longhorn: it needs Longhorn's CRDs in the cluster.
	Longhorn bool
}

var catalog = []Info{
	{Name: None, Summary: "as deployed: nothing changed", When: Never,
		Permanent: "nothing to do"},
	{Name: ShortTolerations, When: BeforeFault,
		Summary:   fmt.Sprintf("not-ready/unreachable tolerationSeconds %d on the IRIS pod (default 300)", ShortTolerationSeconds),
		Permanent: fmt.Sprintf("add to the IRIS Deployment's pod template: tolerations [{key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: %d}, {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: %d}]", ShortTolerationSeconds, ShortTolerationSeconds)},
	{Name: OutOfServiceTaint, When: NodeIsDown,
		Summary:   "out-of-service taint on the lost node once it is NotReady and its VM is confirmed off (non-graceful node shutdown)",
		Permanent: "run automation that, once a node is NotReady and its VM is confirmed off through the cloud API, applies `kubectl taint nodes NODE " + TaintKey + "=" + TaintValue + ":" + TaintEffect + "` and removes it when the node is back (never on a node that may still be running: the taint lets a second writer attach the volume)"},
	{Name: LonghornNodeDownPolicy, When: BeforeFault, Longhorn: true,
		Summary:   "Longhorn setting " + LonghornNodeDownSetting + " = " + LonghornNodeDownValue,
		Permanent: "kubectl -n longhorn-system patch settings.longhorn.io " + LonghornNodeDownSetting + " --type merge -p '{\"value\":\"" + LonghornNodeDownValue + "\"}' (or the Helm value defaultSettings.nodeDownPodDeletionPolicy)"},
}

// All lists every mitigation in the order reports show them.
func All() []Info { return append([]Info(nil), catalog...) }

// Lookup returns a mitigation's entry, or an error listing the valid names.
func Lookup(n Name) (Info, error) {
	for _, i := range catalog {
		if i.Name == n {
			return i, nil
		}
	}
	return Info{}, fmt.Errorf("unknown mitigation %q (valid: %s)", n, strings.Join(Names(), ", "))
}

// Names lists the valid names.
func Names() []string {
	var out []string
	for _, i := range catalog {
		out = append(out, string(i.Name))
	}
	return out
}

// Info of a name known to be valid; the zero Info otherwise.
func (n Name) Info() Info {
	i, _ := Lookup(n)
	return i
}

// Gain is what a mitigation bought against the as-deployed measurement, for
// the advice: "removes 5m12s", "no change", or "" when either side is unknown.
func Gain(asDeployed, mitigated *float64) string {
	if asDeployed == nil || mitigated == nil {
		return ""
	}
	d := time.Duration((*asDeployed - *mitigated) * float64(time.Second)).Round(100 * time.Millisecond)
	switch {
	case d > time.Second:
		return "removes " + d.String()
	case d < -time.Second:
		return "adds " + (-d).String()
	default:
		return "no change"
	}
}
