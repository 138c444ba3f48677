package iris

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/irischaos/irischaos/pkg/history"
)

// runUntil runs the client until cond holds on its history (or fails the
// test after 10 s), then stops it and returns the ops.
func runUntil(t *testing.T, c *Client, h *history.Writer, cond func(ops []history.Record) bool) []history.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	deadline := time.After(10 * time.Second)
	for !cond(ops(h)) {
		select {
		case <-deadline:
			c.Stop()
			<-done
			t.Fatalf("condition not met; ops: %s", summary(ops(h)))
		case <-time.After(5 * time.Millisecond):
		}
	}
	c.Stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return ops(h)
}

func ops(h *history.Writer) []history.Record {
	var out []history.Record
	for _, r := range h.Records() {
		if r.Kind == history.KindOp {
			out = append(out, r)
		}
	}
	return out
}

func summary(rs []history.Record) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(r.Result + ":" + r.Pod + " ")
	}
	return b.String()
}

func countOK(rs []history.Record) int {
	n := 0
	for _, r := range rs {
		if r.Result == history.OK {
			n++
		}
	}
	return n
}

func newClient(t *testing.T, f *fakeIRIS, h *history.Writer) *Client {
	t.Helper()
	cs := newKube(t, runningPod("iris-a", time.Now()))
	c, err := New(Config{Kube: cs, Exec: f, History: h, Namespace: "ns", RunID: "run1", WriteTimeout: 200 * time.Millisecond, OpenTimeout: time.Second, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConfigErrors(t *testing.T) {
	f := newFake()
	cs := newKube(t)
	for _, cfg := range []Config{
		{Exec: f, Namespace: "ns"},
		{Kube: cs, Namespace: "ns"},
		{Kube: cs, Exec: f},
		{Kube: cs, Exec: f, Namespace: "ns", Mode: "telepathy"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted a bad config", cfg)
		}
	}
}

func TestAllAcknowledged(t *testing.T) {
	f := newFake("iris-a")
	h := history.NewMemory()
	c := newClient(t, f, h)
	got := runUntil(t, c, h, func(o []history.Record) bool { return countOK(o) >= 50 })
	var seqs []int64
	for _, r := range got {
		if r.Result != history.OK {
			t.Fatalf("op %d: %s (%s)", r.Seq, r.Result, r.Error)
		}
		if r.Pod != "iris-a" || r.Node != nodeOf("iris-a") || r.Attempt != 1 || r.Stream != 1 || !strings.Contains(r.Value, "run=run1") || r.Complete.Before(r.Invoke) {
			t.Fatalf("op %+v", r)
		}
		seqs = append(seqs, r.Seq)
	}
	if !slices.IsSorted(seqs) || len(slices.Compact(slices.Clone(seqs))) != len(seqs) {
		t.Fatalf("seqs not unique and increasing: %v", seqs)
	}
	if f.execs != 1 {
		t.Errorf("%d execs for one long-lived session, want 1", f.execs)
	}
	var ready int
	for _, r := range h.Records() {
		if r.Kind == history.KindEvent && r.Phase == history.PhaseDatabaseReady {
			ready++
		}
	}
	if ready != 1 {
		t.Errorf("%d database_ready events, want 1", ready)
	}
	rb, err := c.ReadBack(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rb.Seqs, seqs) || len(rb.Extra) != 0 {
		t.Errorf("read-back %v extra %v, want %v", rb.Seqs, rb.Extra, seqs)
	}
	if last := h.Records()[len(h.Records())-1]; last.Kind != history.KindReadback {
		t.Errorf("read-back not recorded: %+v", last)
	}
}

// A broken stream: the write in flight is info, never ok, whether or not it
// was applied; the client reconnects and goes on; the read-back tells which.
func TestBrokenStream(t *testing.T) {
	for _, tc := range []struct {
		name    string
		act     action
		applied bool
		errText string
	}{
		{"cut before apply", breakBefore, false, "connection reset"},
		{"cut after apply", breakAfter, true, "connection reset"},
		{"no ack in time", silent, true, "no answer"},
		{"ObjectScript error", objectScriptErr, false, "<PROTECT>"},
		// Real IRIS echoes the failed line, which holds the ack's text:
		// it must not read as an acknowledgement.
		{"echoed error", echoedErr, false, "<SYNTAX>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake("iris-a")
			f.onWrite = func(n int) action {
				if n == 5 {
					return tc.act
				}
				return ack
			}
			h := history.NewMemory()
			c := newClient(t, f, h)
			got := runUntil(t, c, h, func(o []history.Record) bool { return countOK(o) >= 10 })
			var bad []history.Record
			for _, r := range got {
				if r.Result != history.OK {
					bad = append(bad, r)
				}
			}
			if len(bad) != 1 || bad[0].Seq != 5 || bad[0].Result != history.Info || !strings.Contains(bad[0].Error, tc.errText) {
				t.Fatalf("want exactly seq 5 info (%s); got %s %+v", tc.errText, summary(got), bad)
			}
			for _, r := range got {
				if r.Seq > 5 && r.Attempt != 2 {
					t.Fatalf("op %d after the break on attempt %d, want a new session (2)", r.Seq, r.Attempt)
				}
			}
			rb, err := c.ReadBack(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(rb.Seqs, 5) != tc.applied {
				t.Errorf("seq 5 in read-back = %t, want %t (%v)", !tc.applied, tc.applied, rb.Seqs)
			}
		})
	}
}

// The pod is lost: writes fail (definitely not applied) while there is no
// pod to open a session in, and resume on the replacement pod.
func TestReconnectToReplacementPod(t *testing.T) {
	f := newFake("iris-a")
	h := history.NewMemory()
	cs := newKube(t, runningPod("iris-a", time.Now().Add(-time.Minute)))
	c, err := New(Config{Kube: cs, Exec: f, History: h, Namespace: "ns", RunID: "run1", WriteTimeout: 200 * time.Millisecond, OpenTimeout: time.Second, MaxBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var phase atomic.Int32
	f.onWrite = func(n int) action {
		if n == 20 && phase.CompareAndSwap(0, 1) {
			// The pod dies with this write in flight.
			go func() {
				f.setLive("iris-a", false)
				_ = cs.CoreV1().Pods("ns").Delete(context.Background(), "iris-a", metav1.DeleteOptions{})
				time.Sleep(100 * time.Millisecond)
				_, _ = cs.CoreV1().Pods("ns").Create(context.Background(), runningPod("iris-b", time.Now()), metav1.CreateOptions{})
				f.setLive("iris-b", true)
			}()
			return breakBefore
		}
		return ack
	}
	got := runUntil(t, c, h, func(o []history.Record) bool {
		n := 0
		for _, r := range o {
			if r.Pod == "iris-b" && r.Result == history.OK {
				n++
			}
		}
		return n >= 10
	})
	var sawFail bool
	for i, r := range got {
		switch {
		case r.Seq < 20:
			if r.Result != history.OK || r.Pod != "iris-a" || r.Node != nodeOf("iris-a") {
				t.Fatalf("before the loss: %+v", r)
			}
		case r.Seq == 20:
			if r.Result != history.Info {
				t.Fatalf("the write in flight at the loss is %s, want info", r.Result)
			}
		case r.Result == history.Fail:
			sawFail = true
			if r.Pod != "" || r.Node != "" || r.Error == "" {
				t.Fatalf("fail op %+v", r)
			}
		case r.Result == history.OK:
			if r.Pod != "iris-b" || r.Node != nodeOf("iris-b") {
				t.Fatalf("op %d ok on %s (node %s) after the loss", r.Seq, r.Pod, r.Node)
			}
		default:
			t.Fatalf("op %d: %+v (%s)", i, r, summary(got))
		}
	}
	if !sawFail {
		t.Errorf("no fail op while no pod was running: %s", summary(got))
	}
}

func TestExecPerWrite(t *testing.T) {
	f := newFake("iris-a")
	h := history.NewMemory()
	cs := newKube(t, runningPod("iris-a", time.Now()))
	c, err := New(Config{Kube: cs, Exec: f, History: h, Namespace: "ns", Mode: ModeExecPerWrite, RunID: "r", WriteTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	got := runUntil(t, c, h, func(o []history.Record) bool { return countOK(o) >= 10 })
	if countOK(got) != len(got) {
		t.Fatalf("not all ok: %s", summary(got))
	}
	for _, r := range got {
		if r.Pod != "iris-a" || r.Node != nodeOf("iris-a") {
			t.Fatalf("op %d on pod %q node %q, want iris-a on %s", r.Seq, r.Pod, r.Node, nodeOf("iris-a"))
		}
	}
	if f.execs != len(got) {
		t.Errorf("%d execs for %d writes; the naive mode runs one per write", f.execs, len(got))
	}
}

func TestExecPerWriteNoPodIsFail(t *testing.T) {
	f := newFake() // the pod is in the API but exec is refused: not started
	h := history.NewMemory()
	cs := newKube(t, runningPod("iris-a", time.Now()))
	c, err := New(Config{Kube: cs, Exec: f, History: h, Namespace: "ns", Mode: ModeExecPerWrite, MaxBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	got := runUntil(t, c, h, func(o []history.Record) bool { return len(o) >= 3 })
	for _, r := range got {
		if r.Result != history.Fail || !strings.Contains(r.Error, "unable to upgrade") {
			t.Fatalf("refused exec: %+v, want fail", r)
		}
	}
}

func TestDatabaseIdentity(t *testing.T) {
	f := newFake("iris-a")
	zv, err := DatabaseIdentity(context.Background(), f, podexecTarget("iris-a"), nil)
	if err != nil || zv != "fake IRIS" {
		t.Fatalf("DatabaseIdentity = %q, %v", zv, err)
	}
	if _, err := DatabaseIdentity(context.Background(), f, podexecTarget("gone"), nil); err == nil || !strings.Contains(err.Error(), "gone") {
		t.Fatalf("no pod: err = %v", err)
	}
}

func TestReadBackGivesUp(t *testing.T) {
	f := newFake() // nothing answers
	h := history.NewMemory()
	cs := newKube(t)
	c, err := New(Config{Kube: cs, Exec: f, History: h, Namespace: "ns"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = c.ReadBack(ctx)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no running pod") {
		t.Fatalf("err = %v", err)
	}
}
