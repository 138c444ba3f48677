// Package ledger is the safety net of fault injection: every fault is written
// to a file BEFORE it is injected and marked healed after, so a fault left
// behind by a crash, a kill -9 or an aborted heal is known to the next run and
// to `irischaos recover`, which heal it.
//
// The file is an append-only JSON-lines log (one "inject" or "heal" event per
// line, fsynced), so a crash mid-write loses at most the line being written
// and never the entries before it.
package ledger

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"
)

// FileName is the ledger's name inside the state (reports) directory.
const FileName = "ledger.jsonl"

// Heal actions: what undoing a fault takes. Faults that heal by themselves
// (the container or pod is recreated by Kubernetes) have HealNone.
const (
	HealNone     = ""
	HealUncordon = "uncordon" // make Node schedulable again
	HealPowerOn  = "poweron"  // power ProviderID's VM (and every one of ProviderIDs) on again
	// HealReconnect undoes every one of Cuts: the agent's rules removed, or
	// the node's link up again through its provider.
	HealReconnect = "reconnect"
	// The advisor's mitigations are changes irischaos makes, kept here too.
	HealUntaint            = "untaint"             // remove the out-of-service taint from Node
	HealRestoreTolerations = "restore-tolerations" // put Restore back as the IRIS Deployment's tolerations in Namespace
	// HealRestoreLonghornSetting puts back the value of the Longhorn setting
	// in Namespace that Restore names, unless someone changed it since.
	HealRestoreLonghornSetting = "restore-longhorn-setting"
)

// Entry is one injected fault.
type Entry struct {
	ID         string `json:"id"`
	Fault      string `json:"fault"`
	Heal       string `json:"heal,omitempty"`
	Cluster    string `json:"cluster,omitempty"` // API server the fault was injected through
	Namespace  string `json:"namespace,omitempty"`
	Pod        string `json:"pod,omitempty"`
	Node       string `json:"node,omitempty"`
	ProviderID string `json:"provider_id,omitempty"`
	Restore    string `json:"restore,omitempty"` // the value a change replaced, to put back (JSON)
	// ProviderIDs: the VMs of a fault on several nodes (zone-outage by power).
	ProviderIDs []string `json:"provider_ids,omitempty"`
	// Cuts: what a partition set, node by node, to undo it without the
	// process that set it. Entries written before partitions have none.
	Cuts      []Cut     `json:"cuts,omitempty"`
	Run       string    `json:"run,omitempty"` // the run (report directory) that injected it
	Injected  time.Time `json:"injected"`
	Healed    time.Time `json:"healed,omitzero"`
	HealError string    `json:"heal_error,omitempty"` // the last failed attempt, while still pending
}

// Cut is one node's partition as made.
type Cut struct {
	Node string `json:"node"`
	// Via: "agent" (a pod on the node set Rules) or "provider" (the
	// node's link through its provider's API, ProviderID).
	Via        string `json:"via"`
	ProviderID string `json:"provider_id,omitempty"`
	// The agent: its namespace, pod and image, the exact commands it ran
	// (Rules) and those that remove them (Undo).
	Namespace string   `json:"namespace,omitempty"`
	Pod       string   `json:"pod,omitempty"`
	Image     string   `json:"image,omitempty"`
	Rules     []string `json:"rules,omitempty"`
	Undo      []string `json:"undo,omitempty"`
	// Until: when the agent removes its rules by itself (its dead man's switch).
	Until time.Time `json:"until,omitzero"`
}

// Cut's ways.
const (
	CutAgent    = "agent"
	CutProvider = "provider"
)

// Pending reports whether the fault still needs healing.
func (e Entry) Pending() bool { return e.Healed.IsZero() }

// line is one event in the file.
type line struct {
	Op    string    `json:"op"` // "inject" or "heal"
	Entry *Entry    `json:"entry,omitempty"`
	ID    string    `json:"id,omitempty"`
	T     time.Time `json:"t,omitzero"`
	Error string    `json:"error,omitempty"`
}

// Ledger is one ledger file; safe for concurrent use within a process.
type Ledger struct {
	mu   sync.Mutex
	path string
	now  func() time.Time
}

