package iris

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/podexec"
)

// The transcripts below are written the way InterSystems IRIS prints them
// to a piped `iris session` (documented terminal output and public
// transcripts; input is not echoed when stdin is not a terminal):
//   - the banner "Node: HOST, Instance: IRIS" and a prompt before each line,
//     "USER>", "TL1:USER>" inside a transaction;
//   - an uncaught error as three lines: the whole offending source line, a
//     caret line under where it failed, then $ZERROR;
//   - <LICENSE LIMIT EXCEEDED> when no license unit is free, then the
//     session ends;
//   - "Username: " (no newline) when the terminal service wants a password.
const (
	zvIRIS    = "IRIS for UNIX (Ubuntu Server LTS for x86-64 Containers) 2025.1 (Build 223U) Tue Mar 11 2025 18:14:42 EDT"
	bannerOut = "\nNode: iris-7b9c6d-x2x4q, Instance: IRIS\n\nUSER>"
)

// oldWrite is a write line of the shape the client sent before its sentinels
// were concatenated at run time: the ack's text is in the source itself.
const oldWrite = `set k=$i(^k8stest),^k8stest(k)="seq=5 run=r t="_$zdt($zts,3,1,6)_" host="_$system.INetInfo.LocalHostName() write "##ACK:5:",k,":",^k8stest(k),!`

func TestTranscriptLines(t *testing.T) {
	tests := []struct {
		name       string
		transcript string
		want       []Line // the meaningful lines, in order
	}{
		{"banner and hello", bannerOut + "##HELLO:" + zvIRIS + "\nUSER>", []Line{{Kind: LineHello, Value: zvIRIS}}},
		{"ack inside a transaction", "TL1:USER>##ACK:5:12:seq=5 run=r\nTL1:USER>", []Line{{Kind: LineAck, Seq: 5, Subscript: "12", Value: "seq=5 run=r"}}},
		{"echoed failed write", "USER>\n" + oldWrite + "\n" + strings.Repeat(" ", 19) + "^\n<PROTECT> ^k8stest,/external/iris/mgr/user/\nUSER>",
			[]Line{{Kind: LineError, Value: "<PROTECT> ^k8stest,/external/iris/mgr/user/"}}},
		{"echoed failed write of today's client", "USER>\n" + Commands{Run: "r"}.Write(5) + "\n^\n<SYNTAX>\nUSER>", []Line{{Kind: LineError, Value: "<SYNTAX>"}}},
		{"caught write error", "USER>\n##ERR:5:<UNDEFINED> *^k8stest(12)\nUSER>", []Line{{Kind: LineError, Seq: 5, Value: "<UNDEFINED> *^k8stest(12)"}}},
		{"echoed failed read-back", "USER>\n" + Commands{}.ReadBack("") + "\n^\n<STORE>\nUSER>##RBEND\n",
			[]Line{{Kind: LineError, Value: "<STORE>"}, {Kind: LineReadbackEnd}}},
		{"license limit", "\n<LICENSE LIMIT EXCEEDED>\n", []Line{{Kind: LineLicense, Value: licenseLimit}}},
		{"username prompt", "Username: ", []Line{{Kind: LineLogin, Value: "Username:"}}},
		{"username then password", "Username: Password: \nAccess Denied\n", []Line{{Kind: LineLogin, Value: "Username: Password:"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []Line
			scanLines(strings.NewReader(tt.transcript), func(l Line) { got = append(got, l) })
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("line %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
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
		for sc.Scan() {
			lines <- struct{}{}
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

func TestTranscriptSession(t *testing.T) {
	tgt := podexecTarget("iris-a")
	cmd := []string{"iris", "session", "iris", "-U", "USER"}
	cmds := Commands{Run: "r"}
	hello := "##HELLO:" + zvIRIS + "\nUSER>"

	t.Run("failed write is not acknowledged", func(t *testing.T) {
		ex := replayExec{reply: []string{bannerOut, hello, "\n" + oldWrite + "\n^\n<PROTECT> ^k8stest,/external/iris/mgr/user/\nUSER>"}, hold: true}
		s, err := OpenSession(context.Background(), ex, tgt, cmd, cmds, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if s.Identity() != zvIRIS {
			t.Errorf("identity %q", s.Identity())
		}
		l, err := s.Write(context.Background(), cmds, 5, 2*time.Second)
		if err == nil || !strings.Contains(err.Error(), "<PROTECT>") {
			t.Fatalf("Write = %+v, %v; want the <PROTECT> error", l, err)
		}
	})
	t.Run("caught error of this write", func(t *testing.T) {
		ex := replayExec{reply: []string{bannerOut, hello, "\n##ERR:4:<UNDEFINED> *x\n\n##ERR:5:<DISKHARD>\nUSER>"}, hold: true}
		s, err := OpenSession(context.Background(), ex, tgt, cmd, cmds, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		_, err = s.Write(context.Background(), cmds, 5, 2*time.Second)
		if err == nil || !strings.Contains(err.Error(), "<DISKHARD>") {
			t.Fatalf("Write = %v; want this write's <DISKHARD>, not the earlier write's error", err)
		}
	})
	t.Run("license limit", func(t *testing.T) {
		ex := replayExec{reply: []string{"\n<LICENSE LIMIT EXCEEDED>\n"}, exit: podexec.ExitError(1, "exit 1")}
		_, err := OpenSession(context.Background(), ex, tgt, cmd, cmds, 5*time.Second)
		if err == nil || !strings.Contains(err.Error(), "LICENSE LIMIT EXCEEDED") || !errors.Is(err, errNotApplied) {
			t.Fatalf("OpenSession = %v; want a license error, not applied", err)
		}
		_, err = WriteOnce(context.Background(), ex, tgt, cmd, cmds, 7, 5*time.Second)
		if err == nil || !strings.Contains(err.Error(), "license unit") || !errors.Is(err, errNotApplied) {
			t.Fatalf("WriteOnce = %v; want a license error, not applied", err)
		}
	})
	t.Run("username prompt is reported, not a timeout", func(t *testing.T) {
		ex := replayExec{reply: []string{"Username: ", "Password: "}, hold: true}
		start := time.Now()
		_, err := OpenSession(context.Background(), ex, tgt, cmd, cmds, 5*time.Second)
		if err == nil || !strings.Contains(err.Error(), "username") || !errors.Is(err, errNotApplied) {
			t.Fatalf("OpenSession = %v; want the login prompt reported", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %s: the prompt must be reported at once, not after the timeout", d)
		}
	})
}

// A write IRIS refused for want of a license is fail (not applied), never ok
// or info: the checker must not count it as a possible write.
func TestLicenseLimitIsFail(t *testing.T) {
	ex := replayExec{reply: []string{"\n<LICENSE LIMIT EXCEEDED>\n"}, exit: podexec.ExitError(1, "exit 1")}
	h := history.NewMemory()
	c, err := New(Config{Kube: newKube(t, runningPod("iris-a", time.Now())), Exec: ex, History: h, Namespace: "ns", OpenTimeout: time.Second, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	got := runUntil(t, c, h, func(o []history.Record) bool { return len(o) >= 3 })
	for _, r := range got {
		if r.Result != history.Fail || !strings.Contains(r.Error, "LICENSE LIMIT EXCEEDED") {
			t.Fatalf("op %+v; want fail with the license error", r)
		}
	}
}
