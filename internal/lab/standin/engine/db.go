// Package engine is the stand-in's database: globals in memory, every update
// appended to a journal buffer that is flushed (written and fsynced) on a
// timer, when full and at synchronous commits, a database file checkpointed
// periodically, and recovery from both at startup. What survives a crash is
// exactly what reached the journal file or the database file.
package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Options configure a database on disk.
type Options struct {
	// Dir is the data directory (ISC_DATA_DIRECTORY); files go under Dir/mgr.
	Dir string
	// FlushInterval is the journal write cycle; default 2 s, as IRIS.
	FlushInterval time.Duration
	// BufferSize is the journal buffer in bytes; a full buffer is flushed at
	// once. Default 64 MiB (IRIS's jrnbufs default).
	BufferSize int
	// SynchCommit makes TCOMMIT wait until the journal is durable.
	SynchCommit bool
	// CheckpointInterval is how often the database file is rewritten;
	// default 30 s.
	CheckpointInterval time.Duration
	// Logf receives recovery, lock and flush messages; nil discards.
	Logf func(format string, args ...any)
	// OnFlush is called after every completed journal flush (not logged:
	// it happens every FlushInterval).
	OnFlush func(FlushInfo)
	// OnLockWait is called when Open starts waiting for the data directory
	// lock, and every 30 s while it waits, with the holder's description.
	OnLockWait func(holder string)
}

// Errors an update can fail with.
var (
	ErrClosed   = errors.New("database is shut down")
	ErrJournal  = errors.New("journal cannot be written; updates are frozen")
	ErrNotInTxn = errors.New("no transaction in progress")
)

// undo restores one node's value as it was before a transactional update.
type undo struct {
	global string
	subs   []string
	old    string
	had    bool
}

// DB is a set of globals with their journal.
type DB struct {
	mu      sync.Mutex
	globals map[string]*node
	open    map[uint64][]undo // undo logs of transactions in progress
	nextTid uint64
	closed  bool
	frozen  bool  // external freeze: no checkpoint until thawed
	failed  error // first journal failure; updates are frozen after it

	opts  Options
	j     *journal // nil for a memory database
	mgr   string
	lock  *dirLock
	stop  chan struct{}
	kick  chan struct{}
	wg    sync.WaitGroup
	logf  func(string, ...any)
	flush FlushInfo
}

// Memory returns a database that lives only in memory (for tests and tools).
func Memory() *DB {
	return &DB{globals: map[string]*node{}, open: map[uint64][]undo{}, nextTid: 1, logf: func(string, ...any) {}}
}

// Open takes the exclusive lock on o.Dir (waiting, and saying so through
// Logf, while another instance holds it), recovers the database from the
// database file and the journal, and starts the journal flusher and the
// checkpointer. ctx bounds only the wait for the lock.
func Open(ctx context.Context, o Options) (*DB, error) {
	if o.Dir == "" {
		return nil, errors.New("engine: no data directory given")
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 2 * time.Second
	}
	if o.BufferSize <= 0 {
		o.BufferSize = 64 << 20
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = 30 * time.Second
	}
	db := Memory()
	db.opts = o
	if o.Logf != nil {
		db.logf = o.Logf
	}
	db.mgr = filepath.Join(o.Dir, "mgr")
	jdir := filepath.Join(db.mgr, "journal")
	if err := os.MkdirAll(jdir, 0o755); err != nil {
		return nil, fmt.Errorf("engine: create %s (is the data volume mounted and writable?): %w", jdir, err)
	}
	lockPath := filepath.Join(db.mgr, "iris.lck")
	lock, err := lockDir(ctx, lockPath, func(holder string) {
		db.logf("waiting for the exclusive lock on %s: the data directory is in use by another instance (%s)", lockPath, holder)
		if o.OnLockWait != nil {
			o.OnLockWait(holder)
		}
	})
	if err != nil {
		return nil, err
	}
	db.lock = lock
	db.j = &journal{dir: jdir, limit: o.BufferSize, onFlush: db.flushed}
	if err := db.recover(); err != nil {
		lock.release()
		return nil, err
	}
	if err := db.Checkpoint(); err != nil {
		lock.release()
		return nil, err
	}
	db.stop = make(chan struct{})
	db.kick = make(chan struct{}, 1)
	db.wg.Add(1)
	go db.background()
	return db, nil
}

