// Package stackcheck runs every probe irischaos relies on once against the
// deployed stack's IRIS pod, through the workload client's exec seam, and
// keeps what IRIS printed: `iris qlist` (its fields as IRIS prints them),
// $zv, a session round trip (the workload's own OpenSession), a deliberate
// error that must be classified as an error (the workload's own write path,
// never an ack), a scratch global set and killed, and the license units
// available against what a run will hold. Each probe is PASS, WARN, FAIL or
// UNKNOWN (preflight's statuses) with its reason, fix and raw transcript.
package stackcheck

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/irischaos/irischaos/pkg/podexec"
	"github.com/irischaos/irischaos/pkg/preflight"
	"github.com/irischaos/irischaos/pkg/stackid"
	"github.com/irischaos/irischaos/pkg/workload/iris"
)

// Probe IDs, in the order they run. The license probe runs first: every
// later probe's session holds a unit until about a second after it ends,
// which would lower the count.
const (
	ProbeLicense = "license"
	ProbeQlist   = "qlist"
	ProbeZV      = "zv"
	ProbeSession = "session"
	ProbeError   = "error"
	ProbeGlobal  = "global"
)

// DefaultTimeout bounds one probe.
const DefaultTimeout = 20 * time.Second

// ownSessions is how many units irischaos holds beyond its writer streams
// at once: a stream that reconnects opens its new session while IRIS still
// holds the old one's unit (freed about a second after it ends). The $zv
// and read-back sessions run while no stream writes.
const ownSessions = 1

// communityCustomer is $system.License.KeyCustomerName() of Community
// Edition (public transcript, see pkg/workload/iris/testdata/transcripts).
const communityCustomer = "InterSystems IRIS Community"

// Options says what to check.
type Options struct {
	Kube      kubernetes.Interface
	Exec      podexec.Execer
	Namespace string // the stack's
	Instance  string // stackid.Instance when empty
	// Streams is the most writer streams a run will hold at once (the
	// scenarios' workload.streams); 1 when 0.
	Streams int
	Timeout time.Duration // per probe; DefaultTimeout when 0
}

// Probe is one probe's finding and what IRIS printed for it.
type Probe struct {
	ID     string           `json:"id"`
	Status preflight.Status `json:"status"`
	Reason string           `json:"reason"`
	Fix    string           `json:"fix,omitempty"`
	// Fields are what the probe read, e.g. qlist's fields by name.
	Fields map[string]string `json:"fields,omitempty"`
	// Command is what ran in the pod; Input what it was fed; Output what
	// it printed (stdout, then stderr), raw.
	Command  string        `json:"command"`
	Input    string        `json:"input,omitempty"`
	Output   string        `json:"output"`
	Duration time.Duration `json:"duration_ns"`
}

// Report is what Run found.
type Report struct {
	Namespace string    `json:"namespace"`
	Pod       string    `json:"pod"`
	Instance  string    `json:"instance"`
	Streams   int       `json:"streams"`
	Started   time.Time `json:"started"`
	Probes    []Probe   `json:"probes"`
}

// Worst is the worst status of all probes (PASS for none).
func (r Report) Worst() preflight.Status {
	return preflight.Report{Checks: r.checks()}.Worst()
}

// ExitCode is the stack check command's: 0 PASS or WARN only, 1 a FAIL, 2
// an UNKNOWN and no FAIL (preflight's).
func (r Report) ExitCode() int {
	return preflight.Report{Checks: r.checks()}.ExitCode()
}

func (r Report) checks() []preflight.Check {
	cs := make([]preflight.Check, len(r.Probes))
	for i, p := range r.Probes {
		cs[i] = preflight.Check{ID: p.ID, Status: p.Status}
	}
	return cs
}

// Probe returns the probe with id.
func (r Report) Probe(id string) (Probe, bool) {
	for _, p := range r.Probes {
		if p.ID == id {
			return p, true
		}
	}
	return Probe{}, false
}

