package suite

import (
	"fmt"
	"io"
	"strings"
)

// Summary writes the suite's closing summary: one line per feature (PASS,
// FAIL with the first failed step, SKIP with its reason, NOT RUN when not
// selected), then every skipped feature again with its reason, so a feature
// the target could not run is never silently absent.
func (r *Recorder) Summary(w io.Writer) {
	fs := r.Features()
	counts := map[Outcome]int{}
	var skipped []string
	fmt.Fprintln(w, "=== irischaos e2e suite summary")
	for _, f := range fs {
		o := f.Outcome()
		counts[o]++
		name := f.title()
		switch o {
		case Skipped:
			fmt.Fprintf(w, "SKIP    %s: %s\n", name, f.Skip)
			skipped = append(skipped, fmt.Sprintf("  %s: %s", name, f.Skip))
		case NotRun:
			fmt.Fprintf(w, "NOT RUN %s: not selected (-feature, -labels, -skip-features, -skip-labels or -run)\n", name)
		case Failed:
			fmt.Fprintf(w, "FAIL    %s: %s\n", name, failedStep(f))
		default:
			fmt.Fprintf(w, "PASS    %s%s\n", name, stepSkips(f))
		}
	}
	for _, e := range r.Errors() {
		fmt.Fprintf(w, "ERROR   the suite: %s\n", e)
	}
	fmt.Fprintf(w, "%d feature(s): %d passed, %d failed, %d skipped, %d not run\n", len(fs), counts[Passed], counts[Failed], counts[Skipped], counts[NotRun])
	if len(skipped) > 0 {
		fmt.Fprintf(w, "skipped, with the reason (the target cannot give what they need):\n%s\n", strings.Join(skipped, "\n"))
	}
}

// failedStep names a failed feature's first failed step and why.
func failedStep(f *Feature) string {
	for _, s := range f.Steps {
		if s.Outcome != Failed && !runsFailed(s.Runs) {
			continue
		}
		c, _ := stepCase(s, "", "")
		why := "see the go test -v output of " + s.TestName
		switch {
		case c.Failure != nil:
			why = c.Failure.Message
		case c.Error != nil:
			why = c.Error.Message
		}
		return fmt.Sprintf("%s %q: %s", s.Level, s.Name, why)
	}
	return "failed"
}

// stepSkips says which assessments of a passed feature were skipped.
func stepSkips(f *Feature) string {
	var n []string
	for _, s := range f.Steps {
		if s.Outcome == Skipped {
			n = append(n, fmt.Sprintf("%q skipped: %s", s.Name, firstLine(s.Message)))
		}
	}
	if len(n) == 0 {
		return ""
	}
	return " (" + strings.Join(n, "; ") + ")"
}

// title is "Test / feature", or the test alone when skipped before it built
// any feature.
func (f *Feature) title() string {
	if f.Name == f.Test {
		return f.Test
	}
	return f.Test + " / " + f.Name
}
