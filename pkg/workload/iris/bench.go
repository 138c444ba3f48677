package iris

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/irischaos/irischaos/pkg/history"
)

// Rate is the acknowledged write rate of one mode.
type Rate struct {
	Mode      Mode          `json:"mode"`
	OK        int64         `json:"ok"`
	NotOK     int64         `json:"not_ok"`
	Elapsed   time.Duration `json:"elapsed"`
	PerSecond float64       `json:"per_second"`
	LastError string        `json:"last_error,omitempty"`
}

// BenchResult compares the long-lived session with the seed's
// one-exec-per-write loop, measured side by side in one run.
type BenchResult struct {
	Session      Rate    `json:"session"`
	ExecPerWrite Rate    `json:"exec_per_write"`
	Ratio        float64 `json:"ratio"` // Session.PerSecond / ExecPerWrite.PerSecond
}

func (b BenchResult) String() string {
	return fmt.Sprintf("session: %d acked in %s = %.1f/s; exec per write: %d acked in %s = %.1f/s; ratio %.1fx",
		b.Session.OK, b.Session.Elapsed.Round(time.Millisecond), b.Session.PerSecond,
		b.ExecPerWrite.OK, b.ExecPerWrite.Elapsed.Round(time.Millisecond), b.ExecPerWrite.PerSecond, b.Ratio)
}

// Bench writes markers for d through a long-lived session, then for d with a
// new exec per write, against the stack cfg points at, and reports both
// acknowledged rates. cfg.Mode and cfg.History are ignored (the bench keeps
// its own); the markers carry a run id of their own.
func Bench(ctx context.Context, cfg Config, d time.Duration) (BenchResult, error) {
	if d <= 0 {
		return BenchResult{}, errors.New("bench: duration must be positive")
	}
	var res BenchResult
	for _, mode := range []Mode{ModeSession, ModeExecPerWrite} {
		c := cfg
		c.Mode, c.History, c.RunID = mode, history.NewMemory(), ""
		r, err := measure(ctx, c, d)
		if err != nil {
			return res, err
		}
		if mode == ModeSession {
			res.Session = r
		} else {
			res.ExecPerWrite = r
		}
	}
	if res.ExecPerWrite.PerSecond > 0 {
		res.Ratio = res.Session.PerSecond / res.ExecPerWrite.PerSecond
	}
	return res, nil
}

func measure(ctx context.Context, cfg Config, d time.Duration) (Rate, error) {
	h := cfg.History
	c, err := New(cfg)
	if err != nil {
		return Rate{}, err
	}
	rctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	if err := c.Run(rctx); err != nil {
		return Rate{}, err
	}
	r := Rate{Mode: cfg.Mode, Elapsed: time.Since(start)}
	for _, rec := range h.Records() {
		if rec.Kind != history.KindOp {
			continue
		}
		if rec.Result == history.OK {
			r.OK++
		} else {
			r.NotOK++
			r.LastError = rec.Error
		}
	}
	r.PerSecond = float64(r.OK) / r.Elapsed.Seconds()
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	if r.OK == 0 {
		return r, fmt.Errorf("bench %s: no write acknowledged in %s (%d failed; last error: %s)", cfg.Mode, d, r.NotOK, r.LastError)
	}
	return r, nil
}
