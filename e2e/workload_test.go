//go:build chaos

package e2e

// The workload client against the live cluster, stand-in stack on the
// replicated class: (1) acknowledged writes per second through one
// long-lived session against the seed's one-exec-per-write loop, side by
// side (issue 4 item 3: at least 100/s and 50 times the naive loop); (2) a
// deleted pod: the client reconnects to the replacement, never counts an
// unacknowledged write as done, and reads every acknowledged marker back.

import (
	"context"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/irischaos/irischaos/internal/suite"
	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/podexec"
	"github.com/irischaos/irischaos/pkg/stack"
	"github.com/irischaos/irischaos/pkg/workload/iris"
)

const (
	workloadNamespace = "irischaos-e2e-workload"
	benchDuration     = 10 * time.Second
	minSessionRate    = 100.0 // acknowledged writes per second
	minRatio          = 50.0  // session over exec-per-write
)

func TestWorkload(t *testing.T) {
	kcfg := scenariosKubeconfig(t)
	rest, err := clientcmd.BuildConfigFromFlags("", kcfg)
	if err != nil {
		t.Fatalf("kubeconfig %s: %v", kcfg, err)
	}
	kube, err := kubernetes.NewForConfig(rest)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := podexec.New(rest)
	if err != nil {
		t.Fatal(err)
	}
	clients := stack.Clients{Kube: kube, Exec: ex, Host: rest.Host}
	ns := namespaceFor(workloadNamespace)
	cfg := iris.Config{Kube: kube, Exec: ex, Namespace: ns, Instance: params.Instance}
	// The stack, once for both features (whichever run), removed at the end.
	var deployed bool
	deploy := func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
		if !deployed {
			deployStack(ctx, t, kube, clients, ns, nil)
			deployed = true
		}
		return ctx
	}
	t.Cleanup(func() {
		if !deployed {
			return
		}
		if err := stack.Teardown(context.Background(), clients, stack.Options{Namespace: ns, Progress: tlog{t}}); err != nil {
			t.Errorf("teardown: %v", err)
		}
	})

	// The rates are the stand-in's: a lab check.
	bench := features.New("workload rate").
		WithLabel("area", "workload").
		WithLabel(suite.NeedsLabel, needs(suite.Embedded)).
		WithLabel(suite.NeedsLabel, needs(suite.Stack)).
		Setup(deploy).
		Assess("session >= 100/s and >= 50x the exec-per-write loop", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			res, err := iris.Bench(ctx, cfg, benchDuration)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("BENCH %s", res)
			if res.Session.PerSecond < minSessionRate {
				t.Errorf("session: %.1f acknowledged writes/s, want >= %.0f", res.Session.PerSecond, minSessionRate)
			}
			if res.Ratio < minRatio {
				t.Errorf("session over exec-per-write: %.1fx, want >= %.0fx", res.Ratio, minRatio)
			}
			return ctx
		}).Feature()

	reconnect := features.New("workload reconnects to the replacement pod").
		WithLabel("area", "workload").
		WithLabel(suite.NeedsLabel, needs(suite.Stack)).
		Setup(deploy).
		Assess("pod deleted: info at most for the write in flight, ok again on the new pod, all acked read back", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			h := history.NewMemory()
			c := cfg
			c.History, c.Interval, c.Progress = h, 10*time.Millisecond, tlog{t}
			cl, err := iris.New(c)
			if err != nil {
				t.Fatal(err)
			}
			rctx, cancel := context.WithCancel(ctx)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- cl.Run(rctx) }()
			waitOps(t, h, 30*time.Second, func(r history.Record) bool { return r.Result == history.OK })
			old := lastOK(h).Pod
			t.Logf("deleting pod %s", old)
			if err := kube.CoreV1().Pods(ns).Delete(ctx, old, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			waitOps(t, h, 5*time.Minute, func(r history.Record) bool { return r.Result == history.OK && r.Pod != old })
			time.Sleep(time.Second)
			cl.Stop()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			var acked []int64
			counts := map[string]int{}
			for _, r := range h.Records() {
				if r.Kind != history.KindOp {
					continue
				}
				counts[r.Result]++
				if r.Result == history.OK {
					acked = append(acked, r.Seq)
				}
			}
			t.Logf("ops: %v", counts)
			rb, err := cl.ReadBack(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// A graceful delete stops the stand-in cleanly (journal flushed):
			// every acknowledged marker must be there.
			for _, s := range acked {
				if !slices.Contains(rb.Seqs, s) {
					t.Errorf("acknowledged write %d missing from the read-back after a graceful pod delete", s)
				}
			}
			return ctx
		}).
		Feature()

	testenv.Test(t, bench, reconnect)
}

// waitOps waits until an op record satisfies cond.
func waitOps(t *testing.T, h *history.Writer, timeout time.Duration, cond func(history.Record) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, r := range h.Records() {
			if r.Kind == history.KindOp && cond(r) {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no such write within %s", timeout)
}

func lastOK(h *history.Writer) history.Record {
	rs := h.Records()
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i].Kind == history.KindOp && rs[i].Result == history.OK {
			return rs[i]
		}
	}
	return history.Record{}
}
