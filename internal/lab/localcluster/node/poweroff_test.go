package node

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/irischaos/irischaos/internal/lab/localcluster/cgroups"
	"github.com/irischaos/irischaos/internal/lab/localcluster/netns"
	"github.com/irischaos/irischaos/internal/lab/localcluster/state"
)

// TestPowerOffCutsLinkBeforeKilling: peers must see a machine vanish (no
// reset connections), so the link goes down while the node's processes
// still run, and a failed link cut kills nothing.
func TestPowerOffCutsLinkBeforeKilling(t *testing.T) {
	for _, linkFails := range []bool{false, true} {
		t.Run("linkFails="+strconv.FormatBool(linkFails), func(t *testing.T) {
			// A fake cgroup hierarchy holding one real process of the node.
			mount := t.TempDir()
			sub := filepath.Join(mount, "n1")
			if err := os.MkdirAll(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("sleep", "30")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			procs := filepath.Join(sub, "cgroup.procs")
			go func() {
				_ = cmd.Wait()
				_ = os.WriteFile(procs, nil, 0o644) // as the kernel empties a cgroup
				close(exited)
			}()
			t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
			pid := cmd.Process.Pid
			if err := os.WriteFile(procs, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			alive := func() bool {
				select {
				case <-exited:
					return false
				default:
					return syscall.Kill(pid, 0) == nil
				}
			}
			var calls []string
			aliveAtCut := false
			nw := &netns.Net{Run: func(_ context.Context, name string, args ...string) error {
				calls = append(calls, name+" "+strings.Join(args, " "))
				aliveAtCut = alive()
				if linkFails {
					return errors.New("no such device")
				}
				return nil
			}}
			n := New(Config{Layout: state.Layout{Dir: t.TempDir()}, Spec: state.Node{Name: "node-1", HostVeth: "v1", Cgroup: "/n1"},
				Net: nw, Cgroups: cgroups.Host{Hierarchies: []cgroups.Hierarchy{{Mount: mount}}}})
			err := n.PowerOff(context.Background())
			if len(calls) != 1 || calls[0] != "ip link set v1 down" {
				t.Fatalf("link calls = %q, want one `ip link set v1 down`", calls)
			}
			if !aliveAtCut {
				t.Error("the node's process was dead when the link went down: kill came first")
			}
			if linkFails {
				if err == nil || !alive() {
					t.Errorf("failed link cut: err = %v, process alive = %t; want an error and nothing killed", err, alive())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			<-exited
		})
	}
}

func TestLoopsUnder(t *testing.T) {
	sys := t.TempDir()
	for name, backing := range map[string]string{
		"loop0": "/s/c/nodes/node-1/csi/vol/fuse/image\n",
		"loop1": "/s/c/nodes/node-10/x\n",
		"loop2": "/s/c/nodes/node-1/old (deleted)\n",
		"loop3": "", // not attached: no loop directory
		"vda":   "/s/c/nodes/node-1/not-a-loop\n",
	} {
		d := filepath.Join(sys, name)
		if backing != "" {
			d = filepath.Join(d, "loop")
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if backing != "" {
			if err := os.WriteFile(filepath.Join(d, "backing_file"), []byte(backing), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := loopsUnder(sys, "/s/c/nodes/node-1")
	if err != nil || strings.Join(got, ",") != "/dev/loop0,/dev/loop2" {
		t.Errorf("loopsUnder = %v, %v; want loop0 and loop2", got, err)
	}
}
