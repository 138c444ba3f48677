package cloud

import "sync"

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