// Run finds the stack's running IRIS pod and runs every probe once. Its
// error means there was nothing to probe (no running pod, the API not
// readable); what the probes find is in the report.
func Run(ctx context.Context, o Options) (Report, error) {
	if o.Kube == nil || o.Exec == nil || o.Namespace == "" {
		return Report{}, errors.New("stackcheck: Options needs Kube, Exec and Namespace")
	}
	if o.Instance == "" {
		o.Instance = stackid.Instance
	}
	o.Streams = max(o.Streams, 1)
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	r := Report{Namespace: o.Namespace, Instance: o.Instance, Streams: o.Streams, Started: time.Now().UTC()}
	pods, err := o.Kube.CoreV1().Pods(o.Namespace).List(ctx, metav1.ListOptions{LabelSelector: stackid.Selector})
	if err != nil {
		return r, fmt.Errorf("list pods %s in namespace %s: %w", stackid.Selector, o.Namespace, err)
	}
	pod, err := stackid.Running(pods.Items)
	if err != nil {
		return r, fmt.Errorf("no IRIS pod to check in namespace %s: %w", o.Namespace, err)
	}
	r.Pod = pod.Name
	c := checker{o: o, t: podexec.Target{Namespace: pod.Namespace, Pod: pod.Name, Container: stackid.Container}, pod: pod}
	for _, probe := range []func(context.Context) Probe{c.license, c.qlist, c.zv, c.session, c.deliberateError, c.global} {
		r.Probes = append(r.Probes, probe(ctx))
	}
	return r, nil
}

type checker struct {
	o   Options
	t   podexec.Target
	pod *corev1.Pod
}

func (c checker) sessionCmd() []string { return iris.SessionCommand(c.o.Instance) }

// exec runs one probe's exec through a recording Execer; fn gets it and
// does the probe's work, filling p.
func (c checker) exec(ctx context.Context, p *Probe, fn func(ctx context.Context, e podexec.Execer) error) error {
	rec := &recorder{e: c.o.Exec}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	err := fn(ctx, rec)
	p.Duration = time.Since(start)
	p.Command, p.Input, p.Output = rec.transcript()
	return err
}

// script runs lines in one `iris session` (halt appended) and returns the
// parsed output lines.
func (c checker) script(ctx context.Context, p *Probe, lines ...string) ([]iris.Line, error) {
	var parsed []iris.Line
	err := c.exec(ctx, p, func(ctx context.Context, e podexec.Execer) error {
		var out bytes.Buffer
		err := e.Exec(ctx, c.t, c.sessionCmd(), strings.NewReader(strings.Join(lines, "\n")+"\nhalt\n"), &out, io.Discard)
		for l := range strings.SplitSeq(out.String(), "\n") {
			if pl := iris.ParseLine(l); pl.Kind != iris.LineOther {
				parsed = append(parsed, pl)
			}
		}
		return err
	})
	return parsed, err
}

// refused is the reason IRIS would not run a probe's lines, if it said so.
func refused(lines []iris.Line) (string, string, bool) {
	for _, l := range lines {
		switch l.Kind {
		case iris.LineLicense:
			return "IRIS refused the session: " + l.Value + " (no license unit free)", "free license units (fewer sessions, or a key with more units: stack deploy --license-key-secret)", true
		case iris.LineLogin:
			return "IRIS asked for a username (" + l.Value + "): the terminal service wants a password", "enable OS authentication for %Service_Terminal so `iris session` runs as the instance owner", true
		}
	}
	return "", "", false
}

func values(lines []iris.Line) map[string]string {
	v := map[string]string{}
	for _, l := range lines {
		if l.Kind == iris.LineValue {
			v[l.Subscript] = l.Value
		}
	}
	return v
}

func firstError(lines []iris.Line) string {
	for _, l := range lines {
		if l.Kind == iris.LineError {
			return l.Value
		}
	}
	return ""
}

// noAnswer is the reason of a probe whose lines printed nothing it knows.
func noAnswer(what string, err error) string {
	if err != nil {
		return fmt.Sprintf("%s: no answer (%v)", what, err)
	}
	return what + ": the session printed no answer"
}

