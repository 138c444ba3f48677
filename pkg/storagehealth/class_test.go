package storagehealth

import (
	"testing"

	storagev1 "k8s.io/api/storage/v1"
)

func TestForStorageClass(t *testing.T) {
	tests := []struct {
		name string
		sc   *storagev1.StorageClass
		ok   bool
	}{
		{"none", nil, false},
		{"ceph rbd", &storagev1.StorageClass{Provisioner: CephRBDDriver, Parameters: map[string]string{CephConfParam: "/c/ceph.conf", PoolParam: "rbd"}}, true},
		{"ceph rbd without its conf", &storagev1.StorageClass{Provisioner: CephRBDDriver, Parameters: map[string]string{PoolParam: "rbd"}}, false},
		{"longhorn (read per volume: ForVolume)", &storagev1.StorageClass{Provisioner: LonghornDriver}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, ok := ForStorageClass(tt.sc, "b")
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if ok {
				c := src.(Ceph)
				if c.Conf != "/c/ceph.conf" || c.Pool != "rbd" || c.Backend != "b" {
					t.Errorf("source %+v", c)
				}
			}
		})
	}
}
