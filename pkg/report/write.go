package report

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
)

// WriteRun writes result.json, report.txt, report.md, junit.xml and
// report.html into dir
// (the run directory, which must exist), and a timeline.svg next to every
// iteration's history found there. Each file is written whole to a
// temporary name and renamed, so a reader never sees half a report.
func WriteRun(dir string, run Run) error {
	run.Verdict = runVerdict(run)
	run.Iterations = slices.Clone(run.Iterations) // Timeline is set on our copy only
	var errs []error
	if err := writeTimelines(dir, &run); err != nil {
		errs = append(errs, err)
	}
	for _, f := range []struct {
		name   string
		render func(*bytes.Buffer, Run) error
	}{
		{ResultFile, renderJSON},
		{TableFile, renderTableTo},
		{MDFile, renderMDTo},
		{JUnitFile, renderJUnitTo},
		{HTMLFile, renderHTMLTo},
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
	return errors.Join(errs...)
}

// ReadRun reads a run back from dir/result.json. A run that never wrote it
// (the harness was killed) is rebuilt from its iteration directories: see
// Rebuild.
func ReadRun(dir string) (Run, error) {
	p := filepath.Join(dir, ResultFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		run, rerr := Rebuild(dir)
		if rerr != nil {
			return Run{}, fmt.Errorf("read run: %s has no %s and %w (is it a run directory written by irischaos run?)", dir, ResultFile, rerr)
		}
		return run, nil
	}
	if err != nil {
		return Run{}, fmt.Errorf("read run: %w", err)
	}
	var run Run
	if err := json.Unmarshal(b, &run); err != nil {
		return Run{}, fmt.Errorf("%s: %w", p, err)
	}
	return run, nil
}

// WriteIterationResult writes one iteration's checker result next to its
// history (<scenario>/<iteration>/result.json).
func WriteIterationResult(runDir string, it Iteration) error {
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

// Formats Render knows.
var Formats = []string{"table", "md", "json", "junit", "html"}

// Render writes run in one format: table (report.txt), md (report.md),
// json (result.json), junit (junit.xml) or html (report.html).
func Render(w io.Writer, run Run, format string) error {
	switch format {
	case "table":
		return RenderTable(w, run)
	case "md", "markdown":
		return RenderMarkdown(w, run)
	case "json":
		return RenderJSON(w, run)
	case "junit", "xml":
		return RenderJUnit(w, run)
	case "html":
		return RenderHTML(w, run)
	}
	return fmt.Errorf("unknown report format %q (known: %s)", format, strings.Join(Formats, ", "))
}

// RenderJSON writes the run as result.json holds it.
func RenderJSON(w io.Writer, run Run) error {
	run.Verdict = runVerdict(run)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(run)
}

func renderJSON(b *bytes.Buffer, run Run) error { return RenderJSON(b, run) }

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
