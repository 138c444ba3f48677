package preflight

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/irischaos/irischaos/pkg/mitigation"
	"github.com/irischaos/irischaos/pkg/storagehealth"
)

// The Longhorn settings that decide node-loss behaviour, with the value HA wants.
const (
	settingNodeDown     = mitigation.LonghornNodeDownSetting
	settingSoftAnti     = "replica-soft-anti-affinity"
	settingZoneSoftAnti = "replica-zone-soft-anti-affinity"
	settingReplenish    = "replica-replenishment-wait-interval"
	settingAutoSalvage  = "auto-salvage"
)

// longhornFacts is what was read of Longhorn (storagehealth.Longhorn
// reads it: one reading of Longhorn's objects for preflight and observer).
type longhornFacts struct {
	notServed  string // why Longhorn's API is not there (not installed)
	err        error  // reading Longhorn failed as a whole
	settings   map[string]string
	settingErr error
	volume     *storagehealth.LonghornVolume
	volumeErr  error
}

func readLonghorn(ctx context.Context, dyn dynamic.Interface, kube kubernetes.Interface, volume string) *longhornFacts {
	lf := &longhornFacts{settings: map[string]string{}}
	if dyn == nil {
		lf.err = fmt.Errorf("no dynamic client")
		return lf
	}
	if kube != nil {
		if ok, why := storagehealth.LonghornServed(kube.Discovery()); !ok {
			lf.notServed = why
			return lf
		}
	}
	l := storagehealth.Longhorn{Dynamic: dyn, Kube: kube, Volume: volume}
	if s, err := l.Settings(ctx); err != nil {
		lf.settingErr = err
	} else {
		lf.settings = s
	}
	if volume == "" {
		lf.volumeErr = fmt.Errorf("the PVC is not bound to a volume yet")
		return lf
	}
	v, err := l.Read(ctx)
	if v.Name == "" {
		lf.volumeErr = err
		return lf
	}
	lf.volume = &v
	return lf
}

// deletesDeploymentPods: Longhorn force-deletes a Deployment's terminating pod on a down node.
func (lf *longhornFacts) deletesDeploymentPods() bool {
	v := lf.settings[settingNodeDown]
	return v == "delete-deployment-pod" || v == mitigation.LonghornNodeDownValue
}

func (lf *longhornFacts) checks(f *facts) []Check {
	var out []Check
	add := func(id string, st Status, reason, fix string) {
		if st == Pass {
			fix = ""
		}
		out = append(out, Check{ID: "storage.longhorn." + id, Area: "storage", Status: st, Reason: reason, Fix: fix})
	}
	if lf.notServed != "" {
		add("read", Unknown, "Longhorn's objects were not read: "+lf.notServed, "install Longhorn (see README) or use a StorageClass of the storage in place")
		return out
	}
	if lf.err != nil {
		add("read", Unknown, "Longhorn's objects were not read: "+lf.err.Error(), "run with a kubeconfig that can read longhorn.io (deploy/rbac.yaml)")
		return out
	}
	// numberOfReplicas: the volume's own, else the StorageClass parameter.
	n, src := int64(0), ""
	if lf.volume != nil && lf.volume.NumberOfReplicas > 0 {
		n, src = lf.volume.NumberOfReplicas, "volume "+lf.volume.Name
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
		add("settings", Unknown, "cannot list Longhorn settings: "+lf.settingErr.Error(), "grant list on settings.longhorn.io in "+storagehealth.LonghornNamespace)
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
		name := lf.volume.Name
		dl := lf.volume.DataLocality
		if dl == "strict-local" {
			add("data-locality", Fail, "dataLocality strict-local: the only replica is on the pod's node", "use dataLocality disabled or best-effort")
		} else {
			add("data-locality", Pass, "dataLocality "+orDefault(dl, "disabled"), "")
		}
		rob := lf.volume.Robustness
		switch rob {
		case storagehealth.RobustnessHealthy:
			add("health", Pass, "volume "+name+" is healthy", "")
		case storagehealth.RobustnessDegraded:
			add("health", Warn, "volume "+name+" is degraded: a replica is missing or rebuilding", "wait for the rebuild before breaking anything (kubectl -n longhorn-system get lhv)")
		case storagehealth.RobustnessFaulted:
			add("health", Fail, "volume "+name+" is faulted: no usable replica", "salvage the volume before testing (Longhorn UI or auto-salvage)")
		default:
			add("health", Unknown, "volume "+name+" robustness "+orDefault(rob, "(none)")+": detached volumes report no robustness", "check with the pod running")
		}
		nodes := map[string][]string{}
		for _, r := range lf.volume.Replicas {
			nodes[r.Node] = append(nodes[r.Node], r.ID)
		}
		var shared []string
		for node, rs := range nodes {
			if len(rs) > 1 {
				shared = append(shared, fmt.Sprintf("%s holds %s", orDefault(node, "(unscheduled)"), strings.Join(rs, ", ")))
			}
		}
		sort.Strings(shared)
		switch {
		case len(lf.volume.Replicas) == 0:
			add("replica-spread", Unknown, "no replicas found for volume "+name, "grant list on replicas.longhorn.io")
		case len(shared) > 0:
			add("replica-spread", Fail, "replicas share a node: "+strings.Join(shared, "; "), "turn replica soft anti-affinity off and let Longhorn rebuild them elsewhere")
		default:
			add("replica-spread", Pass, fmt.Sprintf("%d replicas on %d different nodes", len(lf.volume.Replicas), len(nodes)), "")
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
