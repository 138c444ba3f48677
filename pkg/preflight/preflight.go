// Package preflight checks, before anything is broken, that a cluster and a
// deployed IRIS stack are set up for the seed's high availability, and
// predicts the RTO of each failure domain from what it found. It only reads.
package preflight

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/irischaos/irischaos/pkg/stack"
	"github.com/irischaos/irischaos/pkg/stackid"
	"github.com/irischaos/irischaos/pkg/storagehealth"
)

// Status of one check. The order is severity: a report is as bad as its worst check.
type Status string

const (
	Pass    Status = "PASS"
	Warn    Status = "WARN"
	Fail    Status = "FAIL"
	Unknown Status = "UNKNOWN" // could not tell (RBAC, object missing upstream of the check)
)

func (s Status) rank() int {
	switch s {
	case Pass:
		return 0
	case Warn:
		return 1
	case Unknown:
		return 2
	case Fail:
		return 3
	}
	return 2
}

// Check is one finding, with what to do about it when it is not a PASS.
type Check struct {
	ID     string `json:"id"`   // stable, e.g. "nodes.workers"
	Area   string `json:"area"` // nodes, storage, deployment
	Status Status `json:"status"`
	Reason string `json:"reason"`
	Fix    string `json:"fix,omitempty"`
}

// Prediction is the RTO a failure domain should show given what was found,
// with the terms that add up to it so a reader can see which one dominates.
type Prediction struct {
	Domain string        `json:"domain"`
	RTO    time.Duration `json:"rto_ns"`
	Terms  []Term        `json:"terms"`
}

// Term is one addend of a prediction.
type Term struct {
	What string        `json:"what"`
	D    time.Duration `json:"duration_ns"`
}

// Report is what Run found.
type Report struct {
	Namespace   string       `json:"namespace"`
	Deployment  string       `json:"deployment"`
	Storage     string       `json:"storage,omitempty"` // what serves the PVC, e.g. "Longhorn (driver.longhorn.io)"
	Checks      []Check      `json:"checks"`
	Predictions []Prediction `json:"predictions"`
	Assumptions Assumptions  `json:"assumptions"`
}

// Worst is the worst status of all checks (PASS for none).
func (r Report) Worst() Status {
	w := Pass
	for _, c := range r.Checks {
		if c.Status.rank() > w.rank() {
			w = c.Status
		}
	}
	return w
}

// ExitCode is the preflight command's: 0 ready (PASS or WARN only), 1 not
// ready (a FAIL), 2 could not tell (an UNKNOWN and no FAIL).
func (r Report) ExitCode() int {
	switch r.Worst() {
	case Fail:
		return 1
	case Unknown:
		return 2
	}
	return 0
}

// Predicted returns the prediction for a failure domain.
func (r Report) Predicted(domain string) (Prediction, bool) {
	for _, p := range r.Predictions {
		if p.Domain == domain {
			return p, true
		}
	}
	return Prediction{}, false
}

// Assumptions are the figures a prediction needs that the cluster does not
// show to a client: the control plane's flags of a managed cluster are not
// readable, and IRIS's start time depends on its database.
type Assumptions struct {
	// NodeMonitorGrace: kube-controller-manager --node-monitor-grace-period
	// (50 s by default since Kubernetes 1.32).
	NodeMonitorGrace time.Duration `json:"node_monitor_grace_ns"`
	// ForceDetach: the attach-detach controller's maxWaitForUnmountDuration,
	// hard-coded to 6 minutes, before an RWO volume on a lost node is detached.
	ForceDetach time.Duration `json:"force_detach_ns"`
	// IRISStart: from container start to the first acknowledged write,
	// including crash recovery (journal restore).
	IRISStart time.Duration `json:"iris_start_ns"`
	// IRISStop: a clean `iris stop` when the pod is deleted gracefully.
	IRISStop time.Duration `json:"iris_stop_ns"`
	// Attach: a volume attached and mounted on a node that is up.
	Attach time.Duration `json:"attach_ns"`
	// OutOfService: the out-of-service taint is applied as soon as the node
	// is NotReady (irischaos' mitigation or an operator's automation).
	OutOfService bool `json:"out_of_service"`
}

