package preflight

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// Longhorn's resources this package reads (only v1beta2 is served since Longhorn 1.10).
var (
	lhVolumes  = schema.GroupVersionResource{Group: "longhorn.io", Version: "v1beta2", Resource: "volumes"}
	lhReplicas = schema.GroupVersionResource{Group: "longhorn.io", Version: "v1beta2", Resource: "replicas"}
	lhSettings = schema.GroupVersionResource{Group: "longhorn.io", Version: "v1beta2", Resource: "settings"}
)

const lhNamespace = "longhorn-system"

// The Longhorn settings that decide node-loss behaviour, with the value HA wants.
const (
	settingNodeDown     = "node-down-pod-deletion-policy"
	settingSoftAnti     = "replica-soft-anti-affinity"
	settingZoneSoftAnti = "replica-zone-soft-anti-affinity"
	settingReplenish    = "replica-replenishment-wait-interval"
	settingAutoSalvage  = "auto-salvage"
)

type replica struct{ name, node, mode string }

type longhornFacts struct {
	err        error // reading Longhorn failed as a whole
	settings   map[string]string
	settingErr error
	volume     *unstructured.Unstructured
	volumeErr  error
	replicas   []replica
}

func readLonghorn(ctx context.Context, dyn dynamic.Interface, volume string) *longhornFacts {
	lf := &longhornFacts{settings: map[string]string{}}
	if dyn == nil {
		lf.err = fmt.Errorf("no dynamic client")
		return lf
	}
	sl, err := dyn.Resource(lhSettings).Namespace(lhNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		lf.settingErr = err
	} else {
		for _, s := range sl.Items {
			v, _, _ := unstructured.NestedString(s.Object, "value")
			lf.settings[s.GetName()] = v
		}
	}
	if volume == "" {
		lf.volumeErr = fmt.Errorf("the PVC is not bound to a volume yet")
		return lf
	}
	lf.volume, lf.volumeErr = dyn.Resource(lhVolumes).Namespace(lhNamespace).Get(ctx, volume, metav1.GetOptions{})
	if lf.volumeErr != nil {
		lf.volume = nil
		return lf
	}
	rl, err := dyn.Resource(lhReplicas).Namespace(lhNamespace).List(ctx, metav1.ListOptions{LabelSelector: "longhornvolume=" + volume})
	if err == nil {
		modes, _, _ := unstructured.NestedStringMap(lf.volume.Object, "status", "replicaModeMap")
		for _, r := range rl.Items {
			if !selectorMatches(map[string]string{"longhornvolume": volume}, r.GetLabels()) {
				continue
			}
			node, _, _ := unstructured.NestedString(r.Object, "spec", "nodeID")
			lf.replicas = append(lf.replicas, replica{name: r.GetName(), node: node, mode: modes[r.GetName()]})
		}
		sort.Slice(lf.replicas, func(i, j int) bool { return lf.replicas[i].name < lf.replicas[j].name })
	}
	return lf
}

// deletesDeploymentPods: Longhorn force-deletes a Deployment's terminating pod on a down node.
func (lf *longhornFacts) deletesDeploymentPods() bool {
	v := lf.settings[settingNodeDown]
	return v == "delete-deployment-pod" || v == "delete-both-statefulset-and-deployment-pod"
}