func (db *DB) flushed(fi FlushInfo) {
	db.flush = fi
	if db.opts.OnFlush != nil {
		db.opts.OnFlush(fi)
	}
}

// background runs the journal write cycle and the periodic checkpoint.
func (db *DB) background() {
	defer db.wg.Done()
	ft := time.NewTicker(db.opts.FlushInterval)
	defer ft.Stop()
	ct := time.NewTicker(db.opts.CheckpointInterval)
	defer ct.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-ft.C:
			db.flushJournal()
		case <-db.kick:
			db.flushJournal()
		case <-ct.C:
			if db.Frozen() {
				continue
			}
			if err := db.Checkpoint(); err != nil {
				db.logf("checkpoint failed: %v", err)
			}
		}
	}
}

func (db *DB) flushJournal() error {
	if err := db.j.flush(); err != nil {
		db.mu.Lock()
		if db.failed == nil {
			db.failed = err
			db.logf("%v: updates are frozen until the instance is restarted", err)
		}
		db.mu.Unlock()
		return err
	}
	return nil
}

// Freeze makes the database file consistent and stops writing it (what
// Backup.General.ExternalFreeze does before a volume snapshot): the journal
// is flushed, a checkpoint written, and no checkpoint follows until Thaw.
// Updates go on, into memory and the journal.
func (db *DB) Freeze() error {
	if db.j == nil {
		return errors.New("a memory database has no files to freeze")
	}
	if err := db.flushJournal(); err != nil {
		return err
	}
	if err := db.Checkpoint(); err != nil {
		return err
	}
	db.mu.Lock()
	db.frozen = true
	db.mu.Unlock()
	db.logf("database file frozen for an external backup")
	return nil
}

// Thaw ends a Freeze.
func (db *DB) Thaw() error {
	db.mu.Lock()
	was := db.frozen
	db.frozen = false
	db.mu.Unlock()
	if !was {
		return errors.New("the database is not frozen")
	}
	db.logf("database file thawed")
	return nil
}

// Frozen reports whether the database is frozen.
func (db *DB) Frozen() bool {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.frozen
}

// LastFlush returns the last completed journal flush.
func (db *DB) LastFlush() FlushInfo {
	if db.j == nil {
		return FlushInfo{}
	}
	db.j.flushMu.Lock()
	defer db.j.flushMu.Unlock()
	return db.flush
}

// Close shuts down gracefully: flush the journal, checkpoint, release the
// lock. Transactions still open are rolled back first, as at IRIS shutdown.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	tids := make([]uint64, 0, len(db.open))
	for tid := range db.open {
		tids = append(tids, tid)
	}
	db.mu.Unlock()
	for _, tid := range tids {
		db.rollback(tid)
	}
	if db.j == nil {
		db.mu.Lock()
		db.closed = true
		db.mu.Unlock()
		return nil
	}
	close(db.stop)
	db.wg.Wait()
	err := db.Checkpoint()
	db.mu.Lock()
	db.closed = true
	db.mu.Unlock()
	db.j.close()
	db.lock.release()
	return err
}

// root returns the node at global(subs), creating the path when create.
func (db *DB) lookup(global string, subs []string, create bool) *node {
	n := db.globals[global]
	if n == nil {
		if !create {
			return nil
		}
		n = &node{}
		db.globals[global] = n
	}
	for _, s := range subs {
		if n = n.child(s, create); n == nil {
			return nil
		}
	}
	return n
}

// prune removes empty nodes along global(subs) bottom up.
func (db *DB) prune(global string, subs []string) {
	path := make([]*node, 0, len(subs)+1)
	n := db.globals[global]
	for i := 0; n != nil; i++ {
		path = append(path, n)
		if i == len(subs) {
			break
		}
		n = n.kids[subs[i]]
	}
	for i := len(path) - 1; i >= 0; i-- {
		if !path[i].empty() {
			return
		}
		if i == 0 {
			delete(db.globals, global)
		} else {
			path[i-1].remove(subs[i-1])
		}
	}
}

