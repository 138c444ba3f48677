package instance

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/irischaos/irischaos/internal/lab/standin"
	"github.com/irischaos/irischaos/internal/lab/standin/engine"
	"github.com/irischaos/irischaos/internal/lab/standin/objectscript"
)

// FlushRecord is NAME.flush in the run directory: the last completed
// journal flush. Every update acknowledged before Captured survives a crash;
// tests and operators read it to know what a crash may lose.
type FlushRecord struct {
	Captured time.Time `json:"captured"`
	Durable  time.Time `json:"durable"`
	Records  int       `json:"records"`
}

// LastFlush reads NAME.flush.
func (i Instance) LastFlush() (FlushRecord, error) {
	var f FlushRecord
	b, err := os.ReadFile(i.path(".flush"))
	if err != nil {
		return f, err
	}
	return f, json.Unmarshal(b, &f)
}

// logger writes IRIS-style messages.log lines to the data directory and to
// a second writer (the daemon's stderr, the container log under iris-main).
type logger struct {
	mu  sync.Mutex
	f   *os.File
	err io.Writer
}

func (l *logger) printf(format string, args ...any) {
	now := time.Now()
	line := fmt.Sprintf("%s:%03d (%d) 0 [Generic.Event] %s\n", now.Format("01/02/06-15:04:05"), now.Nanosecond()/1e6, os.Getpid(), fmt.Sprintf(format, args...))
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.WriteString(line)
	}
	if l.err != nil {
		l.err.Write([]byte(line))
	}
}

// daemon is one running instance.
type daemon struct {
	inst     Instance
	conf     Conf
	db       *engine.DB
	log      *logger
	host     string
	since    time.Time
	stopping chan net.Conn // a stop request, with the connection to answer
	strict   bool          // see StrictEnv
	units    chan struct{} // license units in strict mode; nil: unlimited
	login    bool          // strict mode's password login (PasswordLoginEnv)
	sessions atomic.Int64  // sessions running, for $system.License.LUConsumed()

	mu      sync.Mutex
	conns   map[net.Conn]func() // each connection's cut: ends it at shutdown
	cutting bool                // shutdown has cut the connections
	wg      sync.WaitGroup
}

