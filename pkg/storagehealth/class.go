package storagehealth

import (
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// The Ceph RBD CSI driver of irischaos' local cluster, and the parameters
// its StorageClasses carry so that a client on the host can read the pool's
// health (the driver reads the same parameters).
const (
	CephRBDDriver = "rbd.csi.irischaos.io"
	CephConfParam = "cephConf" // ceph.conf path on the host
	PoolParam     = "pool"
)

// ForStorageClass returns the redundancy source of the volumes of sc, and
// false when irischaos cannot read that storage's redundancy from the class
// alone (the observer then records none, and says so). Longhorn's is per
// volume: ForVolume.
func ForStorageClass(sc *storagev1.StorageClass, backend string) (Source, bool) {
	if sc == nil {
		return nil, false
	}
	if sc.Provisioner == CephRBDDriver && sc.Parameters[CephConfParam] != "" && sc.Parameters[PoolParam] != "" {
		return Ceph{Conf: sc.Parameters[CephConfParam], Pool: sc.Parameters[PoolParam], Backend: backend}, true
	}
	return nil, false
}

// ForVolume returns the redundancy source of the volume pv of class sc (pv
// may be nil while the claim is unbound, sc nil when the class is gone),
// or nil and one line saying why there is none: a Longhorn volume on a
// cluster without Longhorn's CRDs is skipped that way.
func ForVolume(sc *storagev1.StorageClass, pv *corev1.PersistentVolume, kube kubernetes.Interface, dyn dynamic.Interface, backend string) (Source, string) {
	if src, ok := ForStorageClass(sc, backend); ok {
		return src, ""
	}
	driver := ""
	if sc != nil {
		driver = sc.Provisioner
	}
	if pv != nil && pv.Spec.CSI != nil {
		driver = pv.Spec.CSI.Driver
	}
	if driver != LonghornDriver {
		return nil, "not readable for this storage class"
	}
	if kube == nil || dyn == nil {
		return nil, "Longhorn: skipped, no client to read longhorn.io with"
	}
	if ok, why := LonghornServed(kube.Discovery()); !ok {
		return nil, "Longhorn: skipped, " + why
	}
	if pv == nil || pv.Spec.CSI == nil || pv.Spec.CSI.VolumeHandle == "" {
		return nil, "Longhorn: skipped, the claim is not bound to a Longhorn volume yet"
	}
	return Longhorn{Dynamic: dyn, Kube: kube, Volume: pv.Spec.CSI.VolumeHandle, Backend: backend}, ""
}
