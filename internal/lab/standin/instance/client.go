package instance

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ErrDown is returned when the instance is not running.
var ErrDown = errors.New("instance is not running")

func (i Instance) dial(h hello) (*net.UnixConn, error) {
	c, err := net.DialTimeout("unix", i.SocketPath(), 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("%w: instance '%s' (%s): %v", ErrDown, i.Name, i.State().Status, err)
	}
	b, _ := json.Marshal(h)
	if _, err := c.Write(append(b, '\n')); err != nil {
		c.Close()
		return nil, err
	}
	return c.(*net.UnixConn), nil
}

// Session runs `iris session`: with hasCmd it runs command, else it relays
// stdin to the instance line by line. It returns the session's exit code:
// 0 after HALT or the end of input, 1 for a failed command, a lost
// connection or a down instance (err says which).
func (i Instance) Session(ns, command string, hasCmd bool, stdin io.Reader, stdout io.Writer) (int, error) {
	c, err := i.dial(hello{Op: "session", Namespace: ns, Command: command, HasCmd: hasCmd})
	if err != nil {
		return 1, err
	}
	defer c.Close()
	if !hasCmd && stdin != nil {
		go func() {
			io.Copy(c, stdin)
			c.CloseWrite()
		}()
	} else {
		c.CloseWrite()
	}
	// Read through UnixConn.File's duplicate (non-blocking and polled in
	// Go 1.26). The daemon's fully blocking descriptor (blockingFile) made
	// this relay about three times slower per ack when tried: its stdin
	// writer and the blocked reader then wait for the runtime's Ps.
	var src io.Reader = c
	if f, err := c.File(); err == nil {
		defer f.Close()
		src = f
	}
	r := bufio.NewReaderSize(src, 64<<10)
	var buf []byte
	for {
		typ, p, err := readFrame(r, buf)
		if err != nil {
			return 1, fmt.Errorf("connection to instance '%s' lost: %w", i.Name, err)
		}
		buf = p
		switch typ {
		case frameOut:
			if _, err := stdout.Write(p); err != nil {
				return 1, err
			}
		case frameExit:
			if len(p) != 1 {
				return 1, errors.New("protocol error: bad exit frame")
			}
			return int(p[0]), nil
		}
	}
}

// Ping reports whether the instance answers on its socket.
func (i Instance) Ping() bool {
	c, err := i.dial(hello{Op: "ping"})
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	typ, _, err := readFrame(c, nil)
	return err == nil && typ == frameExit
}

// Stop shuts the instance down gracefully (`iris stop NAME quietly`) and
// returns when it is down. An instance still starting (waiting for the data
// directory lock) is sent SIGTERM.
func (i Instance) Stop(ctx context.Context) error {
	s := i.State()
	if s.Status == "down" {
		return nil
	}
	c, err := i.dial(hello{Op: "stop"})
	if err != nil {
		if s.PID > 0 {
			syscall.Kill(s.PID, syscall.SIGTERM)
		}
		return i.waitDown(ctx, s.PID)
	}
	defer c.Close()
	done := make(chan error, 1)
	go func() {
		_, _, err := readFrame(c, nil)
		done <- err
	}()
	select {
	case <-ctx.Done():
		return fmt.Errorf("instance '%s' did not finish stopping: %w", i.Name, ctx.Err())
	case err := <-done:
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("stop instance '%s': %w", i.Name, err)
		}
	}
	return i.waitDown(ctx, s.PID)
}

// Force kills the instance at once, without flushing its journal buffer
// (`iris force NAME`): what the buffer held is lost, as in a crash.
func (i Instance) Force(ctx context.Context) error {
	s := i.State()
	if s.Status == "down" {
		return nil
	}
	if err := syscall.Kill(s.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("force instance '%s' (pid %d): %w", i.Name, s.PID, err)
	}
	if err := i.waitDown(ctx, s.PID); err != nil {
		return err
	}
	os.Remove(i.SocketPath())
	s.Status, s.Detail, s.LastUsed = "down", "", time.Now()
	return i.writeState(s)
}

func (i Instance) waitDown(ctx context.Context, pid int) error {
	for alive(pid) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("instance '%s' (pid %d) is still up: %w", i.Name, pid, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// DaemonArg is the hidden first argument that makes the iris binary run an
// instance: `iris __instance NAME`.
const DaemonArg = "__instance"

// Spawn starts the instance daemon: exe run with DaemonArg and the
// instance name. Detached daemons (from `iris start`) get their own session
// and no stdio, and are reaped by PID 1 (iris-main) once their starter
// exits; attached ones (iris-main's) share its stderr for the container log.
func (i Instance) Spawn(exe string, detached bool) (*os.Process, error) {
	attr := &os.ProcAttr{
		Env: append(os.Environ(), "IRISCHAOS_RUN_DIR="+i.RunDir),
		Sys: &syscall.SysProcAttr{Setpgid: true},
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer null.Close()
	if detached {
		attr.Files = []*os.File{null, null, null}
		attr.Sys = &syscall.SysProcAttr{Setsid: true}
	} else {
		attr.Files = []*os.File{null, os.Stderr, os.Stderr}
	}
	p, err := os.StartProcess(exe, []string{filepath.Base(exe), DaemonArg, i.Name}, attr)
	if err != nil {
		return nil, fmt.Errorf("start instance '%s' with %s: %w", i.Name, exe, err)
	}
	return p, nil
}

// Start runs `iris start NAME`: spawn a detached daemon and wait until it
// runs, reporting progress (such as waiting for the data directory lock).
func (i Instance) Start(ctx context.Context, exe string, progress io.Writer) error {
	if _, err := i.Conf(); err != nil {
		return err
	}
	if s := i.State(); s.Status != "down" {
		fmt.Fprintf(progress, "Instance '%s' is already %s.\n", strings.ToUpper(i.Name), s.Status)
		return nil
	}
	p, err := i.Spawn(exe, true)
	if err != nil {
		return err
	}
	pid := p.Pid
	p.Release() // sets p.Pid to -1
	fmt.Fprintf(progress, "Starting instance '%s'...\n", strings.ToUpper(i.Name))
	said := ""
	for {
		s := i.State()
		switch {
		case s.Status == "running" && s.PID == pid:
			fmt.Fprintf(progress, "Instance '%s' is running.\n", strings.ToUpper(i.Name))
			return nil
		case s.PID == pid && s.Detail != "" && s.Detail != said:
			said = s.Detail
			fmt.Fprintf(progress, "Instance '%s' is %s, %s\n", strings.ToUpper(i.Name), s.Status, s.Detail)
		case !alive(pid):
			c, _ := i.Conf()
			return fmt.Errorf("instance '%s' failed to start; see %s", i.Name, filepath.Join(c.DataDir, "mgr", "messages.log"))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("instance '%s' still starting: %w", i.Name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
