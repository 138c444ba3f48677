package iris

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/irischaos/irischaos/pkg/history"
)

// ReadBack reads every marker of this run back from the database through a
// fresh session on the current pod, retrying (the database may still be
// recovering) until it succeeds or ctx ends. The result is added to the
// history as a readback record and returned. Markers of other runs are
// skipped; markers with no parsable sequence number go to Extra.
func (c *Client) ReadBack(ctx context.Context) (history.Record, error) {
	var (
		lastErr error
		backoff time.Duration
	)
	for attempt := 1; ; attempt++ {
		rec, err := c.readBackOnce(ctx)
		if err == nil {
			c.record(rec)
			if c.cfg.Progress != nil {
				fmt.Fprintf(c.cfg.Progress, "read-back: %d markers of run %s on %s (%s)\n", len(rec.Seqs), c.cfg.RunID, rec.Pod, rec.Message)
			}
			return rec, nil
		}
		lastErr = err
		if c.cfg.Progress != nil {
			fmt.Fprintf(c.cfg.Progress, "read-back attempt %d: %v\n", attempt, err)
		}
		backoff = nextBackoff(backoff, 2*time.Second)
		if !sleep(ctx, backoff) {
			return history.Record{}, fmt.Errorf("read-back gave up after %d attempts: %w", attempt, errors.Join(ctx.Err(), lastErr))
		}
	}
}

func (c *Client) readBackOnce(ctx context.Context) (history.Record, error) {
	t, _, err := c.resolve(ctx)
	if err != nil {
		return history.Record{}, err
	}
	s, err := OpenSession(ctx, c.cfg.Exec, t, c.sessionCmd(), c.cmds, c.cfg.OpenTimeout)
	if err != nil {
		return history.Record{}, err
	}
	defer s.Close()
	from := ""
	c.mu.Lock()
	if c.haveSub {
		// $order from just below the first subscript this run was given:
		// earlier runs' markers need not cross the wire again.
		from = strconv.FormatFloat(c.minSub-1, 'f', -1, 64)
	}
	c.mu.Unlock()
	lines, err := s.ReadBack(ctx, c.cmds, from)
	if err != nil {
		return history.Record{}, fmt.Errorf("read-back in %s: %w", t, err)
	}
	rec := Sort(lines, c.cfg.RunID)
	rec.Pod = t.Pod
	rec.T = time.Now()
	return rec, nil
}

// Sort turns read-back lines into a readback record: sequence numbers of
// run's markers in the order read, other markers without a sequence number in
// Extra (as subscript=value), markers of other runs counted in Message.
// Lines other than LineReadback are ignored.
func Sort(lines []Line, run string) history.Record {
	rec := history.Record{Kind: history.KindReadback, Seqs: []int64{}}
	other, n := 0, 0
	for _, l := range lines {
		if l.Kind != LineReadback {
			continue
		}
		n++
		m, ok := ParseMarker(l.Value)
		switch {
		case !ok || m.Run == "":
			rec.Extra = append(rec.Extra, l.Subscript+"="+l.Value)
		case m.Run != run:
			other++
		default:
			rec.Seqs = append(rec.Seqs, m.Seq)
		}
	}
	rec.Message = fmt.Sprintf("%d markers read, %d of this run, %d without a sequence number, %d of other runs", n, len(rec.Seqs), len(rec.Extra), other)
	return rec
}