// apply performs r on the tree and, for a transactional update, records how
// to undo it. Caller holds mu.
func (db *DB) apply(r *record) {
	switch r.op {
	case opSet:
		n := db.lookup(r.global, r.subs, true)
		if r.tid != 0 {
			db.open[r.tid] = append(db.open[r.tid], undo{r.global, r.subs, n.val, n.has})
		}
		n.val, n.has = r.value, true
	case opKill:
		n := db.lookup(r.global, r.subs, false)
		if n == nil {
			return
		}
		if r.tid != 0 {
			n.walk(append([]string(nil), r.subs...), func(subs []string, v string) {
				db.open[r.tid] = append(db.open[r.tid], undo{r.global, append([]string(nil), subs...), v, true})
			})
		}
		if len(r.subs) == 0 {
			delete(db.globals, r.global)
			return
		}
		parent := db.lookup(r.global, r.subs[:len(r.subs)-1], false)
		parent.remove(r.subs[len(r.subs)-1])
		db.prune(r.global, r.subs[:len(r.subs)-1])
	case opZKill:
		n := db.lookup(r.global, r.subs, false)
		if n == nil {
			return
		}
		if r.tid != 0 && n.has {
			db.open[r.tid] = append(db.open[r.tid], undo{r.global, r.subs, n.val, true})
		}
		n.val, n.has = "", false
		db.prune(r.global, r.subs)
	case opTStart:
		db.open[r.tid] = nil
		if r.tid >= db.nextTid {
			db.nextTid = r.tid + 1
		}
	case opTCommit, opTRollback:
		delete(db.open, r.tid)
	}
}

// update applies r and journals it. Caller holds mu.
func (db *DB) update(r *record) error {
	if db.closed {
		return ErrClosed
	}
	if db.failed != nil {
		return fmt.Errorf("%w: %v", ErrJournal, db.failed)
	}
	db.apply(r)
	if db.j != nil && db.j.append(r) {
		// A full buffer is flushed by the writer, as IRIS does.
		if err := db.j.flush(); err != nil {
			db.failed = err
			return fmt.Errorf("%w: %v", ErrJournal, err)
		}
	}
	return nil
}

// rollback undoes transaction tid, journaling the compensating updates
// outside the transaction and then the rollback itself.
func (db *DB) rollback(tid uint64) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	log, ok := db.open[tid]
	if !ok {
		return nil
	}
	for i := len(log) - 1; i >= 0; i-- {
		u := log[i]
		r := &record{op: opZKill, global: u.global, subs: u.subs}
		if u.had {
			r = &record{op: opSet, global: u.global, subs: u.subs, value: u.old}
		}
		if err := db.update(r); err != nil {
			return err
		}
	}
	return db.update(&record{op: opTRollback, tid: tid})
}

// Get returns the value of global(subs).
func (db *DB) Get(global string, subs []string) (string, bool) {
	db.mu.Lock()
	defer db.mu.Unlock()
	n := db.lookup(global, subs, false)
	if n == nil || !n.has {
		return "", false
	}
	return n.val, true
}

// Data returns $DATA of global(subs): 0, 1, 10 or 11.
func (db *DB) Data(global string, subs []string) int {
	db.mu.Lock()
	defer db.mu.Unlock()
	n := db.lookup(global, subs, false)
	if n == nil {
		return 0
	}
	d := 0
	if n.has {
		d++
	}
	if len(n.kids) > 0 {
		d += 10
	}
	return d
}

