package csi

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v11/controller"

	"github.com/irischaos/irischaos/pkg/stack"
	"github.com/irischaos/irischaos/pkg/storagehealth"
)

// CSIDriver is the driver's object: attachRequired, so every use of a volume
// goes through a VolumeAttachment and Kubernetes' attach-detach controller
// (Multi-Attach errors, the 6-minute forced detach) applies its real rules.
func CSIDriver() *storagev1.CSIDriver {
	yes, no := true, false
	return &storagev1.CSIDriver{
		ObjectMeta: metav1.ObjectMeta{Name: DriverName},
		Spec: storagev1.CSIDriverSpec{AttachRequired: &yes, PodInfoOnMount: &no,
			VolumeLifecycleModes: []storagev1.VolumeLifecycleMode{storagev1.VolumeLifecyclePersistent}},
	}
}

// EnsureCSIDriver creates the CSIDriver object (an existing one is kept).
func EnsureCSIDriver(ctx context.Context, cs kubernetes.Interface) error {
	if _, err := cs.StorageV1().CSIDrivers().Create(ctx, CSIDriver(), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating CSIDriver %s: %w", DriverName, err)
	}
	return nil
}

// NodeIPFromAPI resolves a node ID (the node's name) to its InternalIP,
// the address its Ceph clients connect from.
func NodeIPFromAPI(cs kubernetes.Interface) func(context.Context, string) (string, error) {
	return func(ctx context.Context, name string) (string, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				return a.Address, nil
			}
		}
		return "", fmt.Errorf("node %s has no InternalIP", name)
	}
}

// mountCapability is the only capability served: ext4, one node.
func mountCapability() *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: FSType}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
	}
}

// Provisioner turns claims of the driver's StorageClasses into RBD images
// and CSI PVs (what external-provisioner does upstream).
type Provisioner struct{ C *Controller }

var _ controller.Provisioner = (*Provisioner)(nil)

// Provision implements controller.Provisioner.
func (p *Provisioner) Provision(ctx context.Context, o controller.ProvisionOptions) (*corev1.PersistentVolume, controller.ProvisioningState, error) {
	if o.StorageClass == nil || o.PVC == nil {
		return nil, controller.ProvisioningFinished, fmt.Errorf("provision request without a storage class or claim")
	}
	for _, m := range o.PVC.Spec.AccessModes {
		if m != corev1.ReadWriteOnce && m != corev1.ReadWriteOncePod {
			return nil, controller.ProvisioningFinished, fmt.Errorf("claim %s/%s: access mode %s is not served by %s (ReadWriteOnce only)", o.PVC.Namespace, o.PVC.Name, m, DriverName)
		}
	}
	if o.PVC.Spec.VolumeMode != nil && *o.PVC.Spec.VolumeMode == corev1.PersistentVolumeBlock {
		return nil, controller.ProvisioningFinished, fmt.Errorf("claim %s/%s: raw block volumes are not served by %s", o.PVC.Namespace, o.PVC.Name, DriverName)
	}
	size := o.PVC.Spec.Resources.Requests[corev1.ResourceStorage]
	resp, err := p.C.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: o.PVName,
		CapacityRange:      &csi.CapacityRange{RequiredBytes: size.Value()},
		VolumeCapabilities: []*csi.VolumeCapability{mountCapability()}})
	if err != nil {
		return nil, controller.ProvisioningInBackground, fmt.Errorf("claim %s/%s: %w", o.PVC.Namespace, o.PVC.Name, err)
	}
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: o.PVName},
		Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: *o.StorageClass.ReclaimPolicy,
			AccessModes:                   o.PVC.Spec.AccessModes,
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: *resource.NewQuantity(resp.Volume.CapacityBytes, resource.BinarySI)},
			StorageClassName:              o.StorageClass.Name,
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver: DriverName, VolumeHandle: resp.Volume.VolumeId, FSType: FSType}},
		},
	}, controller.ProvisioningFinished, nil
}

// Delete implements controller.Provisioner.
func (p *Provisioner) Delete(ctx context.Context, pv *corev1.PersistentVolume) error {
	if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != DriverName {
		return &controller.IgnoredError{Reason: "not a volume of " + DriverName}
	}
	_, err := p.C.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: pv.Spec.CSI.VolumeHandle})
	return err
}

// attachFinalizer is the finalizer external-attacher puts on its
// VolumeAttachments (driver name with '/' and '.' replaced).
var attachFinalizer = "external-attacher/" + strings.NewReplacer("/", "-", ".", "-").Replace(DriverName)

// Attacher reconciles the driver's VolumeAttachments with ControllerPublish
// and ControllerUnpublish (what external-attacher does upstream).
type Attacher struct {
	CS  kubernetes.Interface
	C   *Controller
	Log *log.Logger
}

// Run watches VolumeAttachments until ctx ends.
func (a *Attacher) Run(ctx context.Context) {
	q := workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](500*time.Millisecond, 30*time.Second))
	f := informers.NewSharedInformerFactory(a.CS, 5*time.Minute)
	inf := f.Storage().V1().VolumeAttachments()
	add := func(obj any) {
		if va, ok := obj.(*storagev1.VolumeAttachment); ok && va.Spec.Attacher == DriverName {
			q.Add(va.Name)
		}
	}
	_, _ = inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: add, UpdateFunc: func(_, o any) { add(o) }})
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	go func() { <-ctx.Done(); q.ShutDown() }()
	for {
		name, quit := q.Get()
		if quit {
			return
		}
		if err := a.sync(ctx, name); err != nil {
			a.Log.Printf("VolumeAttachment %s: %v", name, err)
			q.AddRateLimited(name)
		} else {
			q.Forget(name)
		}
		q.Done(name)
	}
}