// license reads the license units free against what a run holds: the
// writer streams, irischaos' own sessions, and the pod's probes that open
// an IRIS session (each poll takes a unit).
func (c checker) license(ctx context.Context) Probe {
	p := Probe{ID: ProbeLicense}
	var cmds iris.Commands
	lines, err := c.script(ctx, &p,
		cmds.Value("available", "$system.License.LUAvailable()"),
		cmds.Value("consumed", "$system.License.LUConsumed()"),
		cmds.Value("customer", "$system.License.KeyCustomerName()"))
	if why, fix, ok := refused(lines); ok {
		p.Status, p.Reason, p.Fix = preflight.Fail, why, fix
		return p
	}
	p.Fields = values(lines)
	avail, aerr := strconv.Atoi(strings.TrimSpace(p.Fields["available"]))
	if aerr != nil {
		p.Status, p.Reason = preflight.Unknown, noAnswer("$system.License.LUAvailable()", err)
		if e := firstError(lines); e != "" {
			p.Reason = "$system.License.LUAvailable() failed: " + e
		}
		p.Fix = "read the license units by hand ($system.License.LUAvailable() in iris session); each writer stream holds one"
		return p
	}
	// This probe's own session holds a unit, freed once it ends.
	free := avail + 1
	polling := sessionProbes(c.pod)
	need := c.o.Streams + ownSessions + polling
	p.Fields["free_for_run"] = strconv.Itoa(free)
	p.Fields["needed"] = strconv.Itoa(need)
	held := fmt.Sprintf("%d stream(s) + %d of irischaos' own + %d of the pod's probes", c.o.Streams, ownSessions, polling)
	if free >= need {
		p.Status, p.Reason = preflight.Pass, fmt.Sprintf("%d license unit(s) free (LUAvailable %d + this probe's), a run holds %d: %s", free, avail, need, held)
		return p
	}
	p.Status = preflight.Warn
	edition := "the license key"
	if p.Fields["customer"] == communityCustomer {
		edition = "Community Edition"
	}
	p.Reason = fmt.Sprintf("%s leaves %d license unit(s) free (LUAvailable %d + this probe's), a run holds %d: %s; sessions beyond it get <LICENSE LIMIT EXCEEDED>", edition, free, avail, need, held)
	p.Fix = fmt.Sprintf("run with workload.streams <= %d (irischaos stack check --streams to check), end other sessions, or deploy with a key with more units (stack deploy --license-key-secret)", max(free-ownSessions-polling, 0))
	return p
}

// sessionProbes counts the IRIS container's probes that run `iris session`:
// each poll holds a license unit.
func sessionProbes(pod *corev1.Pod) int {
	n := 0
	for _, ct := range pod.Spec.Containers {
		if ct.Name != stackid.Container {
			continue
		}
		for _, pr := range []*corev1.Probe{ct.StartupProbe, ct.LivenessProbe, ct.ReadinessProbe} {
			if pr != nil && pr.Exec != nil && strings.Contains(strings.Join(pr.Exec.Command, " "), "iris session") {
				n++
			}
		}
	}
	return n
}

// qlistFields names `iris qlist INSTANCE`'s ^-separated fields in order.
var qlistFields = []string{"name", "directory", "version", "status", "cpf", "superserver_port", "web_port", "jdbc_port", "state", "product", "mirror_member_type", "mirror_status", "data_directory"}

// ParseQlist reads the first line of `iris qlist` output into its fields by
// name, as IRIS prints them (cpf is the file's name only; state empty when
// the instance is down). ok is false when the line is not a qlist line.
func ParseQlist(out string) (map[string]string, bool) {
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	f := strings.Split(strings.TrimRight(line, "\r"), "^")
	if len(f) < 4 {
		return nil, false
	}
	m := map[string]string{}
	for i, v := range f {
		if i < len(qlistFields) {
			m[qlistFields[i]] = v
		}
	}
	return m, true
}

