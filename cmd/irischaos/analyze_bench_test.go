package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/irischaos/irischaos/pkg/history"
)

// BenchmarkAnalyze1M: `irischaos analyze` end to end on a 1 M-op history,
// a soak of ~2.8 h at 100 writes/s on 4 streams as the workload writes it
// (issue 10 item 10: under 2 s and 200 MB max RSS on one core). Run by
// `make bench`; BENCH_HISTORY=path keeps the generated file (for
// /usr/bin/time -v irischaos analyze path).
func BenchmarkAnalyze1M(b *testing.B) {
	path := os.Getenv("BENCH_HISTORY")
	if path == "" {
		path = filepath.Join(b.TempDir(), "history.jsonl")
	}
	if _, err := os.Stat(path); err != nil {
		if err := writeSoakHistory(path, 1_000_000); err != nil {
			b.Fatal(err)
		}
	}
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	b.ResetTimer()
	for range b.N {
		a := &app{kube: genericclioptions.NewConfigFlags(true), ctx: context.Background()}
		root := newRoot(a)
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&bytes.Buffer{})
		root.SetArgs([]string{"analyze", path, "-o", "json"})
		if err := root.ExecuteContext(context.Background()); err != nil {
			b.Fatalf("%v\n%s", err, out.String())
		}
	}
}

// writeSoakHistory writes n ops on 4 streams (a write every 10 ms), a
// pod-delete in the middle with a 30 s outage, observer events, and a
// read-back that lost the last 5 acknowledged writes before the fault.
func writeSoakHistory(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(w)
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	enc.Encode(history.Record{Kind: history.KindMeta, Meta: map[string]string{history.MetaScenario: "soak", history.MetaIteration: "1",
		history.MetaRTOBudget: "60s", history.MetaRPOBudget: "2s", history.MetaWriteTimeout: "5s"}})
	faultAt := time.Duration(n/2) * 10 * time.Millisecond
	outageEnd := faultAt + 30*time.Second
	seqs := make([]int64, 0, n)
	faultDone := false
	for i := 1; i <= n; i++ {
		inv := time.Duration(i) * 10 * time.Millisecond
		if inv >= faultAt && !faultDone {
			faultDone = true
			enc.Encode(history.Record{Kind: history.KindFault, T: at(faultAt), EffectT: at(faultAt + 200*time.Millisecond), Name: "pod-delete", Target: "pod/iris-6d8f9c7b5-x2kq4"})
		}
		r := history.Record{Kind: history.KindOp, Seq: int64(i), Invoke: at(inv), Complete: at(inv + 3*time.Millisecond + time.Duration(i%7)*117*time.Microsecond),
			Stream: i%4 + 1, Pod: "iris-6d8f9c7b5-x2kq4", Node: "node-1", Attempt: 1}
		if inv >= outageEnd { // the replacement, as the workload records it
			r.Pod, r.Node = "iris-6d8f9c7b5-p9m2z", "node-2"
		}
		switch {
		case inv >= faultAt && inv < outageEnd:
			r.Result, r.Error, r.Attempt = history.Info, "no acknowledgement within 5s: session closed", 2
			r.Complete = at(inv + 40*time.Millisecond)
		default:
			r.Result = history.OK
			r.Value = fmt.Sprintf("seq=%d run=20261127T100000Z t=%s host=iris-6d8f9c7b5-x2kq4", i, at(inv+time.Millisecond).Format("2006-01-02 15:04:05.000000"))
			if inv < faultAt-60*time.Millisecond || inv >= outageEnd {
				seqs = append(seqs, int64(i))
			}
		}
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	for k, ph := range []string{history.PhasePodScheduled, history.PhaseVolumeAttached, history.PhaseContainerStarted, history.PhaseDatabaseReady} {
		enc.Encode(history.Record{Kind: history.KindEvent, T: at(faultAt + time.Duration(k+1)*5*time.Second), Source: "pod", Phase: ph, Target: "pod/iris-6d8f9c7b5-p9m2z", Reason: "r"})
	}
	enc.Encode(history.Record{Kind: history.KindReadback, T: at(time.Duration(n+100) * 10 * time.Millisecond), Seqs: seqs})
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}
