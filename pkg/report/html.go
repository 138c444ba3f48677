package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/preflight"
	"github.com/irischaos/irischaos/pkg/stackcheck"
)

//go:embed report.html.tmpl
var htmlTemplate string

var htmlTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"upper":     func(v checker.Verdict) string { return strings.ToUpper(string(v)) },
	"lower":     func(v checker.Verdict) string { return string(v) },
	"status":    func(s preflight.Status) string { return strings.ToLower(string(s)) },
	"checkfile": func() string { return stackcheck.FileName },
	"sec":       secp,
	"secv":      sec,
	"phase":     phaseName,
	"clock":     clockText,
	"storage":   storageRows,
	"writers":   writerRows,
	"faultcell": faultCell,
	"seqs":      seqList,
	"hhmmss":    func(t time.Time) string { return t.Format("15:04:05.000") },
	// Our own drawings (RenderTimeline, RenderRunPlot escape every text).
	"svg": func(s string) template.HTML { return template.HTML(s) },
	"rto": func(r checker.Result) string {
		switch {
		case r.NoInterruption:
			return "0s (no interruption observed)"
		case r.RTOSeconds == nil && r.RTOAtLeastSeconds != nil:
			return "unknown (at least " + sec(*r.RTOAtLeastSeconds) + ": no recovery seen)"
		}
		return secp(r.RTOSeconds)
	},
	"suffix": func(s checker.Suffix) string {
		switch {
		case !s.Checked:
			return "not checked (no read-back)"
		case !s.OK:
			return fmt.Sprintf("VIOLATED: %d lost write(s) followed by a surviving later one", s.ViolationCount)
		}
		return fmt.Sprintf("ok (%d acknowledged writes in scope)", s.InScope)
	},
}).Parse(htmlTemplate))

// RenderHTML writes report.html: the page for auditors, report.md's content
// with a run-wide plot of RTO and RPO against their budgets and every
// iteration's timeline (Iteration.TimelineSVG) inline. The page is
// self-contained: no script, no style sheet, image or font from elsewhere,
// so it opens offline and prints as it shows.
func RenderHTML(w io.Writer, run Run) error {
	e := run.Environment
	var plot strings.Builder
	if err := RenderRunPlot(&plot, run); err != nil {
		return err
	}
	data := struct {
		Run                           Run
		Verdict                       checker.Verdict
		Counts                        string
		Database, Storage, Kubernetes string
		Rows                          []Row
		Plot                          string
		SplitBrain                    []string
		Advice                        []AdviceRow
	}{run, runVerdict(run), iterationCounts(run), databaseText(e), storageText(e), kubernetesText(e), Rows(run), plot.String(), splitBrainLines(run), Advice(run)}
	var b bytes.Buffer
	if err := htmlTmpl.Execute(&b, data); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}