func (lf *longhornFacts) checks(f *facts) []Check {
	var out []Check
	add := func(id string, st Status, reason, fix string) {
		if st == Pass {
			fix = ""
		}
		out = append(out, Check{ID: "storage.longhorn." + id, Area: "storage", Status: st, Reason: reason, Fix: fix})
	}
	if lf.err != nil {
		add("read", Unknown, "Longhorn's objects were not read: "+lf.err.Error(), "run with a kubeconfig that can read longhorn.io (deploy/rbac.yaml)")
		return out
	}
	// numberOfReplicas: the volume's own, else the StorageClass parameter.
	n, src := int64(0), ""
	if lf.volume != nil {
		if v, ok, _ := unstructured.NestedInt64(lf.volume.Object, "spec", "numberOfReplicas"); ok {
			n, src = v, "volume "+lf.volume.GetName()
		}
	}
	if src == "" && f.sc != nil {
		if v, err := strconv.ParseInt(f.sc.Parameters["numberOfReplicas"], 10, 64); err == nil {
			n, src = v, "StorageClass "+f.sc.Name
		}
	}
	switch {
	case src == "":
		add("replicas", Unknown, "numberOfReplicas not found on the volume or the StorageClass", "set parameters.numberOfReplicas: \"3\" on the StorageClass")
	case n >= 2:
		add("replicas", Pass, fmt.Sprintf("numberOfReplicas %d (%s)", n, src), "")
	default:
		add("replicas", Fail, fmt.Sprintf("numberOfReplicas %d (%s): the data lives on one node", n, src), "set numberOfReplicas to 3 (at least 2)")
	}
	if lf.settingErr != nil {
		add("settings", Unknown, "cannot list Longhorn settings: "+lf.settingErr.Error(), "grant list on settings.longhorn.io in "+lhNamespace)
	} else {
		setting := func(name, want, fix string, bad Status) {
			v, ok := lf.settings[name]
			switch {
			case !ok:
				add(name, Unknown, "setting "+name+" not found", fix)
			case strings.EqualFold(v, want):
				add(name, Pass, name+" = "+v, "")
			default:
				add(name, bad, name+" = "+v+" (HA wants "+want+")", fix)
			}
		}
		setting(settingSoftAnti, "false", "set replica-soft-anti-affinity to false so no two replicas share a node", Warn)
		setting(settingZoneSoftAnti, "false", "set replica-zone-soft-anti-affinity to false so replicas spread over zones", Warn)
		setting(settingAutoSalvage, "true", "set auto-salvage to true so a volume whose replicas all failed recovers by itself", Warn)
		if v, ok := lf.settings[settingNodeDown]; ok && lf.deletesDeploymentPods() {
			add(settingNodeDown, Pass, settingNodeDown+" = "+v+": a lost node's pod is force-deleted, no 6-minute detach wait", "")
		} else {
			add(settingNodeDown, Warn, fmt.Sprintf("%s = %q: after a node loss the volume waits Kubernetes' 6-minute forced detach", settingNodeDown, v), "set node-down-pod-deletion-policy to delete-deployment-pod (or delete-both-statefulset-and-deployment-pod)")
		}
		if v, ok := lf.settings[settingReplenish]; ok {
			add(settingReplenish, Pass, fmt.Sprintf("%s = %ss: how long a degraded volume waits before building a fresh replica", settingReplenish, v), "")
		}
	}
	if lf.volume != nil {
		dl, _, _ := unstructured.NestedString(lf.volume.Object, "spec", "dataLocality")
		if dl == "strict-local" {
			add("data-locality", Fail, "dataLocality strict-local: the only replica is on the pod's node", "use dataLocality disabled or best-effort")
		} else {
			add("data-locality", Pass, "dataLocality "+orDefault(dl, "disabled"), "")
		}
		rob, _, _ := unstructured.NestedString(lf.volume.Object, "status", "robustness")
		switch rob {
		case "healthy":
			add("health", Pass, "volume "+lf.volume.GetName()+" is healthy", "")
		case "degraded":
			add("health", Warn, "volume "+lf.volume.GetName()+" is degraded: a replica is missing or rebuilding", "wait for the rebuild before breaking anything (kubectl -n longhorn-system get lhv)")
		case "faulted":
			add("health", Fail, "volume "+lf.volume.GetName()+" is faulted: no usable replica", "salvage the volume before testing (Longhorn UI or auto-salvage)")
		default:
			add("health", Unknown, "volume "+lf.volume.GetName()+" robustness "+orDefault(rob, "(none)")+": detached volumes report no robustness", "check with the pod running")
		}
		nodes := map[string][]string{}
		for _, r := range lf.replicas {
			nodes[r.node] = append(nodes[r.node], r.name)
		}
		var shared []string
		for node, rs := range nodes {
			if len(rs) > 1 {
				shared = append(shared, fmt.Sprintf("%s holds %s", orDefault(node, "(unscheduled)"), strings.Join(rs, ", ")))
			}
		}
		sort.Strings(shared)
		switch {
		case len(lf.replicas) == 0:
			add("replica-spread", Unknown, "no replicas found for volume "+lf.volume.GetName(), "grant list on replicas.longhorn.io")
		case len(shared) > 0:
			add("replica-spread", Fail, "replicas share a node: "+strings.Join(shared, "; "), "turn replica soft anti-affinity off and let Longhorn rebuild them elsewhere")
		default:
			add("replica-spread", Pass, fmt.Sprintf("%d replicas on %d different nodes", len(lf.replicas), len(nodes)), "")
		}
	} else if lf.volumeErr != nil {
		add("health", Unknown, "Longhorn volume not read: "+lf.volumeErr.Error(), "grant get on volumes.longhorn.io")
	}
	return out
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