// DefaultAssumptions are Kubernetes' defaults and a real IRIS's start on a
// healthy volume.
func DefaultAssumptions() Assumptions {
	return Assumptions{
		NodeMonitorGrace: 50 * time.Second,
		ForceDetach:      6 * time.Minute,
		IRISStart:        30 * time.Second,
		IRISStop:         10 * time.Second,
		Attach:           10 * time.Second,
	}
}

// Options say what to check.
type Options struct {
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface // Longhorn's objects; nil skips them with a WARN
	// Namespace of the stack (required); Deployment defaults to the stack's.
	Namespace  string
	Deployment string
	// Assumptions; zero fields take DefaultAssumptions.
	Assumptions Assumptions
	// CephRun runs the ceph CLI for a Ceph RBD class irischaos can read
	// (storagehealth.ForStorageClass); nil runs `ceph -c <conf>`. Tests
	// replace it.
	CephRun func(ctx context.Context, args ...string) ([]byte, error)
}

// Run checks the cluster and the stack. An error means the cluster could not
// be read at all (unreachable, namespace missing); findings are never errors.
func Run(ctx context.Context, o Options) (Report, error) {
	if o.Namespace == "" {
		return Report{}, fmt.Errorf("preflight: no namespace given: pass -n NAMESPACE (where the IRIS stack is deployed)")
	}
	if o.Deployment == "" {
		o.Deployment = stackid.Deployment
	}
	o.Assumptions = withDefaults(o.Assumptions)
	if _, err := o.Kube.CoreV1().Namespaces().Get(ctx, o.Namespace, metav1.GetOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return Report{}, fmt.Errorf("preflight: namespace %q does not exist: deploy the stack first (irischaos stack deploy -n %s) or pass the right -n", o.Namespace, o.Namespace)
		}
		return Report{}, fmt.Errorf("preflight: reading namespace %q: %w", o.Namespace, err)
	}
	r := Report{Namespace: o.Namespace, Deployment: o.Deployment, Assumptions: o.Assumptions}
	f := &facts{o: o}
	f.read(ctx, &r)
	r.Checks = append(r.Checks, f.nodeChecks()...)
	r.Checks = append(r.Checks, f.storageChecks(ctx, &r)...)
	r.Checks = append(r.Checks, f.deploymentChecks()...)
	r.Predictions = f.predict()
	return r, nil
}

func withDefaults(a Assumptions) Assumptions {
	d := DefaultAssumptions()
	if a.NodeMonitorGrace <= 0 {
		a.NodeMonitorGrace = d.NodeMonitorGrace
	}
	if a.ForceDetach <= 0 {
		a.ForceDetach = d.ForceDetach
	}
	if a.IRISStart <= 0 {
		a.IRISStart = d.IRISStart
	}
	if a.IRISStop <= 0 {
		a.IRISStop = d.IRISStop
	}
	if a.Attach <= 0 {
		a.Attach = d.Attach
	}
	return a
}

// facts is what was read, shared by the checks and the predictions.
type facts struct {
	o        Options
	nodes    []corev1.Node
	nodesErr error
	deploy   *appsv1.Deployment
	depErr   error
	pod      *corev1.Pod // the stack's running pod, when there is one
	pvc      *corev1.PersistentVolumeClaim
	pvcErr   error
	sc       *storagev1.StorageClass
	scErr    error
	pv       *corev1.PersistentVolume
	cpf      string // the CPF merge file's text, when found
	longhorn *longhornFacts
	// attach: the volume goes through a VolumeAttachment (its CSI driver
	// requires attach, as Longhorn's does; no CSIDriver object means it
	// does), so it stays attached to a lost node while the old pod exists.
	attach bool
}

