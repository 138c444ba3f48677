package cloud

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// memProvider keeps VM states in memory: the seam's behaviour (Registry,
// Session) is what is under test here, not a cloud.
type memProvider struct {
	mu     sync.Mutex
	states map[string]State
	done   []string
	fail   map[Action]error
}

func (m *memProvider) Name() string { return "mem" }
func (m *memProvider) Parse(id string) (VM, error) {
	if !strings.HasPrefix(id, "mem://") {
		return VM{}, fmt.Errorf("bad id %q", id)
	}
	return VM{ProviderID: id, Provider: "mem", ID: strings.TrimPrefix(id, "mem://")}, nil
}
func (m *memProvider) Describe(vm VM, a Action) string { return string(a) + " " + vm.ID }
func (m *memProvider) Do(ctx context.Context, vm VM, a Action) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.done = append(m.done, string(a)+" "+vm.ID)
	if err := m.fail[a]; err != nil {
		return err
	}
	if _, ok := m.states[vm.ID]; !ok {
		return ErrNotFound
	}
	m.states[vm.ID] = a.Target()
	if a == Delete {
		delete(m.states, vm.ID)
	}
	return nil
}
func (m *memProvider) State(ctx context.Context, vm VM) (State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.states[vm.ID]
	if !ok {
		return Unknown, ErrNotFound
	}
	return st, nil
}

