package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/irischaos/irischaos/pkg/checker"
)

// JUnit XML as CI systems read it (the shape of Jenkins' junit-10.xsd, which
// GitLab reads too; testdata/junit.xsd is the schema the tests hold it to):
// one testsuite per scenario, one testcase per iteration; a failed verdict is
// a <failure>, an unknown one an <error>, each with a message that gives RTO
// and RPO against their budgets. The iteration's history is attached the two
// ways CI systems look for: a testcase property "attachment" and a
// [[ATTACHMENT|path]] line in system-out (Jenkins' junit-attachments, GitLab).
// Paths are relative to the run directory, where junit.xml is.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string           `xml:"name,attr"`
	Tests      int              `xml:"tests,attr"`
	Failures   int              `xml:"failures,attr"`
	Errors     int              `xml:"errors,attr"`
	Time       string           `xml:"time,attr"`
	Timestamp  string           `xml:"timestamp,attr,omitempty"`
	Properties *junitProperties `xml:"properties,omitempty"`
	Cases      []junitCase      `xml:"testcase"`
}

// junitProperties is omitted when nil: the schema wants at least one property.
type junitProperties struct {
	Property []junitProperty `xml:"property"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name       string           `xml:"name,attr"`
	Classname  string           `xml:"classname,attr"`
	Time       string           `xml:"time,attr"`
	Properties *junitProperties `xml:"properties,omitempty"`
	Failure    *junitProblem    `xml:"failure,omitempty"`
	Error      *junitProblem    `xml:"error,omitempty"`
	SystemOut  string           `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// RenderJUnit writes junit.xml.
func RenderJUnit(w io.Writer, run Run) error {
	out := junitSuites{Name: "irischaos " + run.Name}
	total := 0.0
	for _, r := range Rows(run) {
		s := junitSuite{Name: r.Scenario, Properties: &junitProperties{[]junitProperty{
			{"failure_domain", r.FailureDomain},
			{"fault", r.Fault},
			{"mitigated_by", r.MitigatedBy},
			{"rto_budget", r.RTOBudget},
			{"rpo_budget", r.RPOBudget},
		}}}
		suiteTime := 0.0
		for _, it := range r.Iterations {
			c := junitCase{
				Name:      fmt.Sprintf("%s #%d", it.Scenario, it.Iteration),
				Classname: "irischaos." + r.Scenario,
				SystemOut: caseSummary(it),
			}
			if it.History != "" {
				c.Properties = &junitProperties{[]junitProperty{{"attachment", it.History}}}
				c.SystemOut += "\n[[ATTACHMENT|" + it.History + "]]"
			}
			t := 0.0
			if !it.Started.IsZero() && !it.Finished.IsZero() {
				t = it.Finished.Sub(it.Started).Seconds()
			}
			c.Time = fmt.Sprintf("%.3f", t)
			suiteTime += t
			if s.Timestamp == "" && !it.Started.IsZero() {
				s.Timestamp = it.Started.UTC().Format("2006-01-02T15:04:05")
			}
			reasons := strings.Join(it.Result.Reasons, "\n")
			if it.Error != "" {
				reasons = "error: " + it.Error + "\n" + reasons
			}
			switch it.Verdict() {
			case checker.Pass:
			case checker.Fail:
				s.Failures++
				c.Failure = &junitProblem{Message: problemMessage(it), Type: "fail", Text: reasons}
			default:
				s.Errors++
				c.Error = &junitProblem{Message: problemMessage(it), Type: "unknown", Text: reasons}
			}
			s.Cases = append(s.Cases, c)
		}
		s.Tests = len(s.Cases)
		s.Time = fmt.Sprintf("%.3f", suiteTime)
		total += suiteTime
		out.Tests += s.Tests
		out.Failures += s.Failures
		out.Errors += s.Errors
		out.Suites = append(out.Suites, s)
	}
	if s, ok := runSuite(run); ok {
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

func caseSummary(it Iteration) string {
	r := it.Result
	s := fmt.Sprintf("verdict %s; RTO %s; RPO %s; lost acknowledged writes %d; writes ok/fail/info %d/%d/%d; anomalies %d",
		r.Verdict, secp(r.RTOSeconds), secp(r.RPOSeconds), r.LostAcked, r.Writes.OK, r.Writes.Fail, r.Writes.Info, len(r.Anomalies))
	if sb := r.SplitBrain; sb != nil {
		switch {
		case !sb.Checked:
			s += "; split brain: cannot tell"
		case len(sb.Overlaps) > 0 || sb.OldLost > 0:
			s += "; SPLIT BRAIN"
		default:
			s += fmt.Sprintf("; split brain: none (%d writer(s))", len(sb.Writers))
		}
	}
	if it.Target != "" {
		s += "; target " + it.Target
	}
	if it.History != "" {
		s += "; history " + it.History
	}
	return s
}

// problemMessage is a failure's or error's one line: the verdict, RTO and RPO
// against their budgets, lost writes, then why (the harness's error or the
// checker's first reason that is not a note).
func problemMessage(it Iteration) string {
	r := it.Result
	rtoBudget := "none"
	if r.Budgets.RTOSeconds != nil {
		rtoBudget = sec(*r.Budgets.RTOSeconds)
	}
	rto := secp(r.RTOSeconds)
	if r.RTOSeconds == nil && r.RTOAtLeastSeconds != nil {
		rto = "unknown (at least " + sec(*r.RTOAtLeastSeconds) + ")"
	}
	m := fmt.Sprintf("%s: RTO %s (budget %s), RPO %s (budget %s), %d lost acknowledged write(s)",
		strings.ToUpper(string(checker.Combine(r.Verdict))), rto, rtoBudget, secp(r.RPOSeconds), sec(r.Budgets.RPOSeconds), r.LostAcked)
	why := it.Error
	if why == "" {
		for _, s := range r.Reasons {
			if !strings.HasPrefix(s, "note:") {
				why = s
				break
			}
		}
	}
	if why != "" {
		m += ": " + why
	}
	return m
}

// runSuite is what went wrong outside any iteration, so a CI reading only
// junit.xml does not show green for it: a testsuite "irischaos run" with an
// <error> testcase for the faults left unhealed and one for the run's
// errors. None when there is neither.
func runSuite(run Run) (junitSuite, bool) {
	s := junitSuite{Name: "irischaos run", Time: "0.000"}
	if len(run.Unhealed) > 0 {
		var lines []string
		for _, u := range run.Unhealed {
			l := fmt.Sprintf("%s on %s", u.Fault, u.Target)
			if u.Scenario != "" {
				l = fmt.Sprintf("%s #%d: %s", u.Scenario, u.Iteration, l)
			}
			if u.Error != "" {
				l += ": " + u.Error
			}
			lines = append(lines, l)
		}
		s.Cases = append(s.Cases, junitCase{Name: "every injected fault healed", Classname: "irischaos.run", Time: "0.000",
			Error: &junitProblem{Message: fmt.Sprintf("%d fault(s) left unhealed: run irischaos recover", len(run.Unhealed)), Type: "unhealed", Text: strings.Join(lines, "\n")}})
	}
	if len(run.Errors) > 0 {
		s.Cases = append(s.Cases, junitCase{Name: "run completed without errors", Classname: "irischaos.run", Time: "0.000",
			Error: &junitProblem{Message: run.Errors[0], Type: "error", Text: strings.Join(run.Errors, "\n")}})
	}
	s.Tests, s.Errors = len(s.Cases), len(s.Cases)
	return s, len(s.Cases) > 0
}

// IterationSummary is an iteration's line in junit.xml's system-out:
// verdict, RTO, RPO, lost and counted writes, split brain, target, history.
func IterationSummary(it Iteration) string { return caseSummary(it) }

// IterationProblem is the one line junit.xml gives a failed or unknown
// iteration: the verdict, RTO and RPO against their budgets, lost writes, why.
func IterationProblem(it Iteration) string { return problemMessage(it) }
