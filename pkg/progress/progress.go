// Package progress shows long steps (cluster up, image import, stack deploy,
// waiting for recovery) as they run: on a terminal, one status line with the
// step, what it awaits and the elapsed time, redrawn in place every second;
// elsewhere (CI logs), one line when a step ends and nothing in between.
// Log lines written through the Printer keep flowing: on a terminal the
// status line is cleared before them and drawn again after.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Printer writes log lines and at most one step's status line to w.
type Printer struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	every time.Duration
	now   func() time.Time
	cur   *Step
	drawn bool // a status line is on screen (TTY)
}

// New returns a Printer on w; it redraws in place when w is a terminal.
func New(w io.Writer) *Printer { return NewWith(w, IsTerminal(w), time.Second) }

// NewWith returns a Printer on w, tty saying whether to redraw in place,
// every how often (tests).
func NewWith(w io.Writer, tty bool, every time.Duration) *Printer {
	return &Printer{w: w, tty: tty, every: every, now: time.Now}
}

// IsTerminal reports whether w is a terminal (and not, say, a CI log).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Write passes log lines through, keeping the status line below them.
func (p *Printer) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	n, err := p.w.Write(b)
	p.draw()
	return n, err
}

// Step is one long step; Await says what it waits for now, Done ends it.
type Step struct {
	p       *Printer
	what    string
	awaited string
	start   time.Time
	stop    chan struct{}
	once    sync.Once
}

// Start begins a step named what (e.g. "stack deploy"), ending any other.
func (p *Printer) Start(what string) *Step {
	s := &Step{p: p, what: what, start: p.now(), stop: make(chan struct{})}
	p.mu.Lock()
	if p.cur != nil {
		p.mu.Unlock()
		p.cur.Done(nil)
		p.mu.Lock()
	}
	p.cur = s
	p.draw()
	p.mu.Unlock()
	if p.tty {
		go s.tick()
	}
	return s
}

// Await says what the step waits for now ("deployment/iris rolled out").
// A nil Step (no progress shown) ignores it.
func (s *Step) Await(what string) {
	if s == nil {
		return
	}
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	s.awaited = what
	if s.p.cur == s {
		s.p.clear()
		s.p.draw()
	}
}

// Done ends the step with its outcome: one line, on any writer. A nil Step
// ignores it.
func (s *Step) Done(err error) {
	if s == nil {
		return
	}
	s.once.Do(func() {
		close(s.stop)
		p := s.p
		p.mu.Lock()
		defer p.mu.Unlock()
		p.clear()
		if p.cur == s {
			p.cur = nil
		}
		d := p.now().Sub(s.start).Round(100 * time.Millisecond)
		if err != nil {
			fmt.Fprintf(p.w, "%s: failed after %s: %v\n", s.what, d, err)
			return
		}
		fmt.Fprintf(p.w, "%s: done in %s\n", s.what, d)
	})
}

func (s *Step) tick() {
	t := time.NewTicker(s.p.every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.p.mu.Lock()
			if s.p.cur == s {
				s.p.clear()
				s.p.draw()
			}
			s.p.mu.Unlock()
		}
	}
}

// line is the status line: the step, what it awaits, the time elapsed.
func (s *Step) line(now time.Time) string {
	l := s.what
	if s.awaited != "" {
		l += ": waiting for " + s.awaited
	}
	return fmt.Sprintf("%s (%s)", l, now.Sub(s.start).Round(time.Second))
}

// clear removes the status line (TTY). Callers hold mu.
func (p *Printer) clear() {
	if p.tty && p.drawn {
		io.WriteString(p.w, "\r\033[K")
		p.drawn = false
	}
}

// draw writes the status line without a newline (TTY). Callers hold mu.
func (p *Printer) draw() {
	if !p.tty || p.cur == nil || p.drawn {
		return
	}
	l := p.cur.line(p.now())
	if w, _, err := termSize(p.w); err == nil && w > 4 && len(l) >= w {
		l = l[:w-4] + "..."
	}
	io.WriteString(p.w, strings.ReplaceAll(l, "\n", " "))
	p.drawn = true
}

func termSize(w io.Writer) (int, int, error) {
	if f, ok := w.(*os.File); ok {
		return term.GetSize(int(f.Fd()))
	}
	return 0, 0, fmt.Errorf("not a terminal")
}
