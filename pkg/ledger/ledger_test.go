package ledger

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir() + "/state"
	l, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := l.Pending(); err != nil || len(got) != 0 {
		t.Fatalf("empty ledger: %v, %v", got, err)
	}
	a, err := l.Record(Entry{Fault: "node-drain", Heal: HealUncordon, Node: "w1"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Record(Entry{Fault: "vm-poweroff", Heal: HealPowerOn, ProviderID: "aws:///z/i-1", Node: "w2"})
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == "" || a.ID == b.ID || a.Injected.IsZero() {
		t.Fatalf("ids %q %q, injected %v", a.ID, b.ID, a.Injected)
	}
	if err := l.MarkHealed(b.ID, errors.New("throttled")); err != nil {
		t.Fatal(err)
	}
	if err := l.MarkHealed(a.ID, nil); err != nil {
		t.Fatal(err)
	}

	// A second process (a new Open) sees the same state.
	l2, _ := Open(dir)
	pend, err := l2.Pending()
	if err != nil {
		t.Fatal(err)
	}
	if len(pend) != 1 || pend[0].ID != b.ID || pend[0].HealError != "throttled" || pend[0].ProviderID != "aws:///z/i-1" {
		t.Fatalf("pending = %+v", pend)
	}
	all, _ := l2.Entries()
	if len(all) != 2 || all[0].Pending() || all[0].Node != "w1" {
		t.Fatalf("entries = %+v", all)
	}
	if err := l2.MarkHealed(b.ID, nil); err != nil {
		t.Fatal(err)
	}
	if pend, _ := l2.Pending(); len(pend) != 0 {
		t.Fatalf("still pending: %+v", pend)
	}
}

func TestBadInput(t *testing.T) {
	if _, err := Open(""); err == nil {
		t.Fatal("empty dir accepted")
	}
	l, _ := Open(t.TempDir())
	if _, err := l.Record(Entry{}); err == nil {
		t.Fatal("entry without fault accepted")
	}
	if err := l.MarkHealed("nope", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Entries(); err == nil || !strings.Contains(err.Error(), `unknown fault "nope"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestTornLastLine(t *testing.T) {
	l, _ := Open(t.TempDir())
	l.now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	e, err := l.Record(Entry{Fault: "pod-delete", Pod: "iris-1"})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(l.Path(), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"op":"heal","id":"` + e.ID[:5])
	f.Close()
	pend, err := l.Pending()
	if err != nil || len(pend) != 1 || !pend[0].Injected.Equal(l.now()) {
		t.Fatalf("torn tail: %+v, %v", pend, err)
	}
	// A bad line followed by a good one is corruption, not a torn write.
	f, _ = os.OpenFile(l.Path(), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("\n")
	f.Close()
	if _, err := l.Record(Entry{Fault: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Entries(); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("corrupt middle line: err = %v", err)
	}
}

// TestCutsCompatible: a partition's cuts survive the file; a line written
// before cuts existed still reads, and an entry without cuts writes none.
func TestCutsCompatible(t *testing.T) {
	dir := t.TempDir()
	old := `{"op":"inject","entry":{"id":"old-1","fault":"vm-poweroff","heal":"poweron","provider_id":"aws:///z/i-1","injected":"2026-11-01T10:00:00Z"}}` + "\n"
	if err := os.WriteFile(dir+"/"+FileName, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	l, _ := Open(dir)
	until := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	cut := Cut{Node: "w1", Via: CutAgent, Namespace: "db", Pod: "irischaos-cut-w1-x", Image: "img",
		Rules: []string{"iptables -w -N IRISCHAOS-PARTITION"}, Undo: []string{"iptables -w -X IRISCHAOS-PARTITION"}, Until: until}
	if _, err := l.Record(Entry{Fault: "zone-outage", Heal: HealReconnect, Cuts: []Cut{cut, {Node: "w2", Via: CutProvider, ProviderID: "local://c/w2"}}}); err != nil {
		t.Fatal(err)
	}
	pend, err := l.Pending()
	if err != nil || len(pend) != 2 {
		t.Fatalf("pending %+v, %v", pend, err)
	}
	if pend[0].ID != "old-1" || pend[0].Cuts != nil || pend[0].ProviderID != "aws:///z/i-1" {
		t.Errorf("old entry %+v", pend[0])
	}
	if c := pend[1].Cuts; len(c) != 2 || c[0].Pod != cut.Pod || !c[0].Until.Equal(until) || c[0].Undo[0] != cut.Undo[0] || c[1].Via != CutProvider {
		t.Errorf("cuts %+v", c)
	}
	b, _ := os.ReadFile(dir + "/" + FileName)
	if strings.Count(string(b), `"cuts"`) != 1 || strings.Contains(string(b), `"provider_ids"`) {
		t.Errorf("file:\n%s", b)
	}
}