func TestRegistry(t *testing.T) {
	r := &Registry{}
	built := 0
	mem := &memProvider{states: map[string]State{}}
	r.Register("MEM", func() (Provider, error) { built++; return mem, nil })
	r.Register("broken", func() (Provider, error) { return nil, errors.New("no credentials") })

	if _, _, err := r.For("gcp://x/y"); err == nil || !strings.Contains(err.Error(), `no cloud provider for scheme "gcp" (supported: broken, mem)`) {
		t.Errorf("unknown scheme: %v", err)
	}
	if _, _, err := r.For("i-123"); err == nil || !strings.Contains(err.Error(), "has no scheme") {
		t.Errorf("no scheme: %v", err)
	}
	if _, _, err := r.For("broken://x"); err == nil || !strings.Contains(err.Error(), `cloud provider "broken": no credentials`) {
		t.Errorf("factory error: %v", err)
	}
	for range 3 {
		p, vm, err := r.For("mem://vm1")
		if err != nil || p != mem || vm.ID != "vm1" {
			t.Fatalf("For = %v, %+v, %v", p, vm, err)
		}
	}
	if built != 1 {
		t.Errorf("provider built %d times, want once (lazily, then cached)", built)
	}
	if _, _, err := r.For("mem:/bad"); err == nil {
		t.Error("a malformed providerID was accepted")
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	if _, _, err := r.ForNode(node); err == nil || !strings.Contains(err.Error(), "node n1 has no spec.providerID") {
		t.Errorf("node without providerID: %v", err)
	}
	node.Spec.ProviderID = "mem://vm9"
	if _, vm, err := r.ForNode(node); err != nil || vm.ID != "vm9" {
		t.Errorf("ForNode = %+v, %v", vm, err)
	}
	if got := strings.Join(r.Schemes(), ","); got != "broken,mem" {
		t.Errorf("Schemes = %s", got)
	}
}

func TestParseActionAndTarget(t *testing.T) {
	tests := []struct {
		in     string
		want   Action
		target State
	}{
		{"poweroff", PowerOff, Stopped},
		{" PowerOn ", PowerOn, Running},
		{"restart", Restart, Running},
		{"delete", Delete, Terminated},
		{"deallocate", Deallocate, Stopped},
	}
	for _, tt := range tests {
		a, err := ParseAction(tt.in)
		if err != nil || a != tt.want || a.Target() != tt.target {
			t.Errorf("ParseAction(%q) = %s (target %s), %v", tt.in, a, a.Target(), err)
		}
	}
	if _, err := ParseAction("hibernate"); err == nil || !strings.Contains(err.Error(), "valid: poweroff") {
		t.Errorf("ParseAction(hibernate) = %v", err)
	}
	if Action("x").Target() != Unknown {
		t.Error("unknown action has a target")
	}
}

func TestPoll(t *testing.T) {
	t.Run("done", func(t *testing.T) {
		n := 0
		err := Poll(context.Background(), PollOptions{Interval: time.Millisecond}, func(context.Context) (bool, string, error) {
			n++
			return n == 3, "x", nil
		})
		if err != nil || n != 3 {
			t.Fatalf("Poll = %v after %d checks", err, n)
		}
	})
	t.Run("check error", func(t *testing.T) {
		boom := errors.New("boom")
		err := Poll(context.Background(), PollOptions{}, func(context.Context) (bool, string, error) { return false, "", boom })
		if !errors.Is(err, boom) {
			t.Fatalf("Poll = %v", err)
		}
	})
	t.Run("timeout with progress", func(t *testing.T) {
		var out bytes.Buffer
		err := Poll(context.Background(), PollOptions{What: "vm1 to be stopped", Interval: 5 * time.Millisecond, Timeout: 100 * time.Millisecond, Progress: &out, ProgressEvery: 20 * time.Millisecond},
			func(context.Context) (bool, string, error) { return false, "stopping", nil })
		if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "vm1 to be stopped: still stopping after") {
			t.Fatalf("Poll = %v", err)
		}
		if !strings.Contains(out.String(), "waiting for vm1 to be stopped: stopping after") {
			t.Errorf("progress %q", out.String())
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := Poll(ctx, PollOptions{What: "w"}, func(ctx context.Context) (bool, string, error) { return false, "", ctx.Err() })
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
			t.Fatalf("Poll = %v; want context.Canceled", err)
		}
	})
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func TestTicker(t *testing.T) {
	var out lockedBuffer
	stop := Ticker(&out, 10*time.Millisecond, "the operation")
	time.Sleep(55 * time.Millisecond)
	stop()
	out.mu.Lock()
	got := out.b.String()
	out.mu.Unlock()
	if n := strings.Count(got, "waiting for the operation ("); n < 2 {
		t.Errorf("ticker wrote %q; want several progress lines", got)
	}
	Ticker(nil, time.Millisecond, "x")() // no writer: no-op
}

func TestSessionRestore(t *testing.T) {
	mem := &memProvider{states: map[string]State{"a": Running, "b": Running, "c": Running, "d": Running}}
	r := &Registry{}
	r.Register("mem", func() (Provider, error) { return mem, nil })
	var progress bytes.Buffer
	s := NewSession(r, &progress)
	ctx := context.Background()
	for _, step := range []struct {
		id string
		a  Action
	}{
		{"mem://a", PowerOff}, {"mem://b", PowerOff}, {"mem://c", Delete}, {"mem://d", Restart}, {"mem://b", PowerOn},
	} {
		if err := s.Do(ctx, step.id, step.a); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(s.Stopped(), ","); got != "mem://a" {
		t.Fatalf("Stopped = %s; want only a (b was started again, c deleted, d restarted)", got)
	}
	mem.done = nil
	if err := s.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(mem.done, ","); got != "poweron a" {
		t.Errorf("Restore did %q; want exactly [poweron a]", got)
	}
	if len(s.Stopped()) != 0 || !strings.Contains(progress.String(), "restoring mem://a (was stopped)") {
		t.Errorf("after Restore: stopped %v, progress %q", s.Stopped(), progress.String())
	}

	// A power-off that fails is remembered (it may still land); a failing
	// power-on during Restore is reported and the VM stays listed.
	mem.fail = map[Action]error{PowerOff: errors.New("timeout"), PowerOn: errors.New("quota")}
	if err := s.Do(ctx, "mem://d", PowerOff); err == nil {
		t.Fatal("injected failure not returned")
	}
	mem.states["d"] = Stopped
	err := s.Restore(ctx)
	if err == nil || !strings.Contains(err.Error(), "restore mem://d: quota (start it by hand)") {
		t.Fatalf("Restore = %v", err)
	}
	if got := s.Stopped(); len(got) != 1 || got[0] != "mem://d" {
		t.Errorf("Stopped after a failed restore = %v", got)
	}
	// A VM deleted meanwhile is dropped without an error.
	delete(mem.states, "d")
	if err := s.Restore(ctx); err != nil || len(s.Stopped()) != 0 {
		t.Errorf("Restore of a deleted VM = %v, stopped %v", err, s.Stopped())
	}
}

func TestTee(t *testing.T) {
	ok := Call{Provider: "aws", Action: "ec2:StopInstances"}
	bad := ok
	bad.Err = errors.New("denied")
	if bad.Result() != "denied" || ok.Result() != "ok" {
		t.Errorf("results %q %q", bad.Result(), ok.Result())
	}
	var a, b CallLog
	rec := Tee(a.Recorder(), b.Recorder(), nil)
	rec.Record(ok)
	Recorder(nil).Record(ok) // a nil recorder is allowed
	if len(a.Calls()) != 1 || len(b.Calls()) != 1 {
		t.Errorf("Tee delivered %d and %d calls", len(a.Calls()), len(b.Calls()))
	}
}
