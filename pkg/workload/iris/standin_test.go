package iris

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/irischaos/irischaos/internal/lab/standin/engine"
	"github.com/irischaos/irischaos/internal/lab/standin/instance"
	"github.com/irischaos/irischaos/internal/lab/standin/objectscript"
	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/podexec"
)

// standinExec runs the IRIS stand-in's real interpreter and terminal loop
// in-process on one in-memory database: the client's ObjectScript and its
// parsing of the session's output (banner, prompts, batching) are checked
// against the same code the stand-in image runs.
type standinExec struct {
	db     *engine.DB
	strict bool // errors echoed as IRIS prints them (source, caret, error)
}

func (s standinExec) Exec(ctx context.Context, _ podexec.Target, cmd []string, stdin io.Reader, stdout, _ io.Writer) error {
	if !slices.Equal(cmd, []string{"iris", "session", "iris", "-U", "USER"}) {
		return podexec.ExitError(1, "unexpected command")
	}
	w := bufio.NewWriter(stdout)
	in := objectscript.New(s.db, "USER", w)
	in.Strict = s.strict
	defer in.Close()
	return objectscript.Run(ctx, in, bufio.NewReader(stdin), "\nNode: iris-a, Instance: IRIS\n\n")
}

func TestAgainstStandinInterpreter(t *testing.T) {
	for _, strict := range []bool{false, true} {
		t.Run(map[bool]string{false: "lenient", true: "strict"}[strict], func(t *testing.T) { testAgainstStandin(t, strict) })
	}
}

