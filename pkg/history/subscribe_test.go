package history

import (
	"sync"
	"testing"
	"time"
)

// TestSubscribe: a subscriber gets every record added after it subscribed,
// in order; one that never takes them does not stall the writer; a closed
// one gets nothing more.
func TestSubscribe(t *testing.T) {
	w := NewMemory()
	w.Add(Record{Kind: KindNote, Message: "before"})
	fast, slow := w.Subscribe(), w.Subscribe()
	var got []Record
	var wg sync.WaitGroup
	wg.Add(1)
	done := make(chan struct{})
	go func() {
		defer wg.Done()
		for {
			select {
			case <-fast.Ready():
				got = append(got, fast.Take()...)
			case <-done:
				got = append(got, fast.Take()...)
				return
			}
		}
	}()
	const n = 20000
	start := time.Now()
	for i := 1; i <= n; i++ {
		w.Add(Record{Kind: KindOp, Seq: int64(i)})
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("adding %d records took %s with a subscriber that never takes", n, d)
	}
	close(done)
	wg.Wait()
	if len(got) != n {
		t.Fatalf("fast subscriber got %d records, want %d", len(got), n)
	}
	for i, r := range got {
		if r.Seq != int64(i+1) {
			t.Fatalf("record %d has seq %d: out of order", i, r.Seq)
		}
	}
	if q := slow.Take(); len(q) != n || q[0].Seq != 1 {
		t.Errorf("slow subscriber queued %d records", len(q))
	}
	slow.Close()
	w.Add(Record{Kind: KindNote})
	if q := slow.Take(); len(q) != 0 {
		t.Errorf("closed subscription got %d records", len(q))
	}
	fast.Close()
}