// Open returns the ledger in dir, creating dir when missing. The file itself
// is created on the first Record.
func Open(dir string) (*Ledger, error) {
	if dir == "" {
		return nil, errors.New("ledger: no directory given")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("ledger: create state directory %s: %w", dir, err)
	}
	return &Ledger{path: filepath.Join(dir, FileName), now: time.Now}, nil
}

// Path is the ledger file's path, for messages.
func (l *Ledger) Path() string { return l.path }

// Record writes e as injected (now) and returns it with its ID. Call it
// before injecting: if it fails, do not inject.
func (l *Ledger) Record(e Entry) (Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.Fault == "" {
		return Entry{}, errors.New("ledger: entry has no fault name")
	}
	if e.Injected.IsZero() {
		e.Injected = l.now().UTC()
	}
	if e.ID == "" {
		e.ID = e.Injected.Format("20060102T150405.000000000Z") + "-" + e.Fault + "-" + strconv.Itoa(os.Getpid())
	}
	e.Healed = time.Time{}
	return e, l.append(line{Op: "inject", Entry: &e})
}

// MarkHealed records that the fault id was healed (healErr nil) or that an
// attempt failed (healErr set: the entry stays pending, with the error).
func (l *Ledger) MarkHealed(id string, healErr error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	ln := line{Op: "heal", ID: id, T: l.now().UTC()}
	if healErr != nil {
		ln.Op = "heal_failed"
		ln.Error = healErr.Error()
	}
	return l.append(ln)
}

func (l *Ledger) append(ln line) error {
	b, err := json.Marshal(ln)
	if err != nil {
		return fmt.Errorf("ledger: encode: %w", err)
	}
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("ledger: open %s: %w", l.path, err)
	}
	_, werr := f.Write(append(b, '\n'))
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("ledger: write %s: %w", l.path, err)
	}
	return nil
}

// Entries replays the file: every fault ever recorded, oldest first, with
// its heal state. A missing file is an empty ledger; a torn last line (a
// crash mid-write) is skipped; any other bad line is an error naming it.
func (l *Ledger) Entries() ([]Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.Open(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: open %s: %w", l.path, err)
	}
	defer f.Close()
	byID := map[string]*Entry{}
	var order []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	n := 0
	var badLine int
	var badErr error
	for sc.Scan() {
		n++
		if len(sc.Bytes()) == 0 {
			continue
		}
		if badErr != nil {
			// The bad line was not the last one: the file is corrupt, not torn.
			return nil, fmt.Errorf("ledger %s: line %d: %w", l.path, badLine, badErr)
		}
		var ln line
		if err := json.Unmarshal(sc.Bytes(), &ln); err != nil {
			badLine, badErr = n, err
			continue
		}
		switch ln.Op {
		case "inject":
			if ln.Entry == nil || ln.Entry.ID == "" {
				return nil, fmt.Errorf("ledger %s: line %d: inject without an entry id", l.path, n)
			}
			e := *ln.Entry
			if _, seen := byID[e.ID]; !seen {
				order = append(order, e.ID)
			}
			byID[e.ID] = &e
		case "heal", "heal_failed":
			e, ok := byID[ln.ID]
			if !ok {
				return nil, fmt.Errorf("ledger %s: line %d: %s of unknown fault %q", l.path, n, ln.Op, ln.ID)
			}
			if ln.Op == "heal" {
				e.Healed, e.HealError = ln.T, ""
			} else {
				e.HealError = ln.Error
			}
		default:
			return nil, fmt.Errorf("ledger %s: line %d: unknown op %q", l.path, n, ln.Op)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("ledger %s: read: %w", l.path, err)
	}
	out := make([]Entry, 0, len(order))
	for _, id := range order {
		out = append(out, *byID[id])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Injected.Before(out[j].Injected) })
	return out, nil
}

// Pending returns the faults not yet healed, oldest first.
func (l *Ledger) Pending() ([]Entry, error) {
	all, err := l.Entries()
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, e := range all {
		if e.Pending() {
			out = append(out, e)
		}
	}
	return out, nil
}
