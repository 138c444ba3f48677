package observe

import (
	"context"
	"strings"
	"time"

	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/storagehealth"
)

// WatchStorage polls src every interval until ctx ends and records the
// redundancy of the volume's storage into the history: once at start
// (reason "Observed"), then at every change (reason = the new redundancy:
// degraded, undersized, recovering, clean, unavailable, unknown). Where the
// backend says more (Longhorn), a change of the volume's state or node, of
// a replica (added, removed, its mode) or of a rebuild (started, progressed
// by storagehealth.ProgressStep points, ended) is recorded too, with the
// current redundancy as reason and the copies per zone. A failed reading
// is recorded once as unknown, with the error, not retried loudly.
func (ob *Observer) WatchStorage(ctx context.Context, src storagehealth.Source, interval time.Duration) {
	var last storagehealth.Status
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
		var changes []string
		if !first && err == nil {
			changes = storagehealth.Changes(last, st)
		}
		if first || st.Redundancy != last.Redundancy || len(changes) > 0 {
			reason := string(st.Redundancy)
			switch {
			case first:
				reason = history.ReasonObserved
				msg = string(st.Redundancy) + ": " + msg
			case len(changes) > 0:
				msg = strings.Join(changes, "; ") + " | " + msg
			}
			ob.record(history.Record{Source: history.SourceStorage, Target: st.Scope, Node: st.AttachedTo, Reason: reason, Message: msg, Zones: st.Zones})
			first = false
			if err == nil {
				last = st
			} else {
				last.Redundancy = st.Redundancy
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
