package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestEntrypointChain runs the real binaries as the container does: iris-main
// starts the instance; `iris stop iris quietly` takes it down while iris-main
// stays up (so the seed's liveness probe fails); `iris start` brings it back;
// SIGTERM to iris-main stops it gracefully, exit 0, nothing lost.
func TestEntrypointChain(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the iris and iris-main binaries")
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "github.com/irischaos/irischaos/internal/lab/cmd/iris", "github.com/irischaos/irischaos/internal/lab/cmd/iris-main")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	base := t.TempDir()
	env := append(os.Environ(),
		"IRISCHAOS_RUN_DIR="+filepath.Join(base, "run"),
		"ISC_DATA_DIRECTORY="+filepath.Join(base, "external", "iris"),
		"ISC_PACKAGE_INSTANCENAME=IRIS",
	)
	iris := func(stdin string, args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(bin, "iris"), args...)
		cmd.Env = env
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	probe := func() bool {
		out, _ := iris("", "qlist", "iris")
		return strings.Contains(out, "running")
	}
	waitFor := func(want bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); probe() != want; {
			if time.Now().After(deadline) {
				out, _ := iris("", "qlist", "iris")
				t.Fatalf("liveness probe never became %v: %s", want, out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	var logs strings.Builder
	main := exec.Command(filepath.Join(bin, "iris-main"))
	main.Env = env
	main.Stderr = &logs
	if err := main.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- main.Wait() }()
	defer func() {
		main.Process.Kill()
		<-exited
	}()
	waitFor(true)

	if out, err := iris("set ^k8stest($i(^k8stest))=$zdt($h)_\" running on \"_$system.INetInfo.LocalHostName() write ^k8stest(^k8stest) \n h\n", "session", "iris", "-U", "USER"); err != nil || !strings.Contains(out, "USER>") {
		t.Fatalf("seed marker write: %v\n%s", err, out)
	}
	if out, err := iris("", "stop", "iris", "quietly"); err != nil {
		t.Fatalf("iris stop: %v\n%s", err, out)
	}
	waitFor(false)
	select {
	case err := <-exited:
		t.Fatalf("iris-main exited after iris stop (%v); it must stay up so the kubelet restarts the container", err)
	case <-time.After(300 * time.Millisecond):
	}
	if out, err := iris("", "start", "iris"); err != nil {
		t.Fatalf("iris start: %v\n%s", err, out)
	}
	waitFor(true)

	main.Process.Signal(syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("iris-main after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-ctx.Done():
		t.Fatalf("iris-main did not exit after SIGTERM\n%s", logs.String())
	}
	if probe() {
		t.Error("instance still running after iris-main's graceful exit")
	}
	if !strings.Contains(logs.String(), "Shutdown complete") {
		t.Errorf("no graceful shutdown in the log:\n%s", logs.String())
	}

	// Restarted (as the kubelet would), the marker is there.
	main = exec.Command(filepath.Join(bin, "iris-main"))
	main.Env = env
	if err := main.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { exited <- main.Wait() }()
	waitFor(true)
	out, err := iris("", "session", "iris", "zwrite ^k8stest")
	if err != nil || !strings.Contains(out, `^k8stest(1)="`) || !strings.Contains(out, " running on ") {
		t.Errorf("marker after restart: %v\n%s", err, out)
	}
	// Stop it gracefully and wait: a SIGKILL of iris-main (the deferred
	// cleanup) would orphan the instance, still writing into the run
	// directory while TempDir removes it.
	main.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("restarted iris-main after SIGTERM: %v", err)
		}
		exited <- nil // the deferred cleanup receives once more
	case <-time.After(20 * time.Second):
		t.Errorf("restarted iris-main did not exit after SIGTERM")
	}
}
