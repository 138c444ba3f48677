package rundir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/preflight"
	"github.com/irischaos/irischaos/pkg/report"
	"github.com/irischaos/irischaos/pkg/stackcheck"
)

// Write writes result.json, report.txt, report.md, junit.xml,
// report.html, (after a preflight) preflight.json and (after a stack
// check) stack-check.json into dir (the run directory, which must exist), a
// timeline.svg next to every iteration's history found there, and last the
// manifest of everything in dir. The run's
// verdict is written as given (see checker.RunVerdict).
func Write(dir string, run report.Run) error {
	run.Iterations = slices.Clone(run.Iterations) // Timeline is set on our copy only
	var errs []error
	if err := writeTimelines(dir, &run); err != nil {
		errs = append(errs, err)
	}
	for _, f := range []struct {
		name   string
		render func(io.Writer, report.Run) error
	}{
		{ResultFile, report.RenderJSON},
		{TableFile, report.RenderTable},
		{MDFile, report.RenderMarkdown},
		{JUnitFile, report.RenderJUnit},
		{HTMLFile, report.RenderHTML},
	} {
		var b bytes.Buffer
		if err := f.render(&b, run); err != nil {
			errs = append(errs, fmt.Errorf("render %s: %w", f.name, err))
			continue
		}
		if err := writeAtomic(filepath.Join(dir, f.name), b.Bytes()); err != nil {
			errs = append(errs, err)
		}
	}
	if run.Preflight != nil {
		var b bytes.Buffer
		if err := preflight.Write(&b, *run.Preflight, "json"); err != nil {
			errs = append(errs, fmt.Errorf("render %s: %w", PreflightFile, err))
		} else if err := writeAtomic(filepath.Join(dir, PreflightFile), b.Bytes()); err != nil {
			errs = append(errs, err)
		}
	}
	if run.StackCheck != nil {
		var b bytes.Buffer
		if err := stackcheck.Write(&b, *run.StackCheck, "json"); err != nil {
			errs = append(errs, fmt.Errorf("render %s: %w", StackCheckFile, err))
		} else if err := writeAtomic(filepath.Join(dir, StackCheckFile), b.Bytes()); err != nil {
			errs = append(errs, err)
		}
	}
	if err := WriteManifest(dir, run); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// WriteIterationResult writes one iteration's checker result next to its
// history (<scenario>/<iteration>/result.json), so a run cut short later
// keeps the verdicts it reached.
func WriteIterationResult(runDir string, it report.Iteration) error {
	dir := IterationDir(runDir, it.Scenario, it.Iteration)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create iteration directory: %w", err)
	}
	b, err := json.MarshalIndent(it.Result, "", "  ")
	if err != nil {
		return fmt.Errorf("encode result of %s #%d: %w", it.Scenario, it.Iteration, err)
	}
	return writeAtomic(filepath.Join(dir, ResultFile), append(b, '\n'))
}

// DrawTimelines draws every iteration's timeline from its history in dir
// into run (Iteration.TimelineSVG), so report.html shows them inline; it
// writes nothing. Iterations whose history is missing are left without.
func DrawTimelines(dir string, run *report.Run) error {
	run.Iterations = slices.Clone(run.Iterations)
	return drawTimelines(dir, run, false)
}

// writeTimelines draws timeline.svg next to every iteration history that
// exists in runDir and records its relative path in the iteration.
func writeTimelines(runDir string, run *report.Run) error {
	return drawTimelines(runDir, run, true)
}

func drawTimelines(runDir string, run *report.Run, save bool) error {
	var errs []string
	for i := range run.Iterations {
		it := &run.Iterations[i]
		if it.History == "" {
			continue
		}
		hp := filepath.Join(runDir, filepath.FromSlash(it.History))
		recs, err := history.ReadFile(hp)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			errs = append(errs, err.Error())
			continue
		}
		var b bytes.Buffer
		if err := report.RenderTimeline(&b, recs, it.Result); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		it.TimelineSVG = b.String()
		if !save {
			continue
		}
		out := filepath.Join(filepath.Dir(hp), TimelineFile)
		if err := writeAtomic(out, b.Bytes()); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if rel, err := filepath.Rel(runDir, out); err == nil {
			it.Timeline = filepath.ToSlash(rel)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("timelines: %s", strings.Join(errs, "; "))
	}
	return nil
}
