package iris

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/irischaos/irischaos/pkg/podexec"
	"github.com/irischaos/irischaos/pkg/stackid"
)

// runOnce runs one `iris session` with script on stdin (halt appended) and
// returns the parsed output lines, and the output itself for error messages.
// Bounded by timeout.
func runOnce(ctx context.Context, e podexec.Execer, t podexec.Target, cmd []string, script string, timeout time.Duration) ([]Line, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out bytes.Buffer
	var stderr tailBuffer
	err := e.Exec(ctx, t, cmd, strings.NewReader(script+"\nhalt\n"), &out, &stderr)
	text := out.String()
	var lines []Line
	scanLines(strings.NewReader(text), func(l Line) { lines = append(lines, l) })
	if err != nil {
		if tail := stderr.String(); tail != "" {
			err = fmt.Errorf("%w (stderr: %s)", err, tail)
		}
	}
	return lines, text, err
}

// WriteOnce writes marker seq with a new exec and `iris session` of its own,
// as the seed's scripts do. The error wraps errNotApplied when the exec never
// started (the API server refused the upgrade: no pod, no container).
func WriteOnce(ctx context.Context, e podexec.Execer, t podexec.Target, cmd []string, cmds Commands, seq int64, timeout time.Duration) (Line, error) {
	lines, out, err := runOnce(ctx, e, t, cmd, cmds.Write(seq), timeout)
	for _, l := range lines {
		if l.Kind == LineAck && l.Seq == seq {
			return l, nil
		}
	}
	for _, l := range lines {
		switch {
		case l.Kind == LineLicense, l.Kind == LineLogin:
			// IRIS refused the session before it ran a line.
			return Line{}, fmt.Errorf("write %d in %s: %w", seq, t, errors.Join(errNotApplied, refusal(l)))
		case l.Kind == LineError && (l.Seq == 0 || l.Seq == seq):
			return Line{}, fmt.Errorf("write %d in %s: %w", seq, t, refusal(l))
		}
	}
	if err != nil {
		if podexec.NotStarted(err) && len(lines) == 0 {
			return Line{}, fmt.Errorf("write %d in %s: %w", seq, t, errors.Join(errNotApplied, err))
		}
		return Line{}, fmt.Errorf("write %d in %s: %w%s", seq, t, err, printed(out))
	}
	return Line{}, fmt.Errorf("write %d in %s: session ended without an acknowledgement%s", seq, t, printed(out))
}

// SessionCommand is `iris session INSTANCE -U USER`; instance "" is
// stackid.Instance.
func SessionCommand(instance string) []string {
	if instance == "" {
		instance = stackid.Instance
	}
	return []string{"iris", "session", instance, "-U", DefaultDBNamespace}
}

// DatabaseIdentity returns $zv of the IRIS instance in pod t (for the stand-in,
// a string that names it as such). cmd is the session command; nil means
// SessionCommand("").
func DatabaseIdentity(ctx context.Context, e podexec.Execer, t podexec.Target, cmd []string) (string, error) {
	if cmd == nil {
		cmd = SessionCommand("")
	}
	lines, out, err := runOnce(ctx, e, t, cmd, Commands{}.Identity(), DefaultOpenTimeout)
	for _, l := range lines {
		if l.Kind == LineIdentity {
			return l.Value, nil
		}
	}
	for _, l := range lines {
		switch l.Kind {
		case LineError, LineLicense, LineLogin:
			return "", fmt.Errorf("$zv in %s: %w", t, refusal(l))
		}
	}
	if err != nil {
		return "", fmt.Errorf("$zv in %s: %w%s", t, err, printed(out))
	}
	return "", fmt.Errorf("$zv in %s: `%s` printed no answer%s", t, strings.Join(cmd, " "), printed(out))
}
