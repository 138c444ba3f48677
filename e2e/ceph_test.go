//go:build chaos

package e2e

// The real replicated block storage behind `replicated` on the local cluster
// (Ceph RBD through the in-repo CSI driver), proven through the seed
// scenarios' own evidence (issue 12, item 5): the IRIS volume's data on OSDs
// of different nodes before any fault; a drain detaching the volume from one
// node and attaching it to another; node loss as deployed stuck on the
// Multi-Attach error; the out-of-service taint then letting the replacement
// attach the volume through Ceph on another node while the lost node's OSD
// is down, every acknowledged marker read back; and the returned node's OSD
// rejoining until the pool is clean again, its time in the report.
// On storage that is not Ceph RBD these checks are skipped with a line
// saying so.

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/mitigation"
	"github.com/irischaos/irischaos/pkg/report"
	"github.com/irischaos/irischaos/pkg/scenario"
	"github.com/irischaos/irischaos/pkg/stackid"
	"github.com/irischaos/irischaos/pkg/storagehealth"
)

// cephOf returns the ceph.conf and pool of the stack's storage class, or
// skips when it is not served by the Ceph RBD driver.
func (g *scenarioRig) cephOf(ctx context.Context, t *testing.T) (conf, pool, image string) {
	t.Helper()
	pvc, err := g.kube.CoreV1().PersistentVolumeClaims(g.namespace).Get(ctx, stackid.PVC, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("pvc %s/%s: %v", g.namespace, stackid.PVC, err)
	}
	sc, err := g.kube.StorageV1().StorageClasses().Get(ctx, *pvc.Spec.StorageClassName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("storage class of %s: %v", stackid.PVC, err)
	}
	if sc.Provisioner != storagehealth.CephRBDDriver {
		t.Skipf("skipping: storage class %s is served by %s, not Ceph RBD (the local cluster's cluster up --ceph=false, or a foreign cluster)", sc.Name, sc.Provisioner)
	}
	pv, err := g.kube.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil || pv.Spec.CSI == nil {
		t.Fatalf("pv %s of %s: %v", pvc.Spec.VolumeName, stackid.PVC, err)
	}
	return sc.Parameters[storagehealth.CephConfParam], sc.Parameters[storagehealth.PoolParam], pv.Spec.CSI.VolumeHandle
}

