package iris

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/podexec"
)

// transcript is one file of testdata/transcripts (format in its README):
// what IRIS prints to a piped `iris session`, as documented and publicly
// shown, and what the parser and the client must make of it.
type transcript struct {
	name       string
	exit       int  // exit status when IRIS ends by itself
	exits      bool // IRIS ends by itself after its last output (else at the end of input)
	start      string
	afterHello string
	afterWrite string
	lines      []string // the parser's lines, formatted by lineString
	op         string   // the first write's result ("" when the file has no op)
	opErr      string   // a text the op's error must contain
}

// transcriptRun is the run id whose seq-1 write line {{write}} stands for.
const transcriptRun = "r"

func readTranscript(t *testing.T, path string) transcript {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tr := transcript{name: filepath.Base(path)}
	sections := map[string]*strings.Builder{}
	var order []string
	var cur *strings.Builder
	for line := range strings.Lines(string(b)) {
		if name, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), "-- "); ok && strings.HasSuffix(name, " --") {
			name = strings.TrimSuffix(name, " --")
			cur = &strings.Builder{}
			sections[name] = cur
			order = append(order, name)
			continue
		}
		if cur != nil {
			cur.WriteString(line)
			continue
		}
		switch {
		case strings.HasPrefix(line, "#"), strings.TrimSpace(line) == "":
		case strings.HasPrefix(line, "ends:"):
			switch v := strings.TrimSpace(strings.TrimPrefix(line, "ends:")); {
			case v == "at-input-end":
			case strings.HasPrefix(v, "exit "):
				n, err := strconv.Atoi(strings.TrimPrefix(v, "exit "))
				if err != nil {
					t.Fatalf("%s: ends: %q", path, v)
				}
				tr.exit, tr.exits = n, true
			default:
				t.Fatalf("%s: ends: %q", path, v)
			}
		default:
			t.Fatalf("%s: header line %q", path, line)
		}
	}
	// A section is output up to where IRIS waits for input: the file's line
	// end after its last line is not part of it.
	text := func(name string) string {
		sb := sections[name]
		if sb == nil {
			return ""
		}
		s := strings.TrimSuffix(sb.String(), "\n")
		return strings.ReplaceAll(s, "{{write}}", Commands{Run: transcriptRun}.Write(1))
	}
	for _, name := range order {
		switch name {
		case "at start", "after hello", "after write", "lines", "op":
		default:
			t.Fatalf("%s: unknown section %q", path, name)
		}
	}
	tr.start, tr.afterHello, tr.afterWrite = text("at start"), text("after hello"), text("after write")
	for l := range strings.Lines(text("lines")) {
		if l = strings.TrimSpace(l); l != "" {
			tr.lines = append(tr.lines, l)
		}
	}
	if op := strings.TrimSpace(text("op")); op != "" {
		tr.op, tr.opErr, _ = strings.Cut(op, " ")
	}
	if tr.start == "" || tr.lines == nil {
		t.Fatalf("%s: needs at least the sections 'at start' and 'lines'", path)
	}
	return tr
}

// lineString is a parsed line as the transcripts' "lines" section writes it.
func lineString(l Line) string {
	kind := map[LineKind]string{
		LineOther: "other", LineAck: "ack", LineReadback: "rb", LineReadbackEnd: "rbend", LineHello: "hello",
		LineIdentity: "zv", LineError: "error", LineLicense: "license", LineLogin: "login", LineValue: "value",
	}[l.Kind]
	return fmt.Sprintf("%s %d %q %q", kind, l.Seq, l.Subscript, l.Value)
}

// TestTranscripts runs every transcript through the line parser, then
// through the client in both modes against a fake exec stream replaying it:
// the first write's result must be the documented one, and must never come
// from a timeout (each outcome is decided by what IRIS printed).
func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/transcripts/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, f := range files {
		tr := readTranscript(t, f)
		t.Run(tr.name, func(t *testing.T) {
			var got []string
			scanLines(strings.NewReader(tr.start+tr.afterHello+tr.afterWrite), func(l Line) { got = append(got, lineString(l)) })
			if strings.Join(got, "\n") != strings.Join(tr.lines, "\n") {
				t.Errorf("parsed lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tr.lines, "\n"))
			}
			if tr.op == "" {
				return
			}
			for _, mode := range []Mode{ModeSession, ModeExecPerWrite} {
				t.Run(string(mode), func(t *testing.T) { checkTranscriptOp(t, tr, mode) })
			}
		})
	}
}