func (a *Attacher) sync(ctx context.Context, name string) error {
	vas := a.CS.StorageV1().VolumeAttachments()
	va, err := vas.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	pvName := va.Spec.Source.PersistentVolumeName
	if pvName == nil {
		return a.setError(ctx, va, false, "only PersistentVolume sources are served")
	}
	has := false
	for _, f := range va.Finalizers {
		has = has || f == attachFinalizer
	}
	if va.DeletionTimestamp != nil {
		if !has {
			return nil
		}
		handle, err := a.handle(ctx, *pvName)
		if err == nil {
			_, err = a.C.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: handle, NodeId: va.Spec.NodeName})
		}
		if err != nil {
			return a.setError(ctx, va, true, err.Error())
		}
		var keep []string
		for _, f := range va.Finalizers {
			if f != attachFinalizer {
				keep = append(keep, f)
			}
		}
		va.Finalizers = keep
		_, err = vas.Update(ctx, va, metav1.UpdateOptions{})
		if err == nil {
			a.Log.Printf("detached %s from node %s", handle, va.Spec.NodeName)
		}
		return err
	}
	if va.Status.Attached {
		return nil
	}
	if !has {
		va.Finalizers = append(va.Finalizers, attachFinalizer)
		if va, err = vas.Update(ctx, va, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	start := time.Now()
	handle, err := a.handle(ctx, *pvName)
	if err == nil {
		_, err = a.C.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: handle, NodeId: va.Spec.NodeName, VolumeCapability: mountCapability()})
	}
	if err != nil {
		return a.setError(ctx, va, false, err.Error())
	}
	va.Status.Attached, va.Status.AttachError = true, nil
	if _, err := vas.UpdateStatus(ctx, va, metav1.UpdateOptions{}); err != nil {
		return err
	}
	a.Log.Printf("attached %s to node %s in %s", handle, va.Spec.NodeName, time.Since(start).Round(time.Millisecond))
	return nil
}

func (a *Attacher) handle(ctx context.Context, pvName string) (string, error) {
	pv, err := a.CS.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("PersistentVolume %s: %w", pvName, err)
	}
	if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != DriverName {
		return "", fmt.Errorf("PersistentVolume %s is not a %s volume", pvName, DriverName)
	}
	return pv.Spec.CSI.VolumeHandle, nil
}

// setError records the failure in the VolumeAttachment's status (where
// `kubectl describe` and the attach-detach controller's events show it) and
// returns it, so the item is retried with back-off.
func (a *Attacher) setError(ctx context.Context, va *storagev1.VolumeAttachment, detach bool, msg string) error {
	e := &storagev1.VolumeError{Time: metav1.Now(), Message: msg}
	if detach {
		va.Status.DetachError = e
	} else {
		va.Status.AttachError = e
	}
	if _, err := a.CS.StorageV1().VolumeAttachments().UpdateStatus(ctx, va, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("%s (recording it: %v)", msg, err)
	}
	return fmt.Errorf("%s", msg)
}

// RunController runs the controller side: the CSIDriver object, the
// provisioner for the driver's StorageClasses, and the attacher.
func RunController(ctx context.Context, cs kubernetes.Interface, c *Controller, logger *log.Logger) error {
	if err := EnsureCSIDriver(ctx, cs); err != nil {
		return err
	}
	pc := controller.NewProvisionController(ctx, cs, DriverName, &Provisioner{C: c},
		controller.LeaderElection(false), controller.FailedProvisionThreshold(5), controller.FailedDeleteThreshold(5))
	go pc.Run(ctx)
	(&Attacher{CS: cs, C: c, Log: logger}).Run(ctx)
	return nil
}

// StorageClass is a class of this driver named name, for the pool of c;
// description says what the storage is (StorageName) and goes where the
// stack and every report read it (stack.StandInAnnotation): real Ceph,
// standing in for Longhorn. Its parameters let a client on the host read the
// pool's health (storagehealth.ForStorageClass).
func StorageClass(name, description string, c Ceph) *storagev1.StorageClass {
	del := corev1.PersistentVolumeReclaimDelete
	imm := storagev1.VolumeBindingImmediate
	return &storagev1.StorageClass{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Annotations: map[string]string{stack.StandInAnnotation: description}},
		Provisioner: DriverName, ReclaimPolicy: &del, VolumeBindingMode: &imm,
		Parameters: map[string]string{storagehealth.CephConfParam: c.Conf, storagehealth.PoolParam: c.Pool},
	}
}

// EnsureStorageClass creates sc, or replaces a class of the same name that
// another provisioner serves (a class's provisioner cannot be changed).
func EnsureStorageClass(ctx context.Context, cs kubernetes.Interface, sc *storagev1.StorageClass) error {
	scs := cs.StorageV1().StorageClasses()
	old, err := scs.Get(ctx, sc.Name, metav1.GetOptions{})
	switch {
	case err == nil && old.Provisioner == sc.Provisioner:
		return nil
	case err == nil:
		if err := scs.Delete(ctx, sc.Name, metav1.DeleteOptions{}); err != nil {
			return fmt.Errorf("replacing StorageClass %s (served by %s): %w", sc.Name, old.Provisioner, err)
		}
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("reading StorageClass %s: %w", sc.Name, err)
	}
	if _, err := scs.Create(ctx, sc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating StorageClass %s: %w", sc.Name, err)
	}
	return nil
}