func (f *facts) read(ctx context.Context, r *Report) {
	kube := f.o.Kube
	nl, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		f.nodesErr = err
	} else {
		f.nodes = nl.Items
	}
	f.deploy, f.depErr = kube.AppsV1().Deployments(f.o.Namespace).Get(ctx, f.o.Deployment, metav1.GetOptions{})
	if f.depErr != nil {
		f.deploy = nil
		return
	}
	if sel, err := metav1.LabelSelectorAsSelector(f.deploy.Spec.Selector); err == nil {
		if pl, err := kube.CoreV1().Pods(f.o.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()}); err == nil {
			if p, err := stackid.Pick(pl.Items); err == nil && p.Spec.NodeName != "" {
				f.pod = p
			}
		}
	}
	claim := f.dataClaim()
	if claim == "" {
		return
	}
	f.pvc, f.pvcErr = kube.CoreV1().PersistentVolumeClaims(f.o.Namespace).Get(ctx, claim, metav1.GetOptions{})
	if f.pvcErr != nil {
		f.pvc = nil
		return
	}
	if f.pvc.Spec.StorageClassName != nil && *f.pvc.Spec.StorageClassName != "" {
		f.sc, f.scErr = kube.StorageV1().StorageClasses().Get(ctx, *f.pvc.Spec.StorageClassName, metav1.GetOptions{})
		if f.scErr != nil {
			f.sc = nil
		}
	}
	if f.pvc.Spec.VolumeName != "" {
		if pv, err := kube.CoreV1().PersistentVolumes().Get(ctx, f.pvc.Spec.VolumeName, metav1.GetOptions{}); err == nil {
			f.pv = pv
			if pv.Spec.CSI != nil {
				f.attach = true
				if d, err := kube.StorageV1().CSIDrivers().Get(ctx, pv.Spec.CSI.Driver, metav1.GetOptions{}); err == nil && d.Spec.AttachRequired != nil {
					f.attach = *d.Spec.AttachRequired
				}
			}
		}
	}
	for _, v := range f.deploy.Spec.Template.Spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		if cm, err := kube.CoreV1().ConfigMaps(f.o.Namespace).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{}); err == nil {
			for _, text := range cm.Data {
				if strings.Contains(text, "[") {
					f.cpf += text + "\n"
				}
			}
		}
	}
	if f.isLonghorn() {
		f.longhorn = readLonghorn(ctx, f.o.Dynamic, f.o.Kube, f.volumeHandle())
	}
}

// container is the IRIS container of the Deployment's template.
func (f *facts) container() *corev1.Container {
	if f.deploy == nil {
		return nil
	}
	cs := f.deploy.Spec.Template.Spec.Containers
	for i := range cs {
		if cs[i].Name == stackid.Container {
			return &cs[i]
		}
	}
	if len(cs) == 1 {
		return &cs[0]
	}
	return nil
}

func envValue(c *corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// dataDir is ISC_DATA_DIRECTORY: where durable %SYS, the journals and the WIJ live.
func (f *facts) dataDir() string {
	if c := f.container(); c != nil {
		return envValue(c, "ISC_DATA_DIRECTORY")
	}
	return ""
}

// dataClaim is the PVC mounted at (or above) the data directory, else the
// first PVC the pod mounts.
func (f *facts) dataClaim() string {
	c := f.container()
	if c == nil {
		return ""
	}
	claims := map[string]string{} // volume name -> claim
	first := ""
	for _, v := range f.deploy.Spec.Template.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			claims[v.Name] = v.PersistentVolumeClaim.ClaimName
			if first == "" {
				first = v.PersistentVolumeClaim.ClaimName
			}
		}
	}
	if m := f.mountFor(f.dataDir()); m != nil {
		if cl, ok := claims[m.Name]; ok {
			return cl
		}
	}
	return first
}

// mountFor is the deepest volume mount holding path.
func (f *facts) mountFor(path string) *corev1.VolumeMount {
	c := f.container()
	if c == nil || path == "" {
		return nil
	}
	var best *corev1.VolumeMount
	for i := range c.VolumeMounts {
		m := &c.VolumeMounts[i]
		mp := strings.TrimRight(m.MountPath, "/")
		if path == mp || strings.HasPrefix(path, mp+"/") {
			if best == nil || len(m.MountPath) > len(best.MountPath) {
				best = m
			}
		}
	}
	return best
}

