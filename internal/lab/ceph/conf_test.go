package ceph

import (
	"regexp"
	"strings"
	"testing"
)

func nodes(n int) []NodeSpec {
	var out []NodeSpec
	for i := 0; i < n; i++ {
		out = append(out, NodeSpec{Name: "node-" + string(rune('1'+i)), Zone: "zone-" + string(rune('a'+i)),
			IP: "10.250.3." + string(rune('1'+i)), Disk: "/d/node-" + string(rune('1'+i)) + "/disk"})
	}
	return out
}

func TestSizesPerNodeCount(t *testing.T) {
	for _, tc := range []struct{ nodes, size, minSize, reporters int }{
		{1, 1, 1, 1}, {2, 2, 1, 1}, {3, 3, 2, 2}, {5, 3, 2, 2},
	} {
		c := Plan("/c", "10.250.3.1", "10.250.3.0/24", nodes(tc.nodes))
		if c.Size() != tc.size || c.MinSize() != tc.minSize || c.minDownReporters() != tc.reporters {
			t.Errorf("%d nodes: size %d min_size %d reporters %d, want %d %d %d", tc.nodes,
				c.Size(), c.MinSize(), c.minDownReporters(), tc.size, tc.minSize, tc.reporters)
		}
		conf := c.Render()
		if strings.Contains(conf, "mon_allow_pool_size_one") != (tc.size == 1) {
			t.Errorf("%d nodes: size-one permission wrong:\n%s", tc.nodes, conf)
		}
	}
}

func TestRender(t *testing.T) {
	c := Plan("/c/ceph", "10.250.3.1", "10.250.3.0/24", nodes(3))
	conf := c.Render()
	for _, want := range []string{
		"fsid = " + c.FSID,
		"mon_host = [v2:10.250.3.1:3300,v1:10.250.3.1:6789]",
		"auth_client_required = none",
		"admin_socket = /c/ceph/run/$name.$pid.asok",
		"osd_pool_default_size = 3\n", "osd_pool_default_min_size = 2\n",
		"osd_pool_default_pg_autoscale_mode = off",
		"osd_crush_chooseleaf_type = 1",
		"mon_data_avail_warn = 1", "auth_allow_insecure_global_id_reclaim = false",
		"[osd.2]\nosd_data = /d/node-3/disk/ceph-osd.2\npublic_addr = 10.250.3.3\ncluster_addr = 10.250.3.3\ncrush_location = root=default zone=zone-c host=node-3\n",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("ceph.conf lacks %q:\n%s", want, conf)
		}
	}
	// The cache must be off for clients: section [client], after every other.
	i := strings.Index(conf, "[client]")
	if i < 0 || !strings.Contains(conf[i:], "rbd_cache = false") || strings.Contains(conf[i+1:], "[") {
		t.Errorf("[client] rbd_cache = false missing or not last:\n%s", conf)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(c.FSID) || c.FSID == c.OSDs[0].UUID {
		t.Errorf("fsid %q / osd uuid %q", c.FSID, c.OSDs[0].UUID)
	}
}

func TestOSDArgvRestartsOnFailureOnly(t *testing.T) {
	c := Plan("/c/ceph", "10.250.3.1", "10.250.3.0/24", nodes(2))
	argv, ok := c.OSDArgv("node-2")
	if !ok || len(argv) != 3 || !strings.Contains(argv[2], "ceph-osd -c '/c/ceph/ceph.conf' -d -i 1 && exit 0") || !strings.Contains(argv[2], "-le 3") {
		t.Errorf("OSDArgv(node-2) = %q, %t", argv, ok)
	}
	if _, ok := c.OSDArgv("node-9"); ok {
		t.Error("OSD for a node that has none")
	}
}
