package cloud

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// PollOptions says how Poll waits.
type PollOptions struct {
	What          string        // what is awaited, for progress and errors: "aws:///us-east-1a/i-1 to be stopped"
	Interval      time.Duration // between checks; default 1s
	Timeout       time.Duration // overall; 0 means only ctx bounds the wait
	Progress      io.Writer     // progress lines go here; nil for none
	ProgressEvery time.Duration // default 5s
}

// Poll calls check until it reports done, check fails, the timeout passes or
// ctx ends. While waiting it writes a line to Progress every ProgressEvery
// saying what it waits for and the last status check reported, so a long wait
// never looks like a hang.
func Poll(ctx context.Context, o PollOptions, check func(ctx context.Context) (done bool, status string, err error)) error {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 5 * time.Second
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	start := time.Now()
	lastReport := start
	status := ""
	for {
		done, st, err := check(ctx)
		if st != "" {
			status = st
		}
		if err != nil {
			if ctx.Err() != nil {
				return waitErr(ctx, o, start, status)
			}
			return err
		}
		if done {
			return nil
		}
		if o.Progress != nil && time.Since(lastReport) >= o.ProgressEvery {
			lastReport = time.Now()
			fmt.Fprintf(o.Progress, "  waiting for %s: %s after %s\n", o.What, orUnknown(status), time.Since(start).Round(time.Second))
		}
		t := time.NewTimer(o.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return waitErr(ctx, o, start, status)
		case <-t.C:
		}
	}
}

func waitErr(ctx context.Context, o PollOptions, start time.Time, status string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s: still %s after %s (raise the timeout, or check the VM in the cloud console)", ErrTimeout, o.What, orUnknown(status), time.Since(start).Round(time.Second))
	}
	return fmt.Errorf("waiting for %s (last: %s): %w", o.What, orUnknown(status), ctx.Err())
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Ticker writes "waiting for what (elapsed)" to w every interval until the
// returned stop is called: progress for calls that block inside an SDK, such
// as an Azure long-running operation polled to completion.
func Ticker(w io.Writer, every time.Duration, what string) (stop func()) {
	if w == nil {
		return func() {}
	}
	if every <= 0 {
		every = 5 * time.Second
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(w, "  waiting for %s (%s)\n", what, time.Since(start).Round(time.Second))
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
