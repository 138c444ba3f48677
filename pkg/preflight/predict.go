package preflight

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/irischaos/irischaos/pkg/fault"
)

// defaultTolerationSeconds is what the DefaultTolerationSeconds admission
// plugin gives a pod that declares no not-ready/unreachable toleration.
const defaultTolerationSeconds = 300

// longhornNodeDown is how long Longhorn's node-down pod deletion policy takes,
// once the pod is terminating on a down node, to force-delete it and move the
// volume (longhorn/longhorn#2178 measured about 1.5 minutes).
const longhornNodeDown = 90 * time.Second

// predict adds up, per failure domain, the waits the cluster's settings
// impose: detection, eviction, volume hand-over and IRIS's start.
func (f *facts) predict() []Prediction {
	if f.deploy == nil {
		return nil
	}
	a := f.o.Assumptions
	c := f.container()
	start := Term{"IRIS start and crash recovery (assumed)", a.IRISStart}
	attach := Term{"volume attach and mount (assumed)", a.Attach}
	var out []Prediction
	mk := func(domain string, terms ...Term) Prediction {
		p := Prediction{Domain: domain, Terms: terms}
		for _, t := range terms {
			p.RTO += t.D
		}
		return p
	}
	if c != nil && c.LivenessProbe != nil {
		out = append(out, mk(fault.DomainIRIS,
			Term{fmt.Sprintf("liveness probe: %d failures x %ds", failures(c.LivenessProbe), period(c.LivenessProbe)), livenessDetect(c.LivenessProbe)},
			start))
	}
	grace := time.Duration(corev1.DefaultTerminationGracePeriodSeconds) * time.Second
	if g := f.deploy.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	stop := Term{"clean IRIS shutdown (assumed, within the grace period)", min(a.IRISStop, grace)}
	out = append(out, mk(fault.DomainPod, stop, attach, start))
	out = append(out, mk(fault.DomainNodeTemporary, stop, Term{"detach from the drained node", a.Attach}, attach, start))

	lost := []Term{{"node monitor grace period (NotReady)", a.NodeMonitorGrace}}
	tol, ok := f.tolerates(corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute})
	switch {
	case a.OutOfService:
		lost = append(lost, Term{"out-of-service taint: pod deleted and volume detached at once", 0})
	case ok && tol < 0:
		lost = append(lost, Term{"pod tolerates unreachable forever: never evicted", 0})
		p := mk(fault.DomainNodeLost, lost...)
		p.RTO = -1
		return append(out, p)
	default:
		if !ok {
			tol = defaultTolerationSeconds
		}
		lost = append(lost, Term{fmt.Sprintf("unreachable toleration (%ds) before eviction", tol), time.Duration(tol) * time.Second})
		switch {
		case f.longhorn != nil && f.longhorn.deletesDeploymentPods():
			lost = append(lost, Term{"Longhorn node-down pod deletion policy: force delete and detach", longhornNodeDown})
		case f.attach:
			// Measured on the local cluster's Ceph RBD with upstream
			// timings: the evicted pod stays Terminating on the lost node
			// and its volume stays attached there; the forced detach
			// (maxWaitForUnmountDuration) only counts once the pod is gone.
			lost = append(lost,
				Term{"evicted pod stays Terminating on the lost node, its volume attached there (Multi-Attach) until the pod is deleted by hand or the out-of-service taint", 0},
				Term{"then the attach-detach controller's forced detach (maxWaitForUnmountDuration)", a.ForceDetach})
			p := mk(fault.DomainNodeLost, lost...)
			p.RTO = -1
			return append(out, p)
		}
	}
	lost = append(lost, attach, start)
	return append(out, mk(fault.DomainNodeLost, lost...))
}
