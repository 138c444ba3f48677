package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func open(t *testing.T, dir string, o Options) (*DB, *strings.Builder) {
	t.Helper()
	var log strings.Builder
	o.Dir = dir
	o.Logf = func(f string, a ...any) { fmt.Fprintf(&log, f+"\n", a...) }
	if o.FlushInterval == 0 {
		o.FlushInterval = time.Hour // tests flush explicitly
	}
	db, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return db, &log
}

// crash stops db as a SIGKILL would: the journal buffer is dropped, no
// checkpoint, the lock released by the (simulated) death of the process.
func crash(db *DB) {
	close(db.stop)
	db.wg.Wait()
	db.j.mu.Lock()
	db.j.buf = nil
	db.j.mu.Unlock()
	db.j.close()
	db.lock.release()
}

func get(t *testing.T, db *DB, g string, subs ...string) string {
	t.Helper()
	v, ok := db.Get(g, subs)
	if !ok {
		return "<undef>"
	}
	return v
}

func TestCrashKeepsFlushedOnly(t *testing.T) {
	dir := t.TempDir()
	db, _ := open(t, dir, Options{})
	s := db.NewSession()
	s.Set("g", []string{"1"}, "flushed")
	if err := db.flushJournal(); err != nil {
		t.Fatal(err)
	}
	s.Set("g", []string{"2"}, "buffered")
	crash(db)

	db, log := open(t, dir, Options{})
	defer db.Close()
	if got := get(t, db, "g", "1"); got != "flushed" {
		t.Errorf("flushed update lost: %q", got)
	}
	if got := get(t, db, "g", "2"); got != "<undef>" {
		t.Errorf("unflushed update survived a crash: %q (the buffer must be lost)", got)
	}
	if !strings.Contains(log.String(), "1 journal records replayed") {
		t.Errorf("recovery log: %s", log)
	}
}

func TestGracefulCloseKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	db, _ := open(t, dir, Options{})
	s := db.NewSession()
	for i := 1; i <= 1000; i++ {
		s.Set("g", []string{fmt.Sprint(i)}, fmt.Sprint("v", i))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, _ = open(t, dir, Options{})
	defer db.Close()
	for i := 1; i <= 1000; i++ {
		if got := get(t, db, "g", fmt.Sprint(i)); got != fmt.Sprint("v", i) {
			t.Fatalf("node %d = %q after graceful close", i, got)
		}
	}
}

func TestTornJournalTail(t *testing.T) {
	dir := t.TempDir()
	db, _ := open(t, dir, Options{})
	s := db.NewSession()
	s.Set("g", nil, "one")
	s.Set("h", nil, "two")
	db.flushJournal()
	jfile := db.j.f.Name()
	crash(db)
	// Cut the last record in half: a write torn by the crash.
	b, err := os.ReadFile(jfile)
	if err != nil {
		t.Fatal(err)
	}
	_, n, err := readRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	cut := n + (len(b)-n)/2
	if err := os.WriteFile(jfile, b[:cut], 0o644); err != nil {
		t.Fatal(err)
	}
	db, log := open(t, dir, Options{})
	if got := get(t, db, "g"); got != "one" {
		t.Errorf("record before the torn one lost: %q", got)
	}
	if got := get(t, db, "h"); got != "<undef>" {
		t.Errorf("torn record applied: %q", got)
	}
	if !strings.Contains(log.String(), "torn last record") {
		t.Errorf("torn tail not reported: %s", log)
	}
	// And the instance goes on working and recovering after it.
	db.NewSession().Set("h", nil, "again")
	db.Close()
	db, _ = open(t, dir, Options{})
	defer db.Close()
	if got := get(t, db, "h"); got != "again" {
		t.Errorf("after a torn tail, later updates lost: %q", got)
	}
}

func TestCorruptChecksumIsTorn(t *testing.T) {
	b := appendRecord(nil, &record{op: opSet, global: "g", value: "x"})
	b[len(b)-1] ^= 0xff
	if _, _, err := readRecord(b); err == nil {
		t.Fatal("flipped byte not detected")
	}
}

func TestRecoveryRollsBackIncompleteTransactions(t *testing.T) {
	dir := t.TempDir()
	db, _ := open(t, dir, Options{})
	a, b := db.NewSession(), db.NewSession()
	a.Set("acct", []string{"1"}, "100")
	a.TStart()
	a.Set("acct", []string{"1"}, "70")
	a.Set("acct", []string{"2"}, "30")
	a.Update("ops", nil, func(string, bool) (string, error) { return "1", nil }) // $increment
	b.TStart()
	b.Set("acct", []string{"3"}, "committed")
	b.TCommit()
	db.flushJournal() // the open transaction reaches the journal
	crash(db)

	db, log := open(t, dir, Options{})
	defer db.Close()
	want := map[string]string{"1": "100", "2": "<undef>", "3": "committed"}
	for k, v := range want {
		if got := get(t, db, "acct", k); got != v {
			t.Errorf("acct(%s) = %q, want %q", k, got, v)
		}
	}
	if got := get(t, db, "ops"); got != "1" {
		t.Errorf("$increment undone by rollback: %q", got)
	}
	if !strings.Contains(log.String(), "1 incomplete transactions rolled back") {
		t.Errorf("log: %s", log)
	}
}

