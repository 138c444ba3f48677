// Package rundir is the run directory: its layout, writing it (every file
// whole or not at all), reading it back, and rebuilding a run the harness
// did not finish from the evidence on disk (which runs the checker). It
// keeps the evidence apart from its rendering, as Jepsen keeps its store
// apart from its checkers: pkg/report renders, pkg/checker judges.
//
// Layout (reports/<UTC time>-<name>/):
//
//	result.json                          the whole run: report.Run as JSON (re-rendered by `irischaos report`)
//	report.txt                           the terminal table
//	report.md                            the report for auditors
//	junit.xml                            one test case per scenario and iteration
//	report.html                          report.md's content as one page, timelines inline
//	report.pdf                           report.html printed (irischaos report --pdf); outside the manifest, whose SHA-256 it prints on every page
//	preflight.json                       what the preflight found before the run (absent when skipped)
//	stack-check.json                     the stack check's probes before the run, with their raw transcripts (absent when skipped)
//	<scenario>/<iteration>/history.jsonl the evidence of one iteration (see docs/history.md)
//	<scenario>/<iteration>/result.json   the checker's result for it
//	<scenario>/<iteration>/timeline.svg  its writes by latency, outage shaded, phases marked
//	manifest.json                        SHA-256 of every other file, versions, cluster identity (see Verify)
//	manifest.json.sig                    optional ed25519 signature of manifest.json (see Sign)
package rundir

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/irischaos/irischaos/pkg/stackcheck"
)

// File names inside a run directory; nothing else spells them.
const (
	ResultFile    = "result.json"
	TableFile     = "report.txt"
	MDFile        = "report.md"
	JUnitFile     = "junit.xml"
	HTMLFile      = "report.html"
	PDFFile       = "report.pdf"
	HistoryFile   = "history.jsonl"
	TimelineFile  = "timeline.svg"
	PreflightFile = "preflight.json"
	// StackCheckFile is the stack check run before the scenarios, with
	// every probe's transcript.
	StackCheckFile = stackcheck.FileName
)

// TimeFormat names run directories: sortable, no colons (safe on every filesystem).
const TimeFormat = "20060102T150405Z"

// DirName is "<UTC time>-<name>".
func DirName(name string, t time.Time) string {
	return t.UTC().Format(TimeFormat) + "-" + name
}

// Create makes base/<UTC time>-<name>/ and returns its path.
func Create(base, name string, t time.Time) (string, error) {
	dir := filepath.Join(base, DirName(name, t))
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
	return filepath.Join(IterationDir(runDir, scenario, iteration), HistoryFile)
}

// HistoryIn is the history of the iteration directory dir (what `irischaos
// analyze <dir>` reads).
func HistoryIn(dir string) string { return filepath.Join(dir, HistoryFile) }

// runName strips the "<UTC time>-" prefix of a run directory's name.
func runName(base string) string {
	if i := strings.IndexByte(base, '-'); i == len(TimeFormat) {
		if _, err := time.Parse(TimeFormat, base[:i]); err == nil {
			return base[i+1:]
		}
	}
	return base
}

// writeAtomic writes data to a temporary name and renames it over path, so
// a reader never sees half a file.
func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
