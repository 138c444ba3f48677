package storagehealth

import (
	storagev1 "k8s.io/api/storage/v1"
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
// false when irischaos cannot read that storage's redundancy (the observer
// then records none, and says so).
func ForStorageClass(sc *storagev1.StorageClass, backend string) (Source, bool) {
	if sc == nil {
		return nil, false
	}
	if sc.Provisioner == CephRBDDriver && sc.Parameters[CephConfParam] != "" && sc.Parameters[PoolParam] != "" {
		return Ceph{Conf: sc.Parameters[CephConfParam], Pool: sc.Parameters[PoolParam], Backend: backend}, true
	}
	return nil, false
}
