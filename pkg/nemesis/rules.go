package nemesis

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/irischaos/irischaos/pkg/fault"
)

// AgentChain is the iptables chain a partition agent owns on its node:
// every rule it sets is in it, so removing it removes them all.
const AgentChain = "IRISCHAOS-PARTITION"

// DefaultAgentImage is the partition agent's image (--agent-image): the
// Kubernetes project's own iptables image (kube-proxy's base), whose
// iptables-wrapper picks the node's backend (nft or legacy).
const DefaultAgentImage = "registry.k8s.io/build-image/debian-iptables:bookworm-v1.0.0"

// agentStartDelay: the agent sets its rules this long after its container
// starts, so that the kubelet reports it running before the node is cut off
// from the API server (that report is how irischaos knows it started).
const agentStartDelay = 3 * time.Second

// hookChains jump to AgentChain: INPUT and OUTPUT for the node's own
// traffic (kubelet, the storage client), FORWARD for its pods'.
var hookChains = []string{"INPUT", "FORWARD", "OUTPUT"}

// renderRules is the exact commands that cut a node off addrs in direction
// d, and those that undo them. Addresses are IPs or CIDRs; IPv4 goes to
// iptables, IPv6 to ip6tables. Each command is one line for sh.
func renderRules(d fault.Direction, addrs []string) (set, undo []string, err error) {
	var v4, v6 []string
	for _, a := range addrs {
		p, err := parsePrefix(a)
		if err != nil {
			return nil, nil, err
		}
		if p.Addr().Is4() {
			v4 = append(v4, p.String())
		} else {
			v6 = append(v6, p.String())
		}
	}
	for _, fam := range []struct {
		cmd   string
		addrs []string
	}{{"iptables", v4}, {"ip6tables", v6}} {
		if len(fam.addrs) == 0 {
			continue
		}
		slices.Sort(fam.addrs)
		fam.addrs = slices.Compact(fam.addrs)
		ipt := fam.cmd + " -w "
		set = append(set, ipt+"-N "+AgentChain)
		for _, a := range fam.addrs {
			if d != fault.Outgoing {
				set = append(set, ipt+"-A "+AgentChain+" -s "+a+" -j DROP")
			}
			if d != fault.Incoming {
				set = append(set, ipt+"-A "+AgentChain+" -d "+a+" -j DROP")
			}
		}
		for _, c := range hookChains {
			set = append(set, ipt+"-I "+c+" 1 -j "+AgentChain)
		}
		for _, c := range hookChains {
			undo = append(undo, ipt+"-D "+c+" -j "+AgentChain)
		}
		undo = append(undo, ipt+"-F "+AgentChain, ipt+"-X "+AgentChain)
	}
	if len(set) == 0 {
		return nil, nil, fmt.Errorf("no address to cut the node off from")
	}
	return set, undo, nil
}

// parsePrefix reads an IP (a host prefix) or a CIDR.
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("address %q: %w", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("address %q: not an IP or CIDR", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// undoScript is sh that runs undo as often as it matches: a jump inserted
// twice is deleted twice; nothing to remove is fine.
func undoScript(undo []string) string {
	var b strings.Builder
	for _, u := range undo {
		if strings.Contains(u, " -D ") {
			fmt.Fprintf(&b, "  while %s 2>/dev/null; do :; done\n", u)
		} else {
			fmt.Fprintf(&b, "  %s 2>/dev/null\n", u)
		}
	}
	return b.String()
}

// agentScript is the agent's command: set the rules, keep them for d, then
// remove them by itself (the dead man's switch: no word from irischaos is
// needed). Deleting the pod (SIGTERM) removes them at once; a failed set
// removes what was set.
func agentScript(set, undo []string, d time.Duration) string {
	return "undo() {\n" + undoScript(undo) + "  return 0\n}\n" +
		"trap 'undo; echo \"irischaos: rules removed (stopped)\"; exit 0' TERM INT\n" +
		fmt.Sprintf("sleep %d\n", int(agentStartDelay/time.Second)) +
		"undo\n" +
		"if ! { " + strings.Join(set, " && ") + "; }; then undo; echo 'irischaos: setting the rules failed; removed them' >&2; exit 1; fi\n" +
		fmt.Sprintf("echo 'irischaos: partitioned for %ds'\n", int(d/time.Second)) +
		fmt.Sprintf("sleep %d & wait $!\n", int(d/time.Second)) +
		"undo\n" +
		"echo 'irischaos: rules removed (duration over)'\n"
}

// healScript removes the rules: the second, short-lived pod of a heal.
func healScript(undo []string) string {
	return "undo() {\n" + undoScript(undo) + "  return 0\n}\nundo\necho 'irischaos: rules removed'\n"
}

// Agent pod labels.
const (
	agentLabelName = "app.kubernetes.io/name"
	agentName      = "irischaos-agent"
	agentLabelRole = "irischaos.io/role"
	agentLabelNode = "irischaos.io/node"
)

// agentPod is the pod that runs script on node, in its network namespace,
// with NET_ADMIN and NET_RAW (iptables, either backend) added to the
// runtime's default capabilities (so any --agent-image's tools work), no
// service account token, no host filesystem but the xtables lock it shares
// with kube-proxy. It
// tolerates every taint (the node may be cordoned, NotReady or unreachable
// when it runs), is bound to the node by name (no scheduler), and the
// kubelet stops it after deadline even when cut off from the API server.
func agentPod(name, namespace, node, image, role, script string, deadline time.Duration) *corev1.Pod {
	lockType := corev1.HostPathFileOrCreate
	grace := int64(10)
	dl := int64(deadline / time.Second)
	no := false
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: namespace,
			Labels: map[string]string{agentLabelName: agentName, agentLabelRole: role, agentLabelNode: labelValue(node)},
		},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			HostNetwork:                   true,
			RestartPolicy:                 corev1.RestartPolicyNever,
			ActiveDeadlineSeconds:         &dl,
			TerminationGracePeriodSeconds: &grace,
			AutomountServiceAccountToken:  &no,
			Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{
				Name:    "agent",
				Image:   image,
				Command: []string{"/bin/sh", "-c", script},
				SecurityContext: &corev1.SecurityContext{
					Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN", "NET_RAW"}},
				},
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi"),
				}},
				VolumeMounts: []corev1.VolumeMount{{Name: "xtables-lock", MountPath: "/run/xtables.lock"}},
			}},
			Volumes: []corev1.Volume{{Name: "xtables-lock", VolumeSource: corev1.VolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: "/run/xtables.lock", Type: &lockType},
			}}},
		},
	}
}

// labelValue makes a node name a valid label value (63 characters at most).
func labelValue(s string) string {
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-_.")
	}
	return s
}

// agentPodName names the agent of node: irischaos-cut-<node>-<suffix>, a
// DNS label (dots become dashes, the node part cut to fit).
func agentPodName(node, suffix string) string {
	n := strings.ToLower(strings.ReplaceAll(node, ".", "-"))
	if max := 63 - len("irischaos-cut--") - len(suffix) - len("-heal"); len(n) > max {
		n = strings.TrimRight(n[:max], "-")
	}
	return "irischaos-cut-" + n + "-" + suffix
}
