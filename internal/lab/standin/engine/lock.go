package engine

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

// dirLock is an exclusive flock on the data directory's lock file: the
// stand-in's model of a ReadWriteOnce volume that only one instance may use.
type dirLock struct{ f *os.File }

// lockDir takes the lock on path, waiting while another process holds it.
// waiting is called with the holder's description when the wait starts and
// every 30 s after.
func lockDir(ctx context.Context, path string, waiting func(holder string)) (*dirLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", path, err)
	}
	var lastSaid time.Time
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if err != syscall.EWOULDBLOCK && err != syscall.EINTR {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if waiting != nil && time.Since(lastSaid) >= 30*time.Second {
			b, _ := os.ReadFile(path)
			waiting(strings.TrimSpace(string(b)))
			lastSaid = time.Now()
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("gave up waiting for the lock on %s: %w", path, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	host, _ := os.Hostname()
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "pid=%d host=%s since=%s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
	}
	return &dirLock{f: f}, nil
}

func (l *dirLock) release() {
	if l != nil && l.f != nil {
		syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
		l.f.Close()
		l.f = nil
	}
}
