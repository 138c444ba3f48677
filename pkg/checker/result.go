package checker

import (
	"time"

	"github.com/irischaos/irischaos/pkg/history"
)

// Verdict of one scenario iteration (or of several, combined).
type Verdict string

const (
	Pass    Verdict = "pass"    // RTO and RPO within budget, no anomaly
	Fail    Verdict = "fail"    // a budget exceeded or a consistency anomaly
	Unknown Verdict = "unknown" // the history cannot decide (no fault, no recovery, no read-back, bad records)
)

// Combine folds verdicts into one: any fail fails, else any unknown is
// unknown, else pass. No verdicts at all is unknown: nothing was measured.
func Combine(vs ...Verdict) Verdict {
	if len(vs) == 0 {
		return Unknown
	}
	out := Pass
	for _, v := range vs {
		switch v {
		case Fail:
			return Fail
		case Pass:
		default:
			out = Unknown
		}
	}
	return out
}

// DefaultRPOBudget is the IRIS journal write cycle: with asynchronous commit
// at most the last 2 s of acknowledged writes may be lost.
const DefaultRPOBudget = 2 * time.Second

// Budgets a scenario must meet, compared on exact durations. RTO 0 means no
// RTO budget: RTO is measured and reported but not judged. RPO is judged as
// given; RPO 0 means no acknowledged write may be lost (even one acknowledged
// after the fault, whose own RPO contribution is 0).
type Budgets struct {
	RTO time.Duration
	RPO time.Duration
}

// DefaultBudgets has no RTO budget and the default RPO budget.
func DefaultBudgets() Budgets { return Budgets{RPO: DefaultRPOBudget} }

// Result is the checker's output for one history. Times are UTC; durations
// are in seconds. Nullable numbers are null when the history cannot give them.
type Result struct {
	Verdict Verdict  `json:"verdict"`
	Reasons []string `json:"reasons"` // why the verdict, one sentence each

	// RTO: completion of the first ok write after the outage minus t_fault.
	RTOSeconds *float64 `json:"rto_seconds"`
	// NoInterruption: no write failed at or after the fault, so RTO is 0.
	NoInterruption bool `json:"no_interruption"`
	// RTOAtLeastSeconds: when no write succeeded after the outage, how long
	// the database was seen down (a lower bound of the RTO).
	RTOAtLeastSeconds *float64 `json:"rto_at_least_seconds,omitempty"`
	// RPO: t_fault minus completion of the oldest lost acknowledged write.
	RPOSeconds *float64 `json:"rpo_seconds"`
	// LostAcked: acknowledged writes absent from the read-back.
	LostAcked int `json:"lost_acked"`

	Budgets BudgetsJSON `json:"budgets"`
	Fault   *Fault      `json:"fault,omitempty"`
	Outage  *Outage     `json:"outage,omitempty"`
	// ProbeResolutionSeconds: median gap between consecutive writes
	// (by invoke time, all streams): RTO is only known to about this.
	ProbeResolutionSeconds *float64 `json:"probe_resolution_seconds"`

	Writes   Counts    `json:"writes"`
	Readback *Readback `json:"readback,omitempty"`

	LostSeqs          []int64  `json:"lost_seqs"`
	InfoRecovered     []int64  `json:"info_recovered"`     // unknown writes that turned up
	InfoNotRecovered  []int64  `json:"info_not_recovered"` // unknown writes that did not
	Unexpected        []int64  `json:"unexpected"`         // read back, never written
	UnexpectedMarkers []string `json:"unexpected_markers"` // read back without a sequence number
	// UnknownMarkers: markers of op records the checker could not use (no
	// seq, complete before invoke, a seq written twice...): neither lost nor
	// unexpected; they make the verdict unknown.
	UnknownMarkers []int64 `json:"unknown_markers"`
	FailedPresent  []int64 `json:"failed_present"` // written with result fail, yet read back
	Duplicates     []int64 `json:"duplicates"`     // read back more than once

	// Clock: the database's clock against the harness's, from the time
	// acknowledged markers carry; absent when markers carry no time.
	Clock *Clock `json:"clock,omitempty"`

	// IsolatedNonOK: writes that failed, went unknown or hung after the
	// fault while a write sent after them was acknowledged before they gave
	// up; not counted as the outage (docs/history.md).
	IsolatedNonOK int `json:"isolated_non_ok"`
	// Flags: evidence around the fault that contradicts itself or is
	// missing (see the Flag constants).
	Flags []Flag `json:"flags"`

	// Storage: what the volume's storage did after the fault (absent when
	// the history records neither attachments nor redundancy).
	Storage *Storage `json:"storage,omitempty"`

	Suffix    Suffix    `json:"suffix"`
	Phases    []Phase   `json:"phases"`
	Anomalies []Anomaly `json:"anomalies"`

	// SplitBrain: which pods acknowledged writes and whether two of them
	// did at once (absent when no write was acknowledged).
	SplitBrain *SplitBrain `json:"split_brain,omitempty"`
}

