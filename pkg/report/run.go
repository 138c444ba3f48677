// Package report holds the run model (what a report shows about one run) and
// renders it: terminal table, report.md, junit.xml, result.json, report.html
// and the per-iteration timeline. It only renders: verdicts come from
// pkg/checker, files on disk are pkg/rundir's.
package report

import (
	"time"

	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/preflight"
	"github.com/irischaos/irischaos/pkg/stackcheck"
)

// Run is everything a report shows about one run. The runner fills it and
// hands it to rundir.Write; `irischaos report` reads it back (rundir.Read).
type Run struct {
	Name     string    `json:"name"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	// Verdict of the whole run: checker.RunVerdict, set by whoever built the
	// run (the runner, or rundir.Rebuild); empty is shown as unknown.
	Verdict checker.Verdict `json:"verdict"`
	// Environment: what was measured.
	Environment Environment `json:"environment"`
	Iterations  []Iteration `json:"iterations"`
	// Unhealed: faults still in effect when the run ended (the next run or
	// `irischaos recover` heals them).
	Unhealed []Unhealed `json:"unhealed"`
	// Scenarios: each scenario's checksum (SHA-256 of its definition as
	// run), for the manifest.
	Scenarios map[string]string `json:"scenarios,omitempty"`
	// Preflight is what `irischaos preflight` found before the run (nil
	// when skipped): its checks, and the RTO it predicted per failure domain,
	// shown next to the measured one.
	Preflight *preflight.Report `json:"preflight,omitempty"`
	// StackCheck is what `irischaos stack check` found before the run
	// (nil when skipped): every probe with its raw transcript.
	StackCheck *stackcheck.Report `json:"stack_check,omitempty"`
	// Errors of the run outside any iteration (e.g. the stack could not be reached).
	Errors []string `json:"errors,omitempty"`
}

// Environment says what was measured.
type Environment struct {
	// Database is the IRIS version string ($zv), or the stand-in's identity.
	Database        string `json:"database"`
	DatabaseStandIn bool   `json:"database_standin"`
	StorageClass    string `json:"storage_class"`
	Provisioner     string `json:"provisioner"`
	StorageStandIn  bool   `json:"storage_standin"`
	// StorageDescription is what the storage is, when irischaos serves it
	// (the class's stand-in annotation), e.g. "Ceph RBD 16.2.15 (real
	// replicated block storage, standing in for Longhorn): ...".
	StorageDescription string `json:"storage_description,omitempty"`
	// Kubernetes is the server version, e.g. "v1.36.3".
	Kubernetes string `json:"kubernetes"`
	// ClusterUID is the kube-system namespace's UID: which cluster it was.
	ClusterUID string   `json:"cluster_uid,omitempty"`
	Nodes      []string `json:"nodes"`
	Namespace  string   `json:"namespace,omitempty"`
	Context    string   `json:"context,omitempty"` // kubeconfig context, or "local cluster"
	Irischaos  string   `json:"irischaos_version,omitempty"`
}

// Iteration is one scenario iteration: what was done and what the checker said.
type Iteration struct {
	Scenario      string    `json:"scenario"`
	Iteration     int       `json:"iteration"` // 1-based
	FailureDomain string    `json:"failure_domain"`
	MitigatedBy   string    `json:"mitigated_by"`
	Fault         string    `json:"fault"`  // fault type, e.g. "pod-delete"
	Target        string    `json:"target"` // what it hit: pod, node or VM
	Started       time.Time `json:"started"`
	Finished      time.Time `json:"finished,omitzero"`
	// History is the path of the iteration's history, relative to the run directory.
	History string `json:"history,omitempty"`
	// Timeline is the SVG plot of the writes rundir.Write draws from the history
	// (relative to the run directory); empty when there was no history.
	Timeline string `json:"timeline,omitempty"`
	// TimelineSVG is that plot itself, which report.html shows inline (the
	// page loads nothing else). Not saved: rundir draws it from the history.
	TimelineSVG string `json:"-"`
	// Result is the checker's; when Error is set the iteration did not
	// complete and the result is as far as the history allowed.
	Result     checker.Result `json:"result"`
	CloudCalls []CloudCall    `json:"cloud_calls"`
	Error      string         `json:"error,omitempty"`

	// Mitigation is the advisor's change this iteration ran with (empty:
	// as deployed), MitigationApplied whether it was in effect, and
	// MitigationAppliedSeconds when it took effect, after the fault (nil
	// when it was not applied, or before the fault). MitigationError says
	// why it was not applied (a Longhorn mitigation without Longhorn:
	// "no Longhorn: ...").
	Mitigation               string   `json:"mitigation,omitempty"`
	MitigationApplied        bool     `json:"mitigation_applied,omitempty"`
	MitigationAppliedSeconds *float64 `json:"mitigation_applied_seconds,omitempty"`
	MitigationError          string   `json:"mitigation_error,omitempty"`
	// Expected is the outcome the scenario said it is known to have (its
	// expect:), when not a pass.
	Expected *Expected `json:"expected,omitempty"`
}

// Expected is a scenario's known outcome.
type Expected struct {
	Verdict checker.Verdict `json:"verdict"`
	Why     string          `json:"why"`
}

// Verdict is the iteration's verdict with its expectation applied: a fail
// that was expected counts as a pass of the run, a pass where a fail was
// expected fails it (the expectation is out of date), unknown stays unknown.
func (it Iteration) Verdict() checker.Verdict {
	v := it.Result.Verdict
	if it.Expected == nil || v == checker.Unknown {
		return v
	}
	if v == it.Expected.Verdict {
		return checker.Pass
	}
	return checker.Fail
}

// VerdictText is the checker's verdict as a report shows it, with the
// expectation when there was one: "FAIL (expected: why)".
func (it Iteration) VerdictText() string {
	v := verdictWord(it.Result.Verdict)
	if it.Expected == nil {
		return v
	}
	if it.Result.Verdict == it.Expected.Verdict {
		return v + " (expected: " + it.Expected.Why + ")"
	}
	return v + " (expected " + verdictWord(it.Expected.Verdict) + ": " + it.Expected.Why + ")"
}

// CloudCall is one call to a cloud API, as the report shows it.
type CloudCall struct {
	Provider        string    `json:"provider"`
	Action          string    `json:"action"`
	Target          string    `json:"target"`
	Request         string    `json:"request"`
	Start           time.Time `json:"start"`
	DurationSeconds float64   `json:"duration_seconds"`
	Error           string    `json:"error,omitempty"` // empty: the call succeeded
}

// Unhealed is a fault still in effect after the run.
type Unhealed struct {
	Scenario  string    `json:"scenario,omitempty"`
	Iteration int       `json:"iteration,omitempty"`
	Fault     string    `json:"fault"`
	Target    string    `json:"target"`
	Since     time.Time `json:"since,omitzero"`
	Error     string    `json:"error,omitempty"` // why healing failed or did not happen
}

// IterationVerdicts lists every iteration's verdict, in order (the input of
// checker.RunVerdict).
func (r Run) IterationVerdicts() []checker.Verdict {
	vs := make([]checker.Verdict, len(r.Iterations))
	for i, it := range r.Iterations {
		vs[i] = it.Verdict()
	}
	return vs
}
