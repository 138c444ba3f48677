package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FlushInfo describes one completed journal flush. Every update appended
// before Captured is durable once the flush completes (at Durable).
type FlushInfo struct {
	Captured, Durable time.Time
	Records, Bytes    int
	File              string
}

// journal is the in-memory journal buffer and the journal file it is
// flushed to. Lock order: DB.mu, then flushMu, then mu.
type journal struct {
	dir   string
	limit int

	mu      sync.Mutex // guards buf, pending
	buf     []byte
	pending int

	flushMu sync.Mutex // serializes flushes and rotation; guards f, gen, spare
	f       *os.File
	gen     uint64
	spare   []byte

	onFlush func(FlushInfo)
}

func journalName(gen uint64) string { return fmt.Sprintf("%010d.jrn", gen) }

// journalGens lists the generations of the journal files in dir, ascending.
func journalGens(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var gens []uint64
	for _, e := range ents {
		n, ok := strings.CutSuffix(e.Name(), ".jrn")
		if !ok {
			continue
		}
		g, err := strconv.ParseUint(n, 10, 64)
		if err != nil {
			continue
		}
		gens = append(gens, g)
	}
	sort.Slice(gens, func(i, j int) bool { return gens[i] < gens[j] })
	return gens, nil
}

// append adds r to the buffer and reports whether the buffer is full.
func (j *journal) append(r *record) (full bool) {
	j.mu.Lock()
	j.buf = appendRecord(j.buf, r)
	j.pending++
	full = len(j.buf) >= j.limit
	j.mu.Unlock()
	return full
}

// flush writes the buffer to the journal file and fsyncs it.
func (j *journal) flush() error {
	j.flushMu.Lock()
	defer j.flushMu.Unlock()
	return j.flushLocked()
}

func (j *journal) flushLocked() error {
	j.mu.Lock()
	buf, n := j.buf, j.pending
	j.buf, j.pending = j.spare[:0], 0
	captured := time.Now()
	j.mu.Unlock()
	if len(buf) == 0 {
		j.spare = buf
		return nil
	}
	if j.f == nil {
		return fmt.Errorf("journal: no open journal file in %s", j.dir)
	}
	if _, err := j.f.Write(buf); err != nil {
		return fmt.Errorf("journal: write %s: %w", j.f.Name(), err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal: fsync %s: %w", j.f.Name(), err)
	}
	info := FlushInfo{Captured: captured, Durable: time.Now(), Records: n, Bytes: len(buf), File: j.f.Name()}
	j.spare = buf[:0]
	if j.onFlush != nil {
		j.onFlush(info)
	}
	return nil
}

// rotate flushes the buffer and starts journal file gen; later flushes go
// there.
func (j *journal) rotate(gen uint64) error {
	j.flushMu.Lock()
	defer j.flushMu.Unlock()
	if err := j.flushLocked(); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(j.dir, journalName(gen)), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("journal: create: %w", err)
	}
	if err := syncDir(j.dir); err != nil {
		f.Close()
		return err
	}
	if j.f != nil {
		j.f.Close()
	}
	j.f, j.gen = f, gen
	return nil
}

func (j *journal) close() {
	j.flushMu.Lock()
	defer j.flushMu.Unlock()
	if j.f != nil {
		j.f.Close()
		j.f = nil
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}
