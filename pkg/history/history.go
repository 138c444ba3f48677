// Package history is the run's evidence: one JSON object per line, written while
// the run happens and read back by the checker and the reports. The format is
// documented in docs/history.md and is stable: fields may be added, never renamed.
package history

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"
)

// Kinds of record.
const (
	KindOp        = "op"         // one write of a marker by the workload client
	KindFault     = "fault"      // the fault the nemesis injected (one per history)
	KindReadback  = "readback"   // every marker read back after recovery (the last one counts)
	KindEvent     = "event"      // a cluster transition seen by the observer
	KindHeal      = "heal"       // the nemesis healed (or failed to heal) its fault
	KindCloudCall = "cloud_call" // one call to a cloud API, with its result and duration
	KindMeta      = "meta"       // what was measured: database, storage, cluster, scenario
	KindNote      = "note"       // free text worth keeping with the evidence
)

// Results of an operation, in Jepsen's sense.
const (
	OK   = "ok"   // acknowledged: the database said it was written
	Fail = "fail" // definitely not applied
	Info = "info" // unknown: timed out or the connection was cut mid-write
)

// Phases the observer reports; the checker turns them into the phases of RTO.
const (
	PhaseEffectConfirmed  = "effect_confirmed"  // process down, pod gone, node NotReady
	PhasePodScheduled     = "pod_scheduled"     // replacement pod bound to a node
	PhaseVolumeAttached   = "volume_attached"   // its volume attached to that node
	PhaseContainerStarted = "container_started" // its container running
	PhaseDatabaseReady    = "database_ready"    // the database answered a session
)

// Event sources whose records the checker reads beyond phases: the volume's
// attachments and its storage's redundancy. A storage event's reason is the
// new redundancy: "clean" when full, "degraded", "undersized",
// "recovering" or "unavailable" when short of it, "unknown" when the storage
// could not say ("Observed" for the state found at start).
const (
	SourceVolumeAttachment = "volumeattachment"
	SourceStorage          = "storage"
	RedundancyClean        = "clean"
	RedundancyUnknown      = "unknown"
	ReasonObserved         = "Observed"
)

// Record is one line of a history. Kind says which fields are meaningful.
// Unknown fields in a file are ignored on read so the format can grow; keys
// are case-sensitive and some fields are required (see Scan).
type Record struct {
	Kind string `json:"kind"`

	// op
	Seq      int64     `json:"seq,omitempty"`
	Invoke   time.Time `json:"invoke,omitzero"`
	Complete time.Time `json:"complete,omitzero"`
	Result   string    `json:"result,omitempty"`
	Stream   int       `json:"stream,omitempty"`  // which client stream wrote it
	Value    string    `json:"value,omitempty"`   // the marker's value as written
	Pod      string    `json:"pod,omitempty"`     // the pod the write went to (its node: Node)
	Error    string    `json:"error,omitempty"`   // why a write failed or is unknown
	Attempt  int       `json:"attempt,omitempty"` // session (re)connection number

	// fault, readback, event, heal, cloud_call, note: the instant
	T time.Time `json:"t,omitzero"`
	// fault: when its effect was confirmed
	EffectT time.Time `json:"effect_t,omitzero"`
	// fault, heal, cloud_call: the fault's or call's name
	Name string `json:"name,omitempty"`
	// fault, heal, event, cloud_call: the object acted on or seen
	Target string `json:"target,omitempty"`

	// readback: the sequence numbers found, in the order read; Extra holds
	// markers that carried no parsable sequence number.
	Seqs  []int64  `json:"seqs,omitempty"`
	Extra []string `json:"extra,omitempty"`

	// event: source (pod, node, event, volumeattachment, longhorn, probe),
	// phase (one of the Phase constants, or empty for a plain transition),
	// and what happened. Node is also an op's: the node its pod ran on.
	Source  string `json:"source,omitempty"`
	Phase   string `json:"phase,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	Node    string `json:"node,omitempty"`
	// event of source storage: the volume's usable copies per zone where
	// the storage tells which copies are the volume's (Longhorn); key ""
	// counts copies on nodes without a zone.
	Zones map[string]int `json:"zones,omitempty"`

	// cloud_call: provider, the exact request, and how long it took.
	Provider string  `json:"provider,omitempty"`
	Request  string  `json:"request,omitempty"`
	Duration float64 `json:"duration_seconds,omitempty"`

	// meta: free-form description of the run (see docs/history.md).
	Meta map[string]string `json:"meta,omitempty"`
}

// Writer appends records to a JSONL file; safe for concurrent use.
type Writer struct {
	mu   sync.Mutex
	w    *bufio.Writer
	f    *os.File
	enc  *json.Encoder
	out  []Record // kept in memory too, so the checker can run without re-reading
	subs []*Subscription
}

// Subscription receives every record added to its Writer after Subscribe,
// in order. The writer never waits for a subscriber: records queue until
// Take, and Ready signals that some are queued.
type Subscription struct {
	w       *Writer
	ready   chan struct{}
	mu      sync.Mutex
	pending []Record
	closed  bool
}

// Subscribe starts a subscription; Close it when done.
func (w *Writer) Subscribe() *Subscription {
	s := &Subscription{w: w, ready: make(chan struct{}, 1)}
	w.mu.Lock()
	w.subs = append(w.subs, s)
	w.mu.Unlock()
	return s
}

// Ready receives a value when records are queued (one value for any number
// of records: call Take for all of them).
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Take returns the queued records, oldest first, and empties the queue.
func (s *Subscription) Take() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pending
	s.pending = nil
	return p
}

// Close ends the subscription; records added later are not queued.
func (s *Subscription) Close() {
	s.w.mu.Lock()
	s.w.subs = slices.DeleteFunc(s.w.subs, func(x *Subscription) bool { return x == s })
	s.w.mu.Unlock()
	s.mu.Lock()
	s.closed, s.pending = true, nil
	s.mu.Unlock()
}

func (s *Subscription) push(r Record) {
	s.mu.Lock()
	if !s.closed {
		s.pending = append(s.pending, r)
	}
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default: // already signalled
	}
}

// Create opens path for writing, truncating it.
func Create(path string) (*Writer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create history %s: %w", path, err)
	}
	bw := bufio.NewWriter(f)
	return &Writer{w: bw, f: f, enc: json.NewEncoder(bw)}, nil
}

// NewMemory returns a Writer that only keeps records in memory (tests, dry runs).
func NewMemory() *Writer { return &Writer{} }

// Add appends one record. Records are flushed to the file as they come so a
// crash of the harness leaves the evidence gathered so far.
func (w *Writer) Add(r Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.out = append(w.out, r)
	for _, s := range w.subs {
		s.push(r)
	}
	if w.enc == nil {
		return nil
	}
	if err := w.enc.Encode(r); err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	return w.w.Flush()
}

// Records returns a copy of everything added so far.
func (w *Writer) Records() []Record {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Record(nil), w.out...)
}

// Close flushes and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := errors.Join(w.w.Flush(), w.f.Sync(), w.f.Close())
	w.f = nil
	w.enc = nil
	return err
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
