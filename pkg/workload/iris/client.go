// Package iris is the workload client for InterSystems IRIS: it writes
// markers of the seed's shape ^k8stest($i(^k8stest)) through `iris session`
// opened over the Kubernetes exec API, acknowledges each by a sentinel line,
// records every operation in the history as ok, fail or info, reconnects
// (to the replacement pod when there is one) when the stream breaks, and reads
// every marker back after recovery.
//
// On the wire, each line sent is one ObjectScript line and each answer is a
// sentinel line: at the start of a line, after any prompts (`USER>`,
// `TL1:USER>`). No line sent contains a sentinel literally: IRIS echoes a
// failing line in full (source, caret, $ZERROR), and that echo must never
// read as an answer.
//
//	write "#"_"#HELLO:",$zv,!                     -> ##HELLO:<$zv>    session answers
//	try { set k=$i(^k8stest),^k8stest(k)="seq=N run=R t="_$zdt($zts,3,1,6)_" host="_$system.INetInfo.LocalHostName(),
//	  a="#"_"#ACK:"_"N:"_k_":"_^k8stest(k) write a,! }
//	  catch { write !,"#"_"#ERR:"_"N:",$zerror,! } -> ##ACK:N:<k>:<value> or ##ERR:N:<$zerror>
//	set k=FROM for  set k=$order(^k8stest(k)) quit:k=""  write "#"_"#RB:",k,":",^k8stest(k),!
//	write "#"_"#RBEND",!                          -> ##RB:<k>:<value>... ##RBEND
//
// A write is ok only once its ##ACK arrived; fail when nothing was sent (no
// pod, the session would not open, IRIS refused it: <LICENSE LIMIT
// EXCEEDED>, a Username: prompt); info when the stream broke, IRIS
// answered an error, or no ack came within WriteTimeout after the line was
// sent. A session whose write is not ok is never reused. After a license
// refusal a stream waits the second IRIS takes to free a unit before it
// tries again.
package iris

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/podexec"
	"github.com/irischaos/irischaos/pkg/stackid"
)

// Mode is how writes reach IRIS.
type Mode string

const (
	// ModeSession keeps one `iris session` open per stream and sends one
	// line per marker: the instrument.
	ModeSession Mode = "session"
	// ModeExecPerWrite starts a new exec and `iris session` for every
	// marker, as the seed's shell scripts do: the naive baseline.
	ModeExecPerWrite Mode = "exec-per-write"
)

// Defaults for Config's zero values.
const (
	DefaultDBNamespace  = "USER"
	DefaultWriteTimeout = 5 * time.Second
	DefaultOpenTimeout  = 20 * time.Second
	DefaultMaxBackoff   = 500 * time.Millisecond
)

// Config says where and how to write. Kube, Exec and Namespace are required.
type Config struct {
	Kube      kubernetes.Interface // finds the pod, again at every reconnection
	Exec      podexec.Execer       // runs `iris session` in it
	History   *history.Writer      // every op, probe event and read-back; may be nil
	Namespace string               // Kubernetes namespace of the stack (its pod: stackid.Running)

	Instance    string // IRIS instance (stackid.Instance)
	DBNamespace string // IRIS namespace the markers go to (DefaultDBNamespace)
	Global      string // marker global (^k8stest)
	RunID       string // carried by every marker; random when empty

	Mode         Mode          // ModeSession (default) or ModeExecPerWrite
	Streams      int           // concurrent writers, each with its own session (1)
	Interval     time.Duration // pause between two writes of a stream (0: as fast as acks come)
	WriteTimeout time.Duration // wait for an ack before the write is info (DefaultWriteTimeout)
	OpenTimeout  time.Duration // wait for a new session to answer (DefaultOpenTimeout)
	MaxBackoff   time.Duration // longest pause between reconnection attempts (DefaultMaxBackoff)

	Progress      io.Writer     // progress lines; nil for none
	ProgressEvery time.Duration // how often (5 s)
}

func (c *Config) defaults() error {
	if c.Kube == nil || c.Exec == nil {
		return errors.New("iris workload: Config needs Kube and Exec")
	}
	if c.Namespace == "" {
		return errors.New("iris workload: Config needs the namespace of the stack")
	}
	set := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	set(&c.Instance, stackid.Instance)
	set(&c.DBNamespace, DefaultDBNamespace)
	set(&c.Global, defaultGlobal)
	if c.RunID == "" {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		c.RunID = time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b)
	}
	switch c.Mode {
	case "":
		c.Mode = ModeSession
	case ModeSession, ModeExecPerWrite:
	default:
		return fmt.Errorf("iris workload: unknown mode %q (want %q or %q)", c.Mode, ModeSession, ModeExecPerWrite)
	}
	if c.Streams <= 0 {
		c.Streams = 1
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.OpenTimeout <= 0 {
		c.OpenTimeout = DefaultOpenTimeout
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = 5 * time.Second
	}
	return nil
}

