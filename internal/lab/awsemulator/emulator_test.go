package awsemulator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// shared is one moto_server for the tests that only need an emulator (each
// uses its own node names); nil when moto_server is not installed.
var shared *Server

func TestMain(m *testing.M) {
	code := func() int {
		if _, err := Binary(); err != nil {
			return m.Run() // the tests needing moto skip, saying why
		}
		dir, err := os.MkdirTemp("", "irischaos-emulator-test")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer os.RemoveAll(dir)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		shared, err = Start(ctx, filepath.Join(dir, "moto.log"))
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "starting moto_server:", err)
			return 2
		}
		defer shared.Stop()
		return m.Run()
	}()
	os.Exit(code)
}

// sharedMoto returns the shared moto_server, or skips.
func sharedMoto(t *testing.T) *Server {
	t.Helper()
	if shared == nil {
		_, err := Binary()
		t.Skipf("skipping: %v", err)
	}
	return shared
}

// startMoto starts a moto_server of the test's own, or skips when it is not installed.
func startMoto(t *testing.T) *Server {
	t.Helper()
	if _, err := Binary(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	log := filepath.Join(t.TempDir(), "moto.log")
	srv, err := Start(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("stop moto: %v", err)
		}
	})
	return srv
}

func TestStartStop(t *testing.T) {
	srv := startMoto(t)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") || !strings.HasPrefix(srv.MotoURL, "http://127.0.0.1:") {
		t.Fatalf("URLs %s, %s are not loopback", srv.URL, srv.MotoURL)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.exited:
	default:
		t.Fatal("moto_server still running after Stop")
	}
	if _, err := Client(srv.MotoURL).DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{}); err == nil {
		t.Error("moto_server still answers after Stop")
	}
}

func TestStartFailsClearly(t *testing.T) {
	t.Setenv("MOTO_SERVER", "/bin/false")
	_, err := Start(context.Background(), filepath.Join(t.TempDir(), "moto.log"))
	if err == nil || !strings.Contains(err.Error(), "exited before answering") {
		t.Fatalf("error = %v; want one saying moto exited", err)
	}
}

func TestLaunch(t *testing.T) {
	srv := sharedMoto(t)
	ctx := context.Background()
	nodes := []NodeSpec{{Name: "n1"}, {Name: "n2"}, {Name: "n3"}, {Name: "n4", Zone: "us-east-1c"}}
	// Launch names instances by node: these names are this test's own in the shared emulator.
	insts, err := Launch(ctx, srv.URL, nodes)
	if err != nil {
		t.Fatal(err)
	}
	wantZones := map[string]string{"n1": "us-east-1a", "n2": "us-east-1b", "n3": "us-east-1c", "n4": "us-east-1c"}
	ids := map[string]bool{}
	for name, zone := range wantZones {
		in := insts[name]
		if in.Zone != zone || in.ProviderID != "aws:///"+zone+"/"+in.ID || !strings.HasPrefix(in.ID, "i-") {
			t.Errorf("node %s: %+v; want zone %s and providerID aws:///<zone>/<id>", name, in, zone)
		}
		ids[in.ID] = true
	}
	if len(ids) != 4 {
		t.Errorf("instances not distinct: %v", insts)
	}
	// The instances really exist in the emulator, in their zones.
	out, err := Client(srv.URL).DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{insts["n2"].ID}})
	if err != nil || len(out.Reservations) != 1 || aws.ToString(out.Reservations[0].Instances[0].Placement.AvailabilityZone) != "us-east-1b" {
		t.Fatalf("DescribeInstances(n2) = %+v, %v", out, err)
	}
	again, err := Launch(ctx, srv.URL, nodes)
	if err != nil {
		t.Fatal(err)
	}
	for name := range wantZones {
		if again[name] != insts[name] {
			t.Errorf("second Launch changed node %s: %+v -> %+v", name, insts[name], again[name])
		}
	}
	if _, err := Launch(ctx, srv.URL, []NodeSpec{{Name: "x", Zone: "eu-west-1a"}}); err == nil || !strings.Contains(err.Error(), "not in region us-east-1") {
		t.Errorf("Launch with a foreign zone: %v", err)
	}
}

// powerLog is a fake node power function that records what it was asked.
type powerLog struct {
	mu    sync.Mutex
	calls []string
	fail  int // fail this many calls first
}

func (p *powerLog) power(ctx context.Context, node, action string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, node+" "+action)
	if p.fail > 0 {
		p.fail--
		return errors.New("injected failure")
	}
	return nil
}

func (p *powerLog) waitFor(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		got := strings.Join(p.calls, ", ")
		p.mu.Unlock()
		if got == strings.Join(want, ", ") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t.Fatalf("power calls %q, want %q", p.calls, want)
}

