package nemesis

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/ledger"
)

// The child half of TestKilledMidFaultIsRecovered: set in its environment.
const (
	childFault = "IRISCHAOS_LIFECYCLE_CHILD_FAULT"
	childDir   = "IRISCHAOS_LIFECYCLE_CHILD_DIR"
)

// fileVMs is a cloud provider whose VM states live in a file, so they
// survive the process that changed them, as a real cloud's do. Its restart
// leaves the VM off (a restart that never came back), which the heal of a
// vm-restart must undo.
type fileVMs struct {
	mu   sync.Mutex
	path string
}

func (p *fileVMs) load() map[string]cloud.State {
	m := map[string]cloud.State{"w1": cloud.Running}
	if b, err := os.ReadFile(p.path); err == nil {
		_ = json.Unmarshal(b, &m)
	}
	return m
}

func (p *fileVMs) Name() string { return "fake" }
func (p *fileVMs) Parse(id string) (cloud.VM, error) {
	return (&fakeVMs{}).Parse(id)
}
func (p *fileVMs) Describe(vm cloud.VM, a cloud.Action) string {
	return "FILE " + string(a) + " " + vm.ID
}
func (p *fileVMs) Do(_ context.Context, vm cloud.VM, a cloud.Action) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.load()
	switch a {
	case cloud.PowerOff, cloud.Restart:
		m[vm.ID] = cloud.Stopped
	case cloud.PowerOn:
		m[vm.ID] = cloud.Running
	case cloud.Delete:
		m[vm.ID] = cloud.Terminated
	}
	b, _ := json.Marshal(m)
	return os.WriteFile(p.path, b, 0o644)
}

// fileVMs can partition too, as the local cluster's provider can: its
// node's link state lives in the same file ("partitioned:<id>").
func (p *fileVMs) link(vm cloud.VM, cut bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.load()
	m["partitioned:"+vm.ID] = map[bool]cloud.State{true: "yes", false: "no"}[cut]
	b, _ := json.Marshal(m)
	return os.WriteFile(p.path, b, 0o644)
}
func (p *fileVMs) Partition(_ context.Context, vm cloud.VM) error { return p.link(vm, true) }
func (p *fileVMs) Reconnect(_ context.Context, vm cloud.VM) error { return p.link(vm, false) }
func (p *fileVMs) DescribePartition(vm cloud.VM, reconnect bool) string {
	return fmt.Sprintf("FILE partition %s reconnect=%t", vm.ID, reconnect)
}

func (p *fileVMs) State(_ context.Context, vm cloud.VM) (cloud.State, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.load()[vm.ID], nil
}