func testAgainstStandin(t *testing.T, strict bool) {
	db := engine.Memory()
	defer db.Close()
	ex := standinExec{db: db, strict: strict}
	// A marker written by hand the seed's way, before the run.
	if _, _, err := runOnce(context.Background(), ex, podexecTarget("iris-a"), []string{"iris", "session", "iris", "-U", "USER"},
		`set ^k8stest($i(^k8stest))=$zdt($h)_" running on "_$system.INetInfo.LocalHostName() write ^k8stest(^k8stest)`, 5*time.Second); err != nil {
		t.Fatal(err)
	}

	zv, err := DatabaseIdentity(context.Background(), ex, podexecTarget("iris-a"), nil)
	if err != nil || !strings.Contains(zv, "stand-in") {
		t.Fatalf("DatabaseIdentity = %q, %v", zv, err)
	}

	for _, mode := range []Mode{ModeSession, ModeExecPerWrite} {
		t.Run(string(mode), func(t *testing.T) {
			h := history.NewMemory()
			c, err := New(Config{Kube: newKube(t, runningPod("iris-a", time.Now())), Exec: ex, History: h, Namespace: "ns", Mode: mode, Streams: 2, RunID: "run-" + string(mode)})
			if err != nil {
				t.Fatal(err)
			}
			got := runUntil(t, c, h, func(o []history.Record) bool { return countOK(o) >= 40 })
			var acked []int64
			for _, r := range got {
				if r.Result != history.OK {
					t.Fatalf("op %+v", r)
				}
				m, ok := ParseMarker(r.Value)
				if !ok || m.Seq != r.Seq || m.Run != c.RunID() || !strings.Contains(r.Value, " t=20") || !strings.Contains(r.Value, "host=") {
					t.Fatalf("value %q of op %d", r.Value, r.Seq)
				}
				acked = append(acked, r.Seq)
			}
			rb, err := c.ReadBack(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			got2 := slices.Clone(rb.Seqs)
			slices.Sort(got2)
			slices.Sort(acked)
			if !slices.Equal(got2, acked) {
				t.Errorf("read-back %v, acked %v", got2, acked)
			}
			// The hand-written marker precedes this run: the read-back
			// starts after it and the other run's markers are skipped.
			if len(rb.Extra) != 0 {
				t.Errorf("extra %q", rb.Extra)
			}
		})
	}

	// A read-back from the start sees the seed's marker as extra.
	lines, _, err := runOnce(context.Background(), ex, podexecTarget("iris-a"), []string{"iris", "session", "iris", "-U", "USER"}, Commands{}.ReadBack(""), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rec := Sort(lines, "nobody")
	if len(rec.Extra) != 1 || !strings.Contains(rec.Extra[0], "running on") {
		t.Errorf("extra %q", rec.Extra)
	}
}

// Against the stand-in's interpreter printing errors as IRIS does: a write
// whose line fails is an error, never an ack read from the echoed line, and
// a run-time error of the write comes back through its CATCH.
func TestStandinStrictErrors(t *testing.T) {
	db := engine.Memory()
	defer db.Close()
	ex := standinExec{db: db, strict: true}
	cmd := []string{"iris", "session", "iris", "-U", "USER"}
	s, err := OpenSession(context.Background(), ex, podexecTarget("iris-a"), cmd, Commands{}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A subscripted "global" does not parse: IRIS echoes the whole line.
	_, err = s.Write(context.Background(), Commands{Global: "^bad(1)", Run: "r"}, 3, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "<SYNTAX>") {
		t.Fatalf("Write into ^bad(1) = %v; want <SYNTAX>", err)
	}
	// A run-time error (the database is gone: <TERMINATE>) is caught by
	// the write's CATCH and reported as that write's error.
	closed := engine.Memory()
	closed.Close()
	lines, _, err := runOnce(context.Background(), standinExec{db: closed, strict: true}, podexecTarget("iris-a"), cmd, Commands{Run: "r"}.Write(4), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || lines[0].Kind != LineError || lines[0].Seq != 4 || !strings.HasPrefix(lines[0].Value, "<TERMINATE>") {
		t.Fatalf("write on a closed database: %+v; want the CATCH's error line for seq 4", lines)
	}

	var raw strings.Builder
	if err := ex.Exec(context.Background(), podexecTarget("iris-a"), cmd, strings.NewReader("set x=1 write \"##\"_\"ACK:1:\"_y,!\nhalt\n"), &raw, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(raw.String(), "\n"+`set x=1 write "##"_"ACK:1:"_y,!`+"\n        ^\n<UNDEFINED> *y\n") {
		t.Fatalf("strict transcript lacks the echoed line, caret and error:\n%s", raw.String())
	}
	var got []Line
	scanLines(strings.NewReader(raw.String()), func(l Line) { got = append(got, l) })
	if len(got) != 1 || got[0].Kind != LineError {
		t.Errorf("parsed %+v from\n%s\nwant only the error", got, raw.String())
	}
}

// instanceExec runs `iris session iris -U USER` against a stand-in instance
// daemon served in-process, as the stand-in image's iris binary does: the
// instance's socket, its sessions, its strict mode and license units.
type instanceExec struct{ inst instance.Instance }

func (e instanceExec) Exec(ctx context.Context, _ podexec.Target, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if !slices.Equal(cmd, []string{"iris", "session", "iris", "-U", "USER"}) {
		return podexec.ExitError(2, "unexpected command")
	}
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := e.inst.Session("USER", "", false, stdin, stdout)
		done <- result{code, err}
	}()
	select {
	case <-ctx.Done():
		// The exec is cut; the session ends when its stdin does.
		return ctx.Err()
	case r := <-done:
		if r.err != nil {
			fmt.Fprintf(stderr, "iris session: %v\n", r.err)
		}
		if r.code != 0 {
			return podexec.ExitError(r.code, fmt.Sprintf("command terminated with exit code %d", r.code))
		}
		return nil
	}
}

// serveStrict starts a stand-in instance in strict mode with units license
// units, in-process, and stops it when the test ends.
func serveStrict(t *testing.T, units int) instance.Instance {
	t.Helper()
	t.Setenv(instance.StrictEnv, "1")
	t.Setenv(instance.LicenseUnitsEnv, strconv.Itoa(units))
	base := t.TempDir()
	inst := instance.New(filepath.Join(base, "run"), "iris")
	if err := inst.Register(instance.Conf{DataDir: filepath.Join(base, "data")}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- instance.Serve(ctx, inst, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("instance: %v", err)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); !inst.Ping(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("stand-in instance not running: %s", inst.State().Status)
		}
	}
	return inst
}

// The client against the strict stand-in instance with fewer license units
// than it needs: what IRIS refuses with <LICENSE LIMIT EXCEEDED> is fail
// (nothing was sent) naming the cause, never info or a timeout, and the
// refused stream waits the second a unit takes to come free before its next
// attempt; what was acknowledged is read back.
//   - session: 3 streams, 2 units: two streams hold a unit each and write,
//     the third is refused until the test ends.
//   - exec-per-write: 1 stream, 2 units: every write is a session of its own
//     whose unit stays taken a second after it, so even one stream runs out
//     (the seed's way of writing does not fit Community Edition's units).
func TestStrictInstanceLicenseLimit(t *testing.T) {
	inst := serveStrict(t, 2)
	ex := instanceExec{inst: inst}
	for _, tc := range []struct {
		mode    Mode
		streams int
		wantOK  int
	}{{ModeSession, 3, 20}, {ModeExecPerWrite, 1, 4}} {
		t.Run(string(tc.mode), func(t *testing.T) {
			h := history.NewMemory()
			c, err := New(Config{Kube: newKube(t, runningPod("iris-a", time.Now())), Exec: ex, History: h, Namespace: "ns", Mode: tc.mode,
				Streams: tc.streams, RunID: "lic-" + string(tc.mode), OpenTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, MaxBackoff: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			got := runUntil(t, c, h, func(o []history.Record) bool {
				return countOK(o) >= tc.wantOK && len(o)-countOK(o) >= 2
			})
			var acked []int64
			last := map[int]history.Record{} // each stream's previous op
			for _, r := range got {
				if p, ok := last[r.Stream]; ok && p.Result == history.Fail {
					if gap := r.Invoke.Sub(p.Complete); gap < licenseRelease-50*time.Millisecond {
						t.Errorf("stream %d retried %s after a license refusal; want a pause of %s", r.Stream, gap, licenseRelease)
					}
				}
				last[r.Stream] = r
				switch {
				case r.Result == history.OK:
					acked = append(acked, r.Seq)
				case r.Result != history.Fail || !strings.Contains(r.Error, "<LICENSE LIMIT EXCEEDED>") || !strings.Contains(r.Error, "license unit"):
					t.Fatalf("op %d: %s %q; want ok, or fail naming the license limit", r.Seq, r.Result, r.Error)
				case r.Complete.Sub(r.Invoke) > 2*time.Second:
					t.Errorf("op %d took %s: the refusal must be reported at once", r.Seq, r.Complete.Sub(r.Invoke))
				}
			}
			// The units come back about a second after the sessions end.
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			rb, err := c.ReadBack(ctx)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(acked)
			seqs := slices.Clone(rb.Seqs)
			slices.Sort(seqs)
			if !slices.Equal(seqs, acked) {
				t.Errorf("read back %v, acknowledged %v", seqs, acked)
			}
		})
	}
}

// Through the strict instance's sessions, a write that fails before it runs
// is echoed by the stand-in as IRIS does (source, caret, error) and comes
// out as info with the error, never ok.
func TestStrictInstanceEchoedError(t *testing.T) {
	inst := serveStrict(t, 0)
	h := history.NewMemory()
	c, err := New(Config{Kube: newKube(t, runningPod("iris-a", time.Now())), Exec: instanceExec{inst: inst}, History: h, Namespace: "ns",
		Global: "^bad(1)", RunID: "bad", OpenTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runUntil(t, c, h, func(o []history.Record) bool { return len(o) >= 3 }) {
		if r.Result != history.Info || !strings.Contains(r.Error, "<SYNTAX>") {
			t.Fatalf("op %d: %s %q; want info with <SYNTAX>", r.Seq, r.Result, r.Error)
		}
	}
	var raw strings.Builder
	if err := (instanceExec{inst: inst}).Exec(context.Background(), podexecTarget("iris-a"), []string{"iris", "session", "iris", "-U", "USER"},
		strings.NewReader(Commands{Global: "^bad(1)", Run: "bad"}.Write(9)+"\nhalt\n"), &raw, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(raw.String(), "\n"+Commands{Global: "^bad(1)", Run: "bad"}.Write(9)+"\n") || !strings.Contains(raw.String(), "^\n<SYNTAX>") {
		t.Errorf("strict instance transcript lacks the echoed line, caret and error:\n%s", raw.String())
	}
}

// Against the strict instance whose terminal service wants a password: the
// client reports the Username: prompt at once (fail, nothing sent), in both
// modes, instead of waiting for its timeouts.
func TestStrictInstancePasswordLogin(t *testing.T) {
	t.Setenv(instance.PasswordLoginEnv, "1")
	inst := serveStrict(t, 0)
	for _, mode := range []Mode{ModeSession, ModeExecPerWrite} {
		t.Run(string(mode), func(t *testing.T) {
			h := history.NewMemory()
			c, err := New(Config{Kube: newKube(t, runningPod("iris-a", time.Now())), Exec: instanceExec{inst: inst}, History: h, Namespace: "ns", Mode: mode,
				OpenTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, MaxBackoff: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range runUntil(t, c, h, func(o []history.Record) bool { return len(o) >= 3 }) {
				if r.Result != history.Fail || !strings.Contains(r.Error, `asked for a username ("Username:`) {
					t.Fatalf("op %d: %s %q; want fail naming the Username: prompt", r.Seq, r.Result, r.Error)
				}
				if d := r.Complete.Sub(r.Invoke); d > 2*time.Second {
					t.Errorf("op %d took %s: the prompt must be reported at once", r.Seq, d)
				}
			}
		})
	}
}