// onClaim reports whether path lives on the PVC's volume.
func (f *facts) onClaim(path string) bool {
	m := f.mountFor(path)
	if m == nil || f.deploy == nil {
		return false
	}
	for _, v := range f.deploy.Spec.Template.Spec.Volumes {
		if v.Name == m.Name {
			return v.PersistentVolumeClaim != nil
		}
	}
	return false
}

func (f *facts) volumeHandle() string {
	if f.pv != nil && f.pv.Spec.CSI != nil {
		return f.pv.Spec.CSI.VolumeHandle
	}
	if f.pv != nil {
		return f.pv.Name
	}
	return ""
}

func (f *facts) provisioner() string {
	if f.sc != nil {
		return f.sc.Provisioner
	}
	if f.pv != nil && f.pv.Spec.CSI != nil {
		return f.pv.Spec.CSI.Driver
	}
	return ""
}

func (f *facts) isLonghorn() bool { return f.provisioner() == storagehealth.LonghornDriver }

const controlPlaneLabel = "node-role.kubernetes.io/control-plane"

// workers are the nodes the IRIS pod could run on: Ready, schedulable, not
// reserved for the control plane by a NoSchedule taint.
func (f *facts) workers() []corev1.Node {
	var out []corev1.Node
	for _, n := range f.nodes {
		if n.Spec.Unschedulable || !nodeReady(n) {
			continue
		}
		reserved := false
		for _, t := range n.Spec.Taints {
			if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
				if _, tolerated := f.tolerates(t); !tolerated {
					reserved = true
				}
			}
		}
		if _, cp := n.Labels[controlPlaneLabel]; cp && reserved {
			continue
		}
		if !reserved {
			out = append(out, n)
		}
	}
	return out
}