// Order returns the subscript after (dir 1) or before (dir -1) the last of
// subs at its level; "" as the last subscript starts from the edge, and ""
// returned means there is none.
func (db *DB) Order(global string, subs []string, dir int) string {
	if len(subs) == 0 {
		return ""
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	parent := db.lookup(global, subs[:len(subs)-1], false)
	return parent.next(subs[len(subs)-1], dir)
}

// Walk calls fn for every node of global(subs) and below holding a value, in
// collation order (what ZWRITE prints).
func (db *DB) Walk(global string, subs []string, fn func(subs []string, value string)) {
	db.mu.Lock()
	n := db.lookup(global, subs, false)
	type kv struct {
		subs []string
		val  string
	}
	var all []kv
	if n != nil {
		n.walk(append([]string(nil), subs...), func(s []string, v string) {
			all = append(all, kv{append([]string(nil), s...), v})
		})
	}
	db.mu.Unlock()
	for _, e := range all {
		fn(e.subs, e.val)
	}
}

// Names returns the names of the globals that exist, sorted.
func (db *DB) Names() []string {
	db.mu.Lock()
	names := make([]string, 0, len(db.globals))
	for g := range db.globals {
		names = append(names, g)
	}
	db.mu.Unlock()
	sort.Strings(names)
	return names
}

// Session is one process's view: it carries the transaction in progress.
type Session struct {
	db    *DB
	tid   uint64
	level int
}

// NewSession starts a session on db.
func (db *DB) NewSession() *Session { return &Session{db: db} }

// TLevel returns $TLEVEL.
func (s *Session) TLevel() int { return s.level }

// Set sets global(subs) to value.
func (s *Session) Set(global string, subs []string, value string) error {
	s.db.mu.Lock()
	defer s.db.mu.Unlock()
	return s.db.update(&record{op: opSet, tid: s.tid, global: global, subs: subs, value: value})
}

// Kill removes global(subs) and everything below it.
func (s *Session) Kill(global string, subs []string) error {
	s.db.mu.Lock()
	defer s.db.mu.Unlock()
	return s.db.update(&record{op: opKill, tid: s.tid, global: global, subs: subs})
}

// Update atomically replaces global(subs) with fn(old, defined) and returns
// the new value, journaled outside any transaction: $INCREMENT is never
// undone by a rollback.
func (s *Session) Update(global string, subs []string, fn func(old string, defined bool) (string, error)) (string, error) {
	s.db.mu.Lock()
	defer s.db.mu.Unlock()
	var old string
	var had bool
	if n := s.db.lookup(global, subs, false); n != nil {
		old, had = n.val, n.has
	}
	v, err := fn(old, had)
	if err != nil {
		return "", err
	}
	return v, s.db.update(&record{op: opSet, global: global, subs: subs, value: v})
}

// TStart begins a (possibly nested) transaction.
func (s *Session) TStart() error {
	if s.level > 0 {
		s.level++
		return nil
	}
	s.db.mu.Lock()
	defer s.db.mu.Unlock()
	tid := s.db.nextTid
	s.db.nextTid++
	if err := s.db.update(&record{op: opTStart, tid: tid}); err != nil {
		return err
	}
	s.tid, s.level = tid, 1
	return nil
}

// TCommit ends one level; the outermost commits. With SynchCommit it
// returns only once the commit is durable in the journal file.
func (s *Session) TCommit() error {
	if s.level == 0 {
		return ErrNotInTxn
	}
	if s.level--; s.level > 0 {
		return nil
	}
	tid := s.tid
	s.tid = 0
	s.db.mu.Lock()
	err := s.db.update(&record{op: opTCommit, tid: tid})
	s.db.mu.Unlock()
	if err != nil || s.db.j == nil {
		return err
	}
	if s.db.opts.SynchCommit {
		return s.db.flushJournal()
	}
	// Asynchronous commit: request a flush, do not wait for it.
	select {
	case s.db.kick <- struct{}{}:
	default:
	}
	return nil
}

// TRollback undoes the whole transaction in progress.
func (s *Session) TRollback() error {
	if s.level == 0 {
		return ErrNotInTxn
	}
	tid := s.tid
	s.tid, s.level = 0, 0
	return s.db.rollback(tid)
}

// Close ends the session, rolling back a transaction left open (as HALT).
func (s *Session) Close() error {
	if s.level > 0 {
		return s.TRollback()
	}
	return nil
}
