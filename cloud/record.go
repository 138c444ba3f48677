package cloud

import (
	"sync"

	"github.com/irischaos/irischaos/pkg/history"
)

// HistoryRecord turns a call into the history's cloud_call record.
func (c Call) HistoryRecord() history.Record {
	r := history.Record{
		Kind:     history.KindCloudCall,
		T:        c.Start,
		Name:     c.Action,
		Target:   c.Target,
		Provider: c.Provider,
		Request:  c.Request,
		Message:  c.Response,
		Duration: c.Duration.Seconds(),
		Result:   history.OK,
	}
	if c.Err != nil {
		r.Result = history.Fail
		r.Error = c.Err.Error()
	}
	return r
}

// HistoryRecorder writes every call into w as a cloud_call record.
func HistoryRecorder(w *history.Writer) Recorder {
	return func(c Call) { _ = w.Add(c.HistoryRecord()) }
}

// Tee sends each call to every non-nil recorder.
func Tee(rs ...Recorder) Recorder {
	return func(c Call) {
		for _, r := range rs {
			r.Record(c)
		}
	}
}

// CallLog keeps calls in memory; safe for concurrent use.
type CallLog struct {
	mu    sync.Mutex
	calls []Call
}

// Recorder returns a Recorder appending to l.
func (l *CallLog) Recorder() Recorder {
	return func(c Call) {
		l.mu.Lock()
		l.calls = append(l.calls, c)
		l.mu.Unlock()
	}
}

// Calls returns a copy of the calls recorded so far.
func (l *CallLog) Calls() []Call {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Call(nil), l.calls...)
}