func cephJSON(ctx context.Context, t *testing.T, into any, tool, conf string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, append([]string{"-c", conf, "--format", "json"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", tool, strings.Join(args, " "), err, stderr.String())
	}
	if err := json.Unmarshal(out, into); err != nil {
		t.Fatalf("%s %s: %v in %q", tool, strings.Join(args, " "), err, out)
	}
}

// osdHosts maps each OSD id to its CRUSH host (a node).
func osdHosts(ctx context.Context, t *testing.T, conf string) map[int]string {
	var tree struct {
		Nodes []struct {
			Type     string `json:"type"`
			Name     string `json:"name"`
			Children []int  `json:"children"`
		} `json:"nodes"`
	}
	cephJSON(ctx, t, &tree, "ceph", conf, "osd", "tree")
	hosts := map[int]string{}
	for _, n := range tree.Nodes {
		if n.Type == "host" {
			for _, c := range n.Children {
				hosts[c] = n.Name
			}
		}
	}
	return hosts
}

// checkDataSpread: the IRIS volume's first data object (and its header) is
// stored on OSDs of at least two different nodes.
func (g *scenarioRig) checkDataSpread(ctx context.Context, t *testing.T) {
	conf, pool, img := g.cephOf(ctx, t)
	var info struct {
		Prefix string `json:"block_name_prefix"`
	}
	cephJSON(ctx, t, &info, "rbd", conf, "info", pool+"/"+img)
	hosts := osdHosts(ctx, t, conf)
	for _, obj := range []string{info.Prefix + ".0000000000000000", "rbd_header." + strings.TrimPrefix(info.Prefix, "rbd_data.")} {
		var m struct {
			Acting []int `json:"acting"`
		}
		cephJSON(ctx, t, &m, "ceph", conf, "osd", "map", pool, obj)
		var on []string
		for _, o := range m.Acting {
			if h := hosts[o]; h != "" && !slices.Contains(on, h) {
				on = append(on, h)
			}
		}
		t.Logf("Ceph: object %s of image %s/%s is on OSDs %v, nodes %v", obj, pool, img, m.Acting, on)
		if len(on) < 2 {
			t.Errorf("object %s of the IRIS volume is on OSDs %v of nodes %v: want copies on at least two nodes", obj, m.Acting, on)
		}
	}
}

// checkCephEvidence checks what the storage did in scenario s's run, where
// the storage is Ceph RBD with attach.
func checkCephEvidence(t *testing.T, s scenario.Scenario, run report.Run, dir string) {
	t.Helper()
	if run.Environment.Provisioner != storagehealth.CephRBDDriver {
		t.Logf("storage %s is not Ceph RBD: no storage evidence to check", run.Environment.Provisioner)
		return
	}
	for _, it := range run.Iterations {
		st := it.Result.Storage
		node := targetNode(it.Target)
		switch {
		case s.Fault.Type == fault.NodeDrain:
			if st == nil || st.DetachedFrom != node || st.AttachedTo == "" || st.AttachedTo == node || st.DetachedAt == nil || st.AttachedAt == nil || st.AttachedAt.Before(*st.DetachedAt) {
				t.Errorf("%s: storage %s: want the volume detached from %s, then attached to another node", it.Scenario, storageJSON(st), node)
			}
		case s.Fault.Type == fault.VMPowerOff && s.MitigationName() == mitigation.None:
			// As deployed: the replacement waits on the volume.
			if !slices.ContainsFunc(it.Result.Reasons, func(r string) bool { return strings.Contains(r, "stuck after") }) {
				t.Errorf("%s: reasons %q: want the phase it was stuck in", it.Scenario, it.Result.Reasons)
			}
			if !historyHas(t, filepath.Join(dir, it.History), "Multi-Attach") {
				t.Errorf("%s: no Multi-Attach event in the history: the replacement should wait on the volume attached to %s", it.Scenario, node)
			}
		case s.Fault.Type == fault.VMPowerOff && s.Mitigation == mitigation.OutOfServiceTaint:
			if it.MitigationAppliedSeconds == nil {
				t.Errorf("%s: the out-of-service taint was not applied (%s)", it.Scenario, it.MitigationError)
			}
			if st == nil || st.DetachedFrom != node || st.AttachedTo == "" || st.AttachedTo == node {
				t.Errorf("%s: storage %s: want the volume detached from the lost node %s and attached to another", it.Scenario, storageJSON(st), node)
				continue
			}
			// The replacement read the markers through Ceph on another
			// node while the lost node's OSD was down.
			if st.RedundancyLostAt == nil || st.AttachedAt == nil || st.AttachedAt.Before(*st.RedundancyLostAt) {
				t.Errorf("%s: storage %s: want the pool degraded (the lost node's OSD down) before the volume was attached elsewhere", it.Scenario, storageJSON(st))
			}
			if st.RedundancyRestoredAt == nil || st.FullRedundancySeconds == nil {
				t.Errorf("%s: storage %s: the returned node's OSD should rejoin and the pool be clean again, with its time in the report", it.Scenario, storageJSON(st))
			} else {
				t.Logf("%s: redundancy lost at %s, restored %.1f s after the fault", it.Scenario, st.RedundancyLostAt.Format(time.TimeOnly), *st.FullRedundancySeconds)
			}
		}
	}
}

// targetNode is the node of a target string ("pod ns/x, node n, vm ...").
func targetNode(target string) string {
	for _, part := range strings.Split(target, ", ") {
		if n, ok := strings.CutPrefix(part, "node "); ok {
			return n
		}
	}
	return ""
}

func storageJSON(st any) string {
	b, _ := json.Marshal(st)
	return string(b)
}

func historyHas(t *testing.T, path, s string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("history: %v", err)
		return false
	}
	return bytes.Contains(b, []byte(s))
}
