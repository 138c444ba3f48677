package iris

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/irischaos/irischaos/internal/lab/standin/engine"
)

func TestBench(t *testing.T) {
	db := engine.Memory()
	defer db.Close()
	cfg := Config{Kube: newKube(t, runningPod("iris-a", time.Now())), Exec: standinExec{db: db}, Namespace: "ns"}
	res, err := Bench(context.Background(), cfg, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.Session.OK == 0 || res.ExecPerWrite.OK == 0 || res.Ratio <= 0 || res.Session.Mode != ModeSession || res.ExecPerWrite.Mode != ModeExecPerWrite {
		t.Fatalf("%+v", res)
	}
	if !strings.Contains(res.String(), "ratio") {
		t.Error(res.String())
	}
	// Nothing answers: an error that says why.
	cfg.Exec = newFake()
	cfg.MaxBackoff = time.Millisecond
	if _, err := Bench(context.Background(), cfg, 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), "no write acknowledged") || !strings.Contains(err.Error(), "unable to upgrade") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Bench(context.Background(), cfg, 0); err == nil {
		t.Fatal("zero duration accepted")
	}
}

// BenchmarkWrite measures the client's own cost per acknowledged write in
// both modes against the stand-in's interpreter in-process (no network, no
// exec: the cluster comparison is e2e/workload_test.go).
func BenchmarkWrite(b *testing.B) {
	for _, mode := range []Mode{ModeSession, ModeExecPerWrite} {
		b.Run(string(mode), func(b *testing.B) {
			db := engine.Memory()
			defer db.Close()
			ex := standinExec{db: db}
			cmds := Commands{Run: "bench"}
			cmd := []string{"iris", "session", "iris", "-U", "USER"}
			t := podexecTarget("iris-a")
			ctx := context.Background()
			var s *Session
			if mode == ModeSession {
				var err error
				if s, err = OpenSession(ctx, ex, t, cmd, cmds, time.Second); err != nil {
					b.Fatal(err)
				}
				defer s.Close()
			}
			b.ResetTimer()
			for i := range b.N {
				var err error
				if mode == ModeSession {
					_, err = s.Write(ctx, cmds, int64(i), time.Second)
				} else {
					_, err = WriteOnce(ctx, ex, t, cmd, cmds, int64(i), time.Second)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "acked/s")
		})
	}
}
