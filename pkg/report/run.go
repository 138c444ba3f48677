// Package report renders a run's results (terminal table, report.md,
// junit.xml, result.json) from what the runner and the checker produced. It
// never computes a verdict: every verdict comes from pkg/checker.
//
// Run directory layout (reports/<UTC time>-<name>/):
//
//	result.json                          the whole run: Run as JSON (re-rendered by `irischaos report`)
//	report.txt                           the terminal table
//	report.md                            the report for auditors
//	junit.xml                            one test case per scenario and iteration
//	report.html                          report.md's content as one page, timelines inline
//	<scenario>/<iteration>/history.jsonl the evidence of one iteration (see docs/history.md)
//	<scenario>/<iteration>/result.json   the checker's result for it
//	<scenario>/<iteration>/timeline.svg  its writes by latency, outage shaded, phases marked
package report

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/irischaos/irischaos/pkg/checker"
)

// Run is everything a report shows about one run. The runner fills it and
// calls WriteRun; `irischaos report` reads it back from result.json.
type Run struct {
	Name     string    `json:"name"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	// Verdict of the whole run: checker.Combine of every iteration's verdict.
	Verdict checker.Verdict `json:"verdict"`
	// Environment: what was measured.
	Environment Environment `json:"environment"`
	Iterations  []Iteration `json:"iterations"`
	// Unhealed: faults still in effect when the run ended (the next run or
	// `irischaos recover` heals them).
	Unhealed []Unhealed `json:"unhealed"`
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
	// Kubernetes is the server version, e.g. "v1.36.3".
	Kubernetes string   `json:"kubernetes"`
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
	// Timeline is the SVG plot of the writes WriteRun draws from the history
	// (relative to the run directory); empty when there was no history.
	Timeline string `json:"timeline,omitempty"`
	// Result is the checker's; when Error is set the iteration did not
	// complete and the result is as far as the history allowed.
	Result     checker.Result `json:"result"`
	CloudCalls []CloudCall    `json:"cloud_calls"`
	Error      string         `json:"error,omitempty"`
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

// TimeFormat names run directories: sortable, no colons (safe on every filesystem).
const TimeFormat = "20060102T150405Z"

// RunDirName is "<UTC time>-<name>".
func RunDirName(name string, t time.Time) string {
	return t.UTC().Format(TimeFormat) + "-" + name
}

// NewRunDir creates base/<UTC time>-<name>/ and returns its path.
func NewRunDir(base, name string, t time.Time) (string, error) {
	dir := filepath.Join(base, RunDirName(name, t))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create run directory: %w", err)
	}
	return dir, nil
}

// IterationDir is where one iteration's files go: <runDir>/<scenario>/<iteration>.
func IterationDir(runDir, scenario string, iteration int) string {
	return filepath.Join(runDir, scenario, strconv.Itoa(iteration))
}

// HistoryPath is the history file of one iteration; the runner creates its
// directory (os.MkdirAll(filepath.Dir(p))) and writes the history there.
func HistoryPath(runDir, scenario string, iteration int) string {
	return filepath.Join(IterationDir(runDir, scenario, iteration), "history.jsonl")
}

// File names inside a run directory.
const (
	ResultFile = "result.json"
	TableFile  = "report.txt"
	MDFile     = "report.md"
	JUnitFile  = "junit.xml"
)