func checkTranscriptOp(t *testing.T, tr transcript, mode Mode) {
	replies := []string{tr.start, tr.afterHello, tr.afterWrite}
	if mode == ModeExecPerWrite {
		replies = []string{tr.start, tr.afterWrite} // no hello: the write is the first line
	}
	ex := replayExec{reply: replies, hold: !tr.exits}
	if tr.exits && tr.exit != 0 {
		ex.exit = podexec.ExitError(tr.exit, "command terminated with exit code "+strconv.Itoa(tr.exit))
	}
	const timeout = 2 * time.Second
	h := history.NewMemory()
	c, err := New(Config{Kube: newKube(t, runningPod("iris-a", time.Now())), Exec: ex, History: h, Namespace: "ns", RunID: transcriptRun,
		Mode: mode, OpenTimeout: timeout, WriteTimeout: timeout, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	first := runUntil(t, c, h, func(o []history.Record) bool { return len(o) >= 1 })[0]
	if first.Seq != 1 || first.Result != tr.op || !strings.Contains(first.Error, tr.opErr) {
		t.Errorf("first op: seq %d %s %q; want %s with an error containing %q", first.Seq, first.Result, first.Error, tr.op, tr.opErr)
	}
	if d := first.Complete.Sub(first.Invoke); d > timeout/2 {
		t.Errorf("first op took %s: decided by a timeout, not by what IRIS printed", d)
	}
}

// replayExec answers an `iris session` with a transcript: reply[0] at once
// (banner), reply[i] after the i-th line of input. After the last reply it
// waits for the end of input when hold is set (IRIS waiting at a prompt),
// else it ends with exit.
type replayExec struct {
	reply []string
	hold  bool
	exit  error
}

func (r replayExec) Exec(ctx context.Context, _ podexec.Target, _ []string, stdin io.Reader, stdout, _ io.Writer) error {
	lines := make(chan struct{})
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdin)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			select {
			case lines <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
	}()
	for i, out := range r.reply {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case _, ok := <-lines:
				if !ok {
					return r.exit
				}
			}
		}
		if _, err := io.WriteString(stdout, out); err != nil {
			return err
		}
	}
	if r.hold {
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case _, ok := <-lines:
				if !ok {
					return r.exit
				}
			}
		}
	}
	return r.exit
}

// A caught error of an earlier write (a late line on a reused stream) is not
// this write's answer; this write's own error is.
func TestTranscriptLateErrorOfEarlierWrite(t *testing.T) {
	const zv = "IRIS for UNIX (Ubuntu Server LTS for x86-64 Containers) 2025.1 (Build 223U) Tue Mar 11 2025 18:14:42 EDT"
	cmds := Commands{Run: transcriptRun}
	ex := replayExec{reply: []string{"\nNode: iris-0, Instance: IRIS\n\nUSER>", "##HELLO:" + zv + "\nUSER>", "\n##ERR:4:<UNDEFINED> *x\n\n##ERR:5:<DISKHARD>\nUSER>"}, hold: true}
	s, err := OpenSession(context.Background(), ex, podexecTarget("iris-a"), []string{"iris", "session", "iris", "-U", "USER"}, cmds, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Identity() != zv {
		t.Errorf("identity %q", s.Identity())
	}
	_, err = s.Write(context.Background(), cmds, 5, 2*time.Second)
	if err == nil || !strings.Contains(err.Error(), "<DISKHARD>") {
		t.Fatalf("Write = %v; want this write's <DISKHARD>, not the earlier write's error", err)
	}
}

// Output the client does not know (not from IRIS's documentation: any text
// instead of an answer) is named in the error, whether the session ends
// or waits until the timeout, so a refusal nobody foresaw is never opaque.
func TestUnknownOutputIsReported(t *testing.T) {
	cmd := []string{"iris", "session", "iris", "-U", "USER"}
	const msg = "Something this client has never seen"
	for _, tc := range []struct {
		name string
		ex   replayExec
	}{
		{"ends", replayExec{reply: []string{"\n" + msg + "\n"}, exit: podexec.ExitError(1, "command terminated with exit code 1")}},
		{"waits", replayExec{reply: []string{"\n" + msg + "\n\nAnswer> "}, hold: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := OpenSession(context.Background(), tc.ex, podexecTarget("iris-a"), cmd, Commands{}, 300*time.Millisecond)
			if err == nil || !strings.Contains(err.Error(), `IRIS printed: "`+msg) {
				t.Errorf("OpenSession: %v; want what IRIS printed", err)
			}
			_, err = WriteOnce(context.Background(), tc.ex, podexecTarget("iris-a"), cmd, Commands{}, 1, 300*time.Millisecond)
			if err == nil || !strings.Contains(err.Error(), `IRIS printed: "`+msg) {
				t.Errorf("WriteOnce: %v; want what IRIS printed", err)
			}
			_, err = DatabaseIdentity(context.Background(), tc.ex, podexecTarget("iris-a"), cmd)
			if err == nil || !strings.Contains(err.Error(), `IRIS printed: "`+msg) {
				t.Errorf("DatabaseIdentity: %v; want what IRIS printed", err)
			}
		})
	}
}
