package progress

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

type buf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *buf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}
func (b *buf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// In CI (not a terminal): log lines as they come, one line per step when it
// ends, no status line in between.
func TestNotATerminal(t *testing.T) {
	var b buf
	p := NewWith(&b, false, 5*time.Millisecond)
	s := p.Start("stack deploy")
	s.Await("deployment/iris rolled out")
	p.Write([]byte("  pod iris-1: Pending\n"))
	time.Sleep(30 * time.Millisecond)
	s.Await("IRIS to answer a session")
	s.Done(nil)
	s.Done(errors.New("twice")) // a second Done is ignored
	p.Start("recovery").Done(errors.New("no acknowledged write"))
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 3 || lines[0] != "  pod iris-1: Pending" || !strings.HasPrefix(lines[1], "stack deploy: done in ") ||
		!strings.HasPrefix(lines[2], "recovery: failed after ") || !strings.HasSuffix(lines[2], ": no acknowledged write") {
		t.Errorf("output:\n%s", b.String())
	}
	if strings.Contains(b.String(), "\r") {
		t.Error("carriage return written to a log")
	}
}

// On a terminal: the status line names the step, what it awaits and the
// elapsed time, is redrawn in place, and gets out of the way of log lines.
func TestTerminal(t *testing.T) {
	var b buf
	p := NewWith(&b, true, 5*time.Millisecond)
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := t0
	p.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := p.Start("cluster up")
	s.Await("nodes Ready")
	mu.Lock()
	now = t0.Add(12 * time.Second)
	mu.Unlock()
	time.Sleep(30 * time.Millisecond) // a few ticks
	p.Write([]byte("node-2: Ready\n"))
	s.Done(nil)
	out := b.String()
	for _, want := range []string{
		"cluster up: waiting for nodes Ready (12s)",  // redrawn with the time elapsed
		"\r\033[Knode-2: Ready\ncluster up: waiting", // cleared before a log line, drawn again after
		"\r\033[Kcluster up: done in 12s\n",          // the one line that stays
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%q", want, out)
		}
	}
	if n := strings.Count(out, "(12s)"); n < 2 {
		t.Errorf("status line redrawn %d times with 12s, want several:\n%q", n, out)
	}
}