func nodeReady(n corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func zoneOf(n corev1.Node) string { return n.Labels[corev1.LabelTopologyZone] }

// tolerates reports whether the pod template tolerates the taint, and for
// how long (-1: forever) when its effect is NoExecute.
func (f *facts) tolerates(t corev1.Taint) (int64, bool) {
	if f.deploy == nil {
		return 0, false
	}
	for _, tol := range f.deploy.Spec.Template.Spec.Tolerations {
		if tol.ToleratesTaint(klog.Background(), &t, false) {
			if tol.TolerationSeconds != nil {
				return *tol.TolerationSeconds, true
			}
			return -1, true
		}
	}
	return 0, false
}

func (f *facts) nodeChecks() []Check {
	if f.nodesErr != nil {
		return []Check{{ID: "nodes.list", Area: "nodes", Status: Unknown,
			Reason: fmt.Sprintf("cannot list nodes: %v", f.nodesErr),
			Fix:    "grant list on nodes (deploy/rbac.yaml) to the identity irischaos runs as"}}
	}
	var out []Check
	ws := f.workers()
	names := make([]string, 0, len(ws))
	zones := map[string]int{}
	for _, n := range ws {
		names = append(names, n.Name)
		if z := zoneOf(n); z != "" {
			zones[z]++
		}
	}
	c := Check{ID: "nodes.workers", Area: "nodes", Reason: fmt.Sprintf("%d Ready schedulable worker node(s): %s", len(ws), strings.Join(names, ", "))}
	switch {
	case len(ws) >= 3:
		c.Status = Pass
	case len(ws) == 2:
		c.Status, c.Fix = Warn, "add a third worker: with two, a drain during a node loss leaves nowhere to go, and replicated storage cannot keep 3 copies"
	default:
		c.Status, c.Fix = Fail, "add worker nodes: with one, the IRIS pod has nowhere to go when its node fails"
	}
	out = append(out, c)

	zc := Check{ID: "nodes.zones", Area: "nodes"}
	switch {
	case len(zones) >= 2:
		zc.Status, zc.Reason = Pass, fmt.Sprintf("workers spread over %d zones (%s)", len(zones), zoneList(zones))
	case len(zones) == 1:
		zc.Status, zc.Reason = Warn, fmt.Sprintf("every worker is in zone %s: a zone outage takes IRIS down with no place to restart", zoneList(zones))
		zc.Fix = "spread workers over at least 2 zones (label " + corev1.LabelTopologyZone + ")"
	default:
		zc.Status, zc.Reason = Warn, "no worker carries "+corev1.LabelTopologyZone+": zone spread cannot be checked"
		zc.Fix = "label nodes with their zone (cloud providers do it; on-prem: kubectl label node NODE " + corev1.LabelTopologyZone + "=ZONE)"
	}
	out = append(out, zc)

	ec := Check{ID: "nodes.elsewhere", Area: "nodes"}
	if f.pod == nil {
		ec.Status, ec.Reason = Unknown, "no running IRIS pod: cannot tell where it would go"
		ec.Fix = "deploy the stack and wait for the pod (irischaos stack deploy)"
	} else {
		home := f.pod.Spec.NodeName
		homeZone := ""
		for _, n := range f.nodes {
			if n.Name == home {
				homeZone = zoneOf(n)
			}
		}
		other, otherZone := 0, 0
		for _, n := range ws {
			if n.Name == home {
				continue
			}
			other++
			if zoneOf(n) != "" && zoneOf(n) != homeZone {
				otherZone++
			}
		}
		switch {
		case otherZone > 0:
			ec.Status, ec.Reason = Pass, fmt.Sprintf("the IRIS pod runs on %s (zone %q); %d other worker(s), %d in another zone", home, homeZone, other, otherZone)
		case other > 0:
			ec.Status, ec.Reason = Warn, fmt.Sprintf("the IRIS pod runs on %s; %d other worker(s), none in another zone", home, other)
			ec.Fix = "add a worker in another zone so a zone outage leaves somewhere to go"
		default:
			ec.Status, ec.Reason = Fail, fmt.Sprintf("the IRIS pod runs on %s and no other worker can take it", home)
			ec.Fix = "add schedulable workers (or remove the taints/cordons that keep the pod off them)"
		}
	}
	return append(out, ec)
}

func zoneList(z map[string]int) string {
	names := make([]string, 0, len(z))
	for k, v := range z {
		names = append(names, fmt.Sprintf("%s: %d", k, v))
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func (f *facts) storageChecks(ctx context.Context, r *Report) []Check {
	_ = ctx
	if f.deploy == nil {
		return nil // the deployment check says why
	}
	claim := f.dataClaim()
	if claim == "" {
		return []Check{{ID: "storage.pvc", Area: "storage", Status: Fail,
			Reason: fmt.Sprintf("deployment %s/%s mounts no PersistentVolumeClaim: the database dies with its pod", f.o.Namespace, f.o.Deployment),
			Fix:    "mount a PVC at ISC_DATA_DIRECTORY (irischaos stack deploy does)"}}
	}
	if f.pvcErr != nil {
		return []Check{{ID: "storage.pvc", Area: "storage", Status: Unknown,
			Reason: fmt.Sprintf("cannot read PVC %s/%s: %v", f.o.Namespace, claim, f.pvcErr), Fix: "create the PVC or grant get on persistentvolumeclaims"}}
	}
	var out []Check
	cls := ""
	if f.pvc.Spec.StorageClassName != nil {
		cls = *f.pvc.Spec.StorageClassName
	}
	c := Check{ID: "storage.class", Area: "storage"}
	prov := f.provisioner()
	switch {
	case f.sc == nil && f.scErr != nil:
		c.Status, c.Reason, c.Fix = Unknown, fmt.Sprintf("cannot read StorageClass %q of PVC %s: %v", cls, claim, f.scErr), "grant get on storageclasses"
	case prov == storagehealth.LonghornDriver:
		r.Storage = "Longhorn (" + storagehealth.LonghornDriver + ")"
		c.Status, c.Reason = Pass, fmt.Sprintf("PVC %s uses class %q, served by Longhorn (replicated block storage)", claim, cls)
	case prov == "kubernetes.io/no-provisioner" || f.nodeLocalPV():
		r.Storage = "node-local (" + prov + ")"
		c.Status, c.Reason = Fail, fmt.Sprintf("PVC %s uses class %q: a node-local volume, lost with its node; the replacement pod stays Pending on the volume's node affinity", claim, cls)
		c.Fix = "use a replicated class (Longhorn with numberOfReplicas >= 2)"
	default:
		r.Storage = prov
		desc := ""
		if f.sc != nil {
			desc = f.sc.Annotations[stack.StandInAnnotation]
		}
		if desc != "" {
			c.Status, c.Reason = Warn, fmt.Sprintf("PVC %s uses class %q (%s): %s; irischaos reads its replication only for Longhorn", claim, cls, prov, desc)
		} else {
			c.Status, c.Reason = Warn, fmt.Sprintf("PVC %s uses class %q (%s): not Longhorn, its replication cannot be checked here", claim, cls, prov)
		}
		c.Fix = "make sure the class keeps at least 2 copies on different nodes (and zones)"
	}
	if src, ok := storagehealth.ForStorageClass(f.sc, scDescription(f.sc)); ok {
		if ceph, ok := src.(storagehealth.Ceph); ok {
			ceph.Run = f.o.CephRun
			cc := f.cephChecks(ctx, ceph)
			if worst(cc) == Pass {
				c.Status, c.Fix = Pass, ""
				c.Reason = fmt.Sprintf("PVC %s uses class %q, served by %s; its replication is read below", claim, cls, scDescription(f.sc))
			}
			return append(append(out, c), cc...)
		}
	}
	out = append(out, c)
	if f.isLonghorn() {
		out = append(out, f.longhorn.checks(f)...)
	}
	return out
}

func scDescription(sc *storagev1.StorageClass) string {
	if sc == nil {
		return ""
	}
	return sc.Annotations[stack.StandInAnnotation]
}

func worst(cs []Check) Status {
	return Report{Checks: cs}.Worst()
}

// cephChecks read a Ceph RBD pool's replication and health: at least two
// copies, spread over hosts (or wider), and every copy there now.
func (f *facts) cephChecks(ctx context.Context, c storagehealth.Ceph) []Check {
	var out []Check
	r, err := c.Replication(ctx)
	if err != nil {
		return []Check{{ID: "storage.ceph.replication", Area: "storage", Status: Unknown,
			Reason: fmt.Sprintf("cannot read pool %s: %v", c.Pool, err), Fix: "run the preflight where the ceph CLI reaches the cluster's monitors"}}
	}
	size := Check{ID: "storage.ceph.size", Area: "storage", Status: Pass,
		Reason: fmt.Sprintf("pool %s keeps %d copies (min_size %d: I/O stops below that many)", c.Pool, r.Size, r.MinSize)}
	switch {
	case r.Size < 2:
		size.Status, size.Fix = Fail, fmt.Sprintf("ceph osd pool set %s size 3", c.Pool)
		size.Reason = fmt.Sprintf("pool %s keeps %d copy: a node's loss loses the volume", c.Pool, r.Size)
	case r.MinSize >= r.Size:
		size.Status, size.Fix = Warn, fmt.Sprintf("ceph osd pool set %s min_size %d", c.Pool, r.Size-1)
		size.Reason += ": one copy down stops I/O"
	}
	out = append(out, size)
	fd := Check{ID: "storage.ceph.failure_domain", Area: "storage", Status: Pass,
		Reason: fmt.Sprintf("copies are spread over %s buckets (the pool's CRUSH rule)", r.FailureDomain)}
	if r.FailureDomain == "osd" || r.FailureDomain == "" {
		fd.Status, fd.Fix = Fail, "use a CRUSH rule with failure domain host (or zone)"
		fd.Reason = fmt.Sprintf("the pool's CRUSH rule spreads copies over %q: two copies may share a node", r.FailureDomain)
	}
	out = append(out, fd)
	h := Check{ID: "storage.ceph.health", Area: "storage"}
	st, err := c.Health(ctx)
	switch {
	case err != nil:
		h.Status, h.Reason, h.Fix = Unknown, fmt.Sprintf("cannot read pool %s's placement groups: %v", c.Pool, err), "check that the Ceph manager is up"
	case st.Redundancy == storagehealth.Clean:
		h.Status, h.Reason = Pass, "every copy in place now: "+st.Summary()
	default:
		h.Status, h.Reason, h.Fix = Warn, "not at full redundancy now: "+st.Summary(), "wait for the pool to be active+clean before breaking anything"
	}
	return append(out, h)
}

func (f *facts) deploymentChecks() []Check {
	id := f.o.Namespace + "/" + f.o.Deployment
	if f.depErr != nil {
		st, fix := Unknown, "grant get on deployments"
		if apierrors.IsNotFound(f.depErr) {
			st, fix = Fail, "deploy the stack (irischaos stack deploy -n "+f.o.Namespace+") or name your Deployment with --deployment"
		}
		return []Check{{ID: "deployment.exists", Area: "deployment", Status: st, Reason: fmt.Sprintf("deployment %s: %v", id, f.depErr), Fix: fix}}
	}
	d := f.deploy
	var out []Check
	add := func(id string, st Status, reason, fix string) {
		if st == Pass {
			fix = ""
		}
		out = append(out, Check{ID: id, Area: "deployment", Status: st, Reason: reason, Fix: fix})
	}
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	if replicas == 1 {
		add("deployment.replicas", Pass, "1 replica: one writer on the volume", "")
	} else {
		add("deployment.replicas", Fail, fmt.Sprintf("%d replicas: more than one IRIS on one database", replicas), "set replicas: 1 (HA here comes from rescheduling, not from copies)")
	}
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		add("deployment.strategy", Pass, "strategy Recreate: the old pod releases the RWO volume before the new one starts", "")
	} else {
		add("deployment.strategy", Fail, fmt.Sprintf("strategy %s: a rollout starts a second pod on the same RWO volume", d.Spec.Strategy.Type), "set strategy.type: Recreate")
	}
	c := f.container()
	if c == nil {
		add("deployment.container", Fail, fmt.Sprintf("no container named %q in %s", stackid.Container, id), "name the IRIS container "+stackid.Container)
		return out
	}
	lp := c.LivenessProbe
	switch {
	case lp == nil:
		add("deployment.liveness", Fail, "no liveness probe: an IRIS that stops inside a running container is never restarted", `add a livenessProbe exec: ["/bin/sh","-c","iris qlist iris | grep running"]`)
	case lp.Exec == nil || !strings.Contains(strings.Join(lp.Exec.Command, " "), "iris qlist"):
		add("deployment.liveness", Warn, "the liveness probe does not run `iris qlist`: it may not see IRIS itself down", `probe with exec: ["/bin/sh","-c","iris qlist iris | grep running"]`)
	default:
		add("deployment.liveness", Pass, fmt.Sprintf("liveness probe runs `iris qlist` every %ds, restart after %d failures (~%s)", period(lp), failures(lp), livenessDetect(lp)), "")
	}
	if c.StartupProbe != nil {
		add("deployment.startup", Pass, "a startupProbe holds the liveness probe off while IRIS recovers its journal", "")
	} else if lp != nil {
		add("deployment.startup", Warn, fmt.Sprintf("no startupProbe: crash recovery longer than initialDelaySeconds %ds + %s is killed by the liveness probe", lp.InitialDelaySeconds, livenessDetect(lp)), "add a startupProbe running the same command with a generous failureThreshold")
	}
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if d.Spec.Template.Spec.TerminationGracePeriodSeconds != nil {
		grace = *d.Spec.Template.Spec.TerminationGracePeriodSeconds
	}
	if grace >= 60 {
		add("deployment.grace", Pass, fmt.Sprintf("terminationGracePeriodSeconds %d: room for a clean IRIS shutdown", grace), "")
	} else {
		add("deployment.grace", Warn, fmt.Sprintf("terminationGracePeriodSeconds %d: a busy IRIS may be killed before it shuts down cleanly (then it needs crash recovery)", grace), "set terminationGracePeriodSeconds to 60 or more")
	}
	dir := f.dataDir()
	switch {
	case dir == "":
		add("deployment.datadir", Fail, "ISC_DATA_DIRECTORY is not set: %SYS, the journals and the WIJ stay in the container and are lost with it", "set ISC_DATA_DIRECTORY to a directory on the PVC (durable %SYS)")
	case !f.onClaim(dir):
		add("deployment.datadir", Fail, fmt.Sprintf("ISC_DATA_DIRECTORY=%s is not on a PersistentVolumeClaim", dir), "mount the PVC at or above "+dir)
	default:
		add("deployment.datadir", Pass, fmt.Sprintf("ISC_DATA_DIRECTORY=%s on PVC %s (durable %%SYS)", dir, f.dataClaim()), "")
	}
	if jdirs := journalDirs(f.cpf); len(jdirs) > 0 {
		bad := []string{}
		for _, j := range jdirs {
			if !f.onClaim(j) {
				bad = append(bad, j)
			}
		}
		if len(bad) > 0 {
			add("deployment.journal", Fail, "journal directory not on the PVC: "+strings.Join(bad, ", "), "point [Journal] CurrentDirectory/AlternateDirectory at the PVC")
		} else {
			add("deployment.journal", Pass, "journal directories on the PVC: "+strings.Join(jdirs, ", "), "")
		}
	} else if dir != "" && f.onClaim(dir) {
		add("deployment.journal", Pass, "journal in durable %SYS under "+dir+" (no [Journal] override in the CPF merge file)", "")
	}
	unreach, okU := f.tolerates(corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute})
	notReady, okN := f.tolerates(corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute})
	switch {
	case !okU || !okN:
		add("deployment.tolerations", Warn, "no not-ready/unreachable tolerations: the API server adds its defaults (300 s unless --default-unreachable-toleration-seconds says otherwise), so by default the pod leaves a lost node after 5 minutes", "add NoExecute tolerations for node.kubernetes.io/unreachable and not-ready with tolerationSeconds 30 or less (irischaos stack deploy --node-loss-toleration 30s)")
	case unreach < 0 || notReady < 0:
		add("deployment.tolerations", Fail, "the pod tolerates unreachable/not-ready nodes forever: it never leaves a lost node", "give the tolerations a tolerationSeconds")
	case unreach > 60 || notReady > 60:
		add("deployment.tolerations", Warn, fmt.Sprintf("tolerations unreachable %ds, not-ready %ds: that long on a lost node before eviction", unreach, notReady), "lower tolerationSeconds to 30 or less")
	default:
		add("deployment.tolerations", Pass, fmt.Sprintf("tolerations unreachable %ds, not-ready %ds", unreach, notReady), "")
	}
	return out
}