// lifecycleEnv is the fake cluster and cloud of dir: the fake API's nodes
// (the only objects a heal touches) are read from dir/nodes.json when an
// earlier process saved them there, and the VM states live in dir/vms.json.
func lifecycleEnv(t *testing.T, dir string) (Env, *fake.Clientset) {
	cs, _ := drainCluster(t)
	// Two zones, one node each, their VMs the fake cloud's (zone-outage).
	for i, n := range []string{"w1", "w2"} {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{ZoneLabel: "zone-" + fmt.Sprint(i)}},
			Spec: corev1.NodeSpec{ProviderID: "fake:///" + n}}
		if err := cs.Tracker().Update(schema.GroupVersionResource{Version: "v1", Resource: "nodes"}, node, ""); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "nodes.json")); err == nil {
		var nodes []corev1.Node
		if err := json.Unmarshal(b, &nodes); err != nil {
			t.Fatal(err)
		}
		for i := range nodes {
			if err := cs.Tracker().Update(schema.GroupVersionResource{Version: "v1", Resource: "nodes"}, &nodes[i], ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	clouds := &cloud.Registry{}
	clouds.Register("fake", func() (cloud.Provider, error) { return &fileVMs{path: filepath.Join(dir, "vms.json")}, nil })
	return Env{Client: cs, Exec: &fakeExec{}, Clouds: clouds}, cs
}

func saveNodes(t *testing.T, cs *fake.Clientset, dir string) {
	list, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(list.Items)
	if err := os.WriteFile(filepath.Join(dir, "nodes.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLifecycleChild is the process that gets killed: it injects one fault
// through the Guard, says so, and waits to be SIGKILLed. It does nothing
// when run as a test of its own.
func TestLifecycleChild(t *testing.T) {
	name, dir := os.Getenv(childFault), os.Getenv(childDir)
	if name == "" {
		t.Skip("the child half of TestKilledMidFaultIsRecovered")
	}
	l, err := ledger.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	env, cs := lifecycleEnv(t, dir)
	f, err := New(env, Spec{Name: fault.Name(name), Allow: fault.Allow{VMActions: true, NodeActions: true}, DrainTimeout: 10 * time.Second}, irisTarget)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Guard{Ledger: l, Env: env}.Inject(context.Background(), f)
	if a == nil || err != nil {
		t.Fatalf("inject %s: %v", name, err)
	}
	// The fake API server's state outlives this process, as a real one's does.
	saveNodes(t, cs, dir)
	fmt.Println("INJECTED")
	time.Sleep(time.Minute) // SIGKILLed here, mid-fault
}

// TestKilledMidFaultIsRecovered kills (SIGKILL, a real child process) the
// holder of every fault type's lifecycle once the fault is in effect, then
// proves that Recover (what `irischaos recover` and the next run call)
// heals what it left and closes its ledger entry.
func TestKilledMidFaultIsRecovered(t *testing.T) {
	if os.Getenv(childFault) != "" {
		t.Skip("in the child")
	}
	for _, info := range fault.All() {
		t.Run(string(info.Name), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestLifecycleChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), childFault+"="+string(info.Name), childDir+"="+dir)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			injected := make(chan bool, 1)
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					if sc.Text() == "INJECTED" {
						injected <- true
						_, _ = io.Copy(io.Discard, stdout)
						return
					}
				}
				injected <- false
			}()
			select {
			case ok := <-injected:
				if !ok {
					_ = cmd.Wait()
					t.Fatalf("child ended before injecting: %s", stderr.String())
				}
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatal("child did not inject within 30s")
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
				t.Fatalf("child not killed: %v", err)
			}

			l, err := ledger.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			pend, err := l.Pending()
			if err != nil || len(pend) != 1 || pend[0].Fault != string(info.Name) {
				t.Fatalf("ledger after the kill: %+v, %v; want the one pending %s", pend, err, info.Name)
			}
			env, cs := lifecycleEnv(t, dir)
			vms := &fileVMs{path: filepath.Join(dir, "vms.json")}
			vm := cloud.VM{ProviderID: irisTarget.ProviderID, ID: "w1"}
			before, _ := vms.State(context.Background(), vm)
			node, _ := cs.CoreV1().Nodes().Get(context.Background(), "w1", metav1.GetOptions{})
			switch pend[0].Heal {
			case ledger.HealUncordon:
				if !node.Spec.Unschedulable {
					t.Fatal("the killed drain left no cordon: nothing proven")
				}
			case ledger.HealPowerOn:
				if before != cloud.Stopped {
					t.Fatalf("the killed %s left the VM %s: nothing proven", info.Name, before)
				}
			case ledger.HealReconnect:
				if vms.load()["partitioned:w1"] != "yes" {
					t.Fatalf("the killed %s left node w1 connected: nothing proven", info.Name)
				}
			}

			var out strings.Builder
			left, err := Guard{Ledger: l, Env: env}.Recover(context.Background(), &out)
			if err != nil || len(left) != 0 {
				t.Fatalf("recover: left %+v, %v\n%s", left, err, out.String())
			}
			if pend, _ := l.Pending(); len(pend) != 0 {
				t.Fatalf("still pending after recover: %+v", pend)
			}
			node, _ = cs.CoreV1().Nodes().Get(context.Background(), "w1", metav1.GetOptions{})
			if node.Spec.Unschedulable {
				t.Error("node w1 still cordoned after recover")
			}
			if vms.load()["partitioned:w1"] == "yes" {
				t.Error("node w1 still partitioned after recover")
			}
			after, _ := vms.State(context.Background(), vm)
			want := cloud.Running
			if info.Name == fault.VMDelete {
				want = cloud.Terminated // never healed, by design
			}
			if after != want {
				t.Errorf("VM after recover: %s, want %s", after, want)
			}
		})
	}
}
