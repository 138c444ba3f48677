// Package proc starts the local cluster's long-running components with one
// log file each, and stops processes strictly by recorded identity (PID and
// start time): it never signals anything it did not start.
package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/irischaos/irischaos/internal/lab/localcluster/state"
)

// Spec is one component to start.
type Spec struct {
	Component string   // name, for logs and errors
	Argv      []string // the command line
	Log       string   // log file (appended to)
	Dir       string   // working directory; empty means the current one
}

// Started is a running component.
type Started struct {
	Proc state.Proc
	// Exited is closed when the process exits; Err then holds its status.
	Exited <-chan struct{}
	Err    *error
}

// Start launches s in its own process group (a terminal's Ctrl-C reaches the
// supervisor, which stops components in order, not every component at once).
func Start(s Spec) (*Started, error) {
	if len(s.Argv) == 0 {
		return nil, fmt.Errorf("%s: empty command line", s.Component)
	}
	if err := os.MkdirAll(filepath.Dir(s.Log), 0o755); err != nil {
		return nil, fmt.Errorf("%s: creating log directory: %w", s.Component, err)
	}
	logf, err := os.OpenFile(s.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: opening log %s: %w", s.Component, s.Log, err)
	}
	fmt.Fprintf(logf, "==== %s starting %s: %q\n", time.Now().UTC().Format(time.RFC3339), s.Component, s.Argv)
	cmd := exec.Command(s.Argv[0], s.Argv[1:]...)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s (%s): %w", s.Component, s.Argv[0], err)
	}
	logf.Close()
	st, _ := state.StartTime(cmd.Process.Pid)
	exited := make(chan struct{})
	var werr error
	go func() {
		werr = cmd.Wait()
		close(exited)
	}()
	return &Started{Proc: state.Proc{Component: s.Component, PID: cmd.Process.Pid, Start: st}, Exited: exited, Err: &werr}, nil
}

// Stop sends SIGTERM to p, waits up to grace, then SIGKILLs it. A process
// that is no longer ours (gone, or PID reused) is left alone.
func Stop(ctx context.Context, p state.Proc, grace time.Duration) error {
	if !p.Alive() {
		return nil
	}
	if err := syscall.Kill(p.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stopping %s (pid %d): %w", p.Component, p.PID, err)
	}
	deadline := time.Now().Add(grace)
	for p.Alive() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			if p.Alive() {
				_ = syscall.Kill(p.PID, syscall.SIGKILL)
			}
			for i := 0; i < 100 && p.Alive(); i++ {
				time.Sleep(20 * time.Millisecond)
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if p.Alive() {
		return fmt.Errorf("%s (pid %d) survived SIGKILL", p.Component, p.PID)
	}
	return nil
}