// RTO returns the RTO and whether it is known.
func (r Result) RTO() (time.Duration, bool) { return fromSeconds(r.RTOSeconds) }

// RPO returns the RPO and whether it is known.
func (r Result) RPO() (time.Duration, bool) { return fromSeconds(r.RPOSeconds) }

func fromSeconds(s *float64) (time.Duration, bool) {
	if s == nil {
		return 0, false
	}
	return time.Duration(*s * float64(time.Second)), true
}

// BudgetsJSON is Budgets as the result shows them; a null RTO budget means
// RTO was not judged.
type BudgetsJSON struct {
	RTOSeconds *float64 `json:"rto_seconds"`
	RPOSeconds float64  `json:"rpo_seconds"`
}

// Fault is the history's fault record.
type Fault struct {
	Name    string    `json:"name"`
	Target  string    `json:"target,omitempty"`
	T       time.Time `json:"t"`
	EffectT time.Time `json:"effect_t,omitzero"`
}

// Outage is what the writes saw of the fault.
type Outage struct {
	// Start: completion of the first non-ok write at or after t_fault.
	Start    time.Time `json:"start"`
	StartSeq int64     `json:"start_seq"`
	// LastOKBefore: completion of the last ok write at or before Start.
	LastOKBefore *time.Time `json:"last_ok_before,omitempty"`
	// FirstOKAfter: completion of the first ok write invoked at or after Start.
	FirstOKAfter    *time.Time `json:"first_ok_after,omitempty"`
	FirstOKAfterSeq int64      `json:"first_ok_after_seq,omitempty"`
	// ObservedSeconds: FirstOKAfter minus LastOKBefore, the gap clients saw.
	ObservedSeconds *float64 `json:"observed_seconds,omitempty"`
	// NonOKAfterRecovery: writes that failed or went unknown after
	// FirstOKAfter (a second outage is not measured, only counted).
	NonOKAfterRecovery int `json:"non_ok_after_recovery"`
}

// Counts of writes by result.
type Counts struct {
	Total int `json:"total"`
	OK    int `json:"ok"`
	Fail  int `json:"fail"`
	Info  int `json:"info"`
}

// Readback summarises the read-back the checker used (the last one).
type Readback struct {
	T       time.Time `json:"t"`
	Markers int       `json:"markers"` // sequence numbers plus unparsable markers
}

// Suffix is the test that lost writes form a suffix: among the acknowledged
// writes completed before the first ok write after the outage, every lost one
// comes after (in sequence order) every surviving one.
type Suffix struct {
	Checked bool `json:"checked"` // false without a read-back
	OK      bool `json:"ok"`
	// InScope: acknowledged writes the test considered.
	InScope int `json:"in_scope"`
	// Violations: each lost write followed by a surviving later one (the
	// nearest survivor is named), at most MaxViolations of them;
	// ViolationCount is the full number of lost writes in violation.
	Violations     []Violation `json:"violations"`
	ViolationCount int         `json:"violation_count"`
}

// MaxViolations bounds the violations listed in a result.
const MaxViolations = 20

// Violation is one lost write with a later write that survived.
type Violation struct {
	LostSeq      int64 `json:"lost_seq"`
	SurvivingSeq int64 `json:"surviving_seq"`
}

