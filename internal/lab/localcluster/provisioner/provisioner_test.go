package provisioner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v11/controller"
)

func claim() *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "iris"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
}

func TestProvisionAndDelete(t *testing.T) {
	root := t.TempDir()
	p := &Provisioner{ReplicatedDir: filepath.Join(root, "volumes", "replicated"), NodeDisk: func(n string) string { return filepath.Join(root, "nodes", n, "disk") }}
	scs := StorageClasses()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-2", Labels: map[string]string{corev1.LabelHostname: "node-2"}}}
	tests := []struct {
		sc       int
		selected *corev1.Node
		wantDir  string
		wantErr  string
	}{
		{0, nil, filepath.Join(root, "volumes", "replicated", "pvc-1"), ""},
		{1, node, filepath.Join(root, "nodes", "node-2", "disk", "pvc-1"), ""},
		{1, nil, "", "selected node"},
	}
	for _, tc := range tests {
		pv, st, err := p.Provision(context.Background(), controller.ProvisionOptions{StorageClass: scs[tc.sc], PVName: "pvc-1", PVC: claim(), SelectedNode: tc.selected})
		if st != controller.ProvisioningFinished {
			t.Errorf("state %v", st)
		}
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(tc.wantDir); err != nil {
			t.Errorf("directory not created: %v", err)
		}
		if q := pv.Spec.Capacity[corev1.ResourceStorage]; q.String() != "1Gi" {
			t.Errorf("capacity %s", q.String())
		}
		if tc.selected != nil {
			if pv.Spec.Local == nil || pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0].Values[0] != "node-2" {
				t.Errorf("local PV without node affinity: %+v", pv.Spec)
			}
		} else if pv.Spec.HostPath == nil || pv.Spec.NodeAffinity != nil {
			t.Errorf("replicated PV must be node independent: %+v", pv.Spec)
		}
		if err := p.Delete(context.Background(), pv); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(tc.wantDir); !os.IsNotExist(err) {
			t.Errorf("directory not reclaimed: %v", err)
		}
	}
	// Never delete outside our directories.
	evil := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "etc"}, Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/etc"}}}}
	if err := p.Delete(context.Background(), evil); err == nil {
		t.Error("deleted a path outside the replicated directory")
	}
}

func TestEnsureStorageClasses(t *testing.T) {
	cs := fake.NewClientset()
	for i := 0; i < 2; i++ { // idempotent
		if err := EnsureStorageClasses(context.Background(), cs, true); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{Replicated, LocalDisk} {
		sc, err := cs.StorageV1().StorageClasses().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(sc.Annotations[StandInAnnotation], "stand-in") {
			t.Errorf("%s not marked as a stand-in: %v", name, sc.Annotations)
		}
	}
	sc, _ := cs.StorageV1().StorageClasses().Get(context.Background(), LocalDisk, metav1.GetOptions{})
	if string(*sc.VolumeBindingMode) != "WaitForFirstConsumer" {
		t.Errorf("local-disk binding mode %s", *sc.VolumeBindingMode)
	}
}
