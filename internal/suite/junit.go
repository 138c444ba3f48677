package suite

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/report"
)

// The suite's JUnit file, in the shape pkg/report's junit.xml has (Jenkins'
// junit-10.xsd, read by GitLab and GitHub test reporters): one testsuite per
// feature, one testcase per assessment; a setup or teardown that failed is a
// testcase with an <error>; a feature skipped for want of something is one
// testcase <skipped> with the reason. An assessment that ran irischaos
// scenarios carries each iteration's verdict, RTO and RPO against their
// budgets: in the <failure> message when a verdict is not pass, else in
// system-out, with the run directory.
type jSuites struct {
	XMLName  xml.Name `xml:"testsuites"`
	Name     string   `xml:"name,attr"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Time     string   `xml:"time,attr"`
	Suites   []jSuite `xml:"testsuite"`
}

type jSuite struct {
	Name       string       `xml:"name,attr"`
	Tests      int          `xml:"tests,attr"`
	Failures   int          `xml:"failures,attr"`
	Errors     int          `xml:"errors,attr"`
	Skipped    int          `xml:"skipped,attr"`
	Time       string       `xml:"time,attr"`
	Timestamp  string       `xml:"timestamp,attr,omitempty"`
	Properties *jProperties `xml:"properties,omitempty"`
	Cases      []jCase      `xml:"testcase"`
}

type jProperties struct {
	Property []jProperty `xml:"property"`
}

type jProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type jCase struct {
	Name      string    `xml:"name,attr"`
	Classname string    `xml:"classname,attr"`
	Time      string    `xml:"time,attr"`
	Skipped   *jSkipped `xml:"skipped,omitempty"`
	Failure   *jProblem `xml:"failure,omitempty"`
	Error     *jProblem `xml:"error,omitempty"`
	SystemOut string    `xml:"system-out,omitempty"`
}

type jSkipped struct {
	Message string `xml:"message,attr"`
}

type jProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the suite's JUnit file to path, creating its directory.
func (r *Recorder) WriteJUnit(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := r.JUnit(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// JUnit writes the suite's JUnit document.
func (r *Recorder) JUnit(w io.Writer) error {
	out := jSuites{Name: "irischaos e2e"}
	total := 0.0
	for _, f := range r.Features() {
		s := jSuite{Name: f.title(), Properties: properties(f)}
		class := "e2e." + f.Test
		if f.Name != f.Test {
			class += "." + f.Name
		}
		if !f.Start.IsZero() {
			s.Timestamp = f.Start.UTC().Format("2006-01-02T15:04:05")
		}
		featureTime := 0.0
		switch {
		case f.Skip != "":
			s.Cases = append(s.Cases, jCase{Name: f.Name, Classname: class, Time: "0.000", Skipped: &jSkipped{Message: f.Skip}})
		case f.Outcome() == NotRun:
			s.Cases = append(s.Cases, jCase{Name: f.Name, Classname: class, Time: "0.000", Skipped: &jSkipped{Message: "not selected (-feature, -labels, -skip-features, -skip-labels or -run)"}})
		}
		if f.Skip == "" && f.Outcome() != NotRun {
			failedEarlier := ""
			for _, st := range f.Steps {
				c, ok := stepCase(st, class, failedEarlier)
				if st.Outcome == Failed && failedEarlier == "" {
					failedEarlier = st.Level + " " + st.Name
				}
				if !ok {
					continue
				}
				featureTime += st.Duration.Seconds()
				s.Cases = append(s.Cases, c)
			}
		}
		for _, c := range s.Cases {
			switch {
			case c.Failure != nil:
				s.Failures++
			case c.Error != nil:
				s.Errors++
			case c.Skipped != nil:
				s.Skipped++
			}
		}
		s.Tests = len(s.Cases)
		s.Time = fmt.Sprintf("%.3f", featureTime)
		total += featureTime
		out.Tests += s.Tests
		out.Failures += s.Failures
		out.Errors += s.Errors
		out.Suites = append(out.Suites, s)
	}
	if errs := r.Errors(); len(errs) > 0 {
		s := jSuite{Name: "irischaos e2e suite", Tests: len(errs), Errors: len(errs), Time: "0.000"}
		for _, e := range errs {
			s.Cases = append(s.Cases, jCase{Name: "the suite ran to its end", Classname: "e2e.suite", Time: "0.000", Error: &jProblem{Message: firstLine(e), Type: "suite", Text: e}})
		}
		out.Tests += s.Tests
		out.Errors += s.Errors
		out.Suites = append(out.Suites, s)
	}
	out.Time = fmt.Sprintf("%.3f", total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func properties(f *Feature) *jProperties {
	var keys []string
	for k := range f.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var ps []jProperty
	for _, k := range keys {
		ps = append(ps, jProperty{Name: k, Value: strings.Join(f.Labels[k], ",")})
	}
	if len(ps) == 0 {
		return nil // the schema wants at least one property
	}
	return &jProperties{ps}
}

// stepCase is a step's testcase: every assessment; a setup or teardown
// only when it failed (ok false otherwise).
func stepCase(st *Step, class, failedEarlier string) (jCase, bool) {
	c := jCase{Name: st.Name, Classname: class, Time: fmt.Sprintf("%.3f", st.Duration.Seconds())}
	if st.Level != LevelAssess {
		if st.Outcome != Failed {
			return c, false
		}
		c.Name = st.Level + ": " + st.Name
	}
	var out []string
	var problems []string
	for _, r := range st.Runs {
		for _, it := range r.Run.Iterations {
			out = append(out, report.IterationSummary(it)+" (budgets: RTO "+budget(it.Result.Budgets.RTOSeconds)+", RPO "+fmt.Sprintf("%gs", it.Result.Budgets.RPOSeconds)+")")
			if it.Verdict() != checker.Pass {
				problems = append(problems, fmt.Sprintf("%s #%d: %s", it.Scenario, it.Iteration, report.IterationProblem(it)))
			}
		}
		for _, u := range r.Run.Unhealed {
			problems = append(problems, fmt.Sprintf("left unhealed: %s on %s (run irischaos recover --reports %s)", u.Fault, u.Target, filepath.Dir(r.Dir)))
		}
		for _, e := range r.Run.Errors {
			problems = append(problems, "run error: "+e)
		}
		out = append(out, "run directory: "+r.Dir)
	}
	text := strings.Join(out, "\n")
	if st.Message != "" {
		text = strings.TrimSpace(st.Message + "\n" + text)
	}
	c.SystemOut = text
	switch {
	case st.Outcome == NotRun:
		why := "not run"
		if failedEarlier != "" {
			why = "not run: " + failedEarlier + " failed"
		}
		c.Skipped = &jSkipped{Message: why}
	case st.Outcome == Skipped:
		c.Skipped = &jSkipped{Message: firstLine(st.Message)}
	case len(problems) > 0:
		c.Failure = &jProblem{Message: problems[0], Type: "verdict", Text: strings.Join(problems, "\n") + "\n" + text}
	case st.Outcome == Failed && st.Level != LevelAssess:
		c.Error = &jProblem{Message: st.Level + " failed: see the go test -v output of " + st.TestName, Type: st.Level, Text: text}
	case st.Outcome == Failed:
		msg := firstLine(st.Message)
		if msg == "" {
			msg = "failed: see the go test -v output of " + st.TestName
		}
		c.Failure = &jProblem{Message: msg, Type: "assessment", Text: text}
	}
	return c, true
}

func budget(s *float64) string {
	if s == nil {
		return "none"
	}
	return fmt.Sprintf("%gs", *s)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