// Phase names, in the order RTO goes through them.
const (
	PhaseFaultIssued      = "fault_issued"
	PhaseEffectConfirmed  = history.PhaseEffectConfirmed
	PhasePodScheduled     = history.PhasePodScheduled
	PhaseVolumeAttached   = history.PhaseVolumeAttached
	PhaseContainerStarted = history.PhaseContainerStarted
	PhaseDatabaseReady    = history.PhaseDatabaseReady
	PhaseFirstAckWrite    = "first_ack_write"
)

// PhaseOrder lists every phase of RTO in order.
var PhaseOrder = []string{
	PhaseFaultIssued, PhaseEffectConfirmed, PhasePodScheduled, PhaseVolumeAttached,
	PhaseContainerStarted, PhaseDatabaseReady, PhaseFirstAckWrite,
}

// Phase is one step of recovery. Phases not seen have Seen false.
type Phase struct {
	Name string    `json:"name"`
	Seen bool      `json:"seen"`
	T    time.Time `json:"t,omitzero"`
	// SinceFaultSeconds: T minus t_fault.
	SinceFaultSeconds float64 `json:"since_fault_seconds,omitempty"`
	// DurationSeconds: T minus the latest earlier phase seen (or t_fault).
	DurationSeconds float64 `json:"duration_seconds,omitempty"`
	// Target and Detail come from the observer event that marked it.
	Target string `json:"target,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Anomaly kinds. Any anomaly fails the verdict.
const (
	AnomalyNotSuffix         = "lost_not_suffix"     // a lost write followed by a surviving later one
	AnomalyLostAfterRecovery = "lost_after_recovery" // acknowledged after recovery, yet lost
	AnomalyUnexpected        = "unexpected"          // read back but never written
	AnomalyFailedPresent     = "failed_present"      // a write that failed, read back
	AnomalyDuplicate         = "duplicate"           // a marker read back more than once
	AnomalySplitBrain        = "split_brain"         // two pods acknowledged writes at once, or the old pod's later acks were lost
)

// Anomaly is a consistency violation found in the history.
type Anomaly struct {
	Kind    string  `json:"kind"`
	Message string  `json:"message"`
	Seqs    []int64 `json:"seqs,omitempty"`
}

// Flag kinds.
const (
	FlagEffectBeforeFault   = "effect_before_fault"   // effect_t earlier than the fault's t: verdict unknown
	FlagReadbackBeforeFault = "readback_before_fault" // the read-back predates the fault: verdict unknown
	FlagEffectNotConfirmed  = "effect_not_confirmed"  // no effect_t nor effect_confirmed event: unknown when no write was interrupted, else a note
)

// Flag is evidence around the fault that the checker did not accept silently.
type Flag struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// Storage is the volume's storage after the fault: the attachment leaving
// the old node and reaching the new one, and the redundancy lost and
// restored (a replica's node died, the copies were rebuilt or came back).
type Storage struct {
	DetachedAt           *time.Time `json:"detached_at,omitempty"`
	DetachedFrom         string     `json:"detached_from,omitempty"`
	AttachedAt           *time.Time `json:"attached_at,omitempty"`
	AttachedTo           string     `json:"attached_to,omitempty"`
	RedundancyLostAt     *time.Time `json:"redundancy_lost_at,omitempty"`
	RedundancyLost       string     `json:"redundancy_lost,omitempty"` // the first state short of full, e.g. "degraded"
	RedundancyRestoredAt *time.Time `json:"redundancy_restored_at,omitempty"`
	// DegradedSeconds: restored minus lost; absent while not restored.
	DegradedSeconds *float64 `json:"degraded_seconds,omitempty"`
	// FullRedundancySeconds: restored minus the fault; absent while not
	// restored.
	FullRedundancySeconds *float64 `json:"full_redundancy_seconds,omitempty"`
	// ZonesBefore and ZonesAfter: the volume's usable copies per zone
	// ("" = nodes without a zone) at the fault and once full redundancy
	// was restored (else at the last reading), where the storage gives
	// them (Longhorn).
	ZonesBefore map[string]int `json:"zones_before,omitempty"`
	ZonesAfter  map[string]int `json:"zones_after,omitempty"`
}
