package iris

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/irischaos/irischaos/pkg/podexec"
)

// errNotApplied marks an error after which the write was definitely not
// applied: nothing of it reached the database. Any other error leaves the
// write's fate unknown.
var errNotApplied = errors.New("not sent")

// errClosed is the error of a session that was closed on purpose.
var errClosed = errors.New("session closed")

// Session is one long-lived `iris session INSTANCE -U NAMESPACE` in a pod,
// fed line by line on stdin; its output is parsed as it streams back.
type Session struct {
	target podexec.Target
	stdin  *io.PipeWriter
	lines  chan Line
	cancel context.CancelFunc

	mu        sync.Mutex
	err       error // why the stream ended, once it has
	done      chan struct{}
	quit      chan struct{} // closed by Close: nobody reads lines any more
	closeOnce sync.Once
	zv        string
	out       tailBuffer // the end of what IRIS printed, for errors
}

// OpenSession starts the session and waits (up to timeout) for it to answer
// the hello line. An error means the database did not answer: nothing was
// written.
func OpenSession(ctx context.Context, e podexec.Execer, t podexec.Target, cmd []string, cmds Commands, timeout time.Duration) (*Session, error) {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	s := &Session{target: t, stdin: inW, lines: make(chan Line, 64), cancel: cancel, done: make(chan struct{}), quit: make(chan struct{})}
	var stderr tailBuffer
	go func() {
		err := e.Exec(sctx, t, cmd, inR, outW, &stderr)
		if err == nil {
			err = errors.New("session ended")
		}
		if tail := stderr.String(); tail != "" {
			err = fmt.Errorf("%w (stderr: %s)", err, tail)
		}
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		// Unblock a writer stuck on stdin (its Write fails) and end the
		// reader. Closing the write side gives the exec's stdin copier,
		// which may outlive the exec, a quiet EOF instead of an error it
		// would log.
		_ = inW.Close()
		outW.CloseWithError(err)
	}()
	go func() {
		defer close(s.done)
		defer close(s.lines)
		scanLines(io.TeeReader(outR, &s.out), func(l Line) {
			select {
			case s.lines <- l:
			case <-s.quit:
			}
		})
		// Drain so the exec goroutine never blocks on a full pipe.
		_, _ = io.Copy(io.Discard, outR)
	}()

	tctx, tcancel := context.WithTimeout(ctx, timeout)
	defer tcancel()
	if err := s.send(tctx, cmds.Hello()); err != nil {
		// IRIS may have refused the session and ended it before the
		// hello went in: say why, from what it printed.
		if r := s.refusalAfterEnd(tctx); r != nil {
			err = r
		}
		s.Close()
		return nil, fmt.Errorf("open session in %s: %w%s", t, errors.Join(errNotApplied, err), printed(s.out.String()))
	}
	for {
		l, err := s.next(tctx)
		if err != nil {
			// Ended or silent without a hello: what IRIS printed
			// instead is the best clue to why (a message this client
			// does not know, a prompt it cannot answer).
			s.Close()
			return nil, fmt.Errorf("open session in %s: %w%s", t, errors.Join(errNotApplied, err), printed(s.out.String()))
		}
		switch l.Kind {
		case LineHello:
			s.zv = l.Value
			return s, nil
		case LineError, LineLicense, LineLogin:
			s.Close()
			return nil, fmt.Errorf("open session in %s: %w", t, errors.Join(errNotApplied, refusal(l)))
		}
	}
}

// refusalAfterEnd waits (within ctx) for the output of a session that
// ended to be parsed and returns IRIS's refusal in it, if any.
func (s *Session) refusalAfterEnd(ctx context.Context) error {
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				return nil
			}
			switch l.Kind {
			case LineError, LineLicense, LineLogin:
				return refusal(l)
			}
		case <-ctx.Done():
			return nil
		}
	}
}

// errLicenseLimit marks IRIS's refusal for want of a license unit.
var errLicenseLimit = errors.New("no license unit free")

// refusal says what a line that ends a session's usefulness means and what
// to do about it.
func refusal(l Line) error {
	switch l.Kind {
	case LineLicense:
		return fmt.Errorf("IRIS refused the session: %s (%w; Community Edition has few, each session holds one until about a second after it ends: use fewer --streams, the session mode rather than exec-per-write, or a license key with more units)", l.Value, errLicenseLimit)
	case LineLogin:
		return fmt.Errorf("IRIS asked for a username (%q): the terminal service needs a password here; run the session as the instance owner with OS authentication enabled for %%Service_Terminal", l.Value)
	}
	return fmt.Errorf("IRIS answered %s", l.Value)
}

