// Package provisioner is the local cluster's dynamic volume provisioner, run
// in the supervisor with sig-storage-lib-external-provisioner. It serves the
// two storage stand-ins:
//
//   - replicated: the volume's directory lives outside every node, so the
//     data survives the loss of any node (standing in for Longhorn's
//     replicated block storage);
//   - local-disk: a `local` PV on the node the scheduler picked (binding
//     WaitForFirstConsumer), bound to it by node affinity and destroyed with
//     it, as a node's own disk is.
package provisioner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v11/controller"

	"github.com/irischaos/irischaos/pkg/stack"
)

// Name is the provisioner name in the StorageClasses.
const Name = "irischaos.io/local-cluster"

// StorageClass names.
const (
	Replicated = "replicated"
	LocalDisk  = "local-disk"
)

// StandInAnnotation names what a storage class stands in for.
const StandInAnnotation = stack.StandInAnnotation

// typeParam is the StorageClass parameter choosing the kind of volume.
const typeParam = "type"

// StorageClasses returns the two stand-in classes.
func StorageClasses() []*storagev1.StorageClass {
	del := corev1.PersistentVolumeReclaimDelete
	imm := storagev1.VolumeBindingImmediate
	wffc := storagev1.VolumeBindingWaitForFirstConsumer
	return []*storagev1.StorageClass{
		{
			ObjectMeta: metav1.ObjectMeta{Name: Replicated,
				Labels:      map[string]string{"irischaos.io/stand-in": "true"},
				Annotations: map[string]string{StandInAnnotation: "Longhorn stand-in: volume directory outside every node, survives any node's loss (no real replication, no I/O over the network)"}},
			Provisioner: Name, ReclaimPolicy: &del, VolumeBindingMode: &imm,
			Parameters: map[string]string{typeParam: Replicated},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: LocalDisk,
				Labels:      map[string]string{"irischaos.io/stand-in": "true"},
				Annotations: map[string]string{StandInAnnotation: "node-local disk stand-in: a local PV bound to one node by node affinity, lost with the node"}},
			Provisioner: Name, ReclaimPolicy: &del, VolumeBindingMode: &wffc,
			Parameters: map[string]string{typeParam: LocalDisk},
		},
	}
}

// EnsureStorageClasses creates the stand-in classes (existing ones are
// kept); without replicated, only local-disk (real storage serves the
// replicated class).
func EnsureStorageClasses(ctx context.Context, cs kubernetes.Interface, replicated bool) error {
	for _, sc := range StorageClasses() {
		if sc.Name == Replicated && !replicated {
			continue
		}
		_, err := cs.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating StorageClass %s: %w", sc.Name, err)
		}
	}
	return nil
}

// Provisioner creates and deletes the volumes' directories.
type Provisioner struct {
	ReplicatedDir string                   // parent of every replicated volume
	NodeDisk      func(node string) string // a node's local disk directory
}

var _ controller.Provisioner = (*Provisioner)(nil)

// Provision implements controller.Provisioner.
func (p *Provisioner) Provision(ctx context.Context, o controller.ProvisionOptions) (*corev1.PersistentVolume, controller.ProvisioningState, error) {
	if o.StorageClass == nil || o.PVC == nil {
		return nil, controller.ProvisioningFinished, errors.New("provision request without a storage class or claim")
	}
	size := o.PVC.Spec.Resources.Requests[corev1.ResourceStorage]
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: o.PVName, Labels: map[string]string{"irischaos.io/stand-in": o.StorageClass.Name}},
		Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: *o.StorageClass.ReclaimPolicy,
			AccessModes:                   o.PVC.Spec.AccessModes,
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			VolumeMode:                    o.PVC.Spec.VolumeMode,
			StorageClassName:              o.StorageClass.Name,
		},
	}
	switch t := o.StorageClass.Parameters[typeParam]; t {
	case Replicated:
		dir := filepath.Join(p.ReplicatedDir, o.PVName)
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return nil, controller.ProvisioningFinished, fmt.Errorf("volume %s for claim %s/%s: %w", o.PVName, o.PVC.Namespace, o.PVC.Name, err)
		}
		hp := corev1.HostPathDirectory
		pv.Spec.HostPath = &corev1.HostPathVolumeSource{Path: dir, Type: &hp}
	case LocalDisk:
		if o.SelectedNode == nil {
			return nil, controller.ProvisioningFinished, fmt.Errorf("claim %s/%s: local-disk volumes need a selected node (binding mode WaitForFirstConsumer)", o.PVC.Namespace, o.PVC.Name)
		}
		dir := filepath.Join(p.NodeDisk(o.SelectedNode.Name), o.PVName)
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return nil, controller.ProvisioningFinished, fmt.Errorf("volume %s on node %s: %w", o.PVName, o.SelectedNode.Name, err)
		}
		host := o.SelectedNode.Labels[corev1.LabelHostname]
		if host == "" {
			host = o.SelectedNode.Name
		}
		pv.Spec.Local = &corev1.LocalVolumeSource{Path: dir}
		pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{host}}},
		}}}}
	default:
		return nil, controller.ProvisioningFinished, fmt.Errorf("StorageClass %s: unknown %s parameter %q (want %s or %s)", o.StorageClass.Name, typeParam, t, Replicated, LocalDisk)
	}
	return pv, controller.ProvisioningFinished, nil
}

// Delete implements controller.Provisioner: it removes the volume's
// directory, refusing any path outside the directories it provisions into.
func (p *Provisioner) Delete(ctx context.Context, pv *corev1.PersistentVolume) error {
	var dir string
	switch {
	case pv.Spec.HostPath != nil:
		dir = pv.Spec.HostPath.Path
		if !within(dir, p.ReplicatedDir) {
			return fmt.Errorf("PV %s: %s is not under %s; not deleting", pv.Name, dir, p.ReplicatedDir)
		}
	case pv.Spec.Local != nil:
		dir = pv.Spec.Local.Path
		if !strings.Contains(dir, string(filepath.Separator)+"disk"+string(filepath.Separator)) {
			return fmt.Errorf("PV %s: %s is not a node disk directory; not deleting", pv.Name, dir)
		}
	default:
		return &controller.IgnoredError{Reason: "not a volume of this provisioner"}
	}
	if filepath.Base(dir) != pv.Name {
		return fmt.Errorf("PV %s: directory %s is not named after the volume; not deleting", pv.Name, dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("PV %s: removing %s: %w", pv.Name, dir, err)
	}
	return nil
}

func within(path, parent string) bool {
	rel, err := filepath.Rel(parent, path)
	return err == nil && rel != "." && !strings.HasPrefix(rel, "..")
}

// Run creates the storage classes and runs the provision controller until
// ctx ends. With no ReplicatedDir the replicated class is left to real
// storage (the Ceph CSI driver).
func Run(ctx context.Context, cs kubernetes.Interface, p *Provisioner) error {
	if err := EnsureStorageClasses(ctx, cs, p.ReplicatedDir != ""); err != nil {
		return err
	}
	if p.ReplicatedDir != "" {
		if err := os.MkdirAll(p.ReplicatedDir, 0o755); err != nil {
			return err
		}
	}
	pc := controller.NewProvisionController(ctx, cs, Name, p,
		controller.LeaderElection(false),
		controller.FailedProvisionThreshold(5),
		controller.FailedDeleteThreshold(5))
	go pc.Run(ctx)
	return nil
}