// journalDirs are the [Journal] directories a CPF merge file sets.
func journalDirs(cpf string) []string {
	var out []string
	section := ""
	for _, line := range strings.Split(cpf, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = strings.ToLower(strings.Trim(line, "[]"))
			continue
		}
		if section != "journal" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "currentdirectory", "alternatedirectory":
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}

func period(p *corev1.Probe) int32 {
	if p.PeriodSeconds > 0 {
		return p.PeriodSeconds
	}
	return 10
}

func failures(p *corev1.Probe) int32 {
	if p.FailureThreshold > 0 {
		return p.FailureThreshold
	}
	return 3
}

// livenessDetect is the longest a dead IRIS runs undetected: failureThreshold
// periods (the first failure can come up to one period late).
func livenessDetect(p *corev1.Probe) time.Duration {
	return time.Duration(period(p)*failures(p)) * time.Second
}

// nodeLocalPV says whether the bound volume lives on one node: a local
// volume, or any volume whose node affinity pins it to nodes. A hostPath
// volume without node affinity (the local cluster's directory stand-in,
// one directory reachable from every node) is not.
func (f *facts) nodeLocalPV() bool {
	if f.pv == nil {
		return false
	}
	if f.pv.Spec.Local != nil {
		return true
	}
	na := f.pv.Spec.NodeAffinity
	return na != nil && na.Required != nil && len(na.Required.NodeSelectorTerms) > 0
}
