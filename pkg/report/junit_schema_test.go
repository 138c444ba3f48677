package report

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/irischaos/irischaos/internal/promtest"
	"github.com/irischaos/irischaos/pkg/checker"
)

// xmllintSchema validates doc against testdata/junit.xsd with xmllint and
// returns xmllint's complaint, or "" when it is valid.
func xmllintSchema(t *testing.T, doc []byte) string {
	t.Helper()
	xmllint := promtest.NeedTool(t, "xmllint", "libxml2-utils")
	p := filepath.Join(t.TempDir(), "junit.xml")
	if err := os.WriteFile(p, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(xmllint, "--noout", "--nonet", "--schema", filepath.Join("testdata", "junit.xsd"), p).CombinedOutput()
	if err != nil {
		return strings.TrimSpace(string(out)) + " (" + err.Error() + ")"
	}
	return ""
}

// TestJUnitSchema: junit.xml validates against the JUnit schema Jenkins and
// GitLab read, for the golden fixture and for a sparse run; the schema
// itself rejects what those readers reject.
func TestJUnitSchema(t *testing.T) {
	noInterruption := checker.Check(nil, checker.DefaultBudgets())
	for name, run := range map[string]Run{
		"fixture": fixture(),
		"empty":   {},
		"sparse": {Name: "x <&> \"y\"", Errors: []string{"stack not reachable"}, Iterations: []Iteration{
			{Scenario: "s", Iteration: 1, Error: "inject: forbidden <pod>", Result: noInterruption},
		}},
	} {
		var b bytes.Buffer
		if err := RenderJUnit(&b, run); err != nil {
			t.Fatal(err)
		}
		if msg := xmllintSchema(t, b.Bytes()); msg != "" {
			t.Errorf("%s: junit.xml does not validate against testdata/junit.xsd:\n%s\n%s", name, msg, b.String())
		}
	}
	for name, doc := range map[string]string{
		"no tests count":    `<testsuites failures="0" errors="0"/>`,
		"case without name": `<testsuites tests="1" failures="0" errors="0"><testsuite name="s" tests="1" failures="0" errors="0" time="1"><testcase classname="c" time="1"/></testsuite></testsuites>`,
		"time not seconds":  `<testsuites tests="1" failures="0" errors="0"><testsuite name="s" tests="1" failures="0" errors="0" time="1s"/></testsuites>`,
		"empty properties":  `<testsuites tests="0" failures="0" errors="0"><testsuite name="s" tests="0" failures="0" errors="0" time="1"><properties/></testsuite></testsuites>`,
		"failure and error": `<testsuites tests="1" failures="1" errors="1"><testsuite name="s" tests="1" failures="1" errors="1" time="1"><testcase name="n" classname="c" time="1"><failure/><error/></testcase></testsuite></testsuites>`,
	} {
		if xmllintSchema(t, []byte(doc)) == "" {
			t.Errorf("schema accepts %s: %s", name, doc)
		}
	}
}

// TestJUnitCases: one testcase per iteration, failure messages with RTO and
// RPO against budgets, the history attached as property and in system-out.
func TestJUnitCases(t *testing.T) {
	var b bytes.Buffer
	if err := RenderJUnit(&b, fixture()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`<testcase name="pod #3" classname="irischaos.pod"`,
		`<failure message="FAIL: RTO 45.0s (budget 120s), RPO 0.590s (budget 2s), 2 lost acknowledged write(s): anomaly lost_not_suffix:`,
		`<error message="UNKNOWN: RTO 4.010s (budget 45s), RPO unknown (budget 2s), 0 lost acknowledged write(s): read-back: session to pod/iris-1 closed"`,
		`<property name="attachment" value="node-lost/1/history.jsonl"></property>`,
		`[[ATTACHMENT|node-lost/1/history.jsonl]]`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("junit.xml lacks %q", want)
		}
	}
	if n, want := strings.Count(out, `<testcase name="`)-strings.Count(out, `classname="irischaos.run"`), len(fixture().Iterations); n != want {
		t.Errorf("%d iteration testcases, want one per iteration (%d)", n, want)
	}
}
