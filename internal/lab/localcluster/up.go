package localcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/irischaos/irischaos/internal/lab/localcluster/binaries"
	"github.com/irischaos/irischaos/internal/lab/localcluster/proc"
	"github.com/irischaos/irischaos/internal/lab/localcluster/state"
	"github.com/irischaos/irischaos/pkg/progress"
)

// Exists reports whether the named cluster has a live supervisor.
func Exists(name string) bool {
	c, err := state.Load(state.For(name))
	return err == nil && c.Supervisor.Alive()
}

// Up starts the cluster's supervisor in the background (its own session, so
// it outlives this process) and streams its progress until every node is
// Ready. On error or cancellation it stops the supervisor, which tears down
// everything it started, and waits for that.
func Up(ctx context.Context, o Options, w io.Writer) (err error) {
	if err := o.defaults(); err != nil {
		return err
	}
	// One status line for the whole start-up (on a terminal: the current
	// step and the time elapsed, redrawn in place; in a log: one line at
	// the end); the supervisor's own lines flow above it.
	pr := progress.New(w)
	step := pr.Start(fmt.Sprintf("cluster %q up", o.Name))
	defer func() { step.Done(err) }()
	var progress io.Writer = pr
	if len(o.Supervisor) == 0 {
		return errors.New("cluster up: no supervisor command line given (Options.Supervisor; `irischaos cluster up` sets it)")
	}
	l := state.For(o.Name)
	if Exists(o.Name) {
		return fmt.Errorf("cluster %q exists already (kubeconfig %s): use it, or remove it with `irischaos cluster down --name %s`", o.Name, l.Kubeconfig(), o.Name)
	}
	if _, err := state.Load(l); err == nil || !errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(progress, "cluster %q: removing leftovers of an earlier run\n", o.Name)
		if err := Down(ctx, o.Name, progress); err != nil {
			return err
		}
	}
	if err := CheckPrerequisites(); err != nil {
		return err
	}
	// Build (or find) the binaries here, so the first long build streams
	// straight to the user's terminal.
	if _, err := binaries.Ensure(ctx, binaries.Options{ToolsDir: o.ToolsDir, Progress: progress}); err != nil {
		return err
	}
	if err := os.MkdirAll(l.Dir, 0o755); err != nil {
		return err
	}
	for _, f := range []string{l.Ready(), l.Failed(), l.Progress()} {
		os.Remove(f)
	}
	logf, err := os.OpenFile(l.Log("supervisor"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		if err := os.MkdirAll(l.Dir+"/logs", 0o755); err != nil {
			return err
		}
		if logf, err = os.OpenFile(l.Log("supervisor"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			return err
		}
	}
	cmd := exec.Command(o.Supervisor[0], o.Supervisor[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting the cluster supervisor (%s): %w", strings.Join(o.Supervisor, " "), err)
	}
	logf.Close()
	st, _ := state.StartTime(cmd.Process.Pid)
	sup := state.Proc{Component: "supervisor", PID: cmd.Process.Pid, Start: st}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	fmt.Fprintf(progress, "cluster %q: supervisor started (pid %d, logs in %s/logs)\n", o.Name, sup.PID, l.Dir)

	fail := func(err error) error {
		fmt.Fprintf(progress, "cluster %q: stopping (%v)\n", o.Name, err)
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		_ = proc.Stop(sctx, sup, 3*time.Minute)
		if derr := down(sctx, o.Name, progress, true); derr != nil {
			return errors.Join(err, derr)
		}
		return err
	}
	var offset int64
	stream := func() {
		f, err := os.Open(l.Progress())
		if err != nil {
			return
		}
		defer f.Close()
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			return
		}
		r := bufio.NewReader(f)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			offset += int64(len(line))
			io.WriteString(progress, line)
			if s, ok := upStep(line); ok {
				step.Await(s)
			}
		}
	}
	for {
		stream()
		if _, err := os.Stat(l.Ready()); err == nil {
			fmt.Fprintf(progress, "cluster %q is up: export KUBECONFIG=%s\n", o.Name, l.Kubeconfig())
			return nil
		}
		if b, err := os.ReadFile(l.Failed()); err == nil {
			// The supervisor tears down before it exits; wait for that.
			select {
			case <-exited:
			case <-time.After(3 * time.Minute):
			}
			stream()
			return fail(fmt.Errorf("cluster %q failed to start: %s", o.Name, strings.TrimSpace(string(b))))
		}
		select {
		case err := <-exited:
			stream()
			return fail(fmt.Errorf("cluster supervisor exited during start-up (%v): see %s", err, l.Log("supervisor")))
		case <-ctx.Done():
			return fail(fmt.Errorf("cluster %q: start-up interrupted (%v); everything it started is being removed", o.Name, ctx.Err()))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// upStep is the step a supervisor line starts ("[ 12.3s] [7/15] control
// plane" gives "[7/15] control plane"); false for any other line, the step's
// own end ("...: done in 2s") included.
func upStep(line string) (string, bool) {
	line = strings.TrimSpace(line)
	if i := strings.Index(line, "] ["); strings.HasPrefix(line, "[") && i > 0 {
		line = line[i+2:]
	}
	var i, n int
	var name string
	if _, err := fmt.Sscanf(line, "[%d/%d] %s", &i, &n, &name); err != nil || i < 1 || n < i {
		return "", false
	}
	if strings.Contains(line, ": done in ") || strings.Contains(line, ": failed after ") {
		return "", false
	}
	return line, true
}