// Stats counts operations by result.
type Stats struct {
	OK, Fail, Info int64
	LastOKSeq      int64
	LastPod        string
}

// Client writes markers until stopped. Create with New, start with Run.
type Client struct {
	cfg  Config
	cmds Commands

	seq     atomic.Int64
	ok      atomic.Int64
	fail    atomic.Int64
	info    atomic.Int64
	lastOK  atomic.Int64
	stop    chan struct{}
	stopped sync.Once

	mu      sync.Mutex
	lastPod string
	minSub  float64 // lowest subscript acknowledged in this run, for the read-back
	haveSub bool
}

// New checks cfg and returns a Client; nothing is contacted yet.
func New(cfg Config) (*Client, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	return &Client{cfg: cfg, cmds: Commands{Global: cfg.Global, Run: cfg.RunID}, stop: make(chan struct{})}, nil
}

// RunID is the id every marker of this client carries.
func (c *Client) RunID() string { return c.cfg.RunID }

// Stats returns the counts so far.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	pod := c.lastPod
	c.mu.Unlock()
	return Stats{OK: c.ok.Load(), Fail: c.fail.Load(), Info: c.info.Load(), LastOKSeq: c.lastOK.Load(), LastPod: pod}
}

// Run writes markers on every stream until ctx ends or Stop is called, then
// waits for the writes in flight (each bounded by WriteTimeout) and returns.
// A database that does not answer is what is being measured: it shows in
// the history, not as an error (Run returns nil; New checks the setup).
func (c *Client) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	var wg sync.WaitGroup
	for i := 1; i <= c.cfg.Streams; i++ {
		wg.Go(func() { c.stream(ctx, i) })
	}
	if c.cfg.Progress != nil {
		wg.Go(func() { c.progress(ctx) })
	}
	wg.Wait()
	return nil
}

// Stop ends Run: no new write starts after it.
func (c *Client) Stop() { c.stopped.Do(func() { close(c.stop) }) }

func (c *Client) progress(ctx context.Context) {
	t := time.NewTicker(c.cfg.ProgressEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s := c.Stats()
			fmt.Fprintf(c.cfg.Progress, "workload: %d ok, %d info, %d fail; last ok seq %d on %s\n", s.OK, s.Info, s.Fail, s.LastOKSeq, s.LastPod)
		}
	}
}

// conn is one way of getting markers to IRIS: a long-lived session, or a
// new exec per write.
type conn interface {
	write(ctx context.Context, seq int64) (Line, error)
	pod() string
	node() string // the node the pod runs on, as resolve found it
	close()
}

// stream is one writer: open, write until the stream breaks, reconnect.
func (c *Client) stream(ctx context.Context, id int) {
	var (
		cn      conn
		attempt int
		backoff time.Duration
	)
	defer func() {
		if cn != nil {
			cn.close()
		}
	}()
	for ctx.Err() == nil {
		if backoff > 0 {
			if !sleep(ctx, backoff) {
				return
			}
		}
		seq := c.seq.Add(1)
		invoke := time.Now()
		rec := history.Record{Kind: history.KindOp, Seq: seq, Invoke: invoke, Stream: id}
		if cn == nil {
			attempt++
			var err error
			cn, err = c.open(ctx, id, attempt)
			if err != nil && ctx.Err() != nil {
				// Stopped while connecting: nothing was sent, and a fail
				// op here would read as an outage at the end of the run.
				return
			}
			if err != nil {
				// Nothing was sent: the write definitely did not happen.
				rec.Complete, rec.Result, rec.Error, rec.Attempt = time.Now(), history.Fail, err.Error(), attempt
				c.record(rec)
				c.fail.Add(1)
				backoff = retryAfter(err, backoff, c.cfg.MaxBackoff)
				continue
			}
		}
		rec.Attempt = attempt
		rec.Pod, rec.Node = cn.pod(), cn.node()
		// The write itself must not be cut by ctx: a cancelled ack wait
		// would turn an applied write into an unknown one for no reason.
		ack, err := cn.write(context.WithoutCancel(ctx), seq)
		rec.Complete = time.Now()
		switch {
		case err == nil:
			rec.Result, rec.Value = history.OK, ack.Value
			c.ok.Add(1)
			c.lastOK.Store(seq)
			c.noteAck(rec.Pod, ack.Subscript)
			backoff = 0
			c.record(rec)
			if c.cfg.Interval > 0 && !sleep(ctx, c.cfg.Interval) {
				return
			}
			continue
		case errors.Is(err, errNotApplied):
			rec.Result = history.Fail
			c.fail.Add(1)
		default:
			rec.Result = history.Info
			c.info.Add(1)
		}
		rec.Error = err.Error()
		c.record(rec)
		if c.cfg.Mode == ModeSession {
			c.event(history.Record{Source: "probe", Reason: "SessionLost", Target: "pod/" + rec.Pod, Message: fmt.Sprintf("stream %d: %v", id, err)})
		}
		// The stream's state is unknown and the pod may be gone: never
		// reuse either.
		cn.close()
		cn = nil
		backoff = retryAfter(err, backoff, c.cfg.MaxBackoff)
	}
}

