//go:build ceph

// The fencing proof against a real Ceph (issue 12, item 6): run as root on
// a machine with Debian's ceph-mon, ceph-osd, ceph-common and rbd-fuse:
//
//	go test -tags ceph -count=1 -v -run TestFencedWriterGetsErrors ./internal/lab/csi/
//
// It starts a throw-away Ceph (1 monitor, 2 BlueStore OSDs on 127.0.0.1,
// unusual ports) in a temporary directory and removes it afterwards.
package csi

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

const testMon = "[v2:127.0.0.1:13300,v1:127.0.0.1:16789]"

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// standaloneCeph starts the throw-away cluster and returns its client view.
func standaloneCeph(t *testing.T) Ceph {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (FUSE, loop devices, mounts)")
	}
	for _, b := range []string{"ceph-mon", "ceph-osd", "ceph", "rbd", "rbd-fuse", "monmaptool", "losetup", "mkfs.ext4"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s not installed (apt-get install --no-install-recommends ceph-mon ceph-osd ceph-common rbd-fuse)", b)
		}
	}
	dir, err := os.MkdirTemp("/tmp", "csi-ceph-")
	if err != nil {
		t.Fatal(err)
	}
	fsid := newUUID()
	conf := filepath.Join(dir, "ceph.conf")
	err = os.WriteFile(conf, []byte(fmt.Sprintf(`[global]
fsid = %s
mon_host = %s
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_bind_ipv6 = false
run_dir = %[3]s/run
admin_socket = %[3]s/run/$name.$pid.asok
log_file = %[3]s/log/$name.$pid.log
keyring = /dev/null
osd_pool_default_size = 2
osd_pool_default_min_size = 1
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_data_avail_warn = 1
[mon]
mon_data = %[3]s/mon/$cluster-$id
[osd]
osd_data = %[3]s/osd/$cluster-$id
osd_objectstore = bluestore
bluestore_block_create = true
bluestore_block_size = 1073741824
bluestore_cache_autotune = false
bluestore_cache_size = 67108864
osd_op_num_shards = 1
osd_op_num_threads_per_shard = 2
[client]
rbd_cache = false
`, fsid, testMon, dir)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"run", "log", "mon/ceph-a"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var daemons []*exec.Cmd
	t.Cleanup(func() {
		for _, d := range daemons {
			_ = d.Process.Kill()
			_ = d.Wait()
		}
		if !t.Failed() {
			os.RemoveAll(dir)
		} else {
			t.Logf("Ceph logs kept in %s/log", dir)
		}
	})
	sh := func(argv ...string) string {
		t.Helper()
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	start := func(argv ...string) {
		t.Helper()
		cmd := exec.Command(argv[0], argv[1:]...)
		log, _ := os.Create(filepath.Join(dir, "log", filepath.Base(argv[0])+"-"+argv[len(argv)-1]+".out"))
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		daemons = append(daemons, cmd)
	}
	sh("monmaptool", "--create", "--fsid", fsid, "--addv", "a", testMon, filepath.Join(dir, "monmap"))
	sh("ceph-mon", "-c", conf, "--mkfs", "-i", "a", "--monmap", filepath.Join(dir, "monmap"))
	start("ceph-mon", "-c", conf, "-f", "-i", "a")
	cli := func(args ...string) string {
		return sh(append([]string{"ceph", "-c", conf, "--log-file", "/dev/null", "--connect-timeout", "30"}, args...)...)
	}
	cli("status")
	for i := 0; i < 2; i++ {
		u := newUUID()
		id := cli("osd", "new", u)
		if err := os.MkdirAll(filepath.Join(dir, "osd", "ceph-"+id), 0o755); err != nil {
			t.Fatal(err)
		}
		sh("ceph-osd", "-c", conf, "-i", id, "--mkfs", "--osd-uuid", u)
		start("ceph-osd", "-c", conf, "-f", "-i", id)
	}
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(cli("osd", "stat"), "2 up") {
		if time.Now().After(deadline) {
			t.Fatalf("OSDs not up after 90 s: %s", cli("osd", "stat"))
		}
		time.Sleep(time.Second)
	}
	cli("osd", "pool", "create", "rbd", "8", "8", "replicated")
	cli("osd", "pool", "application", "enable", "rbd", "rbd")
	sh("rbd", "-c", conf, "--log-file", "/dev/null", "pool", "init", "rbd")
	return Ceph{Conf: conf, Pool: "rbd"}
}

func TestFencedWriterGetsErrors(t *testing.T) {
	ceph := standaloneCeph(t)
	ctx := context.Background()
	// Both "nodes" run here on 127.0.0.1; node b is given another address
	// so that publishing to it fences every client of this machine that
	// holds the lock at that moment: node a's.
	c := &Controller{Ceph: ceph, NodeIP: func(_ context.Context, n string) (string, error) {
		return map[string]string{"a": "127.0.0.1", "b": "127.0.0.2"}[n], nil
	}}
	const vol = "pvc-fence"
	rwo := mountCapability()
	if _, err := c.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: vol, CapacityRange: &csi.CapacityRange{RequiredBytes: 128 << 20}, VolumeCapabilities: []*csi.VolumeCapability{rwo}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: vol}) })
	work := t.TempDir()
	a, b := NewNode(ceph, "a", filepath.Join(work, "a")), NewNode(ceph, "b", filepath.Join(work, "b"))
	stageA, stageB := filepath.Join(work, "a-stage"), filepath.Join(work, "b-stage")
	t.Cleanup(func() { // whatever a failure left behind
		_ = a.Unstage(context.Background(), vol, stageA)
		_ = b.Unstage(context.Background(), vol, stageB)
	})

	if _, err := c.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: vol, NodeId: "a", VolumeCapability: rwo}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := a.Stage(ctx, vol, stageA); err != nil {
		t.Fatal(err)
	}
	t.Logf("node a: staged (rbd-fuse, loop, mkfs.ext4, mount) in %s", time.Since(t0).Round(time.Millisecond))
	f, err := os.OpenFile(filepath.Join(stageA, "seq"), os.O_CREATE|os.O_WRONLY|os.O_APPEND|syscall.O_DSYNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var acked bytes.Buffer
	var lat []time.Duration
	for i := 0; i < 50; i++ {
		rec := fmt.Sprintf("record %04d\n", i)
		s := time.Now()
		if _, err := f.WriteString(rec); err != nil {
			t.Fatalf("write %d before fencing: %v", i, err)
		}
		lat = append(lat, time.Since(s))
		acked.WriteString(rec)
	}
	t.Logf("node a: 50 O_DSYNC appends through rbd-fuse -> loop -> ext4: %s", latencies(lat))
	lockers, err := ceph.Lockers(ctx, vol)
	if err != nil || len(lockers) != 1 || lockers[0].IP() != "127.0.0.1" {
		t.Fatalf("node a's writer should hold the image's lock: %+v, %v", lockers, err)
	}

	t1 := time.Now()
	if _, err := c.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: vol, NodeId: "b", VolumeCapability: rwo}); err != nil {
		t.Fatal(err)
	}
	t.Logf("publish to node b (lock ls, blocklist add %s, lock rm) took %s", lockers[0].Address, time.Since(t1).Round(time.Millisecond))
	if l, _ := ceph.Lockers(ctx, vol); len(l) != 0 {
		t.Fatalf("lock still held after fencing: %+v", l)
	}

	// The fenced writer: every write must fail; none may be acknowledged.
	type result struct {
		i   int
		err error
	}
	results := make(chan result, 20)
	go func() {
		for i := 50; i < 70; i++ {
			_, err := f.WriteString(fmt.Sprintf("record %04d\n", i))
			results <- result{i, err}
		}
		close(results)
	}()
	failed := 0
	timeout := time.After(2 * time.Minute)