// Serve runs the instance until ctx is cancelled (SIGTERM) or a client asks
// it to stop: recover the database (waiting for the data directory lock if
// another instance holds it), serve sessions on the socket, then shut down
// gracefully: end sessions (rolling back their open transactions), flush
// the journal, checkpoint, release the lock. logTo also receives the log.
func Serve(ctx context.Context, inst Instance, logTo io.Writer) error {
	conf, err := inst.Conf()
	if err != nil {
		return err
	}
	mgr := filepath.Join(conf.DataDir, "mgr")
	if err := os.MkdirAll(mgr, 0o755); err != nil {
		return fmt.Errorf("instance %s: create %s (is the data volume mounted and writable?): %w", inst.Name, mgr, err)
	}
	lf, err := os.OpenFile(filepath.Join(mgr, "messages.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("instance %s: open messages.log: %w", inst.Name, err)
	}
	defer lf.Close()
	d := &daemon{inst: inst, conf: conf, log: &logger{f: lf, err: logTo}, conns: map[net.Conn]func(){}, stopping: make(chan net.Conn, 1)}
	d.host, _ = os.Hostname()
	if d.strict = Strict(); d.strict {
		if n, err := strconv.Atoi(os.Getenv(LicenseUnitsEnv)); err == nil && n > 0 {
			d.units = make(chan struct{}, n)
		}
		d.login = os.Getenv(PasswordLoginEnv) == "1"
	}
	if s := inst.State(); s.Status != "down" && s.PID != os.Getpid() {
		return fmt.Errorf("instance %s is already %s (pid %d)", inst.Name, s.Status, s.PID)
	}
	start := time.Now()
	d.log.printf("Starting %s %s, instance %s, data directory %s", standin.Product, standin.Version, inst.Name, conf.DataDir)
	st := State{Status: "starting", PID: os.Getpid(), Since: start, DataDir: conf.DataDir}
	inst.writeState(st)
	down := func() {
		inst.writeState(State{Status: "down", PID: os.Getpid(), Since: start, LastUsed: time.Now(), DataDir: conf.DataDir})
	}

	settings := DefaultSettings()
	if conf.MergeFile != "" {
		f, err := os.Open(conf.MergeFile)
		switch {
		case err != nil:
			d.log.printf("CPF merge file %s not applied: %v", conf.MergeFile, err)
		default:
			settings, err = ParseMerge(f)
			f.Close()
			if err != nil {
				down()
				return fmt.Errorf("instance %s: %s: %w", inst.Name, conf.MergeFile, err)
			}
			d.log.printf("Applied CPF merge file %s: SynchCommit=%v jrnbufs=%dMB journal flush every %s, checkpoint every %s",
				conf.MergeFile, settings.SynchCommit, settings.JournalBufferMB, settings.FlushInterval, settings.CheckpointInterval)
		}
	}
	os.WriteFile(filepath.Join(conf.DataDir, "iris.cpf"), []byte(settings.CPF()), 0o644)

	db, err := engine.Open(ctx, engine.Options{
		Dir: conf.DataDir, FlushInterval: settings.FlushInterval, BufferSize: settings.JournalBufferMB << 20,
		SynchCommit: settings.SynchCommit, CheckpointInterval: settings.CheckpointInterval,
		Logf: d.log.printf,
		OnFlush: func(fi engine.FlushInfo) {
			writeJSON(inst.path(".flush"), FlushRecord{Captured: fi.Captured, Durable: fi.Durable, Records: fi.Records})
		},
		OnLockWait: func(holder string) {
			st.Detail = "waiting for the data directory lock held by " + holder
			inst.writeState(st)
		},
	})
	if err != nil {
		down()
		return fmt.Errorf("instance %s: %w", inst.Name, err)
	}
	d.db = db

	sock := inst.SocketPath()
	os.Remove(sock) // stale: the state check above found no live instance
	ln, err := net.Listen("unix", sock)
	if err != nil {
		db.Close()
		down()
		return fmt.Errorf("instance %s: listen on %s: %w", inst.Name, sock, err)
	}
	d.since = time.Now()
	inst.writeState(State{Status: "running", PID: os.Getpid(), Since: d.since, DataDir: conf.DataDir})
	d.log.printf("%s instance %s is running (startup %s); sessions on %s", standin.Product, inst.Name, time.Since(start).Round(time.Millisecond), sock)

	sessCtx, cancelSessions := context.WithCancel(context.Background())
	go d.accept(sessCtx, ln)
	var stopConn net.Conn
	select {
	case <-ctx.Done():
		d.log.printf("Shutdown requested by signal")
	case stopConn = <-d.stopping:
		d.log.printf("Shutdown requested by iris stop")
	}
	inst.writeState(State{Status: "stopping", PID: os.Getpid(), Since: d.since, DataDir: conf.DataDir})
	ln.Close()
	cancelSessions()
	d.mu.Lock()
	d.cutting = true
	for c, cut := range d.conns {
		if c != stopConn {
			cut()
		}
	}
	d.mu.Unlock()
	d.wg.Wait()
	err = db.Close()
	os.Remove(sock)
	down()
	if err != nil {
		d.log.printf("Shutdown failed: %v", err)
	} else {
		d.log.printf("Shutdown complete: journal flushed, database file written")
	}
	if stopConn != nil {
		writeFrame(stopConn, frameExit, []byte{0})
		stopConn.Close()
	}
	return err
}

func (d *daemon) accept(ctx context.Context, ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		d.mu.Lock()
		d.conns[c] = func() {
			c.(*net.UnixConn).CloseRead()
			c.Close()
		}
		d.wg.Add(1)
		d.mu.Unlock()
		go d.handle(ctx, c)
	}
}

func (d *daemon) handle(ctx context.Context, c net.Conn) {
	defer d.wg.Done()
	stop := false
	defer func() {
		if !stop {
			d.mu.Lock()
			delete(d.conns, c)
			d.mu.Unlock()
			c.Close()
		}
	}()
	r := bufio.NewReaderSize(c, 64<<10)
	line, err := r.ReadBytes('\n')
	if err != nil {
		return
	}
	var h hello
	if err := json.Unmarshal(line, &h); err != nil {
		d.log.printf("bad request on the instance socket: %v", err)
		return
	}
	switch h.Op {
	case "ping":
		writeFrame(c, frameExit, []byte{0})
	case "stop":
		// Answered by Serve once the shutdown is complete. The connection
		// stays out of the wait group so the shutdown does not wait for it.
		stop = true
		d.mu.Lock()
		delete(d.conns, c)
		d.mu.Unlock()
		select {
		case d.stopping <- c:
		default:
			c.Close() // a stop is already under way
		}
	case "session":
		f, err := d.detach(c)
		if err != nil {
			d.log.printf("session: %v", err)
			return
		}
		defer f.Close()
		r.Reset(io.MultiReader(bytes.NewReader(buffered(r)), f))
		d.session(ctx, f, r, h)
	default:
		d.log.printf("unknown request %q on the instance socket", h.Op)
	}
}