// retryAfter is the pause before the next attempt after err: the next
// backoff step, and no less than the time IRIS takes to free a license
// unit when it refused for want of one (each attempt sooner is refused
// again and only adds fail records).
func retryAfter(err error, backoff, limit time.Duration) time.Duration {
	d := nextBackoff(backoff, limit)
	if errors.Is(err, errLicenseLimit) {
		d = max(d, licenseRelease)
	}
	return d
}

func nextBackoff(d, max time.Duration) time.Duration {
	if d == 0 {
		d = 25 * time.Millisecond
	} else {
		d *= 2
	}
	return min(d, max)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (c *Client) noteAck(pod, sub string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastPod = pod
	if f, err := strconv.ParseFloat(sub, 64); err == nil && (!c.haveSub || f < c.minSub) {
		c.minSub, c.haveSub = f, true
	}
}

func (c *Client) record(r history.Record) {
	if c.cfg.History != nil {
		_ = c.cfg.History.Add(r)
	}
}

func (c *Client) event(r history.Record) {
	r.Kind = history.KindEvent
	if r.T.IsZero() {
		r.T = time.Now()
	}
	c.record(r)
}

func (c *Client) sessionCmd() []string {
	return []string{"iris", "session", c.cfg.Instance, "-U", c.cfg.DBNamespace}
}

// open resolves the pod afresh (after a pod loss it is a new one) and opens a
// connection to it. Errors mean nothing was sent.
func (c *Client) open(ctx context.Context, stream, attempt int) (conn, error) {
	t, node, err := c.resolve(ctx)
	if err != nil {
		return nil, errors.Join(errNotApplied, err)
	}
	if c.cfg.Mode == ModeExecPerWrite {
		return &execConn{c: c, t: t, nodeName: node}, nil
	}
	s, err := OpenSession(ctx, c.cfg.Exec, t, c.sessionCmd(), c.cmds, c.cfg.OpenTimeout)
	if err != nil {
		return nil, err
	}
	c.event(history.Record{
		Source: "probe", Phase: history.PhaseDatabaseReady, Reason: "SessionOpened", Target: "pod/" + t.Pod,
		Message: fmt.Sprintf("stream %d attempt %d: %s", stream, attempt, s.Identity()),
	})
	return &sessionConn{c: c, s: s, nodeName: node}, nil
}

// resolve finds the pod to write to: the stack's IRIS pod (stackid's rule),
// once it is Running, and the node it runs on (a Running pod is bound to
// one for its life), which every op records so the checker can tell two
// writers apart.
func (c *Client) resolve(ctx context.Context) (podexec.Target, string, error) {
	lctx, cancel := context.WithTimeout(ctx, c.cfg.OpenTimeout)
	defer cancel()
	pods, err := c.cfg.Kube.CoreV1().Pods(c.cfg.Namespace).List(lctx, metav1.ListOptions{LabelSelector: stackid.Selector})
	if err != nil {
		return podexec.Target{}, "", fmt.Errorf("list pods %s in namespace %s: %w", stackid.Selector, c.cfg.Namespace, err)
	}
	p, err := stackid.Running(pods.Items)
	if err != nil {
		return podexec.Target{}, "", fmt.Errorf("no running pod to write to in namespace %s: %w", c.cfg.Namespace, err)
	}
	return podexec.Target{Namespace: p.Namespace, Pod: p.Name, Container: stackid.Container}, p.Spec.NodeName, nil
}

type sessionConn struct {
	c        *Client
	s        *Session
	nodeName string
}

func (sc *sessionConn) write(ctx context.Context, seq int64) (Line, error) {
	return sc.s.Write(ctx, sc.c.cmds, seq, sc.c.cfg.WriteTimeout)
}
func (sc *sessionConn) pod() string  { return sc.s.Target().Pod }
func (sc *sessionConn) node() string { return sc.nodeName }
func (sc *sessionConn) close()       { sc.s.Close() }

// execConn is the seed's way: one exec, one `iris session`, one marker.
type execConn struct {
	c        *Client
	t        podexec.Target
	nodeName string
}

func (ec *execConn) pod() string  { return ec.t.Pod }
func (ec *execConn) node() string { return ec.nodeName }
func (ec *execConn) close()       {}
func (ec *execConn) write(ctx context.Context, seq int64) (Line, error) {
	return WriteOnce(ctx, ec.c.cfg.Exec, ec.t, ec.c.sessionCmd(), ec.c.cmds, seq, ec.c.cfg.WriteTimeout)
}
