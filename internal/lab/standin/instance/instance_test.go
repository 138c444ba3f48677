package instance

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the instance daemon: Spawn runs it with
// DaemonArg, as iris-main runs the iris binary.
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == DaemonArg {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		if path := os.Getenv("STANDIN_DAEMON_CPUPROFILE"); path != "" {
			f, err := os.Create(path)
			if err == nil {
				pprof.StartCPUProfile(f)
				defer pprof.StopCPUProfile()
			}
		}
		if err := Serve(ctx, New(RunDir(), os.Args[2]), os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// setup registers an instance in a fresh run dir with the given CPF merge
// file content, on dataDir (a fresh one when empty).
func setup(t testing.TB, merge, dataDir string) Instance {
	t.Helper()
	base := t.TempDir()
	if dataDir == "" {
		dataDir = filepath.Join(base, "data")
	}
	c := Conf{DataDir: dataDir}
	if merge != "" {
		c.MergeFile = filepath.Join(base, "merge.cpf")
		if err := os.WriteFile(c.MergeFile, []byte(merge), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	inst := New(filepath.Join(base, "run"), "iris")
	if err := inst.Register(c); err != nil {
		t.Fatal(err)
	}
	return inst
}

// start spawns the daemon and waits until it runs.
func start(t testing.TB, inst Instance) *os.Process {
	t.Helper()
	p := spawn(t, inst)
	waitStatus(t, inst, p.Pid, "running", "")
	return p
}

func spawn(t testing.TB, inst Instance) *os.Process {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	os.Setenv("IRISCHAOS_RUN_DIR", inst.RunDir)
	p, err := inst.Spawn(exe, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
		p.Wait()
	})
	return p
}

func waitStatus(t testing.TB, inst Instance, pid int, status, detail string) State {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := inst.State()
		if s.PID == pid && s.Status == status && strings.Contains(s.Detail, detail) {
			return s
		}
		if time.Now().After(deadline) {
			c, _ := inst.Conf()
			log, _ := os.ReadFile(filepath.Join(c.DataDir, "mgr", "messages.log"))
			t.Fatalf("instance pid %d never became %q %q; state %+v\nmessages.log:\n%s", pid, status, detail, s, log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func kill9(t testing.TB, p *os.Process) {
	t.Helper()
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.Wait()
}

// writer is a workload client: one long session, one marker per line,
// each acknowledged by a ##ACK sentinel, as the harness's client.
type writer struct {
	stdin *io.PipeWriter
	acks  chan int
	done  chan error
	mu    sync.Mutex
	buf   []byte
}

var ackRe = regexp.MustCompile(`^(?:[%A-Z]+>)?##ACK:(\d+):`)

func (w *writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		if m := ackRe.FindSubmatch(w.buf[:i]); m != nil {
			n, _ := strconv.Atoi(string(m[1]))
			w.acks <- n
		}
		w.buf = w.buf[i+1:]
	}
}

func openWriter(inst Instance) *writer {
	pr, pw := io.Pipe()
	w := &writer{stdin: pw, acks: make(chan int, 16), done: make(chan error, 1)}
	go func() {
		_, err := inst.Session("USER", "", false, pr, w)
		pr.Close()
		w.done <- err
	}()
	return w
}

// set writes marker seq (optionally in a transaction) and waits for its ack.
func (w *writer) set(seq int, txn bool) bool {
	line := fmt.Sprintf(`set ^k8stest($i(^k8stest))="seq=%d t="_$zdt($zts,3,1,6)_" host="_$system.INetInfo.LocalHostName() write "##ACK:%d:",^k8stest,!`+"\n", seq, seq)
	if txn {
		line = fmt.Sprintf(`tstart  set ^k8stest(%d)="seq=%d" tcommit  write "##ACK:%d:",%d,!`+"\n", seq, seq, seq, seq)
	}
	if _, err := io.WriteString(w.stdin, line); err != nil {
		return false
	}
	select {
	case n := <-w.acks:
		return n == seq
	case <-w.done:
		return false
	case <-time.After(10 * time.Second):
		return false
	}
}

var markerRe = regexp.MustCompile(`^\^k8stest\((\d+)\)="seq=(\d+)[ "]`)

// readBack returns key -> seq of every marker, via zwrite.
func readBack(t testing.TB, inst Instance) map[int]int {
	t.Helper()
	var out bytes.Buffer
	code, err := inst.Session("USER", "zwrite ^k8stest", true, nil, &out)
	if err != nil || code != 0 {
		t.Fatalf("read back: exit %d, %v: %s", code, err, out.String())
	}
	got := map[int]int{}
	for _, l := range strings.Split(out.String(), "\n") {
		if m := markerRe.FindStringSubmatch(l); m != nil {
			k, _ := strconv.Atoi(m[1])
			s, _ := strconv.Atoi(m[2])
			got[k] = s
		}
	}
	return got
}

// TestCrashMidStream is the journal model: SIGKILL the instance in the
// middle of a write stream and restart it. Every write acknowledged before
// the last completed flush captured its buffer is present; only later ones
// may be missing; what survives is a prefix of the stream, in order.
func TestCrashMidStream(t *testing.T) {
	for round := range 3 {
		t.Run(fmt.Sprint("round", round), func(t *testing.T) {
			inst := setup(t, "[Journal]\nStandinFlushInterval=0.2\n", "")
			p := start(t, inst)
			w := openWriter(inst)
			ackTimes := map[int]time.Time{}
			killAt := time.Now().Add(time.Duration(400+rand.IntN(400)) * time.Millisecond)
			killed := false
			for seq := 1; ; seq++ {
				if !killed && time.Now().After(killAt) {
					// Kill from another goroutine so the kill lands mid-write.
					go p.Signal(syscall.SIGKILL)
					killed = true
				}
				if !w.set(seq, false) {
					break
				}
				ackTimes[seq] = time.Now()
			}
			if !killed {
				t.Fatal("the stream ended before the kill")
			}
			p.Wait()
			fl, err := inst.LastFlush()
			if err != nil {
				t.Fatalf("no flush record: %v", err)
			}
			p2 := start(t, inst)
			defer inst.Stop(context.Background())
			_ = p2
			got := readBack(t, inst)

			lost, mustHave := 0, 0
			for seq, at := range ackTimes {
				if at.Before(fl.Captured) {
					mustHave++
					if got[seq] != seq {
						t.Errorf("write %d acknowledged at %s, before the flush captured at %s, is missing", seq, at.Format(time.StampMicro), fl.Captured.Format(time.StampMicro))
					}
				} else if _, ok := got[seq]; !ok {
					lost++
				}
			}
			for k, s := range got {
				if k != s {
					t.Errorf("marker key %d holds seq %d: reordered", k, s)
				}
				if k > 1 && got[k-1] == 0 {
					t.Errorf("marker %d survived but %d did not: not a prefix", k, k-1)
				}
			}
			t.Logf("%d acknowledged, %d guaranteed by the last flush, %d survived, %d lost (acknowledged after the flush)", len(ackTimes), mustHave, len(got), lost)
			if mustHave == 0 {
				t.Error("no flush completed during the stream")
			}
		})
	}
}

// TestCrashLosesTheBuffer shows that losses are real: with a long write
// cycle nothing written since startup survives a SIGKILL.
func TestCrashLosesTheBuffer(t *testing.T) {
	inst := setup(t, "[Journal]\nStandinFlushInterval=3600\n", "")
	p := start(t, inst)
	w := openWriter(inst)
	for seq := 1; seq <= 100; seq++ {
		if !w.set(seq, false) {
			t.Fatalf("write %d not acknowledged", seq)
		}
	}
	kill9(t, p)
	start(t, inst)
	defer inst.Stop(context.Background())
	if got := readBack(t, inst); len(got) != 0 {
		t.Errorf("%d unflushed writes survived a SIGKILL", len(got))
	}
}

func TestGracefulStopLosesNothing(t *testing.T) {
	inst := setup(t, "[Journal]\nStandinFlushInterval=3600\n", "")
	p := start(t, inst)
	w := openWriter(inst)
	for seq := 1; seq <= 500; seq++ {
		if !w.set(seq, false) {
			t.Fatalf("write %d not acknowledged", seq)
		}
	}
	if err := inst.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.Wait()
	if err := <-w.done; err == nil {
		t.Error("the session survived the instance's shutdown")
	}
	if s := inst.State(); s.Status != "down" {
		t.Errorf("state after stop: %+v", s)
	}
	start(t, inst)
	defer inst.Stop(context.Background())
	if got := readBack(t, inst); len(got) != 500 {
		t.Errorf("graceful stop lost writes: %d of 500 present", len(got))
	}
}

func TestSynchCommitLosesNoCommit(t *testing.T) {
	inst := setup(t, "[Miscellaneous]\nSynchCommit=1\n[Journal]\nStandinFlushInterval=3600\n", "")
	p := start(t, inst)
	w := openWriter(inst)
	n := 0
	stop := time.Now().Add(300 * time.Millisecond)
	for seq := 1; time.Now().Before(stop); seq++ {
		if !w.set(seq, true) {
			t.Fatalf("commit %d not acknowledged", seq)
		}
		n = seq
	}
	kill9(t, p)
	start(t, inst)
	defer inst.Stop(context.Background())
	got := readBack(t, inst)
	for seq := 1; seq <= n; seq++ {
		if got[seq] != seq {
			t.Fatalf("committed transaction %d lost (SynchCommit=1); %d of %d present", seq, len(got), n)
		}
	}
}

func TestSecondInstanceWaitsForTheLock(t *testing.T) {
	a := setup(t, "", "")
	ca, _ := a.Conf()
	start(t, a)
	b := setup(t, "", ca.DataDir) // another container, same volume
	pb := spawn(t, b)
	s := waitStatus(t, b, pb.Pid, "starting", "waiting for the data directory lock")
	if !strings.Contains(s.Detail, fmt.Sprintf("pid=%d", a.State().PID)) {
		t.Errorf("the waiting instance does not name the holder: %q", s.Detail)
	}
	if line, _ := b.Qlist(); strings.Contains(line, "running") {
		t.Errorf("a waiting instance passes the liveness probe: %s", line)
	}
	log, _ := os.ReadFile(filepath.Join(ca.DataDir, "mgr", "messages.log"))
	if !strings.Contains(string(log), "waiting for the exclusive lock") {
		t.Error("messages.log does not say the instance waits")
	}
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, b, pb.Pid, "running", "")
	b.Stop(context.Background())
}

func TestQlistAndDownSession(t *testing.T) {
	inst := setup(t, "", "")
	line, err := inst.Qlist()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(line, "^")
	if len(f) != 13 || !strings.HasPrefix(f[3], "down, last used ") || f[8] != "ok" {
		t.Errorf("qlist of a registered, never started instance: %q", line)
	}
	var out bytes.Buffer
	if code, err := inst.Session("USER", "write 1", true, nil, &out); code == 0 || err == nil {
		t.Errorf("session against a down instance: exit %d, %v", code, err)
	}
	p := start(t, inst)
	line, _ = inst.Qlist()
	f = strings.Split(line, "^")
	if !strings.HasPrefix(f[3], "running, since ") || !strings.Contains(f[2], "irischaos IRIS stand-in") || f[9] != "irischaos IRIS stand-in" {
		t.Errorf("qlist of a running instance: %q", line)
	}
	c, _ := inst.Conf()
	if f[12] != c.DataDir {
		t.Errorf("qlist data dir %q, want %q", f[12], c.DataDir)
	}
	if err := inst.Force(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.Wait()
	line, _ = inst.Qlist()
	if !strings.Contains(line, "^down, last used ") {
		t.Errorf("qlist after force: %q", line)
	}
}

func TestSessionProtocol(t *testing.T) {
	inst := setup(t, "", "")
	start(t, inst)
	defer inst.Stop(context.Background())
	tests := []struct {
		name, ns, cmd, stdin string
		hasCmd               bool
		code                 int
		want                 string
	}{
		{"command", "USER", `write "x",!`, "", true, 0, "x\n"},
		{"command error", "USER", `write y`, "", true, 1, "<UNDEFINED> *y\n"},
		{"stdin halts", "USER", "", "write 1,!\nh\nwrite 2,!\n", false, 0, "USER>1\nUSER>"},
		{"%SYS prompt", "%SYS", "", "write $namespace,!\n", false, 0, "%SYS>%SYS\n%SYS>"},
		{"eof without halt", "USER", "", "write 3", false, 0, "USER>3\nUSER>"},
		{"bad namespace", "NOPE", "", "", false, 1, "<NAMESPACE>"},
		{"freeze", "%SYS", "##Class(Backup.General).ExternalFreeze()", "", true, 5, ""},
		{"frozen", "%SYS", `write ##class(Backup.General).IsExternallyFrozen()`, "", true, 0, "1"},
		{"thaw", "%SYS", "##Class(Backup.General).ExternalThaw()", "", true, 5, ""},
		{"thaw again fails", "%SYS", "##Class(Backup.General).ExternalThaw()", "", true, 3, ""},
		{"terminate", "USER", "", "do ##class(%SYSTEM.Process).Terminate(,4)\nwrite 1\n", false, 4, "USER>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			code, err := inst.Session(tc.ns, tc.cmd, tc.hasCmd, strings.NewReader(tc.stdin), &out)
			if err != nil || code != tc.code || !strings.Contains(out.String(), tc.want) {
				t.Errorf("exit %d (want %d), err %v, output %q (want it to contain %q)", code, tc.code, err, out.String(), tc.want)
			}
		})
	}
}

// cpuTime is the user+system CPU time pid has used.
func cpuTime(tb testing.TB, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// BenchmarkSessionSets measures acknowledged marker sets per second through
// one session, each set waiting for its ack before the next is sent (the
// harness's write probe), with the default 2 s journal cycle. On a loaded
// machine the round trip is bound by scheduling latency, so it also reports
// the instance's CPU time per set: 1e6 / that is what one core sustains.
func BenchmarkSessionSets(b *testing.B) {
	inst := setup(b, "", "")
	p := start(b, inst)
	defer inst.Stop(context.Background())
	w := openWriter(inst)
	b.ResetTimer()
	t0, c0 := time.Now(), cpuTime(b, p.Pid)
	for i := 1; i <= b.N; i++ {
		if !w.set(i, false) {
			b.Fatalf("set %d not acknowledged", i)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "sets/s")
	b.ReportMetric(float64((cpuTime(b, p.Pid)-c0).Microseconds())/float64(b.N), "instance-cpu-us/set")
}

// BenchmarkSessionSetsPipelined keeps up to 64 sets in flight on the
// session, as a client that does not wait for each ack.
func BenchmarkSessionSetsPipelined(b *testing.B) {
	inst := setup(b, "", "")
	start(b, inst)
	defer inst.Stop(context.Background())
	w := openWriter(inst)
	w.acks = make(chan int, 128)
	b.ResetTimer()
	t0 := time.Now()
	const window = 64
	acked := 0
	for i := 1; i <= b.N; i++ {
		fmt.Fprintf(w.stdin, `set ^k8stest($i(^k8stest))="seq=%d t="_$zdt($zts,3,1,6)_" host="_$system.INetInfo.LocalHostName() write "##ACK:%d:",^k8stest,!`+"\n", i, i)
		for i-acked >= window {
			<-w.acks
			acked++
		}
	}
	for acked < b.N {
		<-w.acks
		acked++
	}
	b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "sets/s")
}

// BenchmarkSessionSetsDirect is BenchmarkSessionSets without the client's
// stdin relay: the benchmark speaks the session protocol on the socket
// itself, so only the instance and one socket round trip are measured.
func BenchmarkSessionSetsDirect(b *testing.B) {
	inst := setup(b, "", "")
	start(b, inst)
	defer inst.Stop(context.Background())
	c, err := inst.dial(hello{Op: "session", Namespace: "USER"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReaderSize(c, 64<<10)
	var buf []byte
	b.ResetTimer()
	t0 := time.Now()
	for i := 1; i <= b.N; i++ {
		fmt.Fprintf(c, `set ^k8stest($i(^k8stest))="seq=%d t="_$zdt($zts,3,1,6)_" host="_$system.INetInfo.LocalHostName() write "##ACK:%d:",^k8stest,!`+"\n", i, i)
		want := fmt.Sprintf("##ACK:%d:", i)
		for acked := false; !acked; {
			typ, p, err := readFrame(r, buf)
			if err != nil || typ != frameOut {
				b.Fatalf("set %d: frame %c, %v", i, typ, err)
			}
			buf = p
			acked = bytes.Contains(p, []byte(want))
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "sets/s")
}
