// Command iris-main is the entrypoint (PID 1) of the irischaos IRIS stand-in
// container, like InterSystems' iris-main: it registers and starts the
// instance "iris" with its data under $ISC_DATA_DIRECTORY (applying
// $ISC_CPF_MERGE_FILE), reaps every child, and on SIGTERM/SIGINT stops the
// instance gracefully (journal flushed) and exits 0. When the instance goes
// down by itself (`iris stop iris quietly`, `iris force iris`) iris-main
// stays up, so the liveness probe `iris qlist iris | grep running` fails and
// the kubelet restarts the container.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/irischaos/irischaos/internal/lab/standin"
	"github.com/irischaos/irischaos/internal/lab/standin/instance"
)

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[iris-main] %s %s\n", time.Now().UTC().Format(time.RFC3339Nano), fmt.Sprintf(format, args...))
}

func main() {
	name := strings.ToLower(os.Getenv("ISC_PACKAGE_INSTANCENAME"))
	if name == "" {
		name = "iris"
	}
	dataDir := os.Getenv("ISC_DATA_DIRECTORY")
	if dataDir == "" {
		dataDir = filepath.Join(instance.InstallDir, "mgr", "data")
	}
	if len(os.Args) > 1 {
		// InterSystems' iris-main has many options (--check-caps, -a, ...);
		// none changes what the stand-in does.
		logf("ignoring arguments %q", os.Args[1:])
	}
	inst := instance.New(instance.RunDir(), name)
	if err := inst.Register(instance.Conf{DataDir: dataDir, MergeFile: os.Getenv("ISC_CPF_MERGE_FILE")}); err != nil {
		logf("cannot register instance %s: %v", name, err)
		os.Exit(1)
	}
	exe, err := irisBinary()
	if err != nil {
		logf("%v", err)
		os.Exit(1)
	}
	logf("%s %s: starting instance %s (data directory %s)", standin.Product, standin.Version, name, dataDir)

	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	child, err := inst.Spawn(exe, false)
	if err != nil {
		logf("%v", err)
		os.Exit(1)
	}
	for s := range sigs {
		if s == syscall.SIGCHLD {
			reap(child.Pid)
			continue
		}
		logf("%s: stopping instance %s gracefully", s, name)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		err := inst.Stop(ctx)
		cancel()
		reap(child.Pid)
		if err != nil {
			logf("graceful stop failed: %v", err)
			os.Exit(1)
		}
		logf("instance %s is down; exiting", name)
		os.Exit(0)
	}
}

// reap collects every exited child (iris-main is PID 1: daemons started by
// `iris start` become its children when their starter exits).
func reap(instancePid int) {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
		if pid == instancePid {
			logf("instance process %d exited (%s); staying up, the liveness probe decides", pid, describe(ws))
		}
	}
}

func describe(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + ws.Signal().String()
	}
	return fmt.Sprintf("exit status %d", ws.ExitStatus())
}

// irisBinary finds the iris binary: next to iris-main, else on PATH.
func irisBinary() (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "iris")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	p, err := exec.LookPath("iris")
	if err != nil {
		return "", fmt.Errorf("the iris binary is neither next to iris-main nor on PATH: %w", err)
	}
	return p, nil
}