// detach takes a session's socket out of the runtime poller (see
// blockingFile) and registers how shutdown cuts it: with shutdown(2), which
// wakes the blocked read.
func (d *daemon) detach(c net.Conn) (*os.File, error) {
	f, err := blockingFile(c.(*net.UnixConn))
	if err != nil {
		return nil, err
	}
	cut := func() { shutdownFile(f, syscall.SHUT_RDWR) }
	d.mu.Lock()
	d.conns[c] = cut
	cutting := d.cutting
	d.mu.Unlock()
	if cutting {
		cut()
	}
	return f, nil
}

// unlimitedUnits is what the stand-in without a license limit reports as
// its units: more than any run holds.
const unlimitedUnits = 1024

// license is $system.License.LUAvailable() and LUConsumed(): in strict mode
// with LicenseUnitsEnv the units not held (a unit stays held about a second
// after its session ends, as IRIS's); else unlimitedUnits less the
// sessions running.
func (d *daemon) license() (available, consumed int) {
	if d.units != nil {
		return cap(d.units) - len(d.units), len(d.units)
	}
	n := int(d.sessions.Load())
	return unlimitedUnits - n, n
}

// buffered returns a copy of what r has read ahead.
func buffered(r *bufio.Reader) []byte {
	b, _ := r.Peek(r.Buffered())
	return append([]byte(nil), b...)
}

func (d *daemon) session(ctx context.Context, c io.Writer, r *bufio.Reader, h hello) {
	ns := h.Namespace
	if ns == "" {
		ns = "USER"
	}
	w := bufio.NewWriterSize(&frameWriter{w: c}, 64<<10)
	if !objectscript.ValidNamespace(ns) {
		fmt.Fprintf(w, "<NAMESPACE> %s: the stand-in has the namespaces USER and %%SYS\n", ns)
		w.Flush()
		writeFrame(c, frameExit, []byte{1})
		return
	}
	if d.units != nil {
		select {
		case d.units <- struct{}{}:
			// IRIS frees a session's license unit about a second after
			// it ends.
			defer time.AfterFunc(time.Second, func() { <-d.units })
		default:
			fmt.Fprintf(w, "\n<LICENSE LIMIT EXCEEDED>\n")
			w.Flush()
			writeFrame(c, frameExit, []byte{1})
			return
		}
	}
	banner := fmt.Sprintf("\nNode: %s, Instance: %s\n\n", d.host, "IRIS")
	if d.login {
		// The terminal service wants a password and no user can give one.
		w.WriteString(banner)
		for _, prompt := range []string{"Username: ", "Password: "} {
			w.WriteString(prompt)
			w.Flush()
			if _, err := r.ReadString('\n'); err != nil {
				break
			}
		}
		w.WriteString("\nAccess Denied\n")
		w.Flush()
		writeFrame(c, frameExit, []byte{1})
		return
	}
	d.sessions.Add(1)
	defer d.sessions.Add(-1)
	in := objectscript.New(d.db, ns, w)
	in.Hostname = d.host
	in.License = d.license
	in.Strict = d.strict
	code := byte(0)
	if h.HasCmd {
		// The argument is an entry reference that IRIS runs with DO, as
		// "##Class(Backup.General).ExternalFreeze()"; the stand-in also
		// accepts a command line ("write 1").
		command := h.Command
		if strings.HasPrefix(command, "##") || strings.HasPrefix(strings.ToLower(command), "$system.") {
			command = "do " + command
		}
		err := in.Exec(ctx, command)
		var oe *objectscript.Error
		if errors.As(err, &oe) {
			in.Emit(oe.Error() + "\n")
			code = 1
		}
	} else {
		if err := objectscript.Run(ctx, in, r, banner); err != nil && ctx.Err() == nil {
			d.log.printf("session ended: %v", err)
		}
	}
	if err := in.Close(); err != nil {
		d.log.printf("session rollback at exit failed: %v", err)
	}
	if ctx.Err() != nil {
		// The instance is shutting down: the session is cut, not ended, as
		// IRIS terminates its processes; the client sees a lost connection.
		return
	}
	if in.ExitCode >= 0 {
		code = byte(in.ExitCode)
	}
	w.Flush()
	writeFrame(c, frameExit, []byte{code})
}
