package engine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

const datMagic = "IRISCHAOS-DAT 1\n"

func (db *DB) datPath() string { return filepath.Join(db.mgr, "IRIS.DAT") }

// Checkpoint writes the database file: flush the journal, switch to a new
// journal generation, write every node and the undo logs of open
// transactions to a new file, fsync, rename it over IRIS.DAT, then delete
// the journal files it makes redundant. A crash at any point leaves either
// the old file plus all journals or the new file plus the new journal.
func (db *DB) Checkpoint() error {
	if db.j == nil {
		return nil
	}
	start := time.Now()
	db.mu.Lock()
	gen := db.j.gen + 1
	if err := db.j.rotate(gen); err != nil {
		db.mu.Unlock()
		return err
	}
	b := []byte(datMagic)
	count := uint64(0)
	add := func(r *record) { b = appendRecord(b, r); count++ }
	add(&record{op: opHeader, tid: gen, value: time.Now().UTC().Format(time.RFC3339Nano)})
	names := make([]string, 0, len(db.globals))
	for g := range db.globals {
		names = append(names, g)
	}
	sort.Strings(names)
	nodes := 0
	for _, g := range names {
		db.globals[g].walk(nil, func(subs []string, v string) {
			add(&record{op: opSet, global: g, subs: subs, value: v})
			nodes++
		})
	}
	tids := make([]uint64, 0, len(db.open))
	for tid := range db.open {
		tids = append(tids, tid)
	}
	sort.Slice(tids, func(i, j int) bool { return tids[i] < tids[j] })
	for _, tid := range tids {
		add(&record{op: opTStart, tid: tid})
		for _, u := range db.open[tid] {
			flag := "0"
			if u.had {
				flag = "1"
			}
			add(&record{op: opUndo, tid: tid, global: u.global, subs: u.subs, value: flag + u.old})
		}
	}
	db.mu.Unlock()
	b = appendRecord(b, &record{op: opEnd, tid: count})

	path := db.datPath()
	tmp := path + ".new"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("checkpoint: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("checkpoint: fsync %s: %w", tmp, err)
	}
	f.Close()
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := syncDir(db.mgr); err != nil {
		return err
	}
	gens, err := journalGens(db.j.dir)
	if err != nil {
		return err
	}
	for _, g := range gens {
		if g < gen {
			os.Remove(filepath.Join(db.j.dir, journalName(g)))
		}
	}
	db.logf("checkpoint: %d nodes, %d open transactions written to %s in %s; journal continues in %s",
		nodes, len(tids), path, time.Since(start).Round(time.Millisecond), journalName(gen))
	return nil
}

// recover loads the database file, replays the journal files it does not
// cover, drops a torn last record, and rolls back transactions left open.
func (db *DB) recover() error {
	start := time.Now()
	gen, err := db.loadDat()
	if err != nil {
		return err
	}
	gens, err := journalGens(db.j.dir)
	if err != nil {
		return fmt.Errorf("recovery: %w", err)
	}
	replayed := 0
	maxGen := gen
	var live []uint64
	for _, g := range gens {
		if g >= gen {
			live = append(live, g)
		}
	}
	for i, g := range live {
		maxGen = max(maxGen, g)
		path := filepath.Join(db.j.dir, journalName(g))
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("recovery: %w", err)
		}
		off := 0
		for off < len(b) {
			r, n, err := readRecord(b[off:])
			if err != nil {
				break
			}
			db.apply(&r)
			off += n
			replayed++
		}
		if off < len(b) {
			if i != len(live)-1 {
				return fmt.Errorf("recovery: journal %s is corrupt at offset %d of %d and is not the last journal file; the data directory is damaged, restore it from a backup", path, off, len(b))
			}
			db.logf("recovery: journal %s has a torn last record: dropped %d bytes at offset %d (a write cut by a crash)", path, len(b)-off, off)
			if err := os.Truncate(path, int64(off)); err != nil {
				return fmt.Errorf("recovery: truncate torn journal %s: %w", path, err)
			}
		}
	}
	tids := make([]uint64, 0, len(db.open))
	for tid := range db.open {
		tids = append(tids, tid)
	}
	sort.Slice(tids, func(i, j int) bool { return tids[i] > tids[j] })
	for _, tid := range tids {
		log := db.open[tid]
		for i := len(log) - 1; i >= 0; i-- {
			u := log[i]
			if u.had {
				db.apply(&record{op: opSet, global: u.global, subs: u.subs, value: u.old})
			} else {
				db.apply(&record{op: opZKill, global: u.global, subs: u.subs})
			}
		}
		delete(db.open, tid)
	}
	db.j.gen = maxGen
	db.logf("recovery: database file generation %d, %d journal records replayed from %d files, %d incomplete transactions rolled back, in %s",
		gen, replayed, len(live), len(tids), time.Since(start).Round(time.Millisecond))
	return nil
}

// loadDat reads IRIS.DAT into the tree and returns the journal generation
// it continues with (0 without a database file).
func (db *DB) loadDat() (uint64, error) {
	path := db.datPath()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		db.logf("recovery: no database file %s: new database", path)
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("recovery: %w", err)
	}
	corrupt := func(why string) error {
		return fmt.Errorf("recovery: database file %s is corrupt (%s); it is written by rename and should never be; restore the data directory from a backup", path, why)
	}
	if !bytes.HasPrefix(b, []byte(datMagic)) {
		return 0, corrupt("bad header")
	}
	b = b[len(datMagic):]
	var gen, count uint64
	for {
		r, n, err := readRecord(b)
		if err != nil {
			return 0, corrupt("truncated")
		}
		b = b[n:]
		switch r.op {
		case opHeader:
			gen = r.tid
		case opSet, opTStart:
			db.apply(&r)
		case opUndo:
			if r.value == "" {
				return 0, corrupt("bad undo entry")
			}
			db.open[r.tid] = append(db.open[r.tid], undo{r.global, r.subs, r.value[1:], r.value[0] == '1'})
		case opEnd:
			if r.tid != count {
				return 0, corrupt(fmt.Sprintf("%d records, trailer says %d", count, r.tid))
			}
			return gen, nil
		default:
			return 0, corrupt(fmt.Sprintf("unknown record %d", r.op))
		}
		count++
	}
}