type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestSync(t *testing.T) {
	oldI, oldR := SyncInterval, RetryDelay
	SyncInterval, RetryDelay = 50*time.Millisecond, 100*time.Millisecond
	t.Cleanup(func() { SyncInterval, RetryDelay = oldI, oldR })

	srv := sharedMoto(t)
	ctx, cancel := context.WithCancel(context.Background())
	insts, err := Launch(ctx, srv.URL, []NodeSpec{{Name: "sync-1"}, {Name: "sync-2"}})
	insts = map[string]Instance{"n1": insts["sync-1"], "n2": insts["sync-2"]}
	if err != nil {
		t.Fatal(err)
	}
	p := &powerLog{fail: 1}
	log := &syncLog{}
	done := make(chan error, 1)
	go func() { done <- Sync(ctx, srv.URL, insts, p.power, log) }()

	c := Client(srv.URL)
	n1 := []string{insts["n1"].ID}
	steps := []struct {
		do   func() error
		want []string
	}{
		// the first power off fails and is retried
		{func() error {
			_, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: n1, Force: aws.Bool(true)})
			return err
		}, []string{"n1 poweroff", "n1 poweroff"}},
		{func() error { _, err := c.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: n1}); return err },
			[]string{"n1 poweroff", "n1 poweroff", "n1 poweron"}},
		{func() error { _, err := c.RebootInstances(ctx, &ec2.RebootInstancesInput{InstanceIds: n1}); return err },
			[]string{"n1 poweroff", "n1 poweroff", "n1 poweron", "n1 restart"}},
		{func() error {
			_, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{insts["n2"].ID}})
			return err
		}, []string{"n1 poweroff", "n1 poweroff", "n1 poweron", "n1 restart", "n2 delete"}},
	}
	for i, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		p.waitFor(t, s.want...)
	}
	// nothing more happens while states stay put
	time.Sleep(300 * time.Millisecond)
	p.waitFor(t, steps[len(steps)-1].want...)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Sync returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Sync did not return after its context ended")
	}
	for _, want := range []string{"instance stopped => poweroff", "injected failure", "n2: instance terminated => delete"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("sync log lacks %q:\n%s", want, log.String())
		}
	}
}

func TestSyncAgainstBareMoto(t *testing.T) {
	oldI := SyncInterval
	SyncInterval = 50 * time.Millisecond
	t.Cleanup(func() { SyncInterval = oldI })
	srv := sharedMoto(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	insts, err := Launch(ctx, srv.MotoURL, []NodeSpec{{Name: "bare-1"}})
	insts = map[string]Instance{"n1": insts["bare-1"]}
	if err != nil {
		t.Fatal(err)
	}
	p := &powerLog{}
	log := &syncLog{}
	go func() { _ = Sync(ctx, srv.MotoURL, insts, p.power, log) }()
	if _, err := Client(srv.MotoURL).StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{insts["n1"].ID}}); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, "n1 poweroff")
	if !strings.Contains(log.String(), "does not list reboots") {
		t.Errorf("log does not warn that reboots are invisible: %s", log.String())
	}
}

func TestTransition(t *testing.T) {
	const (
		pending    = types.InstanceStateNamePending
		running    = types.InstanceStateNameRunning
		stopping   = types.InstanceStateNameStopping
		stopped    = types.InstanceStateNameStopped
		shutting   = types.InstanceStateNameShuttingDown
		terminated = types.InstanceStateNameTerminated
	)
	tests := []struct {
		prev, cur types.InstanceStateName
		want      string
	}{
		{running, running, ""},
		{running, stopping, "poweroff"},
		{running, stopped, "poweroff"},
		{pending, stopped, "poweroff"},
		{stopping, stopped, ""},
		{stopped, pending, "poweron"},
		{stopped, running, "poweron"},
		{pending, running, ""},
		{running, shutting, "delete"},
		{stopped, terminated, "delete"},
		{shutting, terminated, ""},
	}
	for _, tt := range tests {
		if got := transition(tt.prev, tt.cur); got != tt.want {
			t.Errorf("transition(%s -> %s) = %q, want %q", tt.prev, tt.cur, got, tt.want)
		}
	}
}

func TestZone(t *testing.T) {
	got := strings.Join([]string{Zone(0), Zone(1), Zone(2), Zone(3), Zone(-1)}, " ")
	if got != "us-east-1a us-east-1b us-east-1c us-east-1a us-east-1c" {
		t.Errorf("zones %s", got)
	}
}

// TestMotoDiesWithItsParent starts moto_server from a child process that
// exits without Stop (a crashed supervisor): moto_server must not outlive it.
func TestMotoDiesWithItsParent(t *testing.T) {
	if os.Getenv("EMULATOR_TEST_ORPHAN") != "" {
		srv, err := Start(context.Background(), filepath.Join(os.Getenv("EMULATOR_TEST_ORPHAN"), "moto.log"))
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Println("PID", srv.cmd.Process.Pid)
		os.Exit(0)
	}
	if _, err := Binary(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMotoDiesWithItsParent$")
	cmd.Env = append(os.Environ(), "EMULATOR_TEST_ORPHAN="+t.TempDir())
	out, err := cmd.Output()
	var pid int
	if _, serr := fmt.Sscanf(strings.TrimSpace(string(out)), "PID %d", &pid); serr != nil || err != nil {
		t.Fatalf("helper: %v, output %q", err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("moto_server %d outlived the process that started it", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