func TestOpenTransactionAcrossCheckpoint(t *testing.T) {
	dir := t.TempDir()
	db, _ := open(t, dir, Options{})
	s := db.NewSession()
	s.Set("x", nil, "before")
	s.TStart()
	s.Set("x", nil, "inside")
	if err := db.Checkpoint(); err != nil { // the database file holds "inside" and its undo
		t.Fatal(err)
	}
	crash(db)
	db, _ = open(t, dir, Options{})
	defer db.Close()
	if got := get(t, db, "x"); got != "before" {
		t.Errorf("uncommitted value from the database file survived recovery: %q", got)
	}
}

func TestRuntimeRollbackAndKill(t *testing.T) {
	db := Memory()
	s := db.NewSession()
	s.Set("k", []string{"1"}, "a")
	s.Set("k", []string{"1", "2"}, "b")
	s.TStart()
	s.Kill("k", []string{"1"})
	s.Set("k", []string{"9"}, "new")
	if db.Data("k", []string{"1"}) != 0 {
		t.Fatal("kill did not remove the subtree")
	}
	if err := s.TRollback(); err != nil {
		t.Fatal(err)
	}
	if got := get(t, db, "k", "1", "2"); got != "b" {
		t.Errorf("rollback did not restore the killed subtree: %q", got)
	}
	if db.Data("k", []string{"9"}) != 0 {
		t.Error("rollback kept a node set in the transaction")
	}
	if err := s.TCommit(); err != ErrNotInTxn {
		t.Errorf("TCOMMIT outside a transaction: %v", err)
	}
}

func TestSecondOpenWaitsForLock(t *testing.T) {
	dir := t.TempDir()
	db, _ := open(t, dir, Options{})
	waited := make(chan string, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := Open(ctx, Options{Dir: dir, OnLockWait: func(h string) {
		select {
		case waited <- h:
		default:
		}
	}})
	if err == nil {
		t.Fatal("second open on a locked directory succeeded")
	}
	select {
	case h := <-waited:
		if !strings.Contains(h, fmt.Sprintf("pid=%d", os.Getpid())) {
			t.Errorf("holder description %q", h)
		}
	default:
		t.Error("no lock-wait notice")
	}
	db.Close()
	db2, _ := open(t, dir, Options{})
	db2.Close()
}

func TestFullBufferFlushes(t *testing.T) {
	dir := t.TempDir()
	db, _ := open(t, dir, Options{BufferSize: 4096})
	s := db.NewSession()
	for i := 0; i < 200; i++ {
		s.Set("g", []string{fmt.Sprint(i)}, strings.Repeat("x", 100))
	}
	if db.LastFlush().Records == 0 {
		t.Fatal("a full buffer was not flushed")
	}
	crash(db)
	db, _ = open(t, dir, Options{})
	defer db.Close()
	if db.Data("g", []string{"100"}) != 1 {
		t.Error("updates flushed because the buffer filled were lost")
	}
}

func TestCollation(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1", "2", -1}, {"2", "10", -1}, {"-1", "1", -1}, {"1.5", "2", -1}, {"10", "a", -1},
		{"01", "1", 1}, {"a", "b", -1}, {"b", "a", 1}, {"1", "1", 0}, {".5", "1", -1},
	}
	for _, tc := range tests {
		if got := Compare(tc.a, tc.b); got != tc.want {
			t.Errorf("Compare(%q,%q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
	for s, want := range map[string]bool{"0": true, "1": true, "-1": true, ".5": true, "0.5": false, "01": false, "1.0": false, "": false, "-": false, "1e3": false, "-0": false, "1.": false} {
		if IsCanonicalNumber(s) != want {
			t.Errorf("IsCanonicalNumber(%q) != %v", s, want)
		}
	}
}

func TestDatabaseFileRejectsCorruption(t *testing.T) {
	dir := t.TempDir()
	db, _ := open(t, dir, Options{})
	db.NewSession().Set("g", nil, "v")
	db.Close()
	path := filepath.Join(dir, "mgr", "IRIS.DAT")
	b, _ := os.ReadFile(path)
	os.WriteFile(path, b[:len(b)-3], 0o644)
	_, err := Open(context.Background(), Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("truncated database file: %v", err)
	}
}

func TestFreezeStopsCheckpoints(t *testing.T) {
	dir := t.TempDir()
	db, _ := open(t, dir, Options{CheckpointInterval: 50 * time.Millisecond})
	defer db.Close()
	s := db.NewSession()
	s.Set("g", nil, "before")
	if err := db.Freeze(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "mgr", "IRIS.DAT")
	frozen, _ := os.ReadFile(path)
	s.Set("g", nil, "during") // updates go on while frozen
	time.Sleep(200 * time.Millisecond)
	if now, _ := os.ReadFile(path); string(now) != string(frozen) {
		t.Fatal("the database file changed while frozen")
	}
	if !strings.Contains(string(frozen), "before") {
		t.Error("freeze did not checkpoint first")
	}
	if err := db.Thaw(); err != nil {
		t.Fatal(err)
	}
	if err := db.Thaw(); err == nil {
		t.Error("thaw of a database that is not frozen succeeded")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if now, _ := os.ReadFile(path); strings.Contains(string(now), "during") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint after thaw")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