collect:
	for {
		select {
		case r, ok := <-results:
			if !ok {
				break collect
			}
			if r.err == nil {
				t.Errorf("fenced writer: write of record %d was acknowledged", r.i)
			} else {
				failed++
				if failed == 1 {
					t.Logf("fenced writer: first write failed after %s: %v", time.Since(t1).Round(time.Millisecond), r.err)
				}
			}
		case <-timeout:
			t.Logf("fenced writer: still blocked after 2 min (%d writes failed, none acknowledged)", failed)
			break collect
		}
	}
	if failed == 0 {
		t.Error("fenced writer: no write failed")
	}

	t2 := time.Now()
	if err := b.Stage(ctx, vol, stageB); err != nil {
		t.Fatal(err)
	}
	t.Logf("node b: staged (rbd-fuse, loop, fsck, journal replay, mount) in %s", time.Since(t2).Round(time.Millisecond))
	got, err := os.ReadFile(filepath.Join(stageB, "seq"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, acked.Bytes()) {
		t.Errorf("node b reads %d bytes, want exactly the %d acknowledged before fencing:\n%s", len(got), acked.Len(), got)
	}

	f.Close()
	t3 := time.Now()
	if err := a.Unstage(ctx, vol, stageA); err != nil {
		t.Fatalf("unstaging the fenced node: %v", err)
	}
	t.Logf("node a (fenced): unstaged in %s", time.Since(t3).Round(time.Millisecond))
	t4 := time.Now()
	if err := b.Unstage(ctx, vol, stageB); err != nil {
		t.Fatal(err)
	}
	t.Logf("node b: unstaged in %s", time.Since(t4).Round(time.Millisecond))
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), work) {
		t.Errorf("mounts left under %s", work)
	}
	if out, _ := exec.Command("losetup", "-a").Output(); strings.Contains(string(out), work) {
		t.Errorf("loop devices left: %s", out)
	}
	if l, _ := ceph.Lockers(ctx, vol); len(l) != 0 {
		t.Errorf("node b's clean unstage left its lock: %+v", l)
	}
}

func latencies(d []time.Duration) string {
	s := append([]time.Duration(nil), d...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return fmt.Sprintf("p50 %s, p99 %s, max %s", s[len(s)/2].Round(10*time.Microsecond), s[len(s)*99/100].Round(10*time.Microsecond), s[len(s)-1].Round(10*time.Microsecond))
}