// scanLines parses r's output line by line and hands each meaningful line
// to emit. After every read, a line that has not ended yet is checked for
// IRIS's login prompt, which waits for input without a newline.
func scanLines(r io.Reader, emit func(Line)) {
	const maxLine = 1 << 20
	buf := make([]byte, 32<<10)
	var pending []byte
	prompted := false // the pending line was reported as a login prompt
	for {
		n, err := r.Read(buf)
		data := buf[:n]
		for {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				break
			}
			if len(pending)+i <= maxLine {
				pending = append(pending, data[:i]...)
			}
			if !prompted {
				if l := ParseLine(string(pending)); l.Kind != LineOther {
					emit(l)
				}
			}
			pending, prompted, data = pending[:0], false, data[i+1:]
		}
		if len(pending)+len(data) <= maxLine {
			pending = append(pending, data...)
		}
		if !prompted && IsLoginPrompt(string(pending)) {
			prompted = true
			emit(Line{Kind: LineLogin, Value: strings.TrimSpace(string(pending))})
		}
		if err != nil {
			if len(pending) > 0 && !prompted {
				if l := ParseLine(string(pending)); l.Kind != LineOther {
					emit(l)
				}
			}
			return
		}
	}
}

// Identity is $zv as the session reported it when it opened.
func (s *Session) Identity() string { return s.zv }

// Target is the pod the session runs in.
func (s *Session) Target() podexec.Target { return s.target }

// send writes one line to the session's stdin, giving up when ctx ends.
func (s *Session) send(ctx context.Context, line string) error {
	errc := make(chan error, 1)
	go func() {
		_, err := io.WriteString(s.stdin, line+"\n")
		errc <- err
	}()
	select {
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("send: %w", s.cause(err))
		}
		return nil
	case <-ctx.Done():
		// The pipe write may be stuck; closing the session frees it.
		s.Close()
		<-errc
		return fmt.Errorf("send: %w", ctx.Err())
	}
}

// next returns the next meaningful output line.
func (s *Session) next(ctx context.Context) (Line, error) {
	select {
	case l, ok := <-s.lines:
		if !ok {
			return Line{}, fmt.Errorf("stream ended: %w", s.cause(io.EOF))
		}
		return l, nil
	case <-ctx.Done():
		return Line{}, fmt.Errorf("no answer: %w", ctx.Err())
	}
}

// cause is the reason the stream ended when it has, else fallback.
func (s *Session) cause(fallback error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	return fallback
}

// Write sends marker seq and waits up to timeout for its acknowledgement.
// ok is returned only with the ack; any error means the outcome is unknown
// (the line may have been applied) and the session should be dropped.
func (s *Session) Write(ctx context.Context, cmds Commands, seq int64, timeout time.Duration) (Line, error) {
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := s.send(tctx, cmds.Write(seq)); err != nil {
		return Line{}, err
	}
	for {
		l, err := s.next(tctx)
		if err != nil {
			return Line{}, err
		}
		switch {
		case l.Kind == LineAck && l.Seq == seq:
			return l, nil
		case l.Kind == LineError && l.Seq != 0 && l.Seq != seq:
			// A late error of an earlier write: not this one's answer.
		case l.Kind == LineError, l.Kind == LineLicense, l.Kind == LineLogin:
			return Line{}, refusal(l)
		}
		// A late ack of an earlier write or other chatter: keep waiting.
	}
}

// ReadBack lists every marker after subscript from and returns them in order.
func (s *Session) ReadBack(ctx context.Context, cmds Commands, from string) ([]Line, error) {
	if err := s.send(ctx, cmds.ReadBack(from)); err != nil {
		return nil, err
	}
	var out []Line
	for {
		l, err := s.next(ctx)
		if err != nil {
			return out, fmt.Errorf("read-back after %d markers: %w", len(out), err)
		}
		switch l.Kind {
		case LineReadback:
			out = append(out, l)
		case LineReadbackEnd:
			return out, nil
		case LineError, LineLicense, LineLogin:
			return out, fmt.Errorf("read-back after %d markers: %w", len(out), refusal(l))
		}
	}
}

// Close ends the session: `halt` and end of input, so IRIS ends the process
// itself, then the exec is cancelled if it has not ended within a second.
// Safe to call more than once; does not wait.
func (s *Session) Close() {
	s.closeOnce.Do(func() {
		close(s.quit)
		s.mu.Lock()
		if s.err == nil {
			s.err = errClosed
		}
		s.mu.Unlock()
		go func() {
			defer s.cancel()
			go func() {
				_, _ = io.WriteString(s.stdin, "halt\n")
				_ = s.stdin.Close()
			}()
			select {
			case <-s.done:
			case <-time.After(time.Second):
			}
		}()
	})
}

// Done is closed once the output stream has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// printed quotes the end of a session's output for an error message, its
// whitespace collapsed; "" when there was none.
func printed(out string) string {
	out = strings.Join(strings.Fields(out), " ")
	if out == "" {
		return ""
	}
	const keep = 200
	if len(out) > keep {
		out = "..." + out[len(out)-keep:]
	}
	return fmt.Sprintf(" (IRIS printed: %q)", out)
}

// tailBuffer keeps the last bytes written to it (a command's output).
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const tailMax = 512

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > tailMax {
		b.buf = b.buf[len(b.buf)-tailMax:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(string(b.buf))
}