func (c checker) qlist(ctx context.Context) Probe {
	p := Probe{ID: ProbeQlist}
	var out bytes.Buffer
	err := c.exec(ctx, &p, func(ctx context.Context, e podexec.Execer) error {
		return e.Exec(ctx, c.t, []string{"iris", "qlist", c.o.Instance}, nil, &out, io.Discard)
	})
	f, ok := ParseQlist(out.String())
	switch {
	case !ok:
		p.Status, p.Reason = preflight.Fail, noAnswer("`iris qlist "+c.o.Instance+"`: not a qlist line", err)
		p.Fix = "check the instance name (--instance) and that the image is IRIS's (iris qlist lists its instances)"
		return p
	case !strings.EqualFold(f["name"], c.o.Instance):
		p.Fields, p.Status = f, preflight.Fail
		p.Reason = fmt.Sprintf("qlist names instance %q, not %q", f["name"], c.o.Instance)
		p.Fix = "pass the instance the image runs: --instance " + strings.ToLower(f["name"])
		return p
	case !strings.HasPrefix(f["status"], "running"):
		p.Fields, p.Status = f, preflight.Fail
		p.Reason = fmt.Sprintf("instance %s is %q (state %q): the liveness probe `iris qlist | grep running` fails", f["name"], f["status"], f["state"])
		p.Fix = "start IRIS (iris start " + c.o.Instance + ") or wait for the pod to restart it"
		return p
	}
	p.Fields, p.Status = f, preflight.Pass
	p.Reason = fmt.Sprintf("instance %s %s, version %s, state %s, cpf %s", f["name"], f["status"], f["version"], orDash(f["state"]), f["cpf"])
	if f["state"] != "" && f["state"] != "ok" {
		p.Status = preflight.Warn
		p.Fix = "read messages.log in the data directory: IRIS reports its state " + f["state"]
	}
	return p
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (c checker) zv(ctx context.Context) Probe {
	p := Probe{ID: ProbeZV}
	var zv string
	err := c.exec(ctx, &p, func(ctx context.Context, e podexec.Execer) error {
		var err error
		zv, err = iris.DatabaseIdentity(ctx, e, c.t, c.sessionCmd())
		return err
	})
	if err != nil {
		p.Status, p.Reason = preflight.Fail, err.Error()
		return p
	}
	p.Status, p.Reason, p.Fields = preflight.Pass, zv, map[string]string{"zv": zv}
	return p
}

// session opens a session the way the workload does (hello answered) and
// closes it.
func (c checker) session(ctx context.Context) Probe {
	p := Probe{ID: ProbeSession}
	var answered time.Duration
	err := c.exec(ctx, &p, func(ctx context.Context, e podexec.Execer) error {
		start := time.Now()
		s, err := iris.OpenSession(ctx, e, c.t, c.sessionCmd(), iris.Commands{}, c.o.Timeout)
		if err != nil {
			return err
		}
		answered = time.Since(start)
		s.Close()
		// Close halts the session; wait for it to end so its output is
		// all in the transcript.
		select {
		case <-s.Done():
		case <-ctx.Done():
		}
		return nil
	})
	if err != nil {
		p.Status, p.Reason = preflight.Fail, err.Error()
		return p
	}
	p.Status, p.Reason = preflight.Pass, fmt.Sprintf("a session opened and answered its first line in %s (%s with its halt)", answered.Round(time.Millisecond), p.Duration.Round(time.Millisecond))
	return p
}

// errorGlobal is a global reference that fails in every IRIS: an extended
// reference to a namespace that does not exist (<NAMESPACE>; an IRIS that
// does not parse it answers <SYNTAX>, an error as well).
const errorGlobal = `^|"IRISCHAOSNOSUCHNS"|irischaosCheck`

// deliberateError sends the workload's own write line, made to fail, and
// checks the client classifies it as an error: an ack here is the bug of
// issue 11 (an echoed source line read as an acknowledgement).
func (c checker) deliberateError(ctx context.Context) Probe {
	p := Probe{ID: ProbeError}
	var werr error
	var ack iris.Line
	_ = c.exec(ctx, &p, func(ctx context.Context, e podexec.Execer) error {
		ack, werr = iris.WriteOnce(ctx, e, c.t, c.sessionCmd(), iris.Commands{Global: errorGlobal, Run: "stackcheck"}, 1, c.o.Timeout)
		return werr
	})
	switch {
	case werr == nil:
		p.Status = preflight.Fail
		p.Reason = fmt.Sprintf("a write that must fail was read as acknowledged (%s:%s): failed writes would count as ok and show as false RPO violations", ack.Subscript, ack.Value)
		p.Fix = "report this transcript: IRIS printed something the client reads as an ack"
	case strings.Contains(werr.Error(), "IRIS answered <"):
		p.Status, p.Reason = preflight.Pass, "classified as an error: "+werr.Error()
	default:
		// IRIS ran nothing (refused the session, no answer): nothing
		// was classified either way.
		p.Status, p.Reason = preflight.Unknown, "not tried, IRIS ran nothing: "+werr.Error()
	}
	return p
}

// global sets a scratch global of its own, reads it back, kills it and
// checks it is gone. Each step is a line of its own, so the kill runs even
// when the set failed.
func (c checker) global(ctx context.Context) Probe {
	p := Probe{ID: ProbeGlobal}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	g := "^irischaosCheck" + hex.EncodeToString(b)
	want := "stackcheck " + hex.EncodeToString(b)
	var cmds iris.Commands
	lines, err := c.script(ctx, &p,
		`set `+g+`("probe")="`+want+`"`,
		cmds.Value("set", g+`("probe")`),
		`kill `+g,
		cmds.Value("data", `$data(`+g+`)`))
	if why, fix, ok := refused(lines); ok {
		p.Status, p.Reason, p.Fix = preflight.Fail, why, fix
		return p
	}
	p.Fields = values(lines)
	p.Fields["global"] = g
	got, hasSet := p.Fields["set"]
	data, hasData := p.Fields["data"]
	switch {
	case !hasSet && !hasData:
		p.Status, p.Reason = preflight.Fail, noAnswer("set/kill of "+g, err)
		if e := firstError(lines); e != "" {
			p.Reason = "set/kill of " + g + " failed: " + e
		}
	case got != want:
		p.Status, p.Reason = preflight.Fail, fmt.Sprintf("%s read back %q after setting %q", g, got, want)
		if e := firstError(lines); e != "" {
			p.Reason += ": " + e
		}
		p.Fix = "the writer's user needs write access to the USER namespace's default database"
	case data != "0":
		p.Status, p.Reason = preflight.Fail, fmt.Sprintf("%s still there after kill ($data %q): remove it by hand (kill %s)", g, data, g)
	default:
		p.Status, p.Reason = preflight.Pass, fmt.Sprintf("%s set, read back and killed ($data 0 after)", g)
	}
	return p
}

// recorder is an Execer that keeps what it ran, fed and got back.
type recorder struct {
	e  podexec.Execer
	mu sync.Mutex
	// cmd, in, out of every exec, in order.
	cmds       []string
	in, out    bytes.Buffer
	inW, outW  io.Writer
	initedOnce sync.Once
}

func (r *recorder) init() {
	r.initedOnce.Do(func() {
		r.inW = lockedWriter{&r.mu, &r.in}
		r.outW = lockedWriter{&r.mu, &r.out}
	})
}

func (r *recorder) Exec(ctx context.Context, t podexec.Target, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error {
	r.init()
	r.mu.Lock()
	r.cmds = append(r.cmds, strings.Join(cmd, " "))
	r.mu.Unlock()
	if stdin != nil {
		stdin = io.TeeReader(stdin, r.inW)
	}
	return r.e.Exec(ctx, t, cmd, stdin, io.MultiWriter(stdout, r.outW), io.MultiWriter(stderr, r.outW))
}

func (r *recorder) transcript() (cmd, in, out string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.cmds, "; "), r.in.String(), r.out.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
