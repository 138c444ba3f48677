package observe

import (
	"context"
	"time"

	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/storagehealth"
)

// WatchStorage polls src every interval until ctx ends and records the
// redundancy of the volume's storage into the history: once at start
// (reason "Observed"), then at every change (reason = the new redundancy:
// degraded, undersized, recovering, clean, unavailable, unknown). A failed
// reading is recorded once as unknown, with the error, not retried loudly.
func (ob *Observer) WatchStorage(ctx context.Context, src storagehealth.Source, interval time.Duration) {
	var last storagehealth.Redundancy
	first := true
	for {
		st, err := src.Health(ctx)
		if ctx.Err() != nil {
			return
		}
		msg := st.Summary()
		if err != nil {
			st.Redundancy, msg = storagehealth.Unknown, err.Error()
		}
		if first || st.Redundancy != last {
			reason := string(st.Redundancy)
			if first {
				reason = history.ReasonObserved
				msg = string(st.Redundancy) + ": " + msg
			}
			ob.record(history.Record{Source: history.SourceStorage, Target: st.Scope, Reason: reason, Message: msg})
			last, first = st.Redundancy, false
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
